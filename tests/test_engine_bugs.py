"""Regression tests for engine bugs found while writing the behaviour specifications (features/)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from engine.clock import VirtualClock
from engine.domain.actors import Actor
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import WorkCalendar
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.simulation.cases import typical_case

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)


def _complete(svc: ApprovalService, pid: str, spec: str, payload: dict, **match: str) -> None:
    rows = [r for r in svc.list_tasks(project_id=pid) if r["spec_id"] == spec
            and all(r.get(k) == v for k, v in match.items())]
    assert len(rows) == 1, [r["name"] for r in svc.list_tasks(project_id=pid)]
    row = rows[0]
    actor = (Actor(row["owner_id"], "owner") if row["role"] == "owner"
             else Actor("w", "window", "window") if row["role"] == "window"
             else Actor(f"o-{row['department']}", row["role"], row["department"]))
    svc.complete_task(row["id"], payload, actor=actor)


def test_post_check_is_timed_from_the_supply_of_tolerated_documents() -> None:
    """核查 started counting at the stage result, so a late (but in-time) supply made the check overdue."""
    db = make_engine("sqlite://")
    migrate(db)
    clock = VirtualClock(_at("2026-09-01 09:00"))
    svc = ApprovalService(db, catalogue=load_catalogue(), calendar=WorkCalendar.default(), clock=clock)
    svc.deploy_bundled()
    pid = svc.start_project({"name": "容缺", "project_type": "social_small", "owner_id": "o1",
                             "include_planning": False, "case": typical_case("social_small")})
    _complete(svc, pid, "Task_SubmitFiling", {"declared_missing": ["parcel_survey"]})
    _complete(svc, pid, "Task_Intake", {"outcome": "tolerance", "missing": ["parcel_survey"]})
    _complete(svc, pid, "Task_SignCommitment", {"signatory": "张三", "accepted_terms": True})
    for spec in ("Task_Review", "Task_Review"):
        _complete(svc, pid, spec, {"decision": "approve"}, department=svc.list_tasks(project_id=pid)[0]["department"])
    _complete(svc, pid, "Task_IssueResult", {})
    clock.set(_at("2026-09-29 23:30"))  # the supply deadline is 2026-09-29 24:00
    svc.supply_documents(pid, "S1", ["宗地测量成果"], actor=Actor("o1", "owner"))
    clock.advance(timedelta(hours=10, minutes=30))
    _complete(svc, pid, "Task_PostCheck", {"passed": True})
    check = next(c for c in svc.timing(pid)["post_checks"] if c["matter_id"] == "s1_land_use_planning_permit")
    assert check["start"] == "2026-09-29T15:30:00Z"  # 23:30 Beijing time, the supply
    assert check["approval_working_days"] == 0.4375  # 0.5 h on 9/29 + 10 h on 9/30
    assert check["status"] == "on_time"
    # 10 working days from 9/29: 9/30, (国庆 10/1–7), 10/8, 10/9, 10/10 (调休), 10/12–16, 10/19
    assert check["committed_due"] == "2026-10-19T16:00:00Z"
