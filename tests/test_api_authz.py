"""Each role refused outside its scope, always with a 403 problem that names the rule and never says
whether another owner's project exists."""

from __future__ import annotations

import pytest

from tests.test_api_support import FILING, make_harness


@pytest.fixture(scope="module")
def hz(tmp_path_factory):
    harness = make_harness(tmp_path_factory.mktemp("authz"))
    pid = harness.post("owner1", "/projects", FILING, status=201)["id"]
    harness.tick(6)
    harness.post("owner1", f"/projects/{pid}/filings", {"stage": "S0"})
    harness.pid = pid  # type: ignore[attr-defined]
    return harness


def _forbidden(response) -> dict:
    assert response.status_code == 403, response.text
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert set(body) >= {"type", "title", "status", "detail", "instance"} and body["detail"]
    return body


def test_no_token_or_bad_token_is_401(hz):
    assert hz.client.get("/projects").status_code == 401
    r = hz.client.get("/projects", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["status"] == 401


def test_owner_sees_only_its_own_projects(hz):
    assert [p["id"] for p in hz.get("owner1", "/projects")] == [hz.pid]
    assert hz.get("owner2", "/projects") == []
    other = _forbidden(hz.client.get(f"/projects/{hz.pid}", headers=hz.h("owner2")))
    missing = _forbidden(hz.client.get("/projects/P2099-999999", headers=hz.h("owner2")))
    assert other["detail"].replace(hz.pid, "X") == missing["detail"].replace("P2099-999999", "X"), "no existence leak"
    for sub in ("progress", "timeline", "notifications", "tasks"):
        _forbidden(hz.client.get(f"/projects/{hz.pid}/{sub}", headers=hz.h("owner2")))


def test_owner_cannot_file_for_another_owner(hz):
    _forbidden(hz.client.post("/projects", json=FILING | {"owner_id": "owner1"}, headers=hz.h("owner2")))


def test_agent_acts_only_for_its_principals(hz):
    assert [p["id"] for p in hz.get("agent1", "/projects")] == [hz.pid]
    hz.add_user("agent2", "agent", owner_ids=["owner2"])
    assert hz.get("agent2", "/projects") == []
    _forbidden(hz.client.get(f"/projects/{hz.pid}", headers=hz.h("agent2")))
    _forbidden(hz.client.post("/projects", json=FILING | {"owner_id": "owner1"}, headers=hz.h("agent2")))
    r = hz.client.post("/projects", json=FILING, headers=hz.h("agent2"))
    assert r.status_code == 422 and "owner_id" in r.json()["detail"]


def test_window_task_cannot_be_completed_by_an_agency_or_owner(hz):
    task = hz.get("window1", "/tasks")[0]
    assert task["role"] == "window"
    for who in ("officer-zrzy", "owner1", "analyst1"):
        _forbidden(hz.client.post(f"/tasks/{task['id']}/complete", json={"outcome": "complete"}, headers=hz.h(who)))
    assert hz.get("window1", "/tasks")[0]["id"] == task["id"], "nothing changed"


def test_agency_sees_and_completes_only_its_department(hz):
    window_task = hz.get("window1", "/tasks")[0]
    hz.post("window1", f"/tasks/{window_task['id']}/complete", {"outcome": "complete"})
    ready = hz.get("analyst1", f"/tasks?project_id={hz.pid}")
    review = next(t for t in ready if t["spec_id"].startswith("Task_Review"))
    dept = review["department"]
    mine = hz.get(f"officer-{dept}", "/tasks")
    assert mine and all(t["department"] == dept for t in mine)
    other_dept = next(d for d in ("sthj", "ww", "bdc") if d != dept)
    assert hz.get(f"officer-{other_dept}", "/tasks") == []
    body = _forbidden(hz.client.post(f"/tasks/{review['id']}/approve", json={}, headers=hz.h(f"officer-{other_dept}")))
    assert dept in body["detail"]
    _forbidden(hz.client.get(f"/projects/{hz.pid}", headers=hz.h(f"officer-{other_dept}")))
    assert hz.get(f"officer-{dept}", f"/projects/{hz.pid}")["id"] == hz.pid
    # a task already done gives 409 and changes nothing
    hz.post(f"officer-{dept}", f"/tasks/{review['id']}/approve", {})
    again = hz.client.post(f"/tasks/{review['id']}/approve", json={}, headers=hz.h(f"officer-{dept}"))
    assert again.status_code == 409 and "not ready" in again.json()["detail"]


def test_analyst_reads_everything_and_changes_nothing(hz):
    assert hz.get("analyst1", "/projects")
    assert hz.get("analyst1", f"/projects/{hz.pid}/timeline")
    task = hz.get("analyst1", f"/tasks?project_id={hz.pid}")[0]
    _forbidden(hz.client.post(f"/tasks/{task['id']}/complete", json={"decision": "approve"}, headers=hz.h("analyst1")))
    _forbidden(hz.client.post("/projects", json=FILING | {"owner_id": "owner1"}, headers=hz.h("analyst1")))
    _forbidden(hz.client.post("/admin/users", json={"name": "x", "role": "owner"}, headers=hz.h("analyst1")))
    _forbidden(hz.client.post("/admin/definitions", json={"files": {"a.bpmn": "<x/>"}}, headers=hz.h("analyst1")))


def test_only_admins_manage_users_and_definitions(hz):
    for who in ("owner1", "agent1", "window1", "officer-zjj"):
        _forbidden(hz.client.get("/admin/users", headers=hz.h(who)))
        _forbidden(hz.client.post("/admin/definitions", json={"files": {"a.bpmn": "<x/>"}}, headers=hz.h(who)))
        _forbidden(hz.client.get("/analytics/cases", headers=hz.h(who)))
    names = {u["name"] for u in hz.get("admin", "/admin/users")}
    assert {"owner1", "window1", "officer-zjj"} <= names
    assert all("token" not in u and "token_hash" not in u for u in hz.get("admin", "/admin/users"))


def test_revoked_token_is_refused(hz):
    token = hz.add_user("temp-owner", "owner")
    assert hz.client.get("/projects", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    r = hz.client.delete("/admin/users/temp-owner", headers=hz.h("admin"))
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert hz.client.get("/projects", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_only_the_owner_or_its_agent_submits_a_filing(hz):
    other = hz.post("owner2", "/projects", FILING | {"name": "别家项目"}, status=201)["id"]
    for who in ("owner1", "officer-zrzy", "window1", "analyst1"):
        response = hz.client.post(f"/projects/{other}/filings", json={"stage": "S0"}, headers=hz.h(who))
        assert response.status_code in (403, 404), (who, response.status_code)


def test_only_the_owner_withdraws(hz):
    pid = hz.post("owner2", "/projects", FILING | {"name": "撤回测试"}, status=201)["id"]
    for who in ("owner1", "officer-zrzy", "analyst1"):
        response = hz.client.post(f"/projects/{pid}/withdraw", json={"reason": "x"}, headers=hz.h(who))
        assert response.status_code in (403, 404), (who, response.status_code)
    done = hz.post("owner2", f"/projects/{pid}/withdraw", {"reason": "项目取消"})
    assert done["status"] == "withdrawn"
    assert hz.get("owner2", f"/projects/{pid}")["status"] == "withdrawn"
    again = hz.client.post(f"/projects/{pid}/withdraw", json={"reason": "again"}, headers=hz.h("owner2"))
    assert again.status_code == 409


def test_claim_is_exclusive_within_the_department(hz):
    ready = hz.get("analyst1", f"/tasks?project_id={hz.pid}")
    review = next((t for t in ready if t["spec_id"].startswith("Task_Review")), None)
    if review is None:  # drive the project to a review if earlier tests left it elsewhere
        window_task = hz.get("window1", "/tasks")[0]
        hz.post("window1", f"/tasks/{window_task['id']}/complete", {"outcome": "complete"})
        review = next(t for t in hz.get("analyst1", f"/tasks?project_id={hz.pid}") if t["spec_id"].startswith("Task_Review"))
    dept = review["department"]
    hz.add_user(f"second-{dept}", "agency", department=dept)
    claimed = hz.post(f"officer-{dept}", f"/tasks/{review['id']}/claim", {})
    assert claimed["claimed_by"] == f"officer-{dept}"
    body = _forbidden(hz.client.post(f"/tasks/{review['id']}/approve", json={}, headers=hz.h(f"second-{dept}")))
    assert "claimed" in body["detail"]
    released = hz.client.delete(f"/tasks/{review['id']}/claim", headers=hz.h(f"officer-{dept}"))
    assert released.status_code == 200 and released.json()["claimed_by"] is None
