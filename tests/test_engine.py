"""Integration tests of the engine through its service layer, on a real SQLite database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.clock import VirtualClock
from engine.domain.actors import Actor
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import SHANGHAI
from engine.persistence import tables as t
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.services.errors import Conflict, Forbidden, Invalid, NotFound
from engine.simulation.cases import typical_case

OWNER = Actor("owner-1", "owner")
WINDOW = Actor("window-1", "window", "window")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture()
def env(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'engine.db'}")
    migrate(db)
    clock = VirtualClock(local(2026, 11, 2, 9, 0))
    service = ApprovalService(db, catalogue=load_catalogue(), clock=clock)
    service.deploy_bundled()
    return service, clock, db


def officer(row: dict) -> Actor:
    if row["role"] == "owner":
        return OWNER
    if row["role"] == "window":
        return WINDOW
    return Actor(f"officer-{row['department']}", "agency", row["department"])


def only(rows: list[dict], **match) -> dict:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(r["spec_id"], r.get("matter_key")) for r in rows])
    return found[0]


def file_project(service: ApprovalService, project_type: str = "social_general", *, submit: bool = True) -> str:
    """Register a project and, by default, submit its first stage's filing (so the window has it)."""
    pid = service.start_project({"name": "示例项目", "project_type": project_type, "owner_id": OWNER.id,
                                 "include_planning": False, "case": typical_case(project_type)})
    if submit:
        service.submit_filing(pid, "S1", actor=OWNER)
    return pid


def test_start_waits_for_the_owner_then_the_window(env) -> None:
    service, _, _ = env
    pid = file_project(service, submit=False)
    tasks = service.list_tasks(project_id=pid)
    assert [(t["spec_id"], t["role"], t["stage"]) for t in tasks] == [("Task_SubmitFiling", "owner", "S1")]
    with pytest.raises(Forbidden, match="owner"):
        service.submit_filing(pid, "S1", actor=Actor("someone-else", "owner"))
    with pytest.raises(Invalid, match="declared_missing: unknown material"):
        service.submit_filing(pid, "S1", actor=OWNER, declared_missing=["no_such_paper"])
    service.submit_filing(pid, "S1", actor=OWNER, materials=["application_form", "land_contract"], declared_missing=["parcel_survey"])
    tasks = service.list_tasks(project_id=pid)
    assert [(t["spec_id"], t["role"], t["stage"]) for t in tasks] == [("Task_Intake", "window", "S1")]
    assert "stage_submitted" in [e["type"] for e in service.events(pid)]


def test_parallel_matters_are_assigned_to_their_departments_and_timed(env) -> None:
    service, clock, _ = env
    pid = file_project(service)
    intake = only(service.list_tasks(project_id=pid), spec_id="Task_Intake")
    service.complete_task(intake["id"], {"outcome": "complete"}, actor=WINDOW)
    reviews = service.list_tasks(project_id=pid)
    # the project's case (a 备案 project on transferred land) selects exactly its plan's S1 matters
    expected = set(service.plan(pid)["stages"][0]["matters"][i]["matter_id"]
                   for i, m in enumerate(service.plan(pid)["stages"][0]["matters"]) if m["selected"])
    assert expected == {"s1_project_filing", "s1_land_use_planning_permit"}
    assert {r["matter_key"].split("/")[1] for r in reviews} == expected
    for row in reviews:
        assert row["department"] == service.catalogue.matter(row["matter_key"].split("/")[1]).department
        assert row["due_at"] is not None
    # accepted Monday 2 Nov 09:00; the S1 matters finish on Wednesday 4 Nov 09:00 (2 working days later)
    clock.set(local(2026, 11, 4, 9, 0))
    for row in reviews:
        service.complete_task(row["id"], {"decision": "approve"}, actor=officer(row))
    issue = only(service.list_tasks(project_id=pid), spec_id="Task_IssueResult")
    lead = service.catalogue.lead_department("S1", "social_general").id
    assert issue["role"] == "lead" and issue["department"] == lead
    clock.set(local(2026, 11, 4, 15, 0))
    service.complete_task(issue["id"], {"certificate_no": "S1-001"}, actor=Actor("lead", "lead", lead))
    timing = service.timing(pid)
    stage = only(timing["stages"], key="S1")
    assert stage["result_label"] == "办结（通过）"
    assert stage["span_working_days"] == pytest.approx(2.25)
    assert stage["approval_working_days"] == pytest.approx(2.25)
    assert all(m["span_working_days"] == pytest.approx(2.0) for m in timing["matters"])
    # the next stage waits for the owner's filing
    assert [(t["spec_id"], t["stage"]) for t in service.list_tasks(project_id=pid)] == [("Task_SubmitFiling", "S2")]


