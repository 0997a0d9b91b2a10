"""The SpiffWorkflow adapter: build, step, inspect, save and restore workflows of one deployed definition.

What this module adds to raw SpiffWorkflow, and why:

- **Injected time for timers.** SpiffWorkflow's timer events read ``datetime.now()`` directly; we route that
  through :func:`use_clock`, so a virtual clock drives timers in simulations and tests.
- **Split persistence.** A workflow is saved as parts — the top workflow and one part per sub-workflow
  (call activity instance) — without the process specs, which are stored once per definition. Completed
  parts that were already saved are never serialised again, and a running part is serialised only when
  something in it ran, so a step's cost follows the work it did, not the project's history.
- **Human tasks as plain views** (:class:`HumanTask`) with their lane, so the service layer never touches
  SpiffWorkflow objects.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from hashlib import sha256
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.clock import Clock, SystemClock

# -- injected time --------------------------------------------------------------------------------------------
_current_clock: contextvars.ContextVar[Clock] = contextvars.ContextVar("gongai_clock", default=SystemClock())


class _ClockedDatetime(datetime):
    """``datetime`` whose ``now()`` asks the clock of the current engine operation."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        instant = _current_clock.get().now()
        return instant.astimezone(tz) if tz is not None else instant.astimezone(timezone.utc).replace(tzinfo=None)


_spiff_timer.datetime = _ClockedDatetime  # type: ignore[misc]


@contextmanager
def use_clock(clock: Clock) -> Iterator[None]:
    """Run SpiffWorkflow code (timers) against ``clock``."""
    token = _current_clock.set(clock)
    try:
        yield
    finally:
        _current_clock.reset(token)


# -- views ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HumanTask:
    """A ready user/manual task, as the service layer sees it."""

    id: str
    spec_id: str
    name: str
    lane: str | None
    process_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class WorkflowParts:
    """A workflow's saved form: the top part, and sub-workflow parts by id (specs excluded)."""

    top: dict[str, Any]
    subprocesses: dict[str, dict[str, Any]]
    completed: frozenset[str]


_serializer = BpmnWorkflowSerializer()


def _registry():
    return _serializer.registry


