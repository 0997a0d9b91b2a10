"""A model that fails while running is answered as a problem naming the element (never a bare 500), changes
nothing, and is logged with the project for the administrator; what models print is kept with the project."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from engine.persistence import tables as t
from tests.test_api_support import FILING, make_harness
from tests.test_validation import model


def _deploy_script(hz, script: str) -> None:
    body = f"""
    <startEvent id="StartEvent_1"/>
    <sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Script_Compute"/>
    <scriptTask id="Script_Compute" name="计算期限"><script>{script}</script></scriptTask>
    <sequenceFlow id="Flow_2" sourceRef="Script_Compute" targetRef="Task_Review"/>
    <userTask id="Task_Review" name="审查"/>
    <sequenceFlow id="Flow_3" sourceRef="Task_Review" targetRef="EndEvent_1"/>
    <endEvent id="EndEvent_1"/>
    """
    xml = model(body, process_id="project_approval").decode()
    r = hz.client.post("/admin/definitions", json={"files": {"m.bpmn": xml}}, headers=hz.h("admin"))
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
    assert "Script_Compute" in detail and "计算期限" in detail and "ZeroDivisionError" in detail
    with hz.service.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.projects)).scalar() == before
    failures = [rec for rec in caplog.records if "model failure" in rec.getMessage()]
    assert failures and "Script_Compute" in failures[0].getMessage()


def test_a_script_exhausting_its_budget_is_a_problem_too(tmp_path) -> None:
    hz = make_harness(tmp_path)
    _deploy_script(hz, "s = 'x'.ljust(10 ** 9)")
    r = hz.client.post("/projects", json=FILING, headers=hz.h("owner1"))
    assert r.status_code == 422 and "Script_Compute" in r.json()["detail"] and "limit" in r.json()["detail"]


def test_model_output_is_logged_bounded_with_its_project(tmp_path, caplog, capsys) -> None:
    caplog.set_level(logging.INFO)
    hz = make_harness(tmp_path)
    _deploy_script(hz, "for i in range(100):\n        print('debug', i, 'y' * 5000)")
    project_id = hz.post("owner1", "/projects", FILING, status=201)["id"]
    outputs = [rec.getMessage() for rec in caplog.records if "model output" in rec.getMessage()]
    assert len(outputs) == 1 and project_id in outputs[0] and "lines dropped" in outputs[0]
    assert len(outputs[0]) < 20 * 600 and "debug 99" not in outputs[0]
    assert "yyyy" not in capsys.readouterr().out
