"""Drive projects through :class:`ApprovalService` on a :class:`VirtualClock`.

An event queue of ``(time, sequence, action)``: a project arrives, a ready task gets completed. Before each
action the clock moves forward, and whenever the service's next timer falls before the next action the
clock stops there first and ``fire_timers()`` runs — so warnings, overdue marks, 超时默许 and missed
commitment deadlines happen at exactly the instant the models say, as they would under the real worker.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.clock import VirtualClock
from engine.domain.actors import SYSTEM, Actor
from engine.services.approval import ApprovalService
from engine.services.errors import Conflict
from engine.simulation.workload import ProjectPlan, Workload

log = logging.getLogger(__name__)

#: How far past a timer's instant the clock moves to fire it (timers fire when strictly due).
TIMER_STEP = timedelta(microseconds=1)


class Driver:
    """The clock-and-timer discipline shared by simulations and scenario replays."""

    def __init__(self, service: ApprovalService, clock: VirtualClock) -> None:
        if not isinstance(service.clock, VirtualClock) or service.clock is not clock:
            raise ValueError("the service must run on the driver's VirtualClock")
        self.service = service
        self.clock = clock
        self.timers_fired = 0
        self.seen: set[str] = set()
        self.on_timers: Callable[[], None] | None = None

    def advance_to(self, instant: datetime, earliest: Callable[[], datetime | None] | None = None) -> None:
        """Move the clock to ``instant``, firing every timer that falls due on the way, in time order.

        ``earliest`` (the first pending action) lets a simulation stop early when a timer's consequences — a
        task made ready by 超时默许, say — are scheduled before ``instant``; otherwise they would run late.

        A timer fires once the clock is strictly past its instant (as SpiffWorkflow and the worker see it), so
        the clock stops one microsecond after each due timer: a timer at 24:00 fires before any action at 24:00 or later.
        """
        while True:
            due = self.service.next_timer_at()
            if due is None or due + TIMER_STEP > instant:
                break
            if due + TIMER_STEP > self.clock.now():
                self.clock.set(due + TIMER_STEP)
            fired = self.service.fire_timers()
            self.timers_fired += fired
            if self.on_timers is not None:
                self.on_timers()
            if earliest is not None:  # a timer's consequences may be due before where we were heading: stop there
                first = earliest()
                if first is not None and first < instant:
                    instant = max(first, self.clock.now())
            if fired == 0 and self.service.next_timer_at() == due:
                log.warning("timer due at %s did not fire; moving on", due.isoformat())
                break
        if instant > self.clock.now():
            self.clock.set(instant)

    def new_ready_tasks(self, project_id: str | None = None) -> list[dict[str, Any]]:
        """Ready tasks not seen before, in a stable order (task ids are random, so never sort by them)."""
        rows = [r for r in self.service.list_tasks(project_id=project_id) if r["id"] not in self.seen]
        for r in rows:
            self.seen.add(r["id"])
        rows.sort(key=lambda r: (r["project_id"], r.get("stage") or "", r["spec_id"], r.get("matter_key") or "",
                                 _unit(r)))
        return rows


@dataclass
class SimulationResult:
    projects: list[str]
    tasks_completed: int = 0
    timers_fired: int = 0
    skipped: int = 0
    """Planned completions that found their task gone (cancelled by a timer, e.g. 超时默许)."""
    abandoned: int = 0
    """Tasks deliberately never completed (broken promises)."""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    wall_seconds: float = 0.0
    by_task: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "projects": len(self.projects), "tasks_completed": self.tasks_completed,
            "timers_fired": self.timers_fired, "skipped": self.skipped, "abandoned": self.abandoned,
            "virtual_start": self.started_at.isoformat() if self.started_at else None,
            "virtual_end": self.ended_at.isoformat() if self.ended_at else None,
            "wall_seconds": round(self.wall_seconds, 2), "by_task": dict(sorted(self.by_task.items())),
        }


def simulate(service: ApprovalService, clock: VirtualClock, workload: Workload, plans: list[ProjectPlan], *,
             progress: Callable[[int, int], None] | None = None) -> SimulationResult:
    """Run every planned project to its end; ``progress(finished, total)`` is called as projects finish."""
    driver = Driver(service, clock)
    result = SimulationResult(projects=[p.id for p in plans], started_at=clock.now())
    queue: list[tuple[datetime, int, str, Any]] = []
    seq = itertools.count()
    wall = time.perf_counter()
    running: set[str] = set()
    finished = 0

    def schedule(tasks: list[dict[str, Any]]) -> None:
        for task in tasks:
            decision = workload.decide(task, clock.now())
            if decision is None:
                result.abandoned += 1
                continue
            heapq.heappush(queue, (max(decision.at, clock.now()), next(seq), "complete", (task, decision)))

    def check_finished(project_ids: set[str] | None = None) -> None:
        nonlocal finished
        for pid in sorted(project_ids if project_ids is not None else set(running)):
            if pid in running and service.project(pid)["status"] != "running":
                running.discard(pid)
                finished += 1
                if progress:
                    progress(finished, len(plans))

    def after_timers() -> None:
        schedule(driver.new_ready_tasks())
        check_finished()

    driver.on_timers = after_timers
    for plan in plans:
        heapq.heappush(queue, (plan.arrival, next(seq), "arrive", plan))

    while queue or service.next_timer_at() is not None:
        if not queue:
            due = service.next_timer_at()
            assert due is not None
            driver.advance_to(due + TIMER_STEP)
            continue
        driver.advance_to(queue[0][0], earliest=lambda: queue[0][0] if queue else None)
        at, _, kind, item = heapq.heappop(queue)
        if kind == "arrive":
            plan: ProjectPlan = item
            if plan.bad_credit:  # a 失信 record from the credit platform, entered by an operator before filing
                service.record_credit(plan.filing["owner_id"], "信用平台失信记录（模拟）", actor=SYSTEM)
            filing = plan.filing
            preview = service.preview_plan(filing["project_type"], filing["case"],
                                           include_planning=filing.get("include_planning"))
            committed = workload.commitment_matters(
                plan, [m["matter_id"] for s in preview["stages"] for m in s["matters"] if m["selected"]])
            if committed:  # 告知承诺制 chosen at filing for these matters
                filing = {**filing, "commitment_matters": committed}
            service.start_project(filing, actor=Actor(filing["owner_id"], "owner"), project_id=plan.id)
            workload.remember(plan.id, filing, service.plan(plan.id))
            running.add(plan.id)
            schedule(driver.new_ready_tasks(plan.id))
            continue
        task, decision = item
        try:
            service.complete_task(task["id"], decision.payload, actor=decision.actor)
        except Conflict:
            result.skipped += 1  # a timer got there first (超时默许, deadline) or the task was cancelled
            continue
        result.tasks_completed += 1
        result.by_task[task["spec_id"]] = result.by_task.get(task["spec_id"], 0) + 1
        schedule(driver.new_ready_tasks(task["project_id"]))
        check_finished({task["project_id"]})

    check_finished()
    result.timers_fired = driver.timers_fired
    result.ended_at = clock.now()
    result.wall_seconds = time.perf_counter() - wall
    return result


def _unit(row: dict[str, Any]) -> str:
    unit = (row.get("data") or {}).get("unit")
    if isinstance(unit, dict):
        return str(unit.get("key") or unit.get("id") or "")
    return str(unit or "")


# -- parallel batches -----------------------------------------------------------------------------------------
#
# Projects never interact (each has its own workflow, ledger and timers), so a batch can run as shards in
# separate processes, each on its own virtual clock and SQLite file, and be merged into one database after.
# Every decision is seeded by project, so the figures are identical whatever the number of shards.

MERGED_TABLES = ("projects", "workflow_parts", "subjects", "subject_facets", "tasks", "events", "notifications",
                 "credit_records", "audit_heads", "incidents", "certificates")
# autoincrement ids: renumbered on merge (the audit chain hashes every event column but ``id``, so it survives)
_SURROGATE_ID = ("events", "notifications", "credit_records", "incidents", "certificates")
#: Rows every shard may hold alike (the facet combinations ``subjects.facet`` names): merged once, duplicates skipped.
_SHARED_ROWS = ("subject_facets",)
#: Tables the merged database already holds (deployed once before the run) or that a simulation never writes.
NOT_MERGED = ("definitions", "users", "idempotency_keys",
              "rule_tables",  # decision tables deployed by administrators: a simulation deploys none
              "admin_events",  # user administration: a simulation creates no users
              "id_counters")  # project numbers: simulated projects carry their own ids; certificate counters: see
#                               _merge_certificate_counters (each shard numbers in its own lane)


@dataclass(frozen=True)
class ShardJob:
    index: int
    db_path: str
    profile: str
    seed: int
    start: datetime
    count: int
    prefix: str
    lanes: int = 1


def _run_shard(job: ShardJob, projects: list[int], queue: Any) -> None:
    import warnings

    from engine.domain.catalogue import load_catalogue
    from engine.domain.workcalendar import CalendarDataMissing, WorkCalendar
    from engine.persistence.db import make_engine, migrate

    warnings.simplefilter("ignore", CalendarDataMissing)
    try:
        db = make_engine(f"sqlite:///{job.db_path}")
        migrate(db)
        clock = VirtualClock(job.start)
        catalogue = load_catalogue(job.profile)
        calendar = WorkCalendar.default()
        service = ApprovalService(db, catalogue=catalogue, calendar=calendar, clock=clock)
        service.certificates.lane = (job.index, job.lanes)  # certificate numbers unique across the merged shards
        service.deploy_bundled()
        workload = Workload(catalogue, calendar, seed=job.seed)
        plans = workload.projects(job.count, clock.now(), prefix=job.prefix)
        mine = [p for i, p in enumerate(sorted(plans, key=lambda p: p.id)) if i in set(projects)]
        mine.sort(key=lambda p: (p.arrival, p.id))
        result = simulate(service, clock, workload, mine, progress=lambda done, total: queue.put(("done", job.index, 1)))
        db.dispose()
        queue.put(("result", job.index, result.to_dict()))
    except BaseException as exc:  # report, never hang the parent
        queue.put(("error", job.index, f"{type(exc).__name__}: {' '.join(str(exc).split())}"))


def _merge_certificate_counters(connection: Any, index: int, lanes: int) -> None:
    """A shard's certificate counter ``cert:<code>:<year>:<lane>`` at n gave numbers up to (n-1)·lanes+lane+1; the
    merged database's own counter (lane-less, as the service there numbers) starts past the highest of them."""
    suffix = f":{index}"
    for name, value in connection.execute("SELECT name, value FROM shard.id_counters WHERE name LIKE 'cert:%'").fetchall():
        if not name.endswith(suffix):
            continue
        highest = (int(value) - 1) * lanes + index + 1
        connection.execute("INSERT INTO main.id_counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                           "SET value = MAX(value, excluded.value)", (name[: -len(suffix)], highest))


def simulate_parallel(out_db: str, *, profile: str, seed: int, start: datetime, count: int, jobs: int,
                      workdir: str, prefix: str = "D", progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Simulate ``count`` projects in ``jobs`` processes and merge their databases into ``out_db`` (a fresh,
    migrated SQLite file with the bundled models deployed). Returns the combined run figures."""
    import multiprocessing
    import queue as queue_module
    import sqlite3
    from pathlib import Path

    jobs = max(1, min(jobs, count))
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    queue = ctx.Queue()
    shards = []
    for index in range(jobs):
        path = str(Path(workdir) / f"shard-{index}.db")
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        job = ShardJob(index, path, profile, seed, start, count, prefix, jobs)
        proc = ctx.Process(target=_run_shard, args=(job, list(range(index, count, jobs)), queue), daemon=True)
        proc.start()
        shards.append((job, proc))
    results: dict[int, dict[str, Any]] = {}
    errors: list[str] = []
    while len(results) + len(errors) < jobs:
        try:
            kind, index, payload = queue.get(timeout=0.5)
        except queue_module.Empty:
            if not any(p.is_alive() for _, p in shards) and queue.empty():
                errors.append("a simulation process died without a result")
                break
            continue
        if kind == "done" and progress:
            progress(1)
        elif kind == "result":
            results[index] = payload
        elif kind == "error":
            errors.append(f"shard {index}: {payload}")
    for _, proc in shards:
        proc.join(timeout=10)
    if errors:
        raise RuntimeError("; ".join(errors))
    connection = sqlite3.connect(out_db)
    try:
        for job, _ in shards:
            connection.execute("ATTACH DATABASE ? AS shard", (job.db_path,))
            for table in MERGED_TABLES:
                columns = [r[1] for r in connection.execute(f"PRAGMA main.table_info({table})")]
                if table in _SURROGATE_ID:
                    columns = [c for c in columns if c != "id"]
                names = ", ".join(columns)
                verb = "INSERT OR IGNORE" if table in _SHARED_ROWS else "INSERT"
                connection.execute(f"{verb} INTO main.{table} ({names}) SELECT {names} FROM shard.{table}")
            _merge_certificate_counters(connection, job.index, jobs)
            connection.commit()
            connection.execute("DETACH DATABASE shard")
    finally:
        connection.close()
    for job, _ in shards:
        for suffix in ("", "-wal", "-shm"):
            Path(job.db_path + suffix).unlink(missing_ok=True)
    combined: dict[str, Any] = {"projects": 0, "tasks_completed": 0, "timers_fired": 0, "skipped": 0, "abandoned": 0,
                                "by_task": {}, "jobs": jobs}
    ends = []
    for r in results.values():
        for key in ("projects", "tasks_completed", "timers_fired", "skipped", "abandoned"):
            combined[key] += r[key]
        for task, n in r["by_task"].items():
            combined["by_task"][task] = combined["by_task"].get(task, 0) + n
        ends.append(r["virtual_end"])
    combined["by_task"] = dict(sorted(combined["by_task"].items()))
    combined["virtual_start"] = start.isoformat()
    combined["virtual_end"] = max(e for e in ends if e) if ends else None
    return combined
