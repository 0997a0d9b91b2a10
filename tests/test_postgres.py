"""The engine on PostgreSQL: migrations, a full project, the optimistic lock under concurrent completions,
and the analytics SQL — against a throwaway server the test set-up starts itself (tests/pg_server.py).

"SQLite by default and nothing that would stop PostgreSQL": the same project driven on both databases must
give the same timings, and the concurrency guarantees must hold where writers really run in parallel.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select

from bench.engine_bench import START, Plan, actor_for, drive, filing_for
from engine.analytics import measures
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.persistence import tables as t
from engine.persistence.db import is_current, make_engine, migrate, missing_schema
from engine.persistence.uow import ConcurrentUpdate
from engine.services.approval import ApprovalService
from tests.pg_server import pg_server, pg_url  # noqa: F401  (fixtures)

CATALOGUE = load_catalogue()


def _service(url: str) -> tuple[ApprovalService, VirtualClock]:
    db = make_engine(url)
    migrate(db)
    clock = VirtualClock(START)
    service = ApprovalService(db, catalogue=CATALOGUE, clock=clock)
    service.deploy_bundled()
    return service, clock


def _timings(service: ApprovalService, project_id: str) -> dict:
    timing = service.timing(project_id)
    timing.pop("project_id")
    return timing


@pytest.fixture(scope="module")
def pg(pg_url: str) -> tuple[ApprovalService, VirtualClock]:  # noqa: F811
    return _service(pg_url)


@pytest.fixture(scope="module")
def twins(pg_server, tmp_path_factory) -> dict:  # noqa: F811
    """The same projects driven on a fresh PostgreSQL database and on a SQLite file."""
    out: dict = {}
    for name, url in (("pg", pg_server.create_database()),
                      ("sqlite", f"sqlite:///{tmp_path_factory.mktemp('twin') / 'twin.db'}")):
        service, clock = _service(url)
        runs = []
        for index in TWIN_PROJECTS:
            filing = filing_for(index)
            steps = drive(service, clock, filing, Plan(CATALOGUE, filing["project_type"]))
            runs.append((_last_project(service), steps))
        out[name] = (service, runs)
    return out


TWIN_PROJECTS = (1, 3)  # social_general (4 stages); land_with_scheme (S2 ∥ S3, 先行验收); each with 补正 and 容缺


def _last_project(service: ApprovalService) -> str:
    with service.db.connect() as conn:
        return conn.execute(select(t.projects.c.id).order_by(t.projects.c.created_at.desc(), t.projects.c.id.desc())
                            .limit(1)).scalar_one()


def test_migrations_build_the_schema_and_are_idempotent(pg) -> None:
    service, _ = pg
    assert service.db.dialect.name == "postgresql"
    assert is_current(service.db)
    assert missing_schema(service.db) == []  # the migrations build every table and index tables.py defines
    migrate(service.db)  # a second run changes nothing
    names = set(inspect(service.db).get_table_names())
    assert {"definitions", "projects", "workflow_parts", "events", "subjects", "tasks", "notifications",
            "credit_records", "users", "idempotency_keys"} <= names


def test_full_projects_run_and_time_the_same_as_on_sqlite(twins) -> None:
    pg_service, pg_runs = twins["pg"]
    lite, lite_runs = twins["sqlite"]
    assert [steps for _, steps in pg_runs] == [steps for _, steps in lite_runs]
    for (pid, _), (lite_pid, _) in zip(pg_runs, lite_runs):
        assert pg_service.project(pid)["status"] == "completed"
        assert _timings(pg_service, pid) == _timings(lite, lite_pid)
        pg_events = [(e["type"], e["stage"], e["matter_key"], e["at"]) for e in pg_service.events(pid)]
        lite_events = [(e["type"], e["stage"], e["matter_key"], e["at"]) for e in lite.events(lite_pid)]
        assert sorted(pg_events, key=repr) == sorted(lite_events, key=repr)
        # instants come back aware UTC from PostgreSQL too
        assert all(e[3].utcoffset() == timedelta(0) for e in pg_events)
        assert pg_service.notifications(pid) and len(pg_service.notifications(pid)) == len(lite.notifications(lite_pid))


def test_analytics_measures_agree_with_sqlite(twins) -> None:
    results = {}
    for name, (service, _) in twins.items():
        with service.db.connect() as conn:
            results[name] = {
                "stages": measures.stage_durations(conn),
                "process": measures.process_durations(conn, by_project_type=True),
                "departments": measures.department_durations(conn),
                "overdue": measures.overdue_rates(conn),
                "tolerance": measures.tolerance_and_commitment(conn),
                "report": measures.report(conn, now=START + timedelta(days=400)),
                "report S2": measures.report(conn, measures.Filters(stage="S2", department="zrzy"),
                                             now=START + timedelta(days=400)),
            }
    assert {row["group"] for row in results["pg"]["stages"]} >= {"S1", "S2", "S3", "S4"}
    assert results["pg"]["tolerance"] == results["sqlite"]["tolerance"]
    for key in results["pg"]:  # PostgreSQL computes the order statistics itself; SQLite walks the indexes
        assert results["pg"][key] == results["sqlite"][key], key


def test_concurrent_completions_of_parallel_matters_join_once(pg) -> None:
    service, clock = pg
    clock.set(START)
    filing = filing_for(1)  # social_general: S2 has many parallel matters
    plan = Plan(CATALOGUE, filing["project_type"])
    plan.corrected = True  # every matter approved: the S2 matters are all ready together
    plan.tolerance = None
    pid = service.start_project(filing)
    reviews: list[dict] = []
    for _ in range(200):
        ready = service.list_tasks(project_id=pid)
        reviews = [r for r in ready if r["spec_id"].startswith("Task_Review") and r["stage"] == "S2"]
        if len(reviews) >= 4:
            break
        row = ready[0]
        clock.advance(timedelta(minutes=10))
        service.complete_task(row["id"], plan.payload(row["spec_id"], row["stage"]), actor=actor_for(row))
    assert len(reviews) >= 4, "S2 has parallel matters"

    # a second service instance (another API worker) shares the database but not the identity map
    other = ApprovalService(service.db, catalogue=CATALOGUE, clock=clock)
    barrier = threading.Barrier(len(reviews))

    def approve(job: tuple[int, dict]) -> str:
        n, row = job
        svc = service if n % 2 else other
        barrier.wait()
        for _ in range(20):  # what the API does on an optimistic-lock conflict: retry
            try:
                svc.complete_task(row["id"], {"decision": "approve"}, actor=actor_for(row))
                return "ok"
            except ConcurrentUpdate:
                continue
        return "gave up"

    with ThreadPoolExecutor(len(reviews)) as pool:
        outcomes = list(pool.map(approve, enumerate(reviews)))
    assert outcomes == ["ok"] * len(reviews)

    events = service.events(pid)
    done = {e["task_id"] for e in events if e["type"] == "task_completed" and not e["data"].get("cancelled")}
    assert {r["id"] for r in reviews} <= done
    issue_ready = [e for e in events if e["type"] == "task_ready" and e["data"].get("task") == "Task_IssueResult"
                   and e["stage"] == "S2"]
    assert len(issue_ready) == 1, "the stage joined exactly once (one 综合出件 task)"
    assert [r["spec_id"] for r in service.list_tasks(project_id=pid, stage="S2")] == ["Task_IssueResult"]
    # the workflow state in the database agrees (read by a service with an empty identity map)
    fresh = ApprovalService(service.db, catalogue=CATALOGUE, clock=clock)
    issue = service.list_tasks(project_id=pid, stage="S2")[0]
    fresh.complete_task(issue["id"], {"certificate_no": "S2-1"}, actor=actor_for(issue))
