"""Timers that never stop: a project whose workflow will not load becomes an incident, the others' timers fire.

On SQLite and on a real PostgreSQL (tests/pg_server.py). The "worker" is a second ApprovalService on the
same database, as a separate ``gongai worker`` process would be (no shared identity map).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from api.app import create_app
from engine.clock import VirtualClock
from engine.domain.actors import Actor
from engine.domain.catalogue import load_catalogue
from engine.persistence import tables as t
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.services.timer_loop import TimerLoop
from engine.services.users import UserStore
from tests.pg_server import pg_server, pg_url  # noqa: F401  (fixtures)
from tests.test_engine import OWNER, WINDOW, file_project, local

CATALOGUE = load_catalogue()


def _waiting_projects(service: ApprovalService, n: int) -> list[str]:
    """``n`` projects at S1 review: each has a timer (the matters' warnings) a few days ahead."""
    pids = []
    for _ in range(n):
        pid = file_project(service)
        service.complete_task(service.list_tasks(project_id=pid)[0]["id"], {"outcome": "complete"}, actor=WINDOW)
        pids.append(pid)
    return pids


def _poison(db, pid: str) -> dict:
    """Replace the project's stored workflow by something SpiffWorkflow cannot load; returns the original."""
    where = (t.workflow_parts.c.project_id == pid) & (t.workflow_parts.c.part == "top")
    with db.begin() as conn:
        original = conn.execute(select(t.workflow_parts.c.state).where(where)).scalar_one()
        conn.execute(update(t.workflow_parts).where(where).values(state={"garbage": True}))
    return original


def _heal(db, pid: str, state: dict) -> None:
    where = (t.workflow_parts.c.project_id == pid) & (t.workflow_parts.c.part == "top")
    with db.begin() as conn:
        conn.execute(update(t.workflow_parts).where(where).values(state=state))


def _timer_events(service: ApprovalService, pid: str) -> list[str]:
    return [e["type"] for e in service.events(pid) if e["type"] in ("matter_warning", "stage_warning")]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'incidents.db'}"
    return request.getfixturevalue("pg_server").create_database()