def test_guards_refuse_and_change_nothing(env) -> None:
    service, _, db = env
    pid = file_project(service)
    intake = only(service.list_tasks(project_id=pid), spec_id="Task_Intake")

    def counts() -> tuple[int, int]:
        with db.connect() as conn:
            return (conn.execute(select(func.count()).select_from(t.events)).scalar(),
                    conn.execute(select(t.projects.c.version).where(t.projects.c.id == pid)).scalar())

    before = counts()
    with pytest.raises(Forbidden, match="window"):
        service.complete_task(intake["id"], {"outcome": "complete"}, actor=Actor("x", "agency", "zrzy"))
    with pytest.raises(Invalid, match="missing"):
        service.complete_task(intake["id"], {"outcome": "incomplete"}, actor=WINDOW)
    with pytest.raises(Invalid, match="outcome"):
        service.complete_task(intake["id"], {"outcome": "maybe"}, actor=WINDOW)
    with pytest.raises(NotFound):
        service.complete_task("no-such-task", {}, actor=WINDOW)
    assert counts() == before
    service.complete_task(intake["id"], {"outcome": "complete"}, actor=WINDOW)
    with pytest.raises(Conflict, match="not ready"):
        service.complete_task(intake["id"], {"outcome": "complete"}, actor=WINDOW)
    review = service.list_tasks(project_id=pid)[0]
    other = next(d for d in ("fgw", "zrzy", "sthj") if d != review["department"])
    with pytest.raises(Forbidden, match="belongs to department"):
        service.complete_task(review["id"], {"decision": "approve"}, actor=Actor("o", "agency", other))
    with pytest.raises(Invalid, match="reason"):
        service.complete_task(review["id"], {"decision": "refuse"}, actor=officer(review))


def test_correction_stops_the_matter_clock_and_moves_its_due_date(env) -> None:
    service, clock, _ = env
    pid = file_project(service)
    service.complete_task(service.list_tasks(project_id=pid)[0]["id"], {"outcome": "complete"}, actor=WINDOW)
    review = service.list_tasks(project_id=pid)[0]
    due_before = review["due_at"]
    clock.set(local(2026, 11, 3, 9, 0))
    service.complete_task(review["id"], {"decision": "correction", "items": ["补充图纸"]}, actor=officer(review))
    correction = only(service.list_tasks(project_id=pid), spec_id="Task_MatterCorrection")
    assert correction["role"] == "owner"
    clock.set(local(2026, 11, 5, 9, 0))  # two working days stopped
    service.complete_task(correction["id"], {"supplied": ["补充图纸"]}, actor=OWNER)
    again = only(service.list_tasks(project_id=pid), matter_key=review["matter_key"])
    assert again["due_at"] - due_before == timedelta(days=2)
    clock.set(local(2026, 11, 5, 15, 0))
    service.complete_task(again["id"], {"decision": "approve"}, actor=officer(again))
    matter = only(service.timing(pid)["matters"], key=review["matter_key"])
    assert matter["span_working_days"] == pytest.approx(3.25)
    assert matter["approval_working_days"] == pytest.approx(1.25)
    assert matter["clock_stops"][0]["kind"] == "correction"
    notices = [n["kind"] for n in service.notifications(pid)]
    assert "matter_correction" in notices


def test_state_survives_a_restart(env) -> None:
    """A new service (empty identity map) continues from the database alone."""
    service, clock, db = env
    pid = file_project(service)
    service.complete_task(service.list_tasks(project_id=pid)[0]["id"], {"outcome": "complete"}, actor=WINDOW)
    fresh = ApprovalService(db, catalogue=service.catalogue, clock=clock)
    rows = fresh.list_tasks(project_id=pid)
    for row in rows:
        fresh.complete_task(row["id"], {"decision": "approve"}, actor=officer(row))
    assert [t["spec_id"] for t in fresh.list_tasks(project_id=pid)] == ["Task_IssueResult"]


def test_unknown_project_type_is_named(env) -> None:
    service, _, _ = env
    with pytest.raises(Invalid, match="unknown project type 'castle'"):
        service.start_project({"name": "x", "project_type": "castle", "owner_id": "o"})


