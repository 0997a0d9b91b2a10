"""Shared helpers of the API tests (no tests here): an app on a SQLite file with a virtual clock, users
created over HTTP by an administrator, and a driver that completes whatever is ready."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.services.users import UserStore
from engine.simulation.cases import typical_case

START = datetime(2026, 9, 1, 1, 0, tzinfo=timezone.utc)
DEPARTMENTS = ("fgw", "zrzy", "zjj", "sthj", "rf", "sw", "jt", "cg", "yl", "ww", "daj", "bdc")


@dataclass
class Harness:
    client: TestClient
    service: ApprovalService
    clock: VirtualClock
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def get(self, who: str, url: str, **kw: Any) -> Any:
        r = self.client.get(url, headers=self.h(who), **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, who: str, url: str, body: Any = None, *, status: int = 200, **headers: str) -> Any:
        r = self.client.post(url, json=body if body is not None else {}, headers=self.h(who, **headers))
        assert r.status_code == status, f"{url}: {r.status_code} {r.text}"
        return r.json()

    def add_user(self, name: str, role: str, department: str | None = None, owner_ids: list[str] | None = None) -> str:
        body: dict[str, Any] = {"name": name, "role": role}
        if department:
            body["department"] = department
        if owner_ids:
            body["owner_ids"] = owner_ids
        token = self.post("admin", "/admin/users", body, status=201)["token"]
        self.tokens[name] = token
        return token

    def tick(self, hours: float = 6) -> None:
        """Let time pass (the one thing not done over HTTP: the timer worker's job)."""
        self.clock.advance(timedelta(hours=hours))
        self.service.fire_timers()

    def who_for(self, task: dict[str, Any]) -> str:
        if task["role"] == "owner":
            return "owner1"
        if task["role"] == "window":
            return "window1"
        if task["role"] == "lead":
            return f"lead-{task['department']}"
        return f"officer-{task['department']}"


def make_harness(tmp_path: Path, *, clock: VirtualClock | None = None, profile: str = "default") -> Harness:
    db = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    migrate(db)
    clock = clock or VirtualClock(START)
    service = ApprovalService(db, catalogue=load_catalogue(profile), clock=clock)
    service.deploy_bundled()
    app = create_app(service)
    _, admin_token = UserStore(db).add("admin", "admin")
    harness = Harness(TestClient(app, raise_server_exceptions=False), service, clock, {"admin": admin_token})
    harness.add_user("owner1", "owner")
    harness.add_user("owner2", "owner")
    harness.add_user("agent1", "agent", owner_ids=["owner1"])
    harness.add_user("window1", "window")
    harness.add_user("analyst1", "analyst")
    for dept in DEPARTMENTS:
        harness.add_user(f"officer-{dept}", "agency", department=dept)
        harness.add_user(f"lead-{dept}", "lead", department=dept)
    return harness


FILING = {"name": "滨江综合楼", "project_type": "land_with_scheme", "case": typical_case("land_with_scheme"),
          "unit_works": [{"id": "U1", "name": "1号楼", "early_items": ["s4_fire_acceptance"]},
                         {"id": "U2", "name": "2号楼"}]}


def default_payload(task: dict[str, Any]) -> dict[str, Any]:
    spec = task["spec_id"]
    if spec == "Task_SubmitFiling":
        return {}
    if spec == "Task_Intake":
        return {"outcome": "complete"}
    if spec in ("Task_Review", "Task_ReviewSilent"):
        return {"decision": "approve"}
    if spec == "Task_PostCheck":
        return {"passed": True}
    if spec == "Task_Statement":
        return {"statement": "申请维持许可"}
    if spec == "Task_RevocationDecision":
        return {"decision": "keep", "reason": "陈述申辩理由成立"}
    if spec == "Task_SupplyDocuments":
        return {"documents": ["补充材料"]}
    if spec == "Task_SignCommitment":
        return {"signatory": "张三", "accepted_terms": True}
    if spec in ("Task_CorrectFiling", "Task_MatterCorrection"):
        return {"supplied": ["补正材料"]}
    return {}
