"""A model that fails while running is answered as a problem naming the element (never a bare 500), changes
nothing, and is logged with the project for the administrator; what models print is kept with the project."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from engine.persistence import tables as t
from tests.test_api_support import FILING, make_harness


def _deploy_script(hz, script: str) -> None:
    """Deploy the bundled models with the first script of a 带方案出让 project (Script_SetS0) replaced."""
    from engine.services.approval import BPMN_DIR

    files = {p.name: p.read_text("utf-8") for p in sorted(BPMN_DIR.glob("*.bpmn"))}
    original = '<bpmn:script>stage = "S0"</bpmn:script>'
    assert original in files["project_approval.bpmn"]
    files["project_approval.bpmn"] = files["project_approval.bpmn"].replace(
        original, f'<bpmn:script>stage = "S0"\n{script}</bpmn:script>')
    r = hz.client.post("/admin/definitions", json={"files": files}, headers=hz.h("admin"))
    assert r.status_code == 201, r.text


def test_a_failing_script_is_a_problem_naming_the_element_and_changes_nothing(tmp_path, caplog) -> None:
    hz = make_harness(tmp_path)
    _deploy_script(hz, "days = 10 // 0")
    with hz.service.db.connect() as conn:
        before = conn.execute(select(func.count()).select_from(t.projects)).scalar()
    r = hz.client.post("/projects", json=FILING, headers=hz.h("owner1"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    detail = r.json()["detail"]
    assert "Script_SetS0" in detail and "申报策划生成" in detail and "ZeroDivisionError" in detail
    with hz.service.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.projects)).scalar() == before
    failures = [rec for rec in caplog.records if "model failure" in rec.getMessage()]
    assert failures and "Script_SetS0" in failures[0].getMessage()


def test_a_script_exhausting_its_budget_is_a_problem_too(tmp_path) -> None:
    hz = make_harness(tmp_path)
    _deploy_script(hz, "s = 'x'.ljust(10 ** 9)")
    r = hz.client.post("/projects", json=FILING, headers=hz.h("owner1"))
    assert r.status_code == 422 and "Script_SetS0" in r.json()["detail"] and "limit" in r.json()["detail"]


def test_model_output_is_logged_bounded_with_its_project(tmp_path, caplog, capsys) -> None:
    caplog.set_level(logging.INFO)
    hz = make_harness(tmp_path)
    _deploy_script(hz, "for i in range(100):\n    print('debug', i, 'y' * 5000)")
    project_id = hz.post("owner1", "/projects", FILING, status=201)["id"]
    outputs = [rec.getMessage() for rec in caplog.records if "model output" in rec.getMessage()]
    assert len(outputs) == 1 and project_id in outputs[0] and "lines dropped" in outputs[0]
    assert len(outputs[0]) < 20 * 600 and "debug 99" not in outputs[0]
    assert "yyyy" not in capsys.readouterr().out


def test_deploying_a_model_without_a_task_the_engine_relies_on_or_with_an_unknown_lane_is_refused(tmp_path) -> None:
    from engine.services.approval import BPMN_DIR

    hz = make_harness(tmp_path)
    files = {p.name: p.read_text("utf-8") for p in sorted(BPMN_DIR.glob("*.bpmn"))}
    renamed = dict(files, **{"stage_approval.bpmn": files["stage_approval.bpmn"].replace("Task_IssueResult",
                                                                                          "Task_IssueDecision")})
    r = hz.client.post("/admin/definitions", json={"files": renamed}, headers=hz.h("admin"))
    assert r.status_code == 422 and "Task_IssueResult" in r.json()["detail"], r.text
    relaned = dict(files, **{"stage_approval.bpmn": files["stage_approval.bpmn"].replace('name="牵头部门"',
                                                                                         'name="牵头单位"')})
    r = hz.client.post("/admin/definitions", json={"files": relaned}, headers=hz.h("admin"))
    assert r.status_code == 422 and "牵头单位" in r.json()["detail"] and "Task_IssueResult" in r.json()["detail"]
