"""Loading deployed BPMN definitions into runnable form, with the restricted script engine.

Deploy and `gongai validate` share one validator (:mod:`engine.bpmn.validation`); this module turns a
validated definition into a :class:`ProcessRuntime` whose expressions run in the sandbox with the
documented model functions (:data:`engine.services.functions.MODEL_FUNCTIONS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.bpmn.parsing import parse_models
from engine.bpmn.problems import BpmnLoadError
from engine.bpmn.runtime import ProcessRuntime
from engine.bpmn.sandbox import make_script_engine
from engine.bpmn.validation import validate_models
from engine.domain.tasks import LANE_ROLES, RELIED_ON_TASKS
from engine.services.errors import Invalid
from engine.services.functions import MODEL_FUNCTIONS


def script_engine_factory() -> Callable[[], Any]:
    """One sandboxed script engine (it keeps no per-workflow state), handed to every workflow."""
    engine = make_script_engine(MODEL_FUNCTIONS)
    return lambda: engine


def relied_on_problems(runtime: ProcessRuntime, *, main: bool) -> list[str]:
    """What the engine's code relies on and the models do not give: a human task in a lane the engine does not
    know (its responsible party would be guessed), and — for the main approval process (``main``) — a task id
    of :data:`engine.domain.tasks.RELIED_ON_TASKS` defined by none of the processes."""
    problems = []
    seen: set[str] = set()
    for spec in (runtime.top_spec, *runtime.subprocess_specs.values()):
        for task in spec.task_specs.values():
            bpmn_id = getattr(task, "bpmn_id", None)
            if not getattr(task, "manual", False) or bpmn_id is None:
                continue
            seen.add(bpmn_id)
            lane = getattr(task, "lane", None)
            if lane is not None and lane not in LANE_ROLES:
                problems.append(f"task '{bpmn_id}' of process '{spec.name}' is in lane '{lane}', which the engine "
                                f"does not know (lanes: {', '.join(LANE_ROLES)})")
    if main:
        missing = sorted(RELIED_ON_TASKS - seen)
        if missing:
            problems.append(f"the approval model defines no user task {', '.join(missing)}; the engine's routes, "
                            f"payloads and due dates rely on these ids (engine/domain/tasks.py TaskIds)")
    return problems


def load_definition(files: Mapping[str, bytes], process_id: str, *, main: bool = False) -> ProcessRuntime:
    """Validate ``files`` and build the runtime of ``process_id``; raise :class:`Invalid` listing every error.

    ``main``: ``process_id`` is the approval process the engine starts projects on, so every task id the code
    relies on must be defined (:func:`relied_on_problems`)."""
    sources = sorted(files.items())
    report = validate_models(sources)
    errors = [p for p in report.problems if p.severity == "error"]
    if errors:
        raise Invalid("the model is invalid:\n" + "\n".join(str(p) for p in errors))
    try:
        parsed = parse_models(sources)
    except BpmnLoadError as exc:  # the validator passed, so this is unexpected; still a clear refusal
        raise Invalid("the model cannot be loaded:\n" + "\n".join(str(p) for p in exc.problems)) from None
    if process_id not in parsed.executable:
        known = ", ".join(parsed.executable) or "none"
        raise Invalid(f"process '{process_id}' is not an executable process of the deployed files (defined: {known})")
    runtime = ProcessRuntime(parsed.specs[process_id], parsed.subprocess_specs(process_id),
                             script_engine_factory=script_engine_factory())
    problems = relied_on_problems(runtime, main=main)
    if problems:
        raise Invalid("the model does not fit the engine:\n" + "\n".join(problems))
    return runtime
