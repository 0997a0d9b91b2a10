"""The owner's diagram drills into a stage and its matters: each level's marks come from the ledger and the task
rows (done / active / overdue), and each level lists the levels below it (api/pages/diagram.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_api_support import FILING, Harness, default_payload, make_harness
from tests.test_pages import sign_in


@pytest.fixture()
def hz(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def _view(hz: Harness, pid: str, **params: str) -> dict[str, Any]:
    r = hz.client.get(f"/ui/projects/{pid}/diagram-view.json", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _complete(hz: Harness, task: dict[str, Any]) -> None:
    body = {} if task["spec_id"] == "Task_SubmitFiling" else default_payload(task)
    hz.post(hz.who_for(task), f"/tasks/{task['id']}/complete", body)


def test_drilling_into_a_stage_and_a_matter_marks_its_tasks(hz: Harness) -> None:
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    for _ in range(2):  # the owner files S0 (规划), the window accepts it
        _complete(hz, hz.get("admin", f"/tasks?project_id={pid}")[0])
    sign_in(hz, "owner1")

    main = _view(hz, pid)
    assert main["model"] == "project_approval" and main["states"]["Call_S0"] == "active"
    down = [d for d in main["drill"] if d["element"] == "Call_S0"]
    assert down and down[0]["model"] == "stage_approval" and down[0]["stage"] == "S0"

    stage = _view(hz, pid, model="stage_approval", stage="S0")
    assert stage["states"]["Call_Intake"] == "done" and stage["states"]["Call_ParallelMatters"] == "active"
    matters = [d for d in stage["drill"] if d["model"] == "matter_approval"]
    assert len(matters) >= 2 and all(d["element"] == "Call_ParallelMatters" for d in matters)
    intake = _view(hz, pid, model="stage_intake", stage="S0")
    assert intake["states"] == {"Task_SubmitFiling": "done", "Task_Intake": "done"}

    # one matter approved (its review done), another still being reviewed (active), then past its due date
    reviews = [t for t in hz.get("admin", f"/tasks?project_id={pid}") if t["spec_id"] == "Task_Review"]
    first, second = reviews[0], reviews[1]
    _complete(hz, first)
    done = _view(hz, pid, model="matter_approval", stage="S0", matter=first["matter_key"])
    assert done["states"]["Task_Review"] == "done" and done["states"]["Script_Approved"] == "done"
    active = _view(hz, pid, model="matter_approval", stage="S0", matter=second["matter_key"])
    assert active["states"]["Task_Review"] == "active" and "Script_Approved" not in active["states"]
    hz.tick(24 * 40)  # long past every limit
    late = _view(hz, pid, model="matter_approval", stage="S0", matter=second["matter_key"])
    assert late["states"]["Task_Review"] == "overdue"
    assert _view(hz, pid, model="stage_approval", stage="S0")["states"]["Call_ParallelMatters"] == "overdue"
    assert _view(hz, pid)["states"]["Call_S0"] == "overdue"


def test_the_drilled_models_come_from_the_projects_definition_and_stay_private(hz: Harness) -> None:
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    sign_in(hz, "owner1")
    xml = hz.client.get(f"/ui/projects/{pid}/diagram.bpmn", params={"model": "matter_approval"})
    assert xml.status_code == 200 and 'id="matter_approval"' in xml.text and "Task_Review" in xml.text
    bad = hz.client.get(f"/ui/projects/{pid}/diagram.bpmn", params={"model": "../../etc/passwd"})
    assert bad.status_code == 422 and "请选择" in bad.text
    no_stage = hz.client.get(f"/ui/projects/{pid}/diagram-view.json", params={"model": "stage_approval"})
    assert no_stage.status_code == 422 and "请选择阶段" in no_stage.text
    sign_in(hz, "owner2")
    assert hz.client.get(f"/ui/projects/{pid}/diagram-view.json").status_code == 403
    assert hz.client.get(f"/ui/projects/{pid}/diagram.bpmn", params={"model": "stage_approval"}).status_code == 403


def test_the_follow_up_marks_the_post_check_it_calls(hz: Harness) -> None:
    """Each 核查 runs in its own post_check instance: the follow-up's diagram marks the call activity."""
    from engine.simulation.cases import typical_case

    filing = {"name": "承诺制厂房", "project_type": "social_small", "case": typical_case("social_small"),
              "commitment_matters": ["s1_land_use_planning_permit"]}
    pid = hz.post("owner1", "/projects", filing, status=201)["id"]
    for _ in range(10):  # file, accept, approve and issue S1
        ready = [t for t in hz.get("admin", f"/tasks?project_id={pid}") if t["stage"] == "S1"]
        if not ready or ready[0]["spec_id"] == "Task_PostCheck":
            break
        _complete(hz, ready[0])
    sign_in(hz, "owner1")
    main = _view(hz, pid)
    assert [d["model"] for d in main["drill"] if d["element"] == "Call_S1_Followup"] == ["commitment_followup"]
    followup = _view(hz, pid, model="commitment_followup", stage="S1")
    assert followup["states"]["Call_PostCheck"] == "active", followup["states"]