class ProcessRuntime:
    """Runs workflows of one deployed definition (a top process and the processes it calls)."""

    def __init__(self, top_spec, subprocess_specs: Mapping[str, Any], *, script_engine_factory: Callable[[], Any]) -> None:
        self.top_spec = top_spec
        self.subprocess_specs = dict(subprocess_specs)
        self._script_engine_factory = script_engine_factory
        self._spec_json = json.dumps(_registry().convert(top_spec))
        self._subprocess_specs_json = json.dumps({name: _registry().convert(spec) for name, spec in self.subprocess_specs.items()})

    # -- life cycle ---------------------------------------------------------------------------------------------
    def new_workflow(self, data: Mapping[str, Any]) -> BpmnWorkflow:
        workflow = BpmnWorkflow(self.top_spec, self.subprocess_specs, script_engine=self._script_engine_factory())
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(dict(data))
        return workflow

    def advance(self, workflow: BpmnWorkflow, clock: Clock, *, did_complete_task: Callable[[Any], None] | None = None) -> None:
        """Fire due timers and run every engine step (scripts, gateways, events) that can run now.

        A step may arm a timer that is already due (a deadline that passed while the clock was stopped);
        only then is another round needed, which the armed timers tell without walking the task tree.
        """
        with use_clock(clock):
            for _ in range(50):
                workflow.refresh_timers()
                do_engine_steps(workflow, did_complete_task=did_complete_task)
                # a step may settle what a conditional event waits for (a precondition issued): re-evaluate
                fired = self.refresh_conditions(workflow)
                due = self.next_timer_at(workflow)
                if not fired and (due is None or due >= clock.now()):
                    break

    @staticmethod
    def refresh_conditions(workflow: BpmnWorkflow) -> bool:
        """Re-evaluate waiting conditional catch events (SpiffWorkflow refreshes only timers by itself);
        True when one became ready, so the caller runs another round of engine steps."""
        fired = False
        for task in list(workflow.event_manager.tasks.values()):
            if not isinstance(getattr(task.task_spec, "event_definition", None), ConditionalEventDefinition):
                continue
            if task.has_state(TaskState.WAITING):
                task.task_spec._update(task)
                fired = fired or task.has_state(TaskState.READY)
        return fired

    def run_task(self, workflow: BpmnWorkflow, task_id: str, data: Mapping[str, Any], clock: Clock,
                 *, did_complete_task: Callable[[Any], None] | None = None) -> None:
        task = self.get_task(workflow, task_id)
        task.data.update(dict(data))
        with use_clock(clock):
            task.run()
        self.advance(workflow, clock, did_complete_task=did_complete_task)

    def get_task(self, workflow: BpmnWorkflow, task_id: str):
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError):
            task = None
        if task is None:
            raise KeyError(task_id)
        return task

    # -- inspection ---------------------------------------------------------------------------------------------
    def ready_human_tasks(self, workflow: BpmnWorkflow) -> list[HumanTask]:
        """The ready user/manual tasks, in no particular order (callers sort)."""
        tasks = []
        for task in ready_tasks(workflow, manual=True):
            spec = task.task_spec
            tasks.append(HumanTask(
                id=str(task.id), spec_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
                lane=getattr(spec, "lane", None), process_id=task.workflow.spec.name, data=task.data,
            ))
        return tasks

    @staticmethod
    def next_timer_at(workflow: BpmnWorkflow) -> datetime | None:
        """The earliest armed timer of the workflow, so a worker can find due projects with one indexed query.

        Reads SpiffWorkflow's event manager (the waiting catch events of the whole workflow), not the tree.
        """
        earliest: datetime | None = None
        for task in list(workflow.event_manager.tasks.values()):
            if not isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
                continue
            if not task.has_state(TaskState.WAITING):
                continue
            value = task._get_internal_data("event_value")
            if not isinstance(value, str):
                continue
            try:
                when = TimerEventDefinition.get_datetime(value)
            except ValueError:
                continue
            if earliest is None or when < earliest:
                earliest = when
        return earliest

    # -- persistence --------------------------------------------------------------------------------------------
    def dump(self, workflow: BpmnWorkflow) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Serialise the parts that may have changed: the top workflow and every unfinished (or newly
        finished) sub-workflow. Returns (top, {subprocess id: part})."""
        registry = _registry()
        saved: set[str] = getattr(workflow, "_gongai_saved_completed", set())
        top = {
            **_common_dict(workflow),
            "bpmn_events": registry.convert(workflow.bpmn_events),
            "serializer_version": _serializer.VERSION,
        }
        parts: dict[str, dict[str, Any]] = {}
        marks: dict[str, tuple[int, int, float]] = getattr(workflow, "_gongai_marks", {})
        for sp_id, sub in workflow.subprocesses.items():
            key = str(sp_id)
            if key in saved:
                continue
            mark = _change_mark(sub)
            if marks.get(key) == mark:  # nothing ran in it since it was last saved (a parallel branch waits)
                continue
            parts[key] = _subworkflow_dict(sub)
            marks[key] = mark
            if sub.is_completed():
                saved.add(key)
                sub.__dict__.pop("_gongai_task_dicts", None)  # never serialised again: free its reused task dicts
        workflow._gongai_saved_completed = saved  # type: ignore[attr-defined]
        workflow._gongai_marks = marks  # type: ignore[attr-defined]
        return top, parts

    def load(self, top: dict[str, Any], subprocesses: dict[str, dict[str, Any]]) -> BpmnWorkflow:
        """Restore a workflow from fresh (just-decoded, unshared) part dicts.

        The specs are restored from their serialised form (kept once per definition in memory), exactly as
        SpiffWorkflow's serializer does: workflows restored onto independently parsed spec objects do not
        resume multi-instance call activities correctly, so we stay on SpiffWorkflow's own path.
        """
        dct = dict(top)
        dct.pop("serializer_version", None)
        dct["spec"] = json.loads(self._spec_json)
        dct["subprocess_specs"] = json.loads(self._subprocess_specs_json)
        dct["subprocesses"] = dict(subprocesses)
        dct["typename"] = "BpmnWorkflow"
        workflow = _serializer.from_dict(dct)
        workflow.script_engine = self._script_engine_factory()
        workflow._gongai_saved_completed = {  # type: ignore[attr-defined]
            str(i) for i, sub in workflow.subprocesses.items() if sub.is_completed()
        }
        workflow._gongai_marks = {str(i): _change_mark(sub) for i, sub in workflow.subprocesses.items()}  # type: ignore[attr-defined]
        return workflow


# -- engine steps that walk only where something can run ------------------------------------------------------
_READY = TaskState.READY
_FINISHED = TaskState.FINISHED_MASK


def _parents(workflow: BpmnWorkflow) -> dict[Any, Any]:
    """Each sub-workflow's parent workflow, by sub-workflow id (kept on the workflow: parents never change).

    SpiffWorkflow's ``parent_workflow`` searches every sub-workflow for the parent task on each call."""
    parents: dict[Any, Any] | None = getattr(workflow, "_gongai_parents", None)
    if parents is None:
        parents = workflow._gongai_parents = {}  # type: ignore[attr-defined]
    if len(parents) != len(workflow.subprocesses):
        for sp_id, sub in workflow.subprocesses.items():
            if sp_id not in parents:
                if sub.parent_task_id in workflow.tasks:
                    parents[sp_id] = workflow
                else:
                    parents[sp_id] = next((other for other in workflow.subprocesses.values()
                                           if sub.parent_task_id in other.tasks), None)
        for gone in parents.keys() - workflow.subprocesses.keys():
            del parents[gone]
    return parents


