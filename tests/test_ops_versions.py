"""Running projects keep their definition version and move to a new one only where the change allows it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.domain.actors import Actor
from engine.simulation.cases import typical_case
from engine.services.approval import BPMN_DIR
from engine.services.errors import Conflict
from engine.services.versions import migrate_project, running_on_older_versions
from tests.test_engine import WINDOW, env, file_project, officer  # noqa: F401  (fixture)

ADMIN = Actor("admin-1", "admin")


def _bundled() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(BPMN_DIR.glob("*.bpmn"))}


def _renamed(old: str, new: str) -> dict[str, bytes]:
    """The bundled models with one element id renamed (as a modeller's new version might)."""
    files = _bundled()
    text = files["matter_approval.bpmn"].decode()
    assert f'"{old}"' in text
    files["matter_approval.bpmn"] = text.replace(f'"{old}"', f'"{new}"').encode()
    return files


def _in_review(service) -> str:
    pid = file_project(service)
    service.complete_task(service.list_tasks(project_id=pid)[0]["id"], {"outcome": "complete"}, actor=WINDOW)
    assert any(r["spec_id"] == "Task_Review" for r in service.list_tasks(project_id=pid))
    return pid


def test_a_running_project_keeps_its_version_until_moved_with_a_mapping(env) -> None:  # noqa: F811
    service, clock, _ = env
    pid = _in_review(service)
    v2 = service.deploy(_renamed("Timer_Warn", "Timer_Warning"), by="admin-1")
    assert v2["version"] == 2 and service.project(pid)["version"] >= 1
    assert running_on_older_versions(service, "project_approval") == [pid]
    newer = service.start_project({"name": "新项目", "project_type": "social_general", "owner_id": "owner-1",
                                   "include_planning": False, "case": typical_case("social_general")})
    assert running_on_older_versions(service, "project_approval") == [pid]  # new projects start on version 2

    with pytest.raises(Conflict) as refused:  # the waiting warning timers lost their element
        migrate_project(service, pid, actor=ADMIN)
    assert "waiting task 'Timer_Warn'" in str(refused.value) and "Timer_Warn=NEW_ID" in str(refused.value)
    before = service.events(pid)
    with pytest.raises(Conflict):
        migrate_project(service, pid, mapping={"Timer_Warn": "Task_Review"}, actor=ADMIN)  # a timer is no user task
    assert service.events(pid) == before  # refusals change nothing

    dry = migrate_project(service, pid, mapping={"Timer_Warn": "Timer_Warning"}, actor=ADMIN, dry_run=True)
    assert dry["migrated"] is False and "possible" in dry["detail"]
    moved = migrate_project(service, pid, mapping={"Timer_Warn": "Timer_Warning"}, actor=ADMIN)
    assert moved["migrated"] is True and (moved["from_version"], moved["to_version"]) == (1, 2)
    assert running_on_older_versions(service, "project_approval") == []
    event = service.events(pid)[-1]
    assert event["type"] == "definition_migrated" and event["actor"] == "admin-1"

    # the moved project goes on under version 2: its warning timer (renamed) fires, its reviews complete
    warned = len([e for e in service.events(pid) if e["type"] == "matter_warning"])
    clock.advance(timedelta(days=4))
    service.fire_timers()
    assert len([e for e in service.events(pid) if e["type"] == "matter_warning"]) > warned
    for row in [r for r in service.list_tasks(project_id=pid) if r["spec_id"] == "Task_Review"]:
        service.complete_task(row["id"], {"decision": "approve"}, actor=officer(row))
    assert service.project(newer)["status"] == "running"


def test_a_change_that_drops_a_waiting_element_is_refused_clearly(env) -> None:  # noqa: F811
    service, _, _ = env
    pid = _in_review(service)
    service.deploy(_renamed("Timer_Overdue", "Timer_Late"), by="admin-1")  # no mapping given for it
    with pytest.raises(Conflict) as refused:
        migrate_project(service, pid, actor=ADMIN)
    message = str(refused.value)
    assert "cannot move from version 1 to 2" in message and "waiting task 'Timer_Overdue'" in message
    assert service.project(pid)["status"] == "running"
    assert migrate_project(service, pid, to_version=1, actor=ADMIN)["migrated"] is False  # already there


def test_the_cli_and_the_api_move_projects(env, tmp_path) -> None:  # noqa: F811
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from api.app import create_app
    from engine.cli import app as cli
    from engine.services.users import UserStore

    service, _, db = env
    first, second = _in_review(service), _in_review(service)
    service.deploy(_renamed("Timer_Warn", "Timer_Warning"), by="admin-1")
    url = str(db.url)
    runner = CliRunner()
    listed = runner.invoke(cli, ["versions", "list", "--db", url])
    assert "version 1" in listed.output and "running projects: 2" in listed.output
    refused = runner.invoke(cli, ["versions", "migrate", "--db", url, "--project", first])
    assert refused.exit_code == 1 and "refused" in refused.output and "Timer_Warn" in refused.output
    moved = runner.invoke(cli, ["versions", "migrate", "--db", url, "--project", first, "--map", "Timer_Warn=Timer_Warning"])
    assert moved.exit_code == 0 and "moved to version 2" in moved.output, moved.output

    _, admin = UserStore(db).add("admin-1", "admin")
    client = TestClient(create_app(service, deploy_bundled=False), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {admin}"}
    conflict = client.post(f"/admin/projects/{second}/migrate", json={}, headers=headers)
    assert conflict.status_code == 409 and "Timer_Warn" in conflict.json()["detail"]
    ok = client.post(f"/admin/projects/{second}/migrate", json={"mapping": {"Timer_Warn": "Timer_Warning"}}, headers=headers)
    assert ok.status_code == 200 and ok.json()["to_version"] == 2
