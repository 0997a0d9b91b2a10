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


def test_heavy_reports_beyond_their_slots_are_refused_at_once_and_change_nothing(tmp_path) -> None:
    """Exports and KPI reports take one of a few slots (a quarter of the worker threads); when none is free the
    request gets 503 with Retry-After at once instead of holding a worker thread the owners and agencies need."""
    from engine.services.users import UserStore

    app = create_app(database_url=f"sqlite:///{tmp_path / 'h.db'}", worker_threads=4)
    assert app.state.heavy.slots == 1
    token = UserStore(app.state.service.db, departments=app.state.service.catalogue.departments).add("ana", "analyst")[1]
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        assert client.get("/analytics/events.csv", headers=auth).status_code == 200
        with app.state.heavy():  # held by another request
            for url in ("/analytics/report", "/analytics/events.csv", "/analytics/events.xes",
                        "/analytics/scoring", "/analytics/scoring.xlsx"):
                busy = client.get(url, headers=auth)
                assert busy.status_code == 503, url
                assert busy.headers["Retry-After"] == "5"
                assert "try again" in busy.json()["detail"]
            assert client.get("/analytics/timings", headers=auth).status_code == 200  # light reads are not capped
        assert client.get("/analytics/report", headers=auth).status_code == 200  # the slot is free again
