"""Backups: ``gongai backup`` copies a live SQLite database consistently while another process writes, and a
project half-way through finishes from the restored copy; pg_dump / pg_restore do the same on PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

from typer.testing import CliRunner

from bench.engine_bench import START, STEP, Plan, _task_order, actor_for, filing_for
from engine.cli import app as cli
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.persistence.audit import verify
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from tests.pg_server import pg_server  # noqa: F401  (fixture)

CATALOGUE = load_catalogue()


def _service(url: str, clock: VirtualClock) -> ApprovalService:
    db = make_engine(url)
    migrate(db)
    service = ApprovalService(db, catalogue=CATALOGUE, clock=clock)
    service.deploy_bundled()
    return service


def _steps(service: ApprovalService, clock: VirtualClock, pid: str, plan: Plan, limit: int | None = None) -> int:
    """Complete the project's next task, ``limit`` times or until nothing is ready; returns how many."""
    done = 0
    while limit is None or done < limit:
        clock.advance(STEP)
        ready = service.list_tasks(project_id=pid)
        if not ready:
            break
        row = min(ready, key=_task_order)
        service.complete_task(row["id"], plan.payload(row["spec_id"], row.get("stage")), actor=actor_for(row))
        done += 1
    return done


def _finish_from(url: str, clock: VirtualClock, pid: str, plan: Plan) -> None:
    restored = _service(url, clock)
    assert restored.project(pid)["status"] == "running"
    assert _steps(restored, clock, pid, plan) > 0
    assert restored.project(pid)["status"] == "completed"
    with restored.db.connect() as conn:
        assert verify(conn)[1] == []  # the restored history is the original one
    restored.db.dispose()


def test_backup_while_serving_and_finish_a_project_from_the_restored_copy(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    clock = VirtualClock(START)
    service = _service(f"sqlite:///{live}", clock)
    filing = filing_for(1)
    plan = Plan(CATALOGUE, filing["project_type"])
    pid = service.start_project(filing)
    assert _steps(service, clock, pid, plan, limit=8) == 8

    # another process keeps filing projects while the backup runs
    stop = threading.Event()
    writer_clock = VirtualClock(START)
    writer = ApprovalService(make_engine(f"sqlite:///{live}"), catalogue=CATALOGUE, clock=writer_clock)
    written: list[str] = []

    def keep_writing() -> None:
        while not stop.is_set():
            written.append(writer.start_project(filing_for(len(written) + 2)))

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        while len(written) < 3:  # the writer is really running before the backup starts
            stop.wait(0.05)
        before = len(written)
        backup = tmp_path / "backup.db"
        result = CliRunner().invoke(cli, ["backup", str(backup), "--db", f"sqlite:///{live}"])
    finally:
        stop.set()
        thread.join(60)
    assert result.exit_code == 0 and "integrity ok" in result.output, result.output
    assert not Path(f"{backup}-wal").exists()  # one self-contained file
    again = CliRunner().invoke(cli, ["backup", str(backup), "--db", f"sqlite:///{live}"])
    assert again.exit_code == 1 and "exists" in again.output

    restored = tmp_path / "restored.db"
    shutil.copy(backup, restored)  # restore = put the backup file in place (processes stopped)
    check = make_engine(f"sqlite:///{restored}")
    with check.connect() as conn:
        copied = conn.exec_driver_sql("SELECT count(*) FROM projects").scalar()
    check.dispose()
    assert copied >= before + 1  # every project committed before the backup began is in it
    _finish_from(f"sqlite:///{restored}", clock, pid, plan)


def test_gongai_backup_refuses_postgresql_and_names_pg_dump() -> None:
    result = CliRunner().invoke(cli, ["backup", "x.db", "--db", "postgresql+psycopg://u@127.0.0.1:1/db"])
    assert result.exit_code == 1 and "pg_dump" in result.output


def test_pg_dump_and_pg_restore_as_documented(pg_server, tmp_path: Path) -> None:  # noqa: F811
    url = pg_server.create_database()
    clock = VirtualClock(START)
    service = _service(url, clock)
    filing = filing_for(1)
    plan = Plan(CATALOGUE, filing["project_type"])
    pid = service.start_project(filing)
    _steps(service, clock, pid, plan, limit=8)
    service.db.dispose()
    dump = tmp_path / "gongai.dump"
    source, target = url.rsplit("/", 1)[1], pg_server.create_database()
    connect = ["-h", "127.0.0.1", "-p", str(pg_server.port), "-U", pg_server.superuser]
    subprocess.run([str(pg_server.bindir / "pg_dump"), *connect, "-Fc", "-f", str(dump), source], check=True)
    subprocess.run([str(pg_server.bindir / "pg_restore"), *connect, "--no-owner", "-d", target.rsplit("/", 1)[1],
                    str(dump)], check=True)
    _finish_from(target, clock, pid, plan)
    # the project-number sequence came along: a new filing does not reuse a number
    restored = _service(target, clock)
    assert restored.start_project(filing) != pid
    restored.db.dispose()
