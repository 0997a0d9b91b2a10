"""Structured JSON logs (request id, actor, project; never a token) and Prometheus /metrics."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.ops.logs import install_filters, json_formatter
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.services.users import UserStore
from tests.ops_support import FILING
from tests.test_engine import local


def _app(tmp_path: Path, **kwargs):
    db = make_engine(f"sqlite:///{tmp_path / 'obs.db'}")
    migrate(db)
    clock = VirtualClock(local(2026, 11, 2, 9, 0))
    service = ApprovalService(db, catalogue=load_catalogue(), clock=clock)
    service.deploy_bundled()
    users = UserStore(db)
    tokens = {name: users.add(name, role)[1] for name, role in (("owner-1", "owner"), ("window-1", "window"))}
    return TestClient(create_app(service, **kwargs), raise_server_exceptions=False), service, clock, tokens


def test_json_logs_carry_request_id_actor_and_project_and_never_a_token(tmp_path: Path) -> None:
    client, _, _, tokens = _app(tmp_path)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    install_filters(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        owner = {"Authorization": f"Bearer {tokens['owner-1']}"}
        pid = client.post("/projects", json=FILING | {"name": "日志"}, headers=owner).json()["id"]
        response = client.get(f"/projects/{pid}", headers=owner | {"X-Request-ID": "req-42"})
        assert response.status_code == 200 and response.headers["x-request-id"] == "req-42"
        assert client.get("/projects", headers={"Authorization": "Bearer not-a-real-token-123"}).status_code == 401
        logging.getLogger("gongai.test").warning("a client sent Authorization: Bearer sekret-token-value-1")
        try:
            raise ValueError("bad header Bearer exc-token-value-2")
        except ValueError:
            logging.getLogger("gongai.test").exception("failed")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    access = [line for line in lines if line["logger"] == "gongai.access"]
    mine = [line for line in access if line.get("request_id") == "req-42"]
    assert mine and mine[0]["actor"] == "owner-1" and mine[0]["project"] == pid
    assert mine[0]["route"] == "/projects/{project_id}" and mine[0]["status"] == 200 and "time" in mine[0]
    assert all(line.get("request_id") for line in access)
    for secret in (*tokens.values(), "not-a-real-token-123", "sekret-token-value-1", "exc-token-value-2"):
        assert secret not in text
    assert "Bearer [redacted]" in text


def test_metrics_need_their_token_and_count_requests_completions_and_timers(tmp_path: Path) -> None:
    client, service, clock, tokens = _app(tmp_path, metrics_token="scrape-me")
    (tmp_path / "off").mkdir()
    off, _, _, _ = _app(tmp_path / "off")
    assert off.get("/metrics").status_code == 404
    assert client.get("/metrics").status_code == 401
    owner = {"Authorization": f"Bearer {tokens['owner-1']}"}
    window = {"Authorization": f"Bearer {tokens['window-1']}"}
    pid = client.post("/projects", json=FILING | {"name": "度量"}, headers=owner).json()["id"]
    assert client.post(f"/projects/{pid}/filings", json={"stage": "S1"}, headers=owner).status_code == 200
    task = client.get("/tasks", headers=window).json()[0]
    assert client.post(f"/tasks/{task['id']}/complete", json={"outcome": "complete"}, headers=window).status_code == 200
    clock.advance(timedelta(days=20))
    assert service.fire_timers() == 1
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'gongai_http_request_duration_seconds_count{method="POST",route="/projects",status="201"}' in text
    assert 'route="/tasks/{task_id}/complete"' in text and pid not in text  # one series per route, not per id
    assert 'gongai_task_completions_total{role="owner"}' in text and 'gongai_task_completions_total{role="window"}' in text
    for name in ("gongai_timers_fired_total", "gongai_timer_lateness_seconds_bucket", "gongai_timers_due",
                 "gongai_incidents_open", "gongai_db_pool_checked_out", "gongai_projects_filed_total"):
        assert name in text, name
