"""Errors are problem details and 4xx, never 500, and never half-written; idempotency keys; deploying
versions; health and readiness."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.persistence import tables as t
from tests.test_api_support import FILING, make_harness


@pytest.fixture(scope="module")
def hz(tmp_path_factory):
    return make_harness(tmp_path_factory.mktemp("errors"))


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["type"].startswith("urn:gongai:problem:") and body["detail"]
    return body


def _counts(hz) -> tuple[int, int, int]:
    with hz.service.db.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(table)).scalar() for table in (t.projects, t.events, t.tasks))


def test_malformed_json_wrong_types_unknown_ids_are_4xx_and_write_nothing(hz):
    before = _counts(hz)
    headers = hz.h("owner1", **{"Content-Type": "application/json"})
    body = _problem(hz.client.post("/projects", content=b'{"name": ', headers=headers), 400)
    assert "malformed JSON" in body["detail"]
    body = _problem(hz.client.post("/projects", json=FILING | {"investment_wan_yuan": "lots"}, headers=hz.h("owner1")), 422)
    assert "investment_wan_yuan" in body["detail"]
    body = _problem(hz.client.post("/projects", json=FILING | {"project_type": "castle"}, headers=hz.h("owner1")), 422)
    assert "project_type" in body["detail"] and "castle" in body["detail"]
    bad_units = FILING | {"unit_works": [{"id": "U1", "name": "1号楼", "early_items": ["s1_project_filing"]}]}
    body = _problem(hz.client.post("/projects", json=bad_units, headers=hz.h("owner1")), 422)
    assert "early_items" in body["detail"]
    _problem(hz.client.post("/projects", json=["not", "an", "object"], headers=hz.h("owner1")), 422)
    _problem(hz.client.post("/tasks/nope/complete", json={}, headers=hz.h("window1")), 404)
    _problem(hz.client.get("/projects/P2000-000001", headers=hz.h("analyst1")), 404)
    _problem(hz.client.get("/no/such/route", headers=hz.h("analyst1")), 404)
    assert _counts(hz) == before


def test_oversized_body_is_413(hz):
    big = FILING | {"name": "x" * (1 << 20)}
    body = _problem(hz.client.post("/projects", json=big, headers=hz.h("owner1")), 413)
    assert "limit" in body["detail"]


def test_invalid_payload_names_the_field_and_changes_nothing(hz):
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    hz.tick(6)
    hz.post("owner1", f"/projects/{pid}/filings", {})
    task = hz.get("window1", f"/tasks?project_id={pid}")[0]
    before = _counts(hz)
    body = _problem(hz.client.post(f"/tasks/{task['id']}/complete", json={"outcome": "tolerance"}, headers=hz.h("window1")), 422)
    assert "missing" in body["detail"]
    body = _problem(hz.client.post(f"/tasks/{task['id']}/complete",
                                   json={"outcome": "tolerance", "missing": ["project_proposal"]}, headers=hz.h("window1")), 422)
    assert "key material" in body["detail"]
    assert _counts(hz) == before
    # refusing without a reason is refused
    hz.post("window1", f"/tasks/{task['id']}/complete", {"outcome": "complete"})
    review = next(x for x in hz.get("analyst1", f"/tasks?project_id={pid}") if x["spec_id"].startswith("Task_Review"))
    body = _problem(hz.client.post(f"/tasks/{review['id']}/refuse", json={}, headers=hz.h(f"officer-{review['department']}")), 422)
    assert "reason" in body["detail"]
    body = _problem(hz.client.post(f"/tasks/{review['id']}/complete", json={"decision": "correction"},
                                   headers=hz.h(f"officer-{review['department']}")), 422)
    assert "items" in body["detail"]


def test_idempotency_key_does_the_work_once(hz):
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    hz.tick(6)
    hz.post("owner1", f"/projects/{pid}/filings", {})
    task = hz.get("window1", f"/tasks?project_id={pid}")[0]
    first = hz.post("window1", f"/tasks/{task['id']}/complete", {"outcome": "complete"}, **{"Idempotency-Key": "k-1"})
    again = hz.post("window1", f"/tasks/{task['id']}/complete", {"outcome": "complete"}, **{"Idempotency-Key": "k-1"})
    assert first == again
    completed = [e for e in hz.get("analyst1", f"/projects/{pid}/timeline")
                 if e["type"] == "task_completed" and e["task_id"] == task["id"]]
    assert len(completed) == 1
    other = hz.client.post(f"/tasks/{task['id']}/complete", json={"outcome": "incomplete", "missing": ["filing_form"]},
                           headers=hz.h("window1", **{"Idempotency-Key": "k-1"}))
    assert _problem(other, 422)["detail"].startswith("Idempotency-Key")
    # without a key, a repeat is a 409
    _problem(hz.client.post(f"/tasks/{task['id']}/complete", json={"outcome": "complete"}, headers=hz.h("window1")), 409)


def test_deploy_versions_and_validation(hz):
    listed = hz.get("admin", "/admin/definitions")
    assert listed and listed[0]["version"] == 1
    body = _problem(hz.client.post("/admin/definitions", json={"files": {"broken.bpmn": "<definitions"}},
                                   headers=hz.h("admin")), 422)
    assert body["detail"]
    _problem(hz.client.post("/admin/definitions", json={"files": {"../x.bpmn": "<x/>"}}, headers=hz.h("admin")), 422)
    from engine.services.approval import BPMN_DIR

    files = {p.name: p.read_text("utf-8") for p in sorted(BPMN_DIR.glob("*.bpmn"))}
    same = hz.post("admin", "/admin/definitions", {"files": files}, status=201)
    assert same["created"] is False and same["version"] == 1
    files["stage_approval.bpmn"] = files["stage_approval.bpmn"] + "\n<!-- v2 -->\n"
    running = hz.post("owner1", "/projects", FILING, status=201)["id"]
    v2 = hz.post("admin", "/admin/definitions", {"files": files}, status=201)
    assert v2["created"] is True and v2["version"] == 2
    assert [d["version"] for d in hz.get("admin", "/admin/definitions")] == [1, 2]
    with hz.service.db.connect() as conn:
        kept = conn.execute(select(t.projects.c.definition_id).where(t.projects.c.id == running)).scalar()
    assert kept == listed[0]["id"], "a running project keeps its version"


def test_health_and_readiness(hz):
    assert hz.client.get("/healthz").json() == {"status": "ok"}
    ready = hz.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["migrations"]["ok"] is True
    assert hz.client.get("/docs").status_code == 200


def test_readiness_names_a_missing_index(hz):
    index = next(ix for ix in t.subjects.indexes if ix.name == "ix_subjects_facts")
    with hz.service.db.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_subjects_facts")
    try:
        ready = hz.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["schema"]["ok"] is False and "index ix_subjects_facts" in ready.json()["detail"]
    finally:  # the module's other tests share this database
        with hz.service.db.begin() as conn:
            index.create(conn)
    assert hz.client.get("/readyz").status_code == 200
