"""Validate BPMN models before they are deployed: the checks behind ``gongai validate`` and the deploy API.

:func:`validate_models` runs, for a set of files deployed together:

1. safe XML parsing (:mod:`engine.bpmn.safe_xml`) and a check that the document is BPMN 2.0 at all;
2. the BPMN 2.0 XSD (shipped with SpiffWorkflow), with line numbers; schema errors inside the diagram
   interchange are warnings, since they only affect rendering;
3. structural checks over the sequence-flow graph of every process and sub-process (networkx): duplicate
   ids, dangling flows, nodes unreachable from a start event or unable to reach an end, parallel joins that
   can deadlock, splits without joins and exclusive gateways without a default (warnings), ids that collide
   with SpiffWorkflow's internal task names, and call activities whose process is missing;
4. elements the engine does not execute (compensation, complex gateways, ad-hoc sub-processes, link
   events, business rule tasks, data stores ...), named with their id instead of failing at run time;
5. every condition, timer, script, loop and correlation expression, through the sandbox's checker;
6. diagram interchange for every flow node (warning: the model would not render);
7. finally SpiffWorkflow's own parser, whose exceptions become problems with line and id.

Descriptive processes (``isExecutable="false"``) are checked for what makes any model wrong (ids,
references, reachability) but not for what only matters when running (unsupported elements, expressions,
gateway semantics). The validator never raises: every failure, including its own bugs, is a problem.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import re
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
from lxml import etree

import SpiffWorkflow.bpmn.parser as spiff_parser_package
from engine.bpmn.parsing import (
    BPMN_NS,
    BPMNDI_NS,
    DC_NS,
    DI_NS,
    NSMAP,
    is_executable,
    local_name,
    namespace_of,
    not_bpmn_problem,
    parse_trees,
)
from engine.bpmn.problems import BpmnLoadError, Problem, ValidationReport, error, warning
from engine.bpmn.safe_xml import DEFAULT_MAX_BYTES, parse_xml
from engine.bpmn.sandbox import check_expression, registered_functions
from engine.bpmn.timers import TimerOutOfRange, check_timer_value

__all__ = ["RESERVED_IDS", "SUPPORTED_ELEMENTS", "validate_models", "validate_paths"]

XSD_PATH = Path(spiff_parser_package.__file__).parent / "schema" / "BPMN20.xsd"
MAX_SCHEMA_PROBLEMS = 20

FLOW_NODES = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "implicitThrowEvent", "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask",
    "receiveTask", "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
    "callChoreography", "choreographyTask", "subChoreography",
})
SCOPES = frozenset({"process", "subProcess", "transaction", "adHocSubProcess"})
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                      "complexGateway"})
CONDITIONAL_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway"})
# Flow nodes SpiffWorkflow lets have several outgoing flows; any other splits only through a gateway.
MULTI_OUTGOING = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                            "startEvent", "complexGateway"})

SUPPORTED_ELEMENTS = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "task",
    "userTask", "manualTask", "scriptTask", "sendTask", "receiveTask", "callActivity",
    "subProcess", "transaction", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway",
})
"""Flow nodes the engine executes."""

_UNSUPPORTED: dict[str, str] = {
    "complexGateway": "complex gateways are not executed by the engine; use exclusive, inclusive or parallel gateways",
    "adHocSubProcess": "ad-hoc sub-processes are not executed by the engine; model the order of the tasks explicitly",
    "businessRuleTask": "business rule tasks (DMN decisions) are not executed by the engine; use a script task or "
                        "exclusive gateway conditions",
    "callChoreography": "choreographies are not executed by the engine",
    "choreographyTask": "choreographies are not executed by the engine",
    "subChoreography": "choreographies are not executed by the engine",
    "implicitThrowEvent": "implicit throw events are not executed by the engine",
    # SpiffWorkflow's plain service task starts and then waits forever for a connector the engine does not have.
    "serviceTask": "service tasks are not executed by the engine, which calls no external services; use a script "
                   "task for a computation or a user task for work done by a person",
}
_UNSUPPORTED_EVENTS: dict[str, str] = {
    "compensateEventDefinition": "compensation events are not executed by the engine",
    "linkEventDefinition": "link events are not executed by the engine; connect the sequence flow directly",
}

# Event definitions SpiffWorkflow's parser reads for each kind of event; any other is silently ignored by it
# (an error start event would start as a plain one), so the validator refuses it.
_EVENT_DEFINITIONS: dict[str, frozenset[str]] = {
    "startEvent": frozenset({"message", "signal", "timer", "conditional"}),
    "endEvent": frozenset({"message", "cancel", "error", "escalation", "terminate"}),
    "intermediateCatchEvent": frozenset({"message", "signal", "timer", "conditional"}),
    "intermediateThrowEvent": frozenset({"message", "signal", "escalation"}),
    "boundaryEvent": frozenset({"message", "signal", "timer", "conditional", "cancel", "error", "escalation"}),
}

RESERVED_IDS = frozenset({"Start", "End", "Root", "StartEventSplit", "StartEventJoin"})
"""Names of SpiffWorkflow's internal task specs; a BPMN element with one of these ids would replace them."""
_RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin")

_PYTHON_LANGUAGES = frozenset({"python", "python3", "text/python", "text/x-python", "application/python",
                               "application/x-python", "http://www.python.org/"})
