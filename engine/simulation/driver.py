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
from engine.domain.actors import Actor
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

    def advance_to(self, instant: datetime) -> None:
        """Move the clock to ``instant``, firing every timer that falls due on the way, in time order.

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
        at, _, kind, item = heapq.heappop(queue)
        driver.advance_to(at)
        if kind == "arrive":
            plan: ProjectPlan = item
            workload.remember(plan.id, plan.filing)
            service.start_project(plan.filing, actor=Actor(plan.filing["owner_id"], "owner"), project_id=plan.id)
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