def test_a_poisoned_project_is_an_incident_and_the_others_timers_fire(url: str) -> None:
    db = make_engine(url)
    migrate(db)
    clock = VirtualClock(local(2026, 11, 2, 9, 0))
    api_service = ApprovalService(db, catalogue=CATALOGUE, clock=clock)
    api_service.deploy_bundled()
    healthy_a, poisoned, healthy_b = _waiting_projects(api_service, 3)
    original = _poison(db, poisoned)
    worker = ApprovalService(db, catalogue=CATALOGUE, clock=clock)  # another process: loads from the database

    with db.connect() as conn:
        due = conn.execute(select(t.projects.c.next_timer_at).where(t.projects.c.id == healthy_a)).scalar_one()
    before = {pid: len(_timer_events(worker, pid)) for pid in (healthy_a, poisoned, healthy_b)}
    clock.set(due + timedelta(days=3))
    assert worker.fire_timers() == 2  # the two healthy projects; the poisoned one failed
    for pid in (healthy_a, healthy_b):
        assert len(_timer_events(worker, pid)) > before[pid], f"{pid}: its warnings fire despite the broken project"
    assert len(_timer_events(worker, poisoned)) == before[poisoned]

    with db.connect() as conn:
        incidents = conn.execute(select(t.incidents)).mappings().all()
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident["project_id"] == poisoned and incident["status"] == "open" and incident["kind"] == "timer"
    assert incident["error"] and "Traceback" in incident["detail"]

    # the next round skips it (it waits for an administrator) and does not add a second incident
    clock.advance(timedelta(hours=1))
    assert worker.fire_timers() == 0
    with db.connect() as conn:
        assert conn.execute(select(t.incidents.c.attempts)).scalar_one() == 1

    # an administrator sees it over the API; a retry before the fix leaves it open with the new failure
    app = create_app(worker)
    _, admin = UserStore(db).add("admin", "admin")
    _, owner = UserStore(db).add("someone", "owner")
    client = TestClient(app, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {admin}"}
    listed = client.get("/admin/incidents?status=open", headers=headers)
    assert listed.status_code == 200 and [i["project_id"] for i in listed.json()] == [poisoned]
    assert client.get("/admin/incidents", headers={"Authorization": f"Bearer {owner}"}).status_code == 403
    iid = incident["id"]
    again = client.post(f"/admin/incidents/{iid}/retry", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "open" and again.json()["attempts"] == 2

    # fixed: the retry runs the project's due timers and resolves the incident; it rejoins the timer rounds
    _heal(db, poisoned, original)
    fixed = client.post(f"/admin/incidents/{iid}/retry", headers=headers)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["status"] == "resolved" and fixed.json()["resolved_by"] == "admin"
    assert len(_timer_events(worker, poisoned)) > before[poisoned]
    assert client.post(f"/admin/incidents/{iid}/retry", headers=headers).status_code == 409
    assert client.get("/admin/incidents/999", headers=headers).status_code == 404
    db.dispose()


def test_the_timer_loop_backs_off_on_a_database_error_and_recovers(caplog) -> None:
    caplog.set_level(logging.INFO, "gongai.timers")
    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        def fire_timers(self) -> int:
            self.calls += 1
            if self.calls <= 3:
                raise OperationalError("SELECT 1", {}, ConnectionRefusedError("server closed the connection"))
            return 2

    fired: list[int] = []
    loop = TimerLoop(Flaky(), interval=1.0, max_backoff=3.0, on_round=fired.append)
    delays = [loop.round() for _ in range(4)]
    assert delays == [1.0, 2.0, 3.0, 1.0]  # doubling, capped, back to the interval once a round works
    assert fired == [2] and loop.failures == 0
    assert "database unavailable" in caplog.text and "work again after 3 failed" in caplog.text


def _wait_for(path: Path, text: str, *, after: int = 0, seconds: float = 60) -> int:
    """Wait (bounded) until ``text`` appears in the file past offset ``after``; returns where it ends."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        content = path.read_text(encoding="utf-8", errors="replace")
        found = content.find(text, after)
        if found >= 0:
            return found + len(text)
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear in the worker's output:\n{path.read_text()[-3000:]}")


def test_gongai_worker_survives_a_postgresql_restart(tmp_path: Path) -> None:
    from tests.pg_server import start_server

    server = start_server()  # its own cluster: this test stops and restarts it
    worker = None
    try:
        url = server.create_database()
        db = make_engine(url)
        migrate(db)
        service = ApprovalService(db, catalogue=CATALOGUE, clock=VirtualClock(local(2026, 11, 2, 9, 0)))
        service.deploy_bundled()
        pid = _waiting_projects(service, 1)[0]
        db.dispose()
        out = tmp_path / "worker.log"
        server.pause()  # a worker started while the database is down waits for it
        with out.open("w") as sink:
            worker = subprocess.Popen([str(Path(sys.executable).parent / "gongai"), "worker", "--db", url, "--interval", "0.2",
                                       "--max-backoff", "0.5"], stdout=sink, stderr=subprocess.STDOUT,
                                      env=dict(os.environ, PYTHONUNBUFFERED="1"))
        _wait_for(out, "database unavailable at start")
        server.resume()
        seen = _wait_for(out, "fired timers of 1 project(s)")  # the project's timers are due on the real clock
        server.pause()
        seen = _wait_for(out, "database unavailable", after=seen)
        assert worker.poll() is None, "the worker died with the database"
        server.resume()
        db = make_engine(url)
        with db.begin() as conn:  # make the project due again
            conn.execute(update(t.projects).where(t.projects.c.id == pid)
                         .values(next_timer_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
        db.dispose()
        _wait_for(out, "fired timers of 1 project(s)", after=seen)
        assert worker.poll() is None
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(10)
        server.stop()
