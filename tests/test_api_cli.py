"""``gongai users`` prints a token once and stores only its hash; the serve command's timer worker fires timers."""

from __future__ import annotations

import threading

from sqlalchemy import select
from typer.testing import CliRunner

from engine.cli import app
from engine.persistence import tables as t
from engine.persistence.db import make_engine
from engine.services.users import UserStore, hash_token


def test_users_add_prints_token_once_and_stores_its_hash(tmp_path):
    url = f"sqlite:///{tmp_path / 'users.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["users", "add", "officer-zjj", "--role", "agency", "--department", "zjj", "--db", url])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    db = make_engine(url)
    with db.connect() as conn:
        stored = conn.execute(select(t.users.c.token_hash)).scalar()
    assert stored == hash_token(token) and token not in stored
    assert UserStore(db).actor_for_token(token).department == "zjj"
    listed = runner.invoke(app, ["users", "list", "--db", url])
    assert "officer-zjj" in listed.stdout and token not in listed.stdout
    refused = runner.invoke(app, ["users", "add", "a1", "--role", "agent", "--db", url])
    assert refused.exit_code == 2 and "owner" in refused.output


def test_timer_worker_calls_fire_timers():
    from engine.cli.serve_cmd import TimerWorker

    fired = threading.Event()

    class Service:
        def fire_timers(self) -> int:
            fired.set()
            return 0

    worker = TimerWorker(Service(), interval=0.01)
    worker.start()
    try:
        assert fired.wait(5)
    finally:
        worker.stop()
        worker.join(5)
