"""Database outages and start-up: a 503 with Retry-After while the database is down, a usable pool after it,
two processes starting together on a new database, and ``gongai db upgrade``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from engine.cli import app as cli
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.persistence.db import is_current, make_engine, migrate
from engine.services.approval import ApprovalService
from engine.services.users import UserStore
from tests.ops_support import FILING, ApiProcess
from tests.pg_server import pg_server, start_server  # noqa: F401  (fixture)
from tests.test_engine import local


def test_a_database_outage_is_a_503_with_retry_after_and_the_pool_recovers() -> None:
    server = start_server()  # its own cluster: this test stops and restarts it
    try:
        db = make_engine(server.create_database())
        migrate(db)
        service = ApprovalService(db, catalogue=load_catalogue(), clock=VirtualClock(local(2026, 11, 2, 9, 0)))
        service.deploy_bundled()
        _, token = UserStore(db).add("owner-1", "owner")
        client = TestClient(create_app(service), raise_server_exceptions=False)
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/projects", json=FILING | {"name": "甲"}, headers=headers).status_code == 201

        server.pause()
        for response in (client.get("/projects", headers=headers),
                         client.post("/projects", json=FILING | {"name": "乙"}, headers=headers)):
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "5"
            assert response.headers["content-type"].startswith("application/problem+json")
            body = response.json()
            assert body["type"].endswith(":unavailable") and "database is unavailable" in body["detail"]
        assert client.get("/readyz").status_code == 503

        server.resume()
        listed = client.get("/projects", headers=headers)  # the same pool: dead connections are replaced
        assert listed.status_code == 200 and [p["name"] for p in listed.json()] == ["甲"]
        assert client.post("/projects", json=FILING | {"name": "乙"}, headers=headers).status_code == 201
        db.dispose()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_processes_starting_together_on_a_new_database_both_come_up(kind: str, tmp_path: Path,
                                                                        request) -> None:
    url = (f"sqlite:///{tmp_path / 'fresh.db'}" if kind == "sqlite"
           else request.getfixturevalue("pg_server").create_database())
    first, second = ApiProcess(url, tmp_path / "1.log"), ApiProcess(url, tmp_path / "2.log")
    try:
        first.start()
        second.start()  # at once: both migrate and deploy the bundled models on an empty database
        first.wait_ready()
        second.wait_ready()
    finally:
        first.stop()
        second.stop()
    db = make_engine(url)
    assert is_current(db)
    with db.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM definitions").scalar() == 1
    db.dispose()


def test_gongai_db_upgrade_and_status(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    behind = runner.invoke(cli, ["db", "status", "--db", url])
    assert behind.exit_code == 1 and "gongai db upgrade" in behind.output
    first = runner.invoke(cli, ["db", "upgrade", "--db", url])
    assert first.exit_code == 0 and "upgraded from an empty database" in first.output, first.output
    again = runner.invoke(cli, ["db", "upgrade", "--db", url])
    assert again.exit_code == 0 and "already current" in again.output
    assert runner.invoke(cli, ["db", "status", "--db", url]).exit_code == 0


def test_ready_on_4_january_2027_without_a_2027_holiday_file(tmp_path: Path, caplog) -> None:
    from datetime import datetime, timezone

    from prometheus_client import REGISTRY

    db = make_engine(f"sqlite:///{tmp_path / 'ny.db'}")
    migrate(db)
    clock = VirtualClock(datetime(2027, 1, 4, 1, 0, tzinfo=timezone.utc))  # Monday 4 January 2027, 09:00 in Beijing
    service = ApprovalService(db, catalogue=load_catalogue(), clock=clock)
    assert not service.calendar.covers(clock.now().date()), "this test needs a year without holiday data"
    client = TestClient(create_app(service))
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and body["checks"]["holidays"]["ok"] is True
    assert "2027" in body["checks"]["holidays"]["warning"] and body["warnings"][0].startswith("holidays: no holiday data")
    assert "GONGAI_HOLIDAYS_DIR" in body["checks"]["holidays"]["warning"]
    assert "no holiday data for 2027" in caplog.text
    assert REGISTRY.get_sample_value("gongai_holiday_data_missing") == 1.0


def test_a_missing_driver_or_a_bad_url_is_one_clear_line(monkeypatch) -> None:
    import subprocess
    import sys

    from engine.persistence.db import DatabaseConfigError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    with pytest.raises(DatabaseConfigError, match=r"pip install 'gongai\[postgres\]'"):
        make_engine("postgresql+psycopg://gongai:secret@127.0.0.1/gongai")
    with pytest.raises(DatabaseConfigError) as bad:
        make_engine("no-such-scheme://gongai:secret@host/db")
    assert "secret" not in str(bad.value)
    from tests.ops_support import GONGAI

    result = subprocess.run([GONGAI, "db", "status", "--db", "nonsense://u:hunter2@h/d"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "hunter2" not in result.stderr
    assert result.stderr.startswith("error: GONGAI_DATABASE_URL / --db is not a usable database URL")


def test_a_plain_postgresql_url_uses_psycopg_3() -> None:
    assert make_engine("postgresql://gongai:secret@127.0.0.1:1/gongai").dialect.driver == "psycopg"
