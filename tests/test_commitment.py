"""告知承诺制 through the real API: filing in commitment mode (and its 422s), the decision on the commitment,
the 核查 and a revocation of one permit and its dependants, credit rules from the profile, the correction
deadline on the virtual clock, and the national result labels in the progress view and the exchange export."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.analytics.exchange import BLZT, detail_rows, matter_rows
from engine.domain.catalogue import CatalogueError, load_catalogue
from engine.persistence import tables
from engine.simulation.cases import typical_case
from tests.test_api_support import make_harness


def _filing(**extra):
    return {"name": "承诺制厂房", "project_type": "social_small", "case": typical_case("social_small"), **extra}


def _projects(hz) -> int:
    with hz.service.db.connect() as conn:
        return conn.execute(select(func.count()).select_from(tables.projects)).scalar_one()


def _ready(hz, pid, spec=None):
    return [t for t in hz.get("analyst1", f"/tasks?project_id={pid}") if spec is None or t["spec_id"] == spec]


def _do(hz, task, body):
    hz.post(hz.who_for(task), f"/tasks/{task['id']}/complete", body)


def _through_s1(hz, pid):
    """File and accept S1, approve its matters and issue it (over HTTP)."""
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S1"})
    _do(hz, _ready(hz, pid, "Task_Intake")[0], {"outcome": "complete"})
    for task in _ready(hz, pid, "Task_Review"):
        _do(hz, task, {"decision": "approve"})
    _do(hz, _ready(hz, pid, "Task_IssueResult")[0], {"certificate_no": "证-S1"})


@pytest.mark.parametrize("matters, text", [
    (["s1_project_filing"], "does not allow 告知承诺制"),
    (["s1_energy_review"], "is not in this project's plan"),
    (["no_such_matter"], "commitment_matters: unknown matter 'no_such_matter'"),
])
def test_a_commitment_filing_that_is_not_allowed_is_a_422_naming_the_matter_and_files_nothing(tmp_path, matters, text):
    hz = make_harness(tmp_path)
    r = hz.client.post("/projects", json=_filing(commitment_matters=matters), headers=hz.h("owner1"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("commitment_matters: ") and text in r.json()["detail"]
    assert matters[0] in r.json()["detail"]
    assert _projects(hz) == 0


def test_an_owner_with_a_credit_record_may_not_file_on_commitment(tmp_path):
    hz = make_harness(tmp_path)
    hz.post("admin", "/admin/credit-records", {"owner_id": "owner1", "reason": "另案承诺未兑现"}, status=201)
    r = hz.client.post("/projects", json=_filing(commitment_matters=["s1_land_use_planning_permit"]),
                       headers=hz.h("owner1"))
    assert r.status_code == 422 and "bars 告知承诺制 for 730 days" in r.json()["detail"], r.text
    assert _projects(hz) == 0
    standing = hz.get("owner1", "/owners/owner1/credit")
    assert standing["good"] is False and {"privilege": "commitment", "matters": None, "bar_days": 730} in standing["rules"]
    # two years later the record no longer bars it (the profile's credit rule for 告知承诺制)
    hz.clock.advance(timedelta(days=731))
    hz.post("owner1", "/projects", _filing(commitment_matters=["s1_land_use_planning_permit"]), status=201)


def test_commitment_filing_decision_check_and_revocation_over_http(tmp_path):
    hz = make_harness(tmp_path)
    project = hz.post("owner1", "/projects", _filing(commitment_matters=["s1_land_use_planning_permit"]), status=201)
    pid = project["id"]
    plan = hz.get("owner1", f"/projects/{pid}/plan")
    land = next(m for s in plan["stages"] for m in s["matters"] if m["matter_id"] == "s1_land_use_planning_permit")
    assert land["mode"] == "commitment"
    assert [m["id"] for m in land["materials"] if m.get("waived_by_commitment")] == ["parcel_survey"]
    # the window may not ask for what the commitment replaces (a 422 naming it; nothing changes)
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S1"})
    intake = _ready(hz, pid, "Task_Intake")[0]
    r = hz.client.post(f"/tasks/{intake['id']}/complete", json={"outcome": "incomplete", "missing": ["parcel_survey"]},
                       headers=hz.h("window1"))
    assert r.status_code == 422 and "parcel_survey" in r.json()["detail"], r.text
    _do(hz, intake, {"outcome": "complete"})
    for task in _ready(hz, pid, "Task_Review"):
        assert task["data"]["matter"]["mode"] == ("commitment" if task["matter_key"].endswith("permit") else "standard")
        _do(hz, task, {"decision": "approve"})
    _do(hz, _ready(hz, pid, "Task_IssueResult")[0], {"certificate_no": "证-S1"})
    progress = hz.get("owner1", f"/projects/{pid}")["progress"]
    labels = {m["matter_id"]: m["result_label"] for m in progress["matters"]}
    assert labels == {"s1_project_filing": "办结（通过）", "s1_land_use_planning_permit": "办结（告知承诺通过）"}
    assert next(s for s in progress["stages"] if s["key"] == "S1")["result_label"] == "办结（告知承诺通过）"
    # the agency sees its 核查 task; it fails; the owner is told the findings and may state its case
    check = [t for t in hz.get("officer-zrzy", "/tasks") if t["spec_id"] == "Task_PostCheck"]
    assert len(check) == 1 and check[0]["matter_key"] == "S1/check/s1_land_use_planning_permit"
    _do(hz, check[0], {"passed": False, "findings": "宗地界址不符"})
    notices = hz.get("owner1", f"/projects/{pid}/notifications")
    notice = next(n for n in notices if n["kind"] == "revocation_notice")
    assert "宗地界址不符" in notice["body"] and notice["data"]["statement_due"]
    # S23 goes on meanwhile: its planning permit (built on the S1 permit) is approved
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S23"})
    _do(hz, _ready(hz, pid, "Task_Intake")[0], {"outcome": "complete"})
    planning = next(t for t in _ready(hz, pid) if t["matter_key"] == "S23/s2_construction_planning_permit")
    _do(hz, planning, {"decision": "approve"})
    _do(hz, _ready(hz, pid, "Task_Statement")[0], {"statement": "界址已复测"})
    _do(hz, _ready(hz, pid, "Task_RevocationDecision")[0], {"decision": "revoke", "reason": "复测仍不符"})
    revoked = [e for e in hz.get("owner1", f"/projects/{pid}/timeline") if e["type"] == "permit_revoked"]
    assert [e["matter_key"] for e in revoked] == ["S1/s1_land_use_planning_permit", "S23/s2_construction_planning_permit"]
    matters = {m["key"]: m for m in hz.get("owner1", f"/projects/{pid}/progress")["matters"]}
    assert matters["S1/s1_project_filing"]["outcome"] == "approved"
    assert matters["S23/s3_construction_permit"]["outcome"] == "terminated"  # was in review: the gate ended it
    # 撤销 is per permit: S1 keeps the result of its processing and lists the revoked permit beside it
    stages = {s["key"]: s for s in hz.get("owner1", f"/projects/{pid}/progress")["stages"]}
    assert stages["S1"]["result_label"] == "办结（告知承诺通过）"
    assert stages["S1"]["revoked_matters"] == ["S1/s1_land_use_planning_permit"]
    assert [r["reason"] for r in hz.service.credit_records("owner1")] == ["核查发现实际情况与承诺内容不符"]
    # the exchange export: 16 办结（告知承诺通过） for the committed matter, then 15 撤销 for each revoked one
    with hz.service.db.connect() as conn:
        steps = {}
        for row in detail_rows(conn, pid):
            steps.setdefault(row["SPSXSLBM"], []).append(int(row["BLZT"]))
        results = {r["SPSXBM"]: r["BLJG"] for r in matter_rows(conn, pid)}
    assert BLZT[16] == "办结（告知承诺通过）"
    assert steps[f"{pid}-S1/s1_land_use_planning_permit"] == [3, 16, 15]
    assert steps[f"{pid}-S1/s1_project_filing"] == [3, 11]
    assert steps[f"{pid}-S23/s2_construction_planning_permit"] == [3, 11, 15]
    assert results["s1_land_use_planning_permit"] == "撤销"
    # the 电子证照 of both revoked permits read revoked (the certificate projection of the same events); the
    # 备案 that nothing revoked stays valid
    status = {c["matter_key"]: c["status"] for c in hz.get("owner1", f"/projects/{pid}/certificates")}
    assert status["S1/s1_land_use_planning_permit"] == "revoked"
    assert status["S23/s2_construction_planning_permit"] == "revoked"
    assert status["S1/s1_project_filing"] == "valid"


def test_correction_deadline_ends_the_stop_and_the_matter_on_the_virtual_clock(tmp_path):
    hz = make_harness(tmp_path)
    pid = hz.post("owner1", "/projects", _filing(), status=201)["id"]
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S1"})
    _do(hz, _ready(hz, pid, "Task_Intake")[0], {"outcome": "complete"})
    land = next(t for t in _ready(hz, pid) if t["matter_key"] == "S1/s1_land_use_planning_permit")
    _do(hz, land, {"decision": "correction", "items": ["宗地测绘成果"]})
    hz.tick(24 * 7)  # a week: the stop is still open
    matter = next(m for m in hz.get("owner1", f"/projects/{pid}/progress")["matters"]
                  if m["key"] == "S1/s1_land_use_planning_permit")
    assert matter["clock_stops"][0]["end"] is None
    for _ in range(12):  # the timer worker's path, day by day, past 20 working days
        hz.tick(24 * 3)
    matter = next(m for m in hz.get("owner1", f"/projects/{pid}/progress")["matters"]
                  if m["key"] == "S1/s1_land_use_planning_permit")
    assert matter["outcome"] == "withdrawn" and all(s["end"] for s in matter["clock_stops"])
    assert "correction_lapsed" in [n["kind"] for n in hz.get("owner1", f"/projects/{pid}/notifications")]
    assert not [t for t in _ready(hz, pid) if t["spec_id"] == "Task_MatterCorrection"]


def test_terminated_profile_ends_the_matter_instead(tmp_path: Path):
    base = load_catalogue()
    catalogue = base.model_copy(update={"profile": base.profile.model_copy(update={
        "correction": base.profile.correction.model_copy(update={"on_expiry": "terminated", "limit_wd": 3})})})
    from engine.clock import VirtualClock
    from engine.persistence.db import make_engine, migrate
    from engine.services.approval import ApprovalService
    from engine.domain.actors import Actor
    from tests.test_api_support import START

    db = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(db)
    clock = VirtualClock(START)
    svc = ApprovalService(db, catalogue=catalogue, clock=clock)
    svc.deploy_bundled()
    owner = Actor("o1", "owner")
    pid = svc.start_project(_filing(owner_id="o1"), actor=owner)
    svc.submit_filing(pid, "S1", actor=owner)
    intake = svc.list_tasks(project_id=pid)[0]
    svc.complete_task(intake["id"], {"outcome": "complete"}, actor=Actor("w", "window", "window"))
    land = next(t for t in svc.list_tasks(project_id=pid) if t["matter_key"] == "S1/s1_land_use_planning_permit")
    svc.complete_task(land["id"], {"decision": "correction", "items": ["宗地测绘成果"]}, actor=Actor("z", "agency", "zrzy"))
    for _ in range(10):
        clock.advance(timedelta(days=1))
        svc.fire_timers()
    matter = next(m for m in svc.timing(pid)["matters"] if m["key"] == "S1/s1_land_use_planning_permit")
    assert matter["outcome"] == "terminated"


def test_credit_rules_are_checked_data():
    catalogue = load_catalogue()
    assert catalogue.credit_bar_days("tolerance", "s4_archives_acceptance") == 180
    assert catalogue.credit_bar_days("tolerance", "s1_land_use_planning_permit") == catalogue.profile.credit_bar_days
    assert catalogue.credit_bar_days("commitment", "s4_archives_acceptance") == 730


def test_an_unknown_matter_in_a_credit_rule_or_a_waiver_is_refused(tmp_path: Path):
    import shutil

    root = tmp_path / "workflows"
    shutil.copytree(Path(__file__).resolve().parents[1] / "workflows", root)
    profile = root / "profiles" / "default.yaml"
    profile.write_text(profile.read_text(encoding="utf-8").replace(
        "matters: [s4_archives_acceptance], bar_days: 180", "matters: [s4_no_such], bar_days: 180"), encoding="utf-8")
    matters = root / "matters.yaml"
    matters.write_text(matters.read_text(encoding="utf-8").replace(
        "commitment_waives: [project_archives]", "commitment_waives: [no_such_material]"), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue("default", root)
    text = str(caught.value)
    assert "credit_rules[1].matters" in text and "s4_no_such" in text
    assert "commitment_waives: no_such_material" in text


def test_the_commitment_refusals_are_worded_in_chinese_for_the_pages(tmp_path):
    """The refusals of this feature joined in one 422 (the source walk of tests/test_page_refusals.py cannot see
    their parts): each part has its Chinese wording beside the field."""
    from api.pages import refusals

    hz = make_harness(tmp_path)
    hz.post("admin", "/admin/credit-records", {"owner_id": "owner1", "reason": "另案承诺未兑现"}, status=201)
    r = hz.client.post("/projects", json=_filing(commitment_matters=[
        "s1_project_filing", "s1_energy_review", "no_such_matter", "s1_land_use_planning_permit"]), headers=hz.h("owner1"))
    assert r.status_code == 422
    shown = refusals.explain(r.json()["detail"])
    assert [field for field, _ in shown] == ["commitment_matters"] * 4
    assert [text for _, text in shown] == [
        f"事项“{hz.service.catalogue.matter('s1_project_filing').name}”不适用告知承诺制", "事项“节能审查”不在本项目按情形需办理的事项中", "未知事项“no_such_matter”",
        f"事项“建设用地规划许可证”：建设单位 {hz.clock.now().date().isoformat()} 有失信记录（另案承诺未兑现（admin 录入）），"
        "730 日内不适用告知承诺制"]
    pid = hz.post("owner1", "/projects", _filing(), status=201)["id"]
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S1"})
    intake = _ready(hz, pid, "Task_Intake")[0]
    r = hz.client.post(f"/tasks/{intake['id']}/complete", json={"outcome": "tolerance", "missing": ["parcel_survey"]},
                       headers=hz.h("window1"))
    assert r.status_code == 422
    text = refusals.explain_text(r.json()["detail"])
    assert "365 日内不适用容缺受理" in text and "操作未执行" not in text, text


def test_an_uncorrected_filing_is_withdrawn_at_its_deadline_over_http(tmp_path):
    """一次性告知 (a 422 for a bad outcome changes nothing), then the deadline on the virtual clock: reminder, 视为撤回,
    the project withdrawn with its open tasks gone, the withdrawn stage not timed."""
    hz = make_harness(tmp_path)
    pid = hz.post("owner1", "/projects", _filing(), status=201)["id"]
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S1"})
    intake = _ready(hz, pid, "Task_Intake")[0]
    r = hz.client.post(f"/tasks/{intake['id']}/complete", json={"outcome": "maybe"}, headers=hz.h(hz.who_for(intake)))
    assert r.status_code == 422 and "outcome" in r.json()["detail"], r.text
    assert _ready(hz, pid, "Task_Intake")[0]["id"] == intake["id"]  # nothing changed
    _do(hz, intake, {"outcome": "incomplete", "missing": ["parcel_survey"]})
    assert [t["spec_id"] for t in _ready(hz, pid)] == ["Task_CorrectFiling"]
    for _ in range(14):  # the timer worker's path, past 20 working days
        hz.tick(24 * 3)
    kinds = [n["kind"] for n in hz.get("owner1", f"/projects/{pid}/notifications")]
    assert kinds.count("filing_correction_reminder") == 1 and kinds.count("filing_withdrawn") == 1
    project = hz.get("owner1", f"/projects/{pid}")
    assert (project["status"], project["result"]) == ("withdrawn", "withdrawn")
    assert _ready(hz, pid) == []
    timeline = hz.get("owner1", f"/projects/{pid}/timeline")
    ended = [e for e in timeline if e["type"] == "stage_completed"]
    assert [(e["stage"], e["data"]["result"]) for e in ended] == [("S1", "withdrawn")]
    closed = [e for e in timeline if e["type"] == "project_withdrawn"]
    assert len(closed) == 1 and closed[0]["actor"] is None  # the deadline did it, not the owner (撤回申请)
    assert closed[0]["data"]["label"] == "已撤回"
    assert hz.get("owner1", f"/projects/{pid}/progress")["stages"] == []  # never accepted, never timed