def _live(workflow: BpmnWorkflow) -> list[Any]:
    """The top workflow and the sub-workflows SpiffWorkflow's task iterator descends into when it looks for
    unfinished tasks: not completed, and called by a task that is not finished, in a live parent."""
    parents = _parents(workflow)
    subs = workflow.subprocesses
    verdict: dict[Any, bool] = {}

    def live(sp_id: Any) -> bool:
        known = verdict.get(sp_id)
        if known is None:
            sub = subs[sp_id]
            parent = parents.get(sp_id)
            known = False
            if not sub.completed and parent is not None:
                caller = parent.tasks.get(sub.parent_task_id)
                known = (caller is not None and not caller._state & _FINISHED
                         and (parent is workflow or live(parent.parent_task_id)))
            verdict[sp_id] = known
        return known

    return [workflow, *(sub for sp_id, sub in subs.items() if live(sp_id))]


def ready_tasks(workflow: BpmnWorkflow, *, manual: bool) -> list[Any]:
    """Ready tasks (user/manual ones, or engine ones) of the top workflow and its live sub-workflows, read from
    their task dicts: the same tasks ``get_tasks(state=READY, manual=…)`` finds, without walking every tree."""
    return [task for wf in _live(workflow) for task in wf.tasks.values()
            if task._state == _READY and task.task_spec.manual == manual]


def do_engine_steps(workflow: BpmnWorkflow, *, did_complete_task: Callable[[Any], None] | None = None) -> None:
    """SpiffWorkflow's ``BpmnWorkflow.do_engine_steps``, step for step, except that a workflow is walked only
    when it (or a sub-workflow under it) holds a ready engine task.

    SpiffWorkflow walks, in every round, each active sub-workflow's tree and then the top's (which descends into
    every active sub-workflow again), and runs rounds until one runs nothing: a step's cost grew with every
    branch still open in the project, though the step ran one branch (issue 14). A walk that starts with no
    ready engine task in its scope runs nothing, so skipping it changes nothing; which workflows hold one is
    read from the task dicts (a flat scan), again after anything ran.
    """
    #: per workflow (by id) the ready engine tasks its walk would find: its own and its live sub-workflows'
    in_scope: dict[int, list[Any]] = {}

    def scan() -> None:
        in_scope.clear()
        parents = _parents(workflow)
        for wf in _live(workflow):
            for task in wf.tasks.values():
                if task._state == _READY and not task.task_spec.manual:
                    # its walk is useful, and so are its ancestors' (they descend into it)
                    holder = wf
                    while holder is not None:
                        in_scope.setdefault(id(holder), []).append(task)
                        holder = parents.get(holder.parent_task_id) if holder is not workflow else None

    def update_workflow(wf: Any) -> int:
        found = in_scope.get(id(wf))
        if not found:
            return 0
        # One ready engine task in the walk's scope: the walk would return it alone, so run it without walking
        # (the walk visits every task of the tree, finished ones included). Several: the walk decides the order.
        ready = found if len(found) == 1 else [t for t in wf.get_tasks(state=_READY) if not t.task_spec.manual]
        count = 0
        for task in ready:
            task.run()
            count += 1
            if did_complete_task is not None:
                did_complete_task(task)
        if count:
            scan()
        return count

    def one_round() -> bool:
        scan()
        active = workflow.get_active_subprocesses()
        for sub in sorted(active, key=lambda v: v.depth, reverse=True):
            count = None
            while count is None or count > 0:
                count = update_workflow(sub)
            if sub.parent_task_id is not None:
                task = workflow.get_task_from_id(sub.parent_task_id)
                before = task._state
                task.task_spec._update(task)
                if task._state != before:
                    scan()
        count = update_workflow(workflow)
        return count > 0 or len(workflow.get_active_subprocesses()) > len(active)

    while one_round():
        pass
    workflow.refresh_timers()