_ISO_DURATION = re.compile(r"^R?\d*/?P(?=\d|T\d)[\dYMWDTHS.,]*$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_JUEL = re.compile(r"^[#$]\{.*\}$", re.DOTALL)
_XSD_ID_VALUE = re.compile(r"attribute 'id': '([^']*)' is not a valid value of the atomic type 'xs:ID'")
_PREFIXES = ((BPMN_NS, "bpmn"), (BPMNDI_NS, "bpmndi"), (DC_NS, "dc"), (DI_NS, "di"),
             ("http://www.w3.org/2001/XMLSchema", "xs"))


_TIMER_FORMATS = {
    "timeDate": ("date-time", '"2025-03-01T09:00:00+08:00"'),
    "timeDuration": ("duration", '"P5D" or "PT2H"'),
    "timeCycle": ("repeating interval", '"R3/PT1H"'),
}


def _looks_like_unquoted_iso(text: str) -> bool:
    """``PT5M`` or ``2025-03-01`` written without quotes: Python reads a variable name or a syntax error."""
    if _ISO_DURATION.match(text):
        return text.isidentifier() or check_expression(text, "eval") is not None
    return bool(_ISO_DATE.match(text)) and check_expression(text, "eval") is not None


_MODEL_NAMESPACES = frozenset({BPMN_NS, BPMNDI_NS, DC_NS, DI_NS})


def _q(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


# ------------------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------------------

def validate_models(
    sources: Sequence[tuple[str, bytes]],
    *,
    functions: Collection[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ValidationReport:
    """Check the model files ``sources`` (``(file name, bytes)``) deployed together; never raises.

    ``functions`` names the engine functions models may call (default: those registered with
    :func:`engine.bpmn.sandbox.register_function`).
    """
    known = frozenset(registered_functions() if functions is None else functions)
    key = (tuple((name, hashlib.sha256(data).digest()) for name, data in sources), known, max_bytes)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return ValidationReport(list(cached))
    validator = _Validator(known)
    try:
        validator.run(sources, max_bytes)
    except Exception as exc:  # noqa: BLE001 - the validator must report, not crash
        name = sources[0][0] if sources else "<none>"
        validator.problems.append(error("internal-error", f"the validator failed unexpectedly: "
                                                          f"{type(exc).__name__}: {exc}", name))
    problems = tuple(_sorted(validator.problems, [name for name, _ in sources]))
    with _CACHE_LOCK:
        _CACHE[key] = problems
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ValidationReport(list(problems))


# The same files are validated again and again (every deploy of the bundled models, every test): the result
# depends only on the bytes, the names and the engine functions, so it is kept for the last few file sets.
_CACHE_SIZE = 32
_CACHE: OrderedDict[tuple[object, ...], tuple[Problem, ...]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def validate_paths(paths: Sequence[Path | str], **options: object) -> ValidationReport:
    """:func:`validate_models` for files on disk; a file that cannot be read is reported, not raised."""
    sources: list[tuple[str, bytes]] = []
    unreadable: list[Problem] = []
    for path in map(Path, paths):
        try:
            size = path.stat().st_size
            max_bytes = int(options.get("max_bytes", DEFAULT_MAX_BYTES))  # type: ignore[call-overload]
            with path.open("rb") as handle:  # read one byte past the limit: parse_xml reports the size
                sources.append((str(path), handle.read(max_bytes + 1) if size > max_bytes else handle.read()))
        except OSError as exc:
            unreadable.append(error("unreadable", f"cannot read the file: {exc.strerror or exc}", str(path)))
    report = validate_models(sources, **options) if sources else ValidationReport()  # type: ignore[arg-type]
    report.problems[:0] = unreadable
    return report


# ------------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------------

def _sorted(problems: list[Problem], order: list[str]) -> list[Problem]:
    rank = {name: index for index, name in enumerate(order)}
    unique: list[Problem] = []
    seen: set[tuple[str, str, str, int | None]] = set()
    for problem in problems:
        key = (problem.source, problem.code, problem.message, problem.line)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return sorted(unique, key=lambda p: (rank.get(p.source, len(rank)), p.line or 0))


def _kind(element: etree._Element) -> str:
    name = local_name(element.tag)
    if namespace_of(element.tag) != BPMN_NS:
        return name  # BPMNShape, BPMNEdge ...
    special = {"subProcess": "sub-process", "adHocSubProcess": "ad-hoc sub-process",
               "callActivity": "call activity", "sequenceFlow": "sequence flow"}
    return special.get(name) or re.sub(r"(?<!^)([A-Z])", r" \1", name).lower()


def _label(element: etree._Element) -> str:
    """``user task 'Task_1' (Approve permit)``: what people need to find the element in the modeller."""
    element_id = element.get("id")
    text = f"{_kind(element)} {element_id!r}" if element_id else f"{_kind(element)} without id (line {element.sourceline})"
    name = " ".join((element.get("name") or "").split())
    if name and name != element.get("id"):
        text += f" ({name[:60]}{'...' if len(name) > 60 else ''})"
    return text


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def _children(scope: etree._Element) -> list[etree._Element]:
    return [child for child in scope if namespace_of(child.tag) == BPMN_NS]


def _event_definitions(element: etree._Element) -> list[str]:
    return [local_name(child.tag) for child in _children(element) if local_name(child.tag).endswith("EventDefinition")]


def _prefixed(tag: str) -> str:
    for namespace, prefix in _PREFIXES:
        tag = tag.replace(f"{{{namespace}}}", f"{prefix}:")
    return tag


def _readable_xsd(message: str, element: etree._Element | None = None) -> str:
    """lxml's schema message with namespaces as prefixes, long alternatives cut, and the parent named."""
    message = _prefixed(message)
    match = re.search(r"Expected is one of \( (.*) \)", message)
    if match:
        options = [o.strip() for o in match.group(1).split(",")]
        shown = ", ".join(options[:6]) + (f", ... ({len(options) - 6} more)" if len(options) > 6 else "")
        message = message[:match.start()] + f"Expected is one of ( {shown} )" + message[match.end():]
    parent = element.getparent() if element is not None else None
    if parent is not None and "This element is not expected" in message:
        message = message.replace("This element is not expected",
                                  f"This element is not allowed here inside {_prefixed(parent.tag)}")
    return message.rstrip(".")


@functools.lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    # Our own, trusted schema files: parsed from disk with imports resolved next to BPMN20.xsd.
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


@dataclass
class _Doc:
    source: str
    root: etree._Element
    ids: dict[str, list[etree._Element]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------------------
# The validator
# ------------------------------------------------------------------------------------------------------------

class _Validator:
    def __init__(self, functions: frozenset[str]) -> None:
        self.functions = functions
        self.problems: list[Problem] = []
        self.docs: list[_Doc] = []
        self.processes: dict[str, tuple[_Doc, etree._Element]] = {}
        self.global_tasks: set[str] = set()

    # -- reporting -------------------------------------------------------------------------------------------
    def err(self, doc: _Doc, code: str, message: str, element: etree._Element | None = None) -> None:
        line = element.sourceline if element is not None else None
        element_id = element.get("id") if element is not None else None
        self.problems.append(error(code, message, doc.source, line, element_id))

    def warn(self, doc: _Doc, code: str, message: str, element: etree._Element | None = None) -> None:
        line = element.sourceline if element is not None else None
        element_id = element.get("id") if element is not None else None
        self.problems.append(warning(code, message, doc.source, line, element_id))

    # -- driver ----------------------------------------------------------------------------------------------
    def run(self, sources: Sequence[tuple[str, bytes]], max_bytes: int) -> None:
        for name, data in sources:
            try:
                root = parse_xml(data, source=name, max_bytes=max_bytes)
            except BpmnLoadError as exc:
                self.problems.extend(exc.problems)
                continue
            if root.tag != _q("definitions"):
                self.problems.append(not_bpmn_problem(root, name))
                continue
            self.docs.append(_Doc(name, root))
        schema_problems: list[Problem] = []
        for doc in self.docs:
            schema_problems.extend(self.check_schema(doc))
        for doc in self.docs:
            self.index(doc)
        for doc in self.docs:
            self.check_document(doc)
        self.check_recursive_calls()
        self.merge_schema_problems(schema_problems)
        if not any(p.is_error for p in self.problems) and self.docs:
            self.check_with_spiffworkflow()

    def check_recursive_calls(self) -> None:
        """Call activities that (directly or not) call their own process would never end."""
        graph = nx.DiGraph()
        calls: list[tuple[_Doc, str, etree._Element, str]] = []
        for process_id, (doc, process) in self.processes.items():
            if not is_executable(process):
                continue
            for call in process.iterfind(".//bpmn:callActivity", NSMAP):
                called = call.get("calledElement")
                if called in self.processes:
                    graph.add_edge(process_id, called)
                    calls.append((doc, process_id, call, called))
        for doc, caller, call, called in calls:
            if caller == called or (called in graph and nx.has_path(graph, called, caller)):
                path = [called] if caller == called else nx.shortest_path(graph, called, caller)
                chain = " -> ".join([caller, *path]) if caller != called else f"{caller} -> {caller}"
                self.err(doc, "recursive-call", f"{_label(call)} calls process {called!r} recursively ({chain}); "
                                                f"the engine does not run recursive call activities", call)

    # -- 2. schema -------------------------------------------------------------------------------------------
    def check_schema(self, doc: _Doc) -> list[Problem]:
        candidate = copy.deepcopy(doc.root)
        # SpiffWorkflow's own validator makes the same allowance: bpmn.io writes correlation retrieval
        # expressions as formalExpression, which the schema spells messagePath.
        for expression in candidate.iterfind(".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression",
                                             NSMAP):
            expression.tag = _q("messagePath")
        schema = _schema()
        if schema.validate(candidate):
            return []
        found: list[Problem] = []
        entries = list(schema.error_log)
        prefixes: dict[str, str] = {}
        for element in candidate.iter():
            if isinstance(element.tag, str):
                for prefix, namespace in element.nsmap.items():
                    if prefix and namespace:
                        prefixes.setdefault(prefix, namespace)
        for entry in entries[:MAX_SCHEMA_PROBLEMS]:
            element = self._xsd_element(candidate, entry, prefixes)
            in_diagram = element is not None and any(
                namespace_of(e.tag) in (BPMNDI_NS, DC_NS, DI_NS) for e in [element, *element.iterancestors()])
            make = warning if in_diagram else error
            code = "xsd-di" if in_diagram else "xsd"
            found.append(make(code, f"schema: {_readable_xsd(entry.message, element)}", doc.source, entry.line or None))
        if len(entries) > MAX_SCHEMA_PROBLEMS:
            found.append(warning("xsd", f"schema: {len(entries) - MAX_SCHEMA_PROBLEMS} more schema problems not shown",
                                 doc.source))
        return found

    @staticmethod
    def _xsd_element(root: etree._Element, entry: etree._LogEntry, prefixes: dict[str, str]) -> etree._Element | None:
        """The element a schema error is about (lxml gives a path written with the document's prefixes)."""
        try:
            found = root.getroottree().xpath(entry.path, namespaces=prefixes) if entry.path else None
        except (etree.XPathError, TypeError):
            found = None
        if isinstance(found, list) and found and isinstance(found[0], etree._Element):
            return found[0]
        at_line = [e for e in root.iter() if isinstance(e.tag, str) and e.sourceline == entry.line]
        return at_line[-1] if at_line else None

    def merge_schema_problems(self, schema_problems: list[Problem]) -> None:
        """Keep schema problems our own checks do not already explain better (same file and line)."""
        explained = {(p.source, p.line) for p in self.problems if p.line is not None}
        duplicated = {(p.source, p.element_id) for p in self.problems if p.code == "duplicate-id"}
        for problem in schema_problems:
            match = _XSD_ID_VALUE.search(problem.message)
            if match and (problem.source, match.group(1)) in duplicated:
                continue
            if (problem.source, problem.line) in explained:
                continue
            self.problems.append(problem)

    # -- index -----------------------------------------------------------------------------------------------
    def index(self, doc: _Doc) -> None:
        for element in doc.root.iter():
            # Vendor extension elements may reuse ids freely (xs:ID applies to the BPMN schemas only).
            if namespace_of(element.tag) in _MODEL_NAMESPACES:
                element_id = element.get("id")
                if element_id is not None:
                    doc.ids.setdefault(element_id, []).append(element)
        for process in doc.root.iterfind("bpmn:process", NSMAP):
            process_id = process.get("id")
            if not process_id:
                continue
            if process_id in self.processes and self.processes[process_id][0] is not doc:
                other = self.processes[process_id][0]
                self.err(doc, "duplicate-id", f"process id {process_id!r} is also used in {other.source}; process "
                                              f"ids must be unique across the files deployed together", process)
                continue
            self.processes[process_id] = (doc, process)
        for child in _children(doc.root):
            if local_name(child.tag).startswith("global") and child.get("id"):
                self.global_tasks.add(child.get("id"))

    # -- 3.-6. per document ----------------------------------------------------------------------------------
    def check_document(self, doc: _Doc) -> None:
        for element_id, elements in doc.ids.items():
            if len(elements) > 1:
                where = ", ".join(f"{_kind(e)} (line {e.sourceline})" for e in elements)
                self.err(doc, "duplicate-id", f"id {element_id!r} is used by {len(elements)} elements: {where}",
                         elements[1])
        processes = doc.root.findall("bpmn:process", NSMAP)
        for process in processes:
            executable = is_executable(process)
            self.check_scope(doc, process, executable)
            for call in process.iterfind(".//bpmn:callActivity", NSMAP):
                self.check_call_activity(doc, call, executable)
            if executable:
                self.check_execution_details(doc, process)
        for child in _children(doc.root):
            if local_name(child.tag) == "choreography":
                self.warn(doc, "not-executed", f"{_label(child)}: choreographies are not executed by the engine",
                          child)
        if processes and not any(is_executable(p) for p in processes):
            names = ", ".join(repr(p.get("id")) for p in processes[:3]) + (" ..." if len(processes) > 3 else "")
            self.warn(doc, "not-executable", f"no executable process: {names} "
                                             f"{'is' if len(processes) == 1 else 'are'} marked isExecutable=\"false\"; "
                                             f"the model can be stored and displayed but not run")
        elif not processes:
            self.warn(doc, "not-executable", "the file defines no process, so there is nothing to run")
        if any(is_executable(p) for p in processes):
            self.check_correlations(doc)
        self.check_diagram(doc)

    # -- structure of one process or sub-process -------------------------------------------------------------
    def check_scope(self, doc: _Doc, scope: etree._Element, executable: bool) -> None:
        scope_kind = local_name(scope.tag)
        children = _children(scope)
        nodes = {c.get("id"): c for c in children if local_name(c.tag) in FLOW_NODES and c.get("id")}
        flows = [c for c in children if local_name(c.tag) == "sequenceFlow"]
        graph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        valid_flows: list[etree._Element] = []
        for flow in flows:
            if self.check_flow_ends(doc, scope, flow, nodes):
                valid_flows.append(flow)
                graph.add_edge(flow.get("sourceRef"), flow.get("targetRef"))
        for node_id, node in nodes.items():
            if local_name(node.tag) == "boundaryEvent":
                host = node.get("attachedToRef")
                if not host or host not in nodes:
                    where = "is not attached to any activity" if not host else (
                        f"is attached to {host!r}, which is not an activity in the same "
                        f"{'process' if scope_kind == 'process' else 'sub-process'}")
                    self.err(doc, "dangling-boundary-event", f"{_label(node)} {where}", node)
                else:
                    graph.add_edge(host, node_id)
        self.link_events(nodes, graph)

        for child in children:
            if local_name(child.tag) in SCOPES - {"process"}:
                if executable and local_name(child.tag) == "adHocSubProcess":
                    continue  # reported as unsupported; its tasks have no flow structure to check
                self.check_scope(doc, child, executable)

        if scope_kind == "adHocSubProcess":
            return
        self.check_reachability(doc, scope, nodes, graph, executable)
        if executable:
            self.check_gateways(doc, scope, nodes, valid_flows, graph)

    def check_flow_ends(self, doc: _Doc, scope: etree._Element, flow: etree._Element,
                        nodes: dict[str, etree._Element]) -> bool:
        ok = True
        for attribute, verb in (("sourceRef", "starts at"), ("targetRef", "targets")):
            ref = flow.get(attribute)
            if not ref:
                self.err(doc, "dangling-flow", f"sequence flow {flow.get('id')!r} has no {attribute}", flow)
                ok = False
            elif ref not in nodes:
                others = doc.ids.get(ref)
                if not others:
                    message = f"sequence flow {flow.get('id')!r} {verb} missing element {ref!r}"
                elif local_name(others[0].tag) in FLOW_NODES:
                    message = (f"sequence flow {flow.get('id')!r} {verb} {_label(others[0])}, which is outside "
                               f"{_label(scope)}: sequence flows cannot cross process or sub-process borders")
                else:
                    message = (f"sequence flow {flow.get('id')!r} {verb} {_label(others[0])}, which is not a "
                               f"flow node")
                self.err(doc, "dangling-flow", message, flow)
                ok = False
        return ok

    @staticmethod
    def link_events(nodes: dict[str, etree._Element], graph: nx.DiGraph) -> None:
        """Link throw events jump to the catch event of the same name (so reachability is not misreported)."""
        throws: dict[str, list[str]] = defaultdict(list)
        catches: dict[str, list[str]] = defaultdict(list)
        for node_id, node in nodes.items():
            link = node.find("bpmn:linkEventDefinition", NSMAP)
            if link is None:
                continue
            key = link.get("name") or node.get("name") or ""
            (throws if local_name(node.tag) == "intermediateThrowEvent" else catches)[key].append(node_id)
        for key, sources in throws.items():
            for source in sources:
                for target in catches.get(key, []):
                    graph.add_edge(source, target)

    def check_reachability(self, doc: _Doc, scope: etree._Element, nodes: dict[str, etree._Element],
                           graph: nx.DiGraph, executable: bool) -> None:
        scope_kind = local_name(scope.tag)
        event_subprocess = scope.get("triggeredByEvent") == "true"
        starts = [n for n, e in nodes.items() if local_name(e.tag) == "startEvent"]
        ends = [n for n, e in nodes.items() if local_name(e.tag) == "endEvent"]
        if not starts:
            if executable:
                if scope_kind == "process":
                    why = " because isExecutable is not set to false" if scope.get("isExecutable") is None else ""
                    self.err(doc, "no-start-event", f"{_label(scope)} has no start event, so it cannot be started "
                                                    f"(it is executable{why})", scope)
                else:
                    self.err(doc, "subprocess-start-events", f"{_label(scope)} has no start event; the engine needs "
                                                             f"exactly one in every sub-process", scope)
            return  # descriptive models may start implicitly; without a start there is nothing to measure from
        if executable and scope_kind != "process" and len(starts) > 1:
            self.err(doc, "subprocess-start-events", f"{_label(scope)} has {len(starts)} start events; the engine "
                                                     f"needs exactly one in every sub-process", scope)
        if executable and scope_kind != "process" and not event_subprocess and not ends:
            self.err(doc, "subprocess-no-end", f"{_label(scope)} has no end event; the engine needs one in every "
                                               f"sub-process", scope)
        roots = set(starts)
        ignored: set[str] = set()
        for node_id, node in nodes.items():
            if node.get("triggeredByEvent") == "true":
                roots.add(node_id)  # event sub-processes are started by their event, not by a flow
            if node.get("isForCompensation") == "true":
                ignored.add(node_id)  # compensation handlers are reached by association (reported if executable)
        reachable: set[str] = set(roots)
        for root in roots:
            reachable |= nx.descendants(graph, root)
        for node_id, node in nodes.items():
            if node_id in reachable or node_id in ignored:
                continue
            if graph.in_degree(node_id) == 0:
                hint = ""
                if local_name(node.tag) == "intermediateCatchEvent":
                    hint = "; this might be a boundary event that has been disconnected from its activity"
                self.err(doc, "unreachable", f"{_label(node)} has no incoming sequence flow and is not a start event, "
                                             f"so it can never run{hint}", node)
            else:
                self.err(doc, "unreachable", f"{_label(node)} cannot be reached from a start event", node)
        # Ends: an end event, or any node without outgoing flow (an implicit end, which SpiffWorkflow accepts).
        sinks = {n for n in nodes if local_name(nodes[n].tag) == "endEvent" or graph.out_degree(n) == 0}
        can_end: set[str] = set(sinks)
        for sink in sinks:
            can_end |= nx.ancestors(graph, sink)
        trapped = [n for n in nodes if n in reachable and n not in can_end and n not in ignored]
        if trapped:
            first = nodes[trapped[0]]
            listed = ", ".join(repr(n) for n in trapped[:6]) + (" ..." if len(trapped) > 6 else "")
            subject = "it" if len(trapped) == 1 else listed
            self.err(doc, "dead-end", f"{_label(first)} cannot reach an end event: every path from {subject} loops "
                                      f"without ending", first)
        if executable:
            for node_id, node in nodes.items():
                kind = local_name(node.tag)
                if kind == "endEvent":
                    if graph.out_degree(node_id):
                        self.err(doc, "end-event-outgoing", f"{_label(node)} has an outgoing sequence flow", node)
                elif kind == "startEvent":
                    if graph.in_degree(node_id) and not self._only_link_in(node_id, nodes, graph):
                        self.err(doc, "start-event-incoming", f"{_label(node)} has an incoming sequence flow", node)
                elif (graph.out_degree(node_id) == 0 and node_id in reachable and node.get("triggeredByEvent") != "true"
                      and node.get("isForCompensation") != "true"):
                    self.warn(doc, "implicit-end", f"{_label(node)} has no outgoing sequence flow: its path ends "
                                                   f"there without an end event", node)

    @staticmethod
    def _only_link_in(node_id: str, nodes: dict[str, etree._Element], graph: nx.DiGraph) -> bool:
        return all(nodes[p].find("bpmn:linkEventDefinition", NSMAP) is not None for p in graph.predecessors(node_id))

    def check_gateways(self, doc: _Doc, scope: etree._Element, nodes: dict[str, etree._Element],
                       flows: list[etree._Element], graph: nx.DiGraph) -> None:
        outgoing: dict[str, list[etree._Element]] = defaultdict(list)
        incoming: dict[str, list[etree._Element]] = defaultdict(list)
        for flow in flows:
            outgoing[flow.get("sourceRef")].append(flow)
            incoming[flow.get("targetRef")].append(flow)
        for node_id, node in nodes.items():
            kind = local_name(node.tag)
            out = outgoing.get(node_id, [])
            if len(out) > 1 and kind not in MULTI_OUTGOING:
                names = ", ".join(repr(f.get("id")) for f in out)
                self.err(doc, "multiple-outgoing", f"{_label(node)} has {len(out)} outgoing sequence flows ({names}); "
                                                   f"the engine does not split implicitly: add a parallel or exclusive "
                                                   f"gateway after it", node)
            default = node.get("default")
            if default and default not in {f.get("id") for f in out}:
                self.err(doc, "bad-default-flow", f"{_label(node)} names {default!r} as its default flow, but that "
                                                  f"is not one of its outgoing sequence flows", node)
            for flow in out:
                condition = flow.find("bpmn:conditionExpression", NSMAP)
                if condition is None or _text(condition) is None:
                    if kind in CONDITIONAL_GATEWAYS and len(out) > 1 and flow.get("id") != default:
                        self.err(doc, "missing-condition", f"sequence flow {flow.get('id')!r} leaves {_label(node)} "
                                                           f"without a condition and is not its default flow", flow)
                elif kind not in CONDITIONAL_GATEWAYS:
                    self.warn(doc, "ignored-condition", f"the condition on sequence flow {flow.get('id')!r} is "
                                                        f"ignored: only exclusive and inclusive gateways evaluate "
                                                        f"conditions, and it leaves {_label(node)}", flow)
            if kind in CONDITIONAL_GATEWAYS and len(out) > 1 and not default:
                self.warn(doc, "no-default-flow", f"{_label(node)} has no default flow: if no condition holds, the "
                                                  f"process stops with an error", node)
            if kind == "eventBasedGateway":
                for flow in out:
                    target = nodes.get(flow.get("targetRef"))
                    if target is not None and local_name(target.tag) not in ("intermediateCatchEvent", "receiveTask"):
                        self.err(doc, "invalid-event-gateway", f"{_label(node)} leads to {_label(target)}; an "
                                                               f"event-based gateway must lead to catch events or "
                                                               f"receive tasks", flow)
        self.check_splits_and_joins(doc, nodes, outgoing, incoming, graph)

    def check_splits_and_joins(self, doc: _Doc, nodes: dict[str, etree._Element],
                               outgoing: dict[str, list[etree._Element]], incoming: dict[str, list[etree._Element]],
                               graph: nx.DiGraph) -> None:
        def kind(node_id: str) -> str:
            return local_name(nodes[node_id].tag)

        joins = {n for n in nodes if kind(n) in ("parallelGateway", "inclusiveGateway") and len(incoming.get(n, [])) > 1}
        # Splits that create concurrent tokens should be joined again.
        for node_id in nodes:
            if kind(node_id) not in ("parallelGateway", "inclusiveGateway") or len(outgoing.get(node_id, [])) < 2:
                continue
            branches = [f.get("targetRef") for f in outgoing[node_id]]
            reach = [nx.descendants(graph, b) | {b} for b in branches]
            common = set.intersection(*reach) & joins
            if not common:
                self.warn(doc, "split-without-join", f"{_label(nodes[node_id])} splits into {len(branches)} branches "
                                                     f"that no parallel or inclusive gateway joins again; each branch "
                                                     f"ends on its own", nodes[node_id])
        # A parallel join waits for all of its incoming flows: a choice upstream that feeds only some of them
        # leaves it waiting forever. Choices are exclusive, inclusive and event-based splits, and activities
        # with boundary events (the boundary path is taken instead of, or besides, the normal one, or never).
        choices: dict[str, list[tuple[str, str]]] = {}
        for node_id in nodes:
            if kind(node_id) in ("exclusiveGateway", "eventBasedGateway", "inclusiveGateway") \
                    and len(outgoing.get(node_id, [])) > 1:
                choices[node_id] = [(f.get("id"), f.get("targetRef")) for f in outgoing[node_id]]
        for node_id, node in nodes.items():
            host = node.get("attachedToRef")
            if kind(node_id) == "boundaryEvent" and host in nodes:
                branches = choices.setdefault(host, [(f.get("id"), f.get("targetRef")) for f in outgoing.get(host, [])])
                branches.append(("", node_id))
        for join in sorted(j for j in joins if kind(j) == "parallelGateway"):
            join_in = {f.get("id"): f.get("sourceRef") for f in incoming[join]}
            join_out = set(graph.out_edges(join))
            for choice in sorted(choices):
                if choice == join:
                    continue
                cut = nx.subgraph_view(graph, filter_node=lambda n, c=choice: n != c,
                                       filter_edge=lambda u, v: (u, v) not in join_out)
                fed: list[frozenset[str]] = []
                for flow_id, target in choices[choice]:
                    if target == join:
                        fed.append(frozenset({flow_id}))
                        continue
                    seen = nx.descendants(cut, target) | {target} if target in cut else set()
                    fed.append(frozenset(fid for fid, src in join_in.items() if src in seen))
                partial = [f for f in fed if f and len(f) < len(join_in)]
                if partial and any(f and f != partial[0] for f in fed):
                    if kind(choice) in GATEWAYS:
                        which = "only some" if kind(choice) == "inclusiveGateway" else "only one"
                        why = f"{_label(nodes[choice])} sends the token down {which} of its branches"
                    else:
                        why = (f"the path from the boundary event of {_label(nodes[choice])} is taken instead of, "
                               f"or besides, its normal path, or not at all")
                    flows_text = ", ".join(repr(f) for f in sorted(join_in))
                    self.err(doc, "deadlock", f"{_label(nodes[join])} can deadlock: it waits for all of its incoming "
                                              f"flows ({flows_text}), but {why}", nodes[join])
                    break

    # -- 4.-5. what only matters when running ----------------------------------------------------------------
    def check_execution_details(self, doc: _Doc, process: etree._Element) -> None:
        data_objects = self._data_objects_by_scope(process)
        for element in process.iter():
            if namespace_of(element.tag) != BPMN_NS:
                continue
            kind = local_name(element.tag)
            if kind in _UNSUPPORTED:
                self.err(doc, "unsupported-element", f"{_label(element)}: {_UNSUPPORTED[kind]}", element)
            elif kind in _UNSUPPORTED_EVENTS:
                owner = element.getparent()
                self.err(doc, "unsupported-element", f"{_label(owner)}: {_UNSUPPORTED_EVENTS[kind]}", owner)
            elif kind == "eventDefinitionRef":
                owner = element.getparent()
                self.err(doc, "unsupported-element", f"{_label(owner)} refers to its event definition "
                                                     f"{(_text(element) or '')!r} by eventDefinitionRef, which the "
                                                     f"engine does not read; put the definition inside the event",
                         owner)
            elif kind.endswith("EventDefinition") and local_name(element.getparent().tag) in _EVENT_DEFINITIONS:
                event = element.getparent()
                trigger = kind[: -len("EventDefinition")]
                if trigger not in _EVENT_DEFINITIONS[local_name(event.tag)]:
                    self.err(doc, "unsupported-element", f"{_label(event)}: {trigger} {_kind(event)}s are not executed "
                                                         f"by the engine", event)
            elif element.get("isForCompensation") == "true":
                self.err(doc, "unsupported-element", f"{_label(element)} is a compensation handler; compensation is "
                                                     f"not executed by the engine", element)
            if kind in FLOW_NODES and element.get("id"):
                self.check_reserved_id(doc, element)
            if kind == "scriptTask":
                self.check_script_task(doc, element)
            elif kind == "boundaryEvent":
                self.check_boundary_event(doc, element)
            elif kind == "sequenceFlow":
                condition = element.find("bpmn:conditionExpression", NSMAP)
                if condition is not None and _text(condition) is not None:
                    self.check_expression(doc, condition, f"condition of sequence flow {element.get('id')!r}",
                                          "bad-condition")
            elif kind == "timerEventDefinition":
                self.check_timer(doc, element)
            elif kind == "conditionalEventDefinition":
                condition = element.find("bpmn:condition", NSMAP)
                if _text(condition) is None:
                    self.err(doc, "missing-condition", f"{_label(element.getparent())} has a conditional event "
                                                       f"without a condition", element.getparent())
                else:
                    self.check_expression(doc, condition, f"condition of {_label(element.getparent())}", "bad-condition")
            elif kind in ("messageEventDefinition", "signalEventDefinition", "errorEventDefinition",
                          "escalationEventDefinition"):
                self.check_event_reference(doc, element)
            elif kind == "cancelEventDefinition":
                self.check_cancel_event(doc, element)
            elif kind == "multiInstanceLoopCharacteristics":
                self.check_multi_instance(doc, element)
            elif kind == "standardLoopCharacteristics":
                self.check_standard_loop(doc, element)
            elif kind in ("dataInputAssociation", "dataOutputAssociation"):
                self.check_data_association(doc, element, data_objects)
                if element.find("bpmn:assignment", NSMAP) is not None or \
                        element.find("bpmn:transformation", NSMAP) is not None:
                    self.warn(doc, "ignored-assignment", f"the assignment or transformation in a data association "
                                                         f"of {_label(element.getparent())} is ignored: the engine "
                                                         f"moves data by variable name", element)
            elif kind == "resourceAssignmentExpression":
                owner = next((a for a in element.iterancestors() if local_name(a.tag) in FLOW_NODES), None)
                if owner is not None:
                    self.warn(doc, "ignored-assignment", f"the performer expression of {_label(owner)} is ignored: "
                                                         f"the engine assigns tasks by its own rules", element)
            elif kind == "eventBasedGateway" and (element.get("instantiate") == "true"
                                                  or element.get("eventGatewayType") == "Parallel"):
                self.err(doc, "unsupported-element", f"{_label(element)}: instantiating or parallel event-based "
                                                     f"gateways are not executed by the engine", element)

    def check_reserved_id(self, doc: _Doc, element: etree._Element) -> None:
        element_id = element.get("id") or ""
        if element_id in RESERVED_IDS or element_id.endswith(_RESERVED_SUFFIXES):
            self.err(doc, "reserved-id", f"{_label(element)}: the id {element_id!r} collides with the engine's internal "
                                         f"task of the same name; rename the element", element)

    def check_expression(self, doc: _Doc, holder: etree._Element, what: str, code: str, mode: str = "eval") -> None:
        language = holder.get("language")
        if language and language.strip().lower() not in _PYTHON_LANGUAGES:
            self.err(doc, "expression-language", f"{what} is written in {language!r}; the engine evaluates Python "
                                                 f"expressions only", holder)
            return
        text = _text(holder) or ""
        problem = check_expression(text, mode, functions=self.functions)  # type: ignore[arg-type]
        if problem is None:
            return
        if text.strip().startswith("="):
            problem = (f"{text.strip()!r} is a FEEL expression (Camunda 8 / Zeebe); the engine evaluates Python, "
                       f"e.g. {text.strip()[1:].strip()!r} rewritten in Python")
        elif _JUEL.match(text.strip()):
            problem = (f"{text.strip()!r} is a JUEL/UEL expression (Camunda, Activiti); the engine evaluates Python, "
                       f"e.g. {text.strip()[2:-1].strip()!r}")
        elif mode == "eval" and "=" in text and check_expression(text.replace("=", "==", 1), mode,
                                                                 functions=self.functions) is None:
            problem = f"{problem} (use '==' to compare; '=' assigns)"
        self.err(doc, code, f"{what}: {problem}", holder)

    def check_script_task(self, doc: _Doc, task: etree._Element) -> None:
        script_format = task.get("scriptFormat")
        if script_format and script_format.strip().lower() not in _PYTHON_LANGUAGES:
            self.err(doc, "script-language", f"{_label(task)} is written in {script_format!r}; the engine runs "
                                             f"Python scripts only", task)
            return
        script = task.find("bpmn:script", NSMAP)
        if script is None or _text(script) is None:
            self.err(doc, "missing-script", f"{_label(task)} has no script", task)
            return
        self.check_expression(doc, script, f"script of {_label(task)}", "bad-script", mode="exec")

    def check_call_activity(self, doc: _Doc, call: etree._Element, executable: bool) -> None:
        called = call.get("calledElement")
        if not called:
            # Even a descriptive model must say what a call activity calls; Signavio keeps the name elsewhere.
            entry = call.find(".//{http://www.signavio.com}signavioMetaData[@metaKey='entry']")
            hint = ""
            if entry is not None and entry.get("metaValue"):
                hint = (f"; Signavio's 'entry' names {entry.get('metaValue')!r}, but no process of the deployed files "
                        f"is referenced by id")
            self.err(doc, "missing-called-process", f"{_label(call)} does not say which process it calls "
                                                     f"(no calledElement){hint}", call)
            return
        report = self.err if executable else self.warn
        called = called.split(":")[-1] if called not in self.processes else called
        if called in self.processes:
            target_doc, target = self.processes[called]
            if executable and not is_executable(target):
                self.err(doc, "missing-called-process", f"{_label(call)} calls {_label(target)} "
                                                        f"({target_doc.source}), which is not executable", call)
        elif called in self.global_tasks:
            if executable:
                self.err(doc, "unsupported-element", f"{_label(call)} calls global task {called!r}; global tasks are "
                                                     f"not executed by the engine", call)
        else:
            report(doc, "missing-called-process", f"{_label(call)} calls process {called!r}, which is not in the "
                                                  f"deployed files", call)

    def check_boundary_event(self, doc: _Doc, event: etree._Element) -> None:
        if not _event_definitions(event):
            self.err(doc, "invalid-boundary-event", f"{_label(event)} has no event definition (timer, message, "
                                                    f"error ...), so it can never fire", event)

    def check_cancel_event(self, doc: _Doc, definition: etree._Element) -> None:
        event = definition.getparent()
        if local_name(event.tag) == "boundaryEvent":
            host = event.getparent().find(f"*[@id='{event.get('attachedToRef')}']") if event.get("attachedToRef") else None
            inside_transaction = host is not None and local_name(host.tag) == "transaction"
        else:
            inside_transaction = any(local_name(a.tag) == "transaction" for a in event.iterancestors())
        if not inside_transaction:
            self.err(doc, "invalid-cancel-event", f"{_label(event)} is a cancel event outside a transaction; cancel "
                                                  f"events may only be used with transactions", event)

    def check_event_reference(self, doc: _Doc, definition: etree._Element) -> None:
        kind = local_name(definition.tag).replace("EventDefinition", "")
        ref = definition.get(f"{kind}Ref")
        if not ref:
            return
        targets = doc.ids.get(ref.split(":")[-1]) or doc.ids.get(ref)
        if not targets or local_name(targets[0].tag) != kind:
            owner = definition.getparent()
            self.err(doc, "missing-event-reference", f"{_label(owner)} refers to {kind} {ref!r}, which is not "
                                                     f"defined in the file", owner)

    def check_timer(self, doc: _Doc, definition: etree._Element) -> None:
        owner = definition.getparent()
        for tag in ("timeDate", "timeDuration", "timeCycle"):
            holder = definition.find(f"bpmn:{tag}", NSMAP)
            if holder is None:
                continue
            text = (_text(holder) or "").strip()
            what = f"timer {tag} of {_label(owner)}"
            if not text:
                self.err(doc, "bad-timer", f"{what} is empty", holder)
            elif _looks_like_unquoted_iso(text):
                self.err(doc, "bad-timer", f"{what}: {text!r} must be a quoted Python string, e.g. \"{text}\" "
                                           f"(timer expressions are Python)", holder)
            else:
                self.check_expression(doc, holder, what, "bad-timer")
                self._check_timer_constant(doc, holder, text, tag, what)
            return
        self.err(doc, "bad-timer", f"{_label(owner)} has a timer without timeDate, timeDuration or timeCycle", owner)

    def _check_timer_constant(self, doc: _Doc, holder: etree._Element, text: str, tag: str, what: str) -> None:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return  # not a constant: a variable or a function call, evaluated when the timer starts
        if not isinstance(value, str):
            self.err(doc, "bad-timer", f"{what} must be an ISO 8601 string, not {type(value).__name__} {value!r}",
                     holder)
            return
        try:
            check_timer_value(tag, value)
        except TimerOutOfRange as exc:
            self.err(doc, "bad-timer", f"{what}: {exc}", holder)
        except Exception:  # noqa: BLE001 - SpiffWorkflow raises bare Exception for bad durations
            kind, example = _TIMER_FORMATS[tag]
            self.err(doc, "bad-timer", f"{what}: {value!r} is not a valid ISO 8601 {kind} (e.g. {example})", holder)

    def check_multi_instance(self, doc: _Doc, loop: etree._Element) -> None:
        owner = loop.getparent()
        cardinality = loop.find("bpmn:loopCardinality", NSMAP)
        data_input = loop.find("bpmn:loopDataInputRef", NSMAP)
        if cardinality is None and data_input is None:
            self.err(doc, "invalid-multi-instance", f"{_label(owner)} is multi-instance but has neither a loop "
                                                    f"cardinality nor a loop data input", owner)
        elif cardinality is not None and data_input is not None:
            self.err(doc, "invalid-multi-instance", f"{_label(owner)} is multi-instance with both a loop cardinality "
                                                    f"and a loop data input; give exactly one", owner)
        elif cardinality is not None:
            self.check_expression(doc, cardinality, f"loop cardinality of {_label(owner)}", "bad-expression")
        for ref_tag in ("loopDataInputRef", "loopDataOutputRef"):
            ref = loop.find(f"bpmn:{ref_tag}", NSMAP)
            if ref is not None:
                name = _text(ref) or ""
                io_names = {e.get("name") for e in owner.iterfind("bpmn:ioSpecification/*", NSMAP)}
                io_spec = owner.find("bpmn:ioSpecification", NSMAP)
                if io_spec is not None and name not in io_names:
                    self.err(doc, "invalid-multi-instance", f"{_label(owner)}: the {ref_tag} {name!r} is not a data "
                                                            f"input or output of its ioSpecification", ref)
                elif not name.isidentifier():
                    self.err(doc, "invalid-multi-instance", f"{_label(owner)}: the {ref_tag} {name!r} must be the name "
                                                            f"of a task data variable", ref)
        completion = loop.find("bpmn:completionCondition", NSMAP)
        if completion is not None and _text(completion) is not None:
            self.check_expression(doc, completion, f"completion condition of {_label(owner)}", "bad-condition")

    def check_standard_loop(self, doc: _Doc, loop: etree._Element) -> None:
        owner = loop.getparent()
        condition = loop.find("bpmn:loopCondition", NSMAP)
        maximum = loop.get("loopMaximum")
        if (condition is None or _text(condition) is None) and maximum is None:
            self.err(doc, "invalid-loop", f"{_label(owner)} loops without a loop condition or loopMaximum, so it would "
                                          f"never stop", owner)
        if maximum is not None and not maximum.strip().isdigit():
            self.err(doc, "invalid-loop", f"{_label(owner)}: loopMaximum {maximum!r} is not a whole number", owner)
        if condition is not None and _text(condition) is not None:
            self.check_expression(doc, condition, f"loop condition of {_label(owner)}", "bad-condition")

    @staticmethod
    def _data_objects_by_scope(process: etree._Element) -> dict[str, set[str]]:
        """Data object ids visible in each scope (a scope sees its own and its ancestors' data objects)."""
        visible: dict[str, set[str]] = {}

        def walk(scope: etree._Element, inherited: set[str]) -> None:
            own = {c.get("id") for c in scope.iterfind("bpmn:dataObject", NSMAP) if c.get("id")}
            mine = inherited | own
            visible[scope.get("id") or ""] = mine
            for child in _children(scope):
                if local_name(child.tag) in SCOPES:
                    walk(child, mine)

        walk(process, set())
        return visible

    def check_data_association(self, doc: _Doc, association: etree._Element, visible: dict[str, set[str]]) -> None:
        task = association.getparent()
        reading = local_name(association.tag) == "dataInputAssociation"
        ref_holder = association.find("bpmn:sourceRef" if reading else "bpmn:targetRef", NSMAP)
        if ref_holder is None or not _text(ref_holder):
            return
        ref = _text(ref_holder) or ""
        direction = "reads" if reading else "writes"
        targets = doc.ids.get(ref)
        if not targets:
            self.err(doc, "unresolved-data-reference", f"{_label(task)} {direction} {ref!r}, which does not exist",
                     association)
            return
        target = targets[0]
        kind = local_name(target.tag)
        if kind in ("dataStoreReference", "dataStore"):
            self.err(doc, "unsupported-data-store", f"{_label(task)} {direction} {_label(target)}; data stores are "
                                                    f"not supported by the engine (keep the data in task data or data "
                                                    f"objects)", association)
        elif kind == "dataObjectReference" and not target.get("dataObjectRef"):
            self.err(doc, "unresolved-data-reference", f"{_label(task)} {direction} {_label(target)}, which does not "
                                                       f"say which data object it stands for (no dataObjectRef)",
                     association)
        elif kind == "dataObjectReference":
            object_id = target.get("dataObjectRef")
            scope = next((a for a in task.iterancestors() if local_name(a.tag) in SCOPES), None)
            if scope is None or object_id not in visible.get(scope.get("id") or "", set()):
                self.err(doc, "unresolved-data-reference", f"{_label(task)} {direction} {_label(target)}, whose data "
                                                           f"object {object_id!r} is not declared in this process or "
                                                           f"an enclosing one", association)
        elif kind != "dataObject":
            self.err(doc, "unresolved-data-reference", f"{_label(task)} {direction} {_label(target)}; the engine "
                                                       f"only moves data through data object references", association)

    def check_correlations(self, doc: _Doc) -> None:
        for holder in doc.root.iterfind(".//bpmn:correlationPropertyRetrievalExpression/*", NSMAP):
            if _text(holder) is not None:
                parent = holder.getparent().getparent()
                self.check_expression(doc, holder, f"correlation retrieval expression of {_label(parent)}",
                                      "bad-expression")

    # -- 6. diagram interchange ------------------------------------------------------------------------------
    def check_diagram(self, doc: _Doc) -> None:
        diagrams = doc.root.findall("bpmndi:BPMNDiagram", NSMAP)
        flow_nodes = [e for e in doc.root.iterfind(".//bpmn:process//*", NSMAP)
                      if local_name(e.tag) in FLOW_NODES and e.get("id")]
        if not diagrams:
            if flow_nodes:
                self.warn(doc, "missing-di", "the file has no diagram interchange (BPMNDiagram): the model would not "
                                             "render")
            return
        shown: set[str] = set()
        for item in doc.root.iterfind(".//bpmndi:BPMNDiagram//*[@bpmnElement]", NSMAP):
            ref = item.get("bpmnElement") or ""
            ref = ref if ref in doc.ids else ref.split(":")[-1]
            shown.add(ref)
            if ref not in doc.ids:
                self.warn(doc, "di-dangling", f"{local_name(item.tag)} {item.get('id')!r} draws {ref!r}, which is not "
                                              f"an element of the model", item)
        for item in doc.root.iterfind(".//bpmndi:BPMNDiagram//*", NSMAP):
            if local_name(item.tag) in ("BPMNShape", "BPMNEdge") and not item.get("bpmnElement"):
                self.warn(doc, "di-dangling", f"{local_name(item.tag)} {item.get('id')!r} does not say which element "
                                              f"it draws (no bpmnElement)", item)
        undrawn = [node for node in flow_nodes if node.get("id") not in shown]
        if len(undrawn) > 5:
            listed = ", ".join(repr(n.get("id")) for n in undrawn[:5])
            self.warn(doc, "missing-di", f"{len(undrawn)} flow nodes have no diagram shape (BPMNShape), so they would "
                                         f"not render: {listed} ...", undrawn[0])
        else:
            for node in undrawn:
                self.warn(doc, "missing-di", f"{_label(node)} has no diagram shape (BPMNShape): it would not render",
                          node)

    # -- 7. SpiffWorkflow ------------------------------------------------------------------------------------
    def check_with_spiffworkflow(self) -> None:
        try:
            parse_trees([(doc.source, doc.root) for doc in self.docs])
        except BpmnLoadError as exc:
            self.problems.extend(exc.problems)
        except Exception as exc:  # noqa: BLE001
            self.problems.append(error("engine-parse", f"the engine could not load the model: "
                                                       f"{type(exc).__name__}: {exc}", self.docs[0].source))

