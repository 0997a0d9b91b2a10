"""The write path's speed-ups keep what is stored (issue 14).

- Plain ``JSON`` columns are written and read with orjson (``json_column_text`` / ``json_column_value``): the
  values read back are those written, what the standard library refused stays refused, and text the standard
  library wrote (spaced, ASCII-escaped, even ``NaN``) still reads.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from engine.persistence import tables as t
from engine.persistence.db import make_engine, migrate
from engine.persistence.tables import json_column_text, json_column_value
from tests.pg_server import pg_server  # noqa: F401  (fixture)

VALUES = [{"名称": "规划许可", "n": 3, "x": 0.1, "big": 2**70, "nested": [None, True, {"1": []}]}, [], "text", 1.5e-7]


@pytest.mark.parametrize("value", VALUES)
def test_json_columns_read_back_what_was_written(value) -> None:
    assert json_column_value(json_column_text(value)) == value == json.loads(json.dumps(value))


def test_json_columns_refuse_what_the_standard_library_refused_and_read_its_old_text() -> None:
    @dataclass
    class Point:
        x: int

    for refused in ({"at": datetime.now(timezone.utc)}, {"p": Point(1)}, {"s": {1, 2}}):
        with pytest.raises(TypeError):
            json_column_text(refused)
    old = json.dumps({"名称": "规划许可", "ratio": float("nan")})  # spaced, \\u-escaped, NaN
    read = json_column_value(old)
    assert read["名称"] == "规划许可" and read["ratio"] != read["ratio"]
    assert json_column_text({1: "a"}) == json.dumps({1: "a"}, separators=(",", ":"))  # keys become text alike


def test_a_json_column_round_trips_through_the_database(tmp_path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'j.db'}")
    migrate(db)
    files = {"模型.bpmn": "<bpmn/>", "sizes": [1, 2.5, None]}
    with db.begin() as conn:
        conn.execute(t.definitions.insert().values(process_id="p", version=1, content_hash="h", files=files,
                                                   deployed_at=datetime.now(timezone.utc), deployed_by=None))
        stored = conn.exec_driver_sql("SELECT files FROM definitions").scalar()
        assert conn.execute(select(t.definitions.c.files)).scalar() == files
    assert "模型" in stored and ", " not in stored  # UTF-8, compact
    db.dispose()


def test_a_task_read_with_its_project_serves_the_projects_next_read_until_it_is_written(tmp_path) -> None:
    """Completing a task reads the task and its project in one statement; the project row is the one a separate
    read gives, and a write of the project in the transaction makes the next read go to the database again."""
    from sqlalchemy import event

    from engine.clock import VirtualClock
    from engine.domain.catalogue import load_catalogue
    from engine.persistence.uow import UnitOfWork
    from engine.services.approval import ApprovalService
    from tests.test_engine import file_project, local

    db = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate(db)
    service = ApprovalService(db, catalogue=load_catalogue(), clock=VirtualClock(local(2026, 11, 2, 9, 0)))
    service.deploy_bundled()
    pid = file_project(service)
    task_id = service.list_tasks(project_id=pid)[0]["id"]
    statements: list[str] = []
    event.listens_for(db, "before_cursor_execute")(lambda _c, _cur, sql, *_a: statements.append(sql.split()[0]))
    with UnitOfWork(db) as uow:
        separate_task, separate_project = uow.tasks.get(task_id), uow.projects.get(pid)
        statements.clear()
        task = uow.tasks.get(task_id, with_project=True)
        project = uow.projects.get(pid)
        assert statements == ["SELECT"], "one statement for the task and its project"
        assert task == separate_task and project == separate_project
        project["status"] = "changed by the caller"
        assert uow.projects.get(pid)["status"] == separate_project["status"], "callers get their own copy"
        uow.projects.update(pid, project["version"], next_timer_at=None)
        statements.clear()
        assert uow.projects.get(pid)["version"] == project["version"] + 1 and statements == ["SELECT"]
        assert uow.tasks.get("no-such-task", with_project=True) is None
    db.dispose()


def test_serve_freezes_start_up_objects_and_collects_young_ones_in_larger_batches() -> None:
    import gc

    from engine.cli.serve_cmd import GC_THRESHOLDS, tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_postgresql_pings_only_a_connection_idle_a_while_and_a_failed_ping_renews_the_pool(pg_server, monkeypatch) -> None:
    """No round trip before each transaction on a connection used a moment ago; one idle longer is pinged, and a
    connection the server dropped meanwhile is replaced before the request uses it."""
    from sqlalchemy import text

    from engine.persistence import db as db_module

    engine = make_engine(pg_server.create_database())
    pings: list[object] = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
    for _ in range(3):
        with engine.connect() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert pings == [], "a connection checked in a moment ago is used without a ping"
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # every pooled connection counts as idle
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == backend and len(pings) == 1
    with make_engine(pg_server.create_database()).connect() as other:  # the server drops the pooled connection
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        for _ in range(100):  # the backend exits asynchronously: wait until it has (a new snapshot each time)
            other.rollback()
            if not other.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}).first():
                break
            time.sleep(0.05)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != backend, "replaced before use"
    engine.dispose()