# -- serialising a step's parts ---------------------------------------------------------------------------------
def _task_dicts(wf: Any) -> dict[str, Any]:
    """``{task id: SpiffWorkflow's dict of the task}``, reusing the dicts of finished tasks under finished parents.

    SpiffWorkflow stores a task's data as its difference from its parent's (a deep comparison per task): the top
    workflow's and a running part's finished tasks were compared again at every step, though such a task no
    longer changes. A reused dict is checked against what SpiffWorkflow changes on a task (its state, when that
    changed, its children, whether its event was triggered, its spec — a definition-version migration swaps
    specs); anything else is converted as SpiffWorkflow does.
    """
    convert = _registry().convert
    cache: dict[Any, tuple[tuple[Any, ...], str, dict[str, Any]]] = wf.__dict__.setdefault("_gongai_task_dicts", {})
    tasks = wf.tasks
    out: dict[str, Any] = {}
    for task_id, task in tasks.items():
        if task._state & _FINISHED:
            parent = tasks.get(task._parent) if task._parent is not None else None
            if task._parent is None or (parent is not None and parent._state & _FINISHED):
                mark = (task._state, task.last_state_change, tuple(task._children), task.triggered, id(task.task_spec))
                hit = cache.get(task_id)
                if hit is not None and hit[0] == mark:
                    out[hit[1]] = hit[2]
                    continue
                key, dct = str(task_id), convert(task)
                cache[task_id] = (mark, key, dct)
                out[key] = dct
                continue
        out[str(task_id)] = convert(task)
    return out


def _common_dict(workflow: Any) -> dict[str, Any]:
    """What SpiffWorkflow's converters write for a workflow and a sub-workflow alike, with the task dicts of
    :func:`_task_dicts` (finished tasks serialised once)."""
    registry = _registry()
    return {
        "data": registry.convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": _task_dicts(workflow),
        "root": str(workflow.task_tree.id),
    }


def _subworkflow_dict(sub: Any) -> dict[str, Any]:
    """SpiffWorkflow's BpmnSubWorkflowConverter.to_dict, with the task dicts of :func:`_task_dicts`."""
    return {
        **_common_dict(sub),
        "parent_task_id": str(sub.parent_task_id),
        "spec": sub.spec.name,
        "typename": "BpmnSubWorkflow",
    }


def _change_mark(sub: Any) -> tuple[int, int, float]:
    """What changes whenever anything in a sub-workflow runs: its task count, the sum of its task states and
    the latest state change. SpiffWorkflow changes task data only together with a task's state (running it,
    a multi-instance child or a catch event completing), so an unchanged mark means an unchanged part."""
    tasks = sub.tasks.values()
    return len(tasks), sum(t._state for t in tasks), max((t.last_state_change for t in tasks), default=0.0)


def _workflow_converter():
    """SpiffWorkflow's converter object for BpmnWorkflow (its helpers restore tasks and sub-workflows)."""
    return _registry().convert_from_dict["BpmnWorkflow"].args[0].__self__


def content_hash(files: Mapping[str, bytes]) -> str:
    """A definition's version key: the hash of its files' names and bytes (versioned by content)."""
    digest = sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(files[name])
        digest.update(b"\0")
    return digest.hexdigest()
