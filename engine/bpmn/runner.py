"""Run a parsed process to the end without people, clocks or message brokers: for conformance tests.

This is not the engine's runtime (that persists instances, assigns tasks to users and runs on the injected
clock); it drives SpiffWorkflow directly, under the same sandboxed script engine, to answer one question:
*given these inputs, does the model run to completion?* It completes ready user/manual tasks with stated
data, delivers stated messages and signals as soon as the process waits for them, fires timers when
nothing else can move (or first, when asked), and gives up after a bounded number of steps, naming what the
process is still waiting for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.parsing import ParsedModels
from engine.bpmn.sandbox import make_script_engine

__all__ = ["RunInputs", "RunOutcome", "run_process"]

_PAST = "2000-01-01T00:00:00+00:00"

Status = Literal["completed", "stuck", "error"]


@dataclass
class RunInputs:
    """What the outside world does while the process runs.

    ``data`` is the task data the process starts with, ``data_objects`` the initial values of its BPMN data
    objects.

    ``tasks`` maps a user/manual task's BPMN id (or name) to the data entered when it is completed: one
    mapping for every visit, or a list with one mapping per visit (the last one repeats). ``messages`` and
    ``signals`` are delivered in order, each as soon as the process waits for it. Timers fire when nothing
    else can move, or before ready tasks are completed when ``timers_first``.
    """

    data: dict[str, Any] = field(default_factory=dict)
    data_objects: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    timers_first: bool = False
    max_steps: int = 500
    max_engine_tasks: int = 20_000

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> RunInputs:
        raw = dict(raw or {})
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown run inputs: {sorted(unknown)}")
        return cls(**raw)


@dataclass
class RunOutcome:
    status: Status
    detail: str = ""
    waiting: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    steps: int = 0

    def __str__(self) -> str:
        text = f"{self.status} after {self.steps} steps"
        if self.detail:
            text += f": {self.detail}"
        if self.waiting:
            text += f" (waiting for {', '.join(self.waiting)})"
        return text


def run_process(
    models: ParsedModels,
    process_id: str | None = None,
    inputs: RunInputs | None = None,
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> RunOutcome:
    """Run ``process_id`` (default: the first entry point) of ``models`` to completion, as far as it goes.

    ``process_id`` may also name a collaboration, whose executable participants then run together.
    """
    inputs = inputs or RunInputs()
    if process_id is None:
        if not models.entry_points:
            return RunOutcome("error", "no executable process to run")
        process_id = models.entry_points[0]
    if process_id in models.specs:
        spec, subprocess_specs = models.specs[process_id], models.subprocess_specs(process_id)
    elif models.parser is not None and process_id in models.parser.collaborations:
        # A collaboration runs all its executable participants together, exchanging messages.
        try:
            spec, subprocess_specs = models.parser.get_collaboration(process_id)
        except Exception as exc:  # noqa: BLE001
            return RunOutcome("error", f"collaboration {process_id!r} cannot be loaded: {exc}")
    else:
        return RunOutcome("error", f"{process_id!r} is neither an executable process nor a collaboration of the model")
    runner: _Runner | None = None
    try:
        runner = _Runner(spec, subprocess_specs, inputs, functions)
        return runner.run()
    except Exception as exc:  # noqa: BLE001 - the outcome of a failing model is a report, not a crash
        if runner is None:
            return RunOutcome("error", f"the process cannot be started: {type(exc).__name__}: {exc}")
        return RunOutcome("error", f"{type(exc).__name__}: {exc}", runner.waiting(), steps=runner.steps)


class _TooMuchWork(Exception):
    pass


class _Workflow(BpmnWorkflow):
    """BpmnWorkflow whose sub-workflows start with their data objects declared, as the top workflow does.

    SpiffWorkflow 3.2 sets every data object of the top process to ``None`` but leaves those of called
    processes and collaboration participants undefined, so a conditional event reading one before it is
    written fails with ``NameError`` there and not at the top level.
    """

    initial_data_objects: dict[str, Any] = {}

    def create_subprocess(self, my_task: Any, spec_name: str) -> Any:
        subprocess = super().create_subprocess(my_task, spec_name)
        objects = subprocess.data.setdefault("data_objects", {})
        for name in subprocess.spec.data_objects:
            objects.setdefault(name, self.initial_data_objects.get(name))
        return subprocess


class _Runner:
    def __init__(self, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec], inputs: RunInputs,
                 functions: Mapping[str, Callable[..., Any]] | None) -> None:
        self.inputs = inputs
        self.workflow = _Workflow(spec, subprocess_specs, script_engine=make_script_engine(functions))
        self.workflow.initial_data_objects = dict(inputs.data_objects)
        self.visits: dict[str, int] = {}
        self.messages = list(inputs.messages)
        self.signals = list(inputs.signals)
        self.steps = 0
        self.engine_tasks = 0

    def run(self) -> RunOutcome:
        for task in self.workflow.get_tasks(state=TaskState.READY):
            task.data.update(self.inputs.data)
        if self.inputs.data_objects:
            objects = self.workflow.data.setdefault("data_objects", {})
            objects.update({k: v for k, v in self.inputs.data_objects.items() if k in self.workflow.spec.data_objects})
        while self.steps < self.inputs.max_steps:
            self.steps += 1
            self.workflow.refresh_timers()
            self.workflow.do_engine_steps(will_complete_task=self._count_engine_task)
            if self.workflow.is_completed():
                return RunOutcome("completed", data=self._final_data(), steps=self.steps)
            if self.deliver_message() or self.deliver_signal():
                continue
            if self.inputs.timers_first and self.fire_timers():
                continue
            if self.complete_human_task():
                continue
            if not self.inputs.timers_first and self.fire_timers():
                continue
            return RunOutcome("stuck", "nothing can move", self.waiting(), steps=self.steps)
        return RunOutcome("stuck", f"not completed after {self.inputs.max_steps} steps", self.waiting(),
                          steps=self.steps)

    def _count_engine_task(self, task: Any) -> None:
        """Bound the work SpiffWorkflow does on its own between two outside actions (loops of script tasks)."""
        self.engine_tasks += 1
        if self.engine_tasks > self.inputs.max_engine_tasks:
            raise _TooMuchWork(f"the engine ran {self.inputs.max_engine_tasks:,} tasks without reaching the end; "
                               f"the model probably loops forever (last: {task.task_spec.bpmn_id or task.task_spec.name})")

    # -- actions ---------------------------------------------------------------------------------------------
    def complete_human_task(self) -> bool:
        ready = self.workflow.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            return False
        task = ready[0]
        spec = task.task_spec
        key = spec.bpmn_id if spec.bpmn_id in self.inputs.tasks else (spec.bpmn_name or "")
        entry = self.inputs.tasks.get(key, {})
        visit = self.visits.get(key, 0)
        self.visits[key] = visit + 1
        if isinstance(entry, list):
            entry = entry[min(visit, len(entry) - 1)] if entry else {}
        task.data.update(entry or {})
        task.run()
        return True

    def _catchers(self, event_type: type, name: str) -> list[Any]:
        """Event definitions of waiting tasks that would catch an event of ``event_type`` called ``name``."""
        found = []
        for task in self.workflow.event_manager.tasks.values():
            definition = task.task_spec.event_definition
            for item in getattr(definition, "event_definitions", [definition]):
                if isinstance(item, event_type) and item.name == name:
                    found.append(item)
        return found

    def deliver_message(self) -> bool:
        if not self.messages:
            return False
        catchers = self._catchers(MessageEventDefinition, self.messages[0]["name"])
        if not catchers:
            return False
        message = self.messages.pop(0)
        payload = dict(message.get("payload") or {})
        # A message from outside carries the correlation values its receiver's retrieval expressions compute,
        # which is how SpiffWorkflow tells which waiting instance it is for.
        definition = catchers[0]
        correlations = definition.calculate_correlations(self.workflow.script_engine,
                                                         definition.correlation_properties, payload)
        self.workflow.send_event(BpmnEvent(MessageEventDefinition(message["name"]), payload=payload,
                                           correlations=correlations))
        return True

    def deliver_signal(self) -> bool:
        if not self.signals or not self._catchers(SignalEventDefinition, self.signals[0]):
            return False
        self.workflow.send_event(BpmnEvent(SignalEventDefinition(self.signals.pop(0))))
        return True

    def fire_timers(self) -> bool:
        """Move every waiting timer's due time into the past: what letting the clock run would do."""
        fired = False
        for task in list(self.workflow.event_manager.tasks.values()):
            definition = task.task_spec.event_definition
            timers = [d for d in getattr(definition, "event_definitions", [definition])
                      if isinstance(d, TimerEventDefinition)]
            if not timers:
                continue
            value = task._get_internal_data("event_value")
            if value is None:
                continue
            if isinstance(timers[0], CycleTimerEventDefinition) and isinstance(value, dict):
                value = dict(value, next=_PAST)
            elif isinstance(value, str):
                value = _PAST
            else:
                continue
            task._set_internal_data(event_value=value)
            fired = True
        if fired:
            self.workflow.refresh_timers()
        return fired

    # -- reporting -------------------------------------------------------------------------------------------
    def waiting(self) -> list[str]:
        described: list[str] = []
        for task in self.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            spec = task.task_spec
            bpmn_id = getattr(spec, "bpmn_id", None)
            if not bpmn_id:
                continue
            state = TaskState.get_name(task.state)
            definition = getattr(spec, "event_definition", None)
            what = f" on {type(definition).__name__} {getattr(definition, 'name', '')!r}".rstrip(" ''") \
                if definition is not None and task.state == TaskState.WAITING else ""
            described.append(f"{bpmn_id} ({state}{what})")
        return described

    def _final_data(self) -> dict[str, Any]:
        end = self.workflow.get_tasks(spec_name="End")
        return dict(end[-1].data) if end else dict(self.workflow.data)
