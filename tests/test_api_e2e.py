"""One project through all stages and joint acceptance, purely over HTTP: an owner, a window officer and
agency officers of many departments, with a correction, a tolerance with commitment, a special procedure,
a matter correction and the concurrent stages 2 ‖ 3 of a land-with-scheme project (带方案出让)."""

from __future__ import annotations

from tests.test_api_support import FILING, default_payload, make_harness


def test_project_through_all_stages_over_http(tmp_path):
    hz = make_harness(tmp_path)
    project = hz.post("owner1", "/projects", FILING, status=201)
    pid = project["id"]
    assert project["owner_id"] == "owner1"

    seen: dict[str, int] = {"correction": 0, "tolerance": 0, "commitment": 0, "supplied": 0, "matter_correction": 0,
                            "special": 0, "parallel": 0, "post_check": 0, "filings": 0}
    used_departments: set[str] = set()
    for _ in range(200):
        hz.tick(6)
        ready = hz.get("analyst1", f"/tasks?project_id={pid}")
        if not ready:
            break
        stages = {t["stage"] for t in ready}
        if {"S2", "S3"} <= stages:
            seen["parallel"] += 1
        task = ready[0]
        who = hz.who_for(task)
        if task["role"] in ("agency", "lead"):
            used_departments.add(task["department"])
        # the owner sees the same task in its own inbox
        if task["role"] == "owner":
            assert task["id"] in {t["id"] for t in hz.get("owner1", "/tasks")}
        spec, tid = task["spec_id"], task["id"]
        if spec == "Task_SubmitFiling":
            body = {"stage": task["stage"], "materials": [], "declared_missing": []}
            if task["stage"] == "S1":
                body["declared_missing"] = ["parcel_survey"]
            hz.post("owner1", f"/projects/{pid}/filings", body)
            seen["filings"] += 1
        elif spec == "Task_Intake" and task["stage"] == "S1" and seen["correction"] == 0:
            hz.post(who, f"/tasks/{tid}/complete", {"outcome": "incomplete", "missing": ["parcel_survey"]})
            seen["correction"] += 1
        elif spec == "Task_CorrectFiling":
            hz.post("owner1", f"/projects/{pid}/corrections", {"supplied": ["宗地测绘报告"]})
        elif spec == "Task_Intake" and task["stage"] == "S1":
            hz.post(who, f"/tasks/{tid}/complete", {"outcome": "tolerance", "missing": ["parcel_survey"]})
            seen["tolerance"] += 1
        elif spec == "Task_SignCommitment":
            hz.post("owner1", f"/projects/{pid}/commitment", {"signatory": "张三", "accepted_terms": True})
            seen["commitment"] += 1
        elif spec == "Task_SupplyDocuments":
            hz.post("agent1", f"/projects/{pid}/documents", {"documents": ["宗地测绘报告"], "stage": task["stage"]})
            seen["supplied"] += 1
        elif spec == "Task_PostCheck":
            hz.post(who, f"/tasks/{tid}/complete", {"passed": True, "findings": "材料齐全"})
            seen["post_check"] += 1
        elif spec == "Task_MatterCorrection":
            hz.post("owner1", f"/projects/{pid}/corrections", {"supplied": ["交通影响评价补充说明"], "task_id": tid})
        elif spec == "Task_SpecialProcedure":
            hz.post(who, f"/tasks/{tid}/complete", {"conclusion": "专家评审通过"})
        elif spec in ("Task_Review", "Task_ReviewSilent") and task["department"] == "yl" and not seen["matter_correction"]:
            hz.post(who, f"/tasks/{tid}/request-correction", {"items": ["绿化设计方案补充说明"]})
            seen["matter_correction"] += 1
        elif spec in ("Task_Review", "Task_ReviewSilent") and task["department"] == "yl" and not seen["special"]:
            hz.post(who, f"/tasks/{tid}/special-procedure", {"procedure": "expert_review"})
            seen["special"] += 1
        elif spec in ("Task_Review", "Task_ReviewSilent"):
            hz.post(who, f"/tasks/{tid}/approve", {"certificate_no": f"CERT-{tid[:8]}"})
        else:
            hz.post(who, f"/tasks/{tid}/complete", default_payload(task))
    else:
        raise AssertionError("the project did not finish in 200 steps")

    summary = hz.get("owner1", f"/projects/{pid}")
    assert summary["status"] == "completed" and summary["result"] == "approved"
    progress = summary["progress"]
    stages = {s["key"]: s for s in progress["stages"]}
    assert {"S1", "S2", "S3", "S4"} <= set(stages)
    assert stages["S1"]["intake"] == "tolerance"
    assert all(s["colour"] == "none" and s["end"] for s in stages.values())
    for matter in progress["matters"]:
        assert {"department", "committed_due", "remaining_working_days", "status", "colour", "clock_stops"} <= set(matter)
    yl = [m for m in progress["matters"] if m["department"] == "yl"]
    assert any(stop["kind"] for m in yl for stop in m["clock_stops"]), "the matter correction stopped the clock"
    assert progress["special_procedures"], "the expert review is timed"
    assert all(v >= 1 for v in seen.values()), seen
    assert len(used_departments - {"window"}) >= 5, used_departments

    timeline = hz.get("owner1", f"/projects/{pid}/timeline")
    kinds = {e["type"] for e in timeline}
    assert {"project_started", "task_completed", "project_completed"} <= kinds
    assert hz.get("owner1", f"/projects/{pid}/notifications")
    # analysts see the figures
    by_stage = hz.get("analyst1", "/analytics/timings?by=stage&project_type=land_with_scheme")
    assert {row["stage"] for row in by_stage} >= {"S1", "S2", "S3", "S4"}
    assert hz.get("analyst1", "/analytics/timings?by=department&department=zrzy")[0]["count"] >= 1
    cases = hz.get("analyst1", "/analytics/cases")
    assert [c["id"] for c in cases] == [pid]
    csv = hz.client.get("/analytics/events.csv", headers=hz.h("analyst1"))
    assert csv.status_code == 200 and csv.text.startswith("id,project_id,at,type")
    assert len(csv.text.splitlines()) == len(timeline) + 1
