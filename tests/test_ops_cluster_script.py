"""deploy/run-cluster.sh starts N API processes and M timer workers on one PostgreSQL, and stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
from sqlalchemy import select, update

from engine.persistence import tables as t
from engine.persistence.db import make_engine
from engine.services.users import UserStore
from tests.ops_support import FILING, GONGAI, free_port, wait_for_text
from tests.pg_server import pg_server  # noqa: F401  (fixture)

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "run-cluster.sh"
PAST = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_cluster_script_runs_two_api_processes_and_a_worker(pg_server, tmp_path: Path) -> None:  # noqa: F811
    url = pg_server.create_database()  # empty: the script upgrades it
    port = free_port()
    while any(_port_busy(port + i) for i in range(1, 2)):
        port = free_port()
    log = tmp_path / "cluster.log"
    env = dict(os.environ, GONGAI_DATABASE_URL=url, GONGAI_API_PROCESSES="2", GONGAI_WORKERS="1",
               GONGAI_PORT=str(port), GONGAI_TIMER_INTERVAL="0.3", GONGAI=GONGAI, PYTHONUNBUFFERED="1")
    with log.open("w") as sink:
        cluster = subprocess.Popen(["sh", str(SCRIPT)], stdout=sink, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    try:
        wait_for_text(log, "gongai cluster: 2 API process(es)")
        bases = [f"http://127.0.0.1:{port + i}" for i in range(2)]
        deadline = time.monotonic() + 90
        while not all(_ready(b) for b in bases):
            assert cluster.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        db = make_engine(url)
        _, token = UserStore(db).add("owner-1", "owner")
        ids = []
        for base in bases:
            response = httpx.post(f"{base}/projects", json=FILING | {"name": base}, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        assert len(set(ids)) == 2
        # the worker fires a due timer: the project's next timer is recomputed from its workflow
        with db.begin() as conn:
            conn.execute(update(t.projects).where(t.projects.c.id == ids[0]).values(next_timer_at=PAST))
        deadline = time.monotonic() + 60
        while True:
            with db.connect() as conn:
                if conn.execute(select(t.projects.c.next_timer_at).where(t.projects.c.id == ids[0])).scalar() != PAST:
                    break
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        db.dispose()
    finally:
        cluster.send_signal(signal.SIGTERM)
        code = cluster.wait(30)
    assert code == 0, log.read_text()[-3000:]
    assert not any(_ready(f"http://127.0.0.1:{port + i}") for i in range(2))  # every process stopped


def _port_busy(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