def test_deploy_is_versioned_by_content(env) -> None:
    service, _, _ = env
    assert service.deploy_bundled()["created"] is False


def test_timer_fires_silent_consent_on_the_virtual_clock(env) -> None:
    service, clock, _ = env
    pid = file_project(service, "social_general")
    # walk S1 to its end
    service.complete_task(service.list_tasks(project_id=pid)[0]["id"], {"outcome": "complete"}, actor=WINDOW)
    for row in service.list_tasks(project_id=pid):
        service.complete_task(row["id"], {"decision": "approve"}, actor=officer(row))
    issue = service.list_tasks(project_id=pid)[0]
    service.complete_task(issue["id"], {}, actor=officer(issue) if issue["role"] != "lead" else Actor("l", "lead", issue["department"]))
    service.submit_filing(pid, "S2", actor=OWNER)
    s2_intake = service.list_tasks(project_id=pid)[0]
    service.complete_task(s2_intake["id"], {"outcome": "complete"}, actor=WINDOW)
    silent = [r for r in service.list_tasks(project_id=pid) if r["spec_id"] == "Task_ReviewSilent"]
    assert silent, "the default profile allows 超时默许 for some S2 matters"
    target = silent[0]
    clock.set(target["due_at"] + timedelta(minutes=1))
    assert service.fire_timers() == 1
    matter = only(service.timing(pid)["matters"], key=target["matter_key"])
    assert matter["status"] == "silent_consent" and matter["outcome"] == "silent_consent"
    assert matter["responsible"]["department"] == target["department"]
    types = [e["type"] for e in service.events(pid)]
    assert "silent_consent" in types and "matter_warning" in types


def test_owner_withdraws_a_running_project(env) -> None:
    service, clock, _ = env
    pid = file_project(service)
    service.complete_task(service.list_tasks(project_id=pid)[0]["id"], {"outcome": "complete"}, actor=WINDOW)
    assert len(service.list_tasks(project_id=pid)) == 2  # 备案 and 建设用地规划许可 (this case's S1 matters)
    with pytest.raises(Forbidden, match="owner"):
        service.withdraw(pid, actor=Actor("o", "agency", "zrzy"), reason="x")
    with pytest.raises(NotFound):
        service.withdraw(pid, actor=Actor("owner-2", "owner"), reason="x")
    with pytest.raises(Invalid, match="reason"):
        service.withdraw(pid, actor=OWNER, reason=" ")
    clock.set(local(2026, 11, 3, 9, 0))
    service.withdraw(pid, actor=OWNER, reason="项目取消")
    assert service.project(pid)["status"] == "withdrawn"
    assert service.list_tasks(project_id=pid) == []
    timing = service.timing(pid)
    assert all(m["outcome"] == "cancelled" and m["end"] for m in timing["matters"])
    assert [e["type"] for e in service.events(pid)][-1] == "project_withdrawn"
    assert "withdrawn" in [n["kind"] for n in service.notifications(pid)]
    with pytest.raises(Conflict, match="withdrawn"):
        service.withdraw(pid, actor=OWNER, reason="again")


def test_a_claimed_task_is_completed_by_its_claimer_only(env) -> None:
    service, _, _ = env
    pid = file_project(service)
    service.complete_task(service.list_tasks(project_id=pid)[0]["id"], {"outcome": "complete"}, actor=WINDOW)
    review = service.list_tasks(project_id=pid)[0]
    alice = Actor("alice", "agency", review["department"])
    bob = Actor("bob", "agency", review["department"])
    with pytest.raises(Forbidden, match="belongs to department"):
        service.claim_task(review["id"], actor=Actor("eve", "agency", "no-such-dept"))
    assert service.claim_task(review["id"], actor=alice)["claimed_by"] == "alice"
    with pytest.raises(Forbidden, match="claimed by 'alice'"):
        service.claim_task(review["id"], actor=bob)
    with pytest.raises(Forbidden, match="claimed by 'alice'"):
        service.complete_task(review["id"], {"decision": "approve"}, actor=bob)
    with pytest.raises(Forbidden, match="only 'alice'"):
        service.release_task(review["id"], actor=bob)
    service.release_task(review["id"], actor=alice)
    assert service.claim_task(review["id"], actor=bob)["claimed_by"] == "bob"
    service.complete_task(review["id"], {"decision": "approve"}, actor=bob)
    types = [e["type"] for e in service.events(pid)]
    assert types.count("task_claimed") == 2 and types.count("task_released") == 1
