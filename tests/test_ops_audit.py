"""The event log is tamper-evident: ``gongai audit verify`` finds an edited, a deleted and an inserted row;
user creation, role change and revocation are events with their actor. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, select, update
from typer.testing import CliRunner

from api.app import create_app
from engine.cli import app as cli
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.persistence import tables as t
from engine.persistence.audit import verify
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.services.users import UserStore
from tests.pg_server import pg_server  # noqa: F401  (fixture)
from tests.test_engine import WINDOW, file_project, local


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    return request.getfixturevalue("pg_server").create_database()


def _problems(db, **kw) -> list[str]:
    with db.connect() as conn:
        return verify(conn, **kw)[1]


def test_the_chain_check_finds_edited_deleted_and_inserted_rows(url: str) -> None:
    db = make_engine(url)
    migrate(db)
    service = ApprovalService(db, catalogue=load_catalogue(), clock=VirtualClock(local(2026, 11, 2, 9, 0)))
    service.deploy_bundled()
    first, second = file_project(service), file_project(service)
    service.complete_task(service.list_tasks(project_id=first)[0]["id"], {"outcome": "complete"}, actor=WINDOW)
    runner = CliRunner()
    intact = runner.invoke(cli, ["audit", "verify", "--db", url])
    assert intact.exit_code == 0 and "audit chain intact" in intact.output, intact.output
    assert _problems(db) == []

    events = service.events(first)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)) and len(events) >= 4
    edited, deleted = events[1], events[2]
    with db.begin() as conn:
        conn.execute(update(t.events).where(t.events.c.id == edited["id"]).values(actor="someone-else"))
        conn.execute(delete(t.events).where(t.events.c.id == deleted["id"]))
        forged = dict(events[0])
        forged.pop("id")
        forged["data"] = {"forged": True}
        conn.execute(insert(t.events).values(**forged))  # a copy with a number already taken
    broken = runner.invoke(cli, ["audit", "verify", "--db", url])
    assert broken.exit_code == 1
    text = broken.output
    assert f"event {edited['id']} (number 2) was edited" in text
    assert "event number 3 is missing (deleted)" in text
    assert "repeats number 1 (inserted)" in text
    assert all(f"project:{second}" not in p for p in _problems(db))  # the other project's chain is intact
    assert _problems(db, project_id=second) == []

    # deleting a project's newest events shows against its chain head
    newest = service.events(second)[-1]
    with db.begin() as conn:
        conn.execute(delete(t.events).where(t.events.c.id == newest["id"]))
    assert any("newest event(s)" in p and f"project:{second}" in p for p in _problems(db, project_id=second))
    db.dispose()


def test_user_administration_is_audited_with_its_actor(tmp_path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'users.db'}")
    migrate(db)
    service = ApprovalService(db, catalogue=load_catalogue(), clock=VirtualClock(datetime(2026, 11, 2, tzinfo=timezone.utc)))
    users = UserStore(db)
    _, admin = users.add("root-admin", "admin", by="cli:ops")
    client = TestClient(create_app(service, deploy_bundled=False), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {admin}"}
    assert client.post("/admin/users", json={"name": "clerk", "role": "window"}, headers=headers).status_code == 201
    changed = client.put("/admin/users/clerk/role", json={"role": "agency", "department": "zjj"}, headers=headers)
    assert changed.status_code == 200 and changed.json()["role"] == "agency"
    bad = client.put("/admin/users/clerk/role", json={"role": "agency"}, headers=headers)
    assert bad.status_code == 422 and "department" in bad.json()["detail"]
    assert client.delete("/admin/users/clerk", headers=headers).status_code == 200
    with db.connect() as conn:
        rows = conn.execute(select(t.admin_events).order_by(t.admin_events.c.seq)).mappings().all()
    assert [(r["type"], r["actor"], r["subject"]) for r in rows] == [
        ("user_created", "cli:ops", "root-admin"), ("user_created", "root-admin", "clerk"),
        ("user_role_changed", "root-admin", "clerk"), ("user_revoked", "root-admin", "clerk")]
    assert rows[2]["data"]["from"]["role"] == "window" and rows[2]["data"]["to"]["department"] == "zjj"
    assert _problems(db) == []
    with db.begin() as conn:  # rewriting who did it breaks the chain
        conn.execute(update(t.admin_events).where(t.admin_events.c.seq == 4).values(actor="nobody"))
    assert _problems(db) == ["admin: admin event 4 (number 4) was edited: its content does not match its hash"]
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.admin_events)).scalar() == 4


def test_existing_events_are_chained_by_the_migration(tmp_path) -> None:
    from alembic import command

    from engine.persistence.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = make_engine(url)
    migrate(db)
    service = ApprovalService(db, catalogue=load_catalogue(), clock=VirtualClock(local(2026, 11, 2, 9, 0)))
    service.deploy_bundled()
    pid = file_project(service)
    config = alembic_config(db)
    with db.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0014_ops_project_ids")
    migrate(db)
    assert _problems(db) == [] and [e["seq"] for e in service.events(pid)][:2] == [1, 2]


def test_two_processes_appending_to_one_chain_keep_it_whole(url: str) -> None:
    """Each process remembers the chain heads it committed and moves a head it knows in one conditional UPDATE;
    when another process appended meanwhile that UPDATE matches nothing and the head is read (locked) instead."""
    from sqlalchemy import event

    db_a, db_b = make_engine(url), make_engine(url)  # two engines: two processes' worth of remembered heads
    migrate(db_a)
    clock = VirtualClock(local(2026, 11, 2, 9, 0))
    a = ApprovalService(db_a, catalogue=load_catalogue(), clock=clock)
    a.deploy_bundled()
    b = ApprovalService(db_b, catalogue=load_catalogue(), clock=clock)
    pid = file_project(a)
    intake = a.list_tasks(project_id=pid)[0]["id"]
    head_statements: list[str] = []

    @event.listens_for(db_a, "before_cursor_execute")
    def _audit_heads(_conn, _cursor, statement, *_args) -> None:
        if "audit_heads" in statement:
            head_statements.append(statement.split()[0])

    b.claim_task(intake, actor=WINDOW)  # b has not seen this chain: reads its head
    a.release_task(intake, actor=WINDOW)  # a's remembered head is stale: the conditional UPDATE misses, then a read
    assert head_statements == ["UPDATE", "SELECT", "UPDATE"]
    head_statements.clear()
    a.claim_task(intake, actor=WINDOW)  # a's head is current: one statement
    assert head_statements == ["UPDATE"]
    a.complete_task(intake, {"outcome": "complete"}, actor=WINDOW)
    events = a.events(pid)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert _problems(db_a) == []
    db_a.dispose()
    db_b.dispose()
