"""A process runs at most ``worker_threads`` requests at once (the rest queue), and the bound is validated."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from api.app import create_app, default_worker_threads


def test_the_default_is_four_per_cpu_and_at_least_eight(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert default_worker_threads() == 8
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert default_worker_threads() == 32


def test_no_more_requests_run_at_once_than_the_worker_threads(tmp_path) -> None:
    app = create_app(database_url=f"sqlite:///{tmp_path / 'w.db'}", worker_threads=2)
    running, peak, lock = [0], [0], threading.Lock()

    @app.get("/slow-probe")
    def slow() -> dict[str, int]:  # a synchronous route, as every engine route is
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return {"ok": 1}

    with TestClient(app) as client:
        threads = [threading.Thread(target=client.get, args=("/slow-probe",)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert peak[0] == 2  # six at once were asked for: two ran, the others queued
