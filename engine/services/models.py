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
from engine.services.errors import Invalid
from engine.services.functions import MODEL_FUNCTIONS


def script_engine_factory() -> Callable[[], Any]:
    """One sandboxed script engine (it keeps no per-workflow state), handed to every workflow."""
    engine = make_script_engine(MODEL_FUNCTIONS)
    return lambda: engine


def load_definition(files: Mapping[str, bytes], process_id: str) -> ProcessRuntime:
    """Validate ``files`` and build the runtime of ``process_id``; raise :class:`Invalid` listing every error."""
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
    return ProcessRuntime(parsed.specs[process_id], parsed.subprocess_specs(process_id),
                          script_engine_factory=script_engine_factory())
