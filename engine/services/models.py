"""Loading deployed BPMN definitions into runnable form, with the restricted script engine.

Deploy and `gongai validate` share the validator in :mod:`engine.bpmn.validation`; this module turns a
validated definition into a :class:`ProcessRuntime` whose expressions run in the sandbox with the
documented model functions (:data:`engine.services.functions.MODEL_FUNCTIONS`).
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.bpmn.runtime import ProcessRuntime
from engine.services.errors import Invalid
from engine.services.functions import MODEL_FUNCTIONS


def script_engine_factory():
    try:
        from engine.bpmn.sandbox import make_script_engine
    except ImportError:  # TEMPORARY until the sandbox lands
        from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

        engine = PythonScriptEngine(environment=TaskDataEnvironment(dict(MODEL_FUNCTIONS)))
    else:
        engine = make_script_engine(MODEL_FUNCTIONS)
    return lambda: engine


def load_definition(files: Mapping[str, bytes], process_id: str) -> ProcessRuntime:
    """Validate ``files`` and build the runtime of ``process_id``; raise :class:`Invalid` listing every error."""
    sources = sorted(files.items())
    try:
        from engine.bpmn.validation import validate_models
    except ImportError:  # TEMPORARY until the validator lands
        validate_models = None
    if validate_models is not None:
        report = validate_models(sources)
        errors = [p for p in report.problems if p.severity == "error"]
        if errors:
            raise Invalid("the model is invalid:\n" + "\n".join(str(p) for p in errors))
    from lxml import etree
    from SpiffWorkflow.bpmn.parser import BpmnParser

    parser = BpmnParser()
    xml_parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    for name, data in sources:
        parser.add_bpmn_xml(etree.fromstring(data, xml_parser), filename=name)
    if process_id not in parser.get_process_ids():
        known = ", ".join(sorted(parser.get_process_ids())) or "none"
        raise Invalid(f"process '{process_id}' is not defined in the deployed files (defined: {known})")
    top = parser.get_spec(process_id)
    subprocesses = parser.get_subprocess_specs(process_id)
    return ProcessRuntime(top, subprocesses, script_engine_factory=script_engine_factory())
