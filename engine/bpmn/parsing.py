"""Turn model files into SpiffWorkflow process specs: the one loading path for the validator and the runtime.

Both ``gongai validate`` and deployment through the API go through :func:`parse_models`, so a model that
validates is exactly a model the runtime can load. Files are parsed by :mod:`engine.bpmn.safe_xml` (never by
SpiffWorkflow's own ``etree.parse``), and every SpiffWorkflow parse failure is turned into a
:class:`~engine.bpmn.problems.Problem` naming the file, the line and the element: SpiffWorkflow's
``ValidationException`` knows the element but reads its line from an attribute lxml never sets, and several
of its messages do not say which element they are about.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec

from engine.bpmn.problems import BpmnLoadError, Problem, error
from engine.bpmn.safe_xml import DEFAULT_MAX_BYTES, parse_xml
from engine.bpmn.timers import install as _install_timer_bounds

_install_timer_bounds()  # every model runs after being parsed here: SpiffWorkflow's timers are bounded from now on

__all__ = [
    "BPMN_NS",
    "NSMAP",
    "ParsedModels",
    "make_parser",
    "parse_models",
    "parse_trees",
    "is_executable",
    "local_name",
    "namespace_of",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
NSMAP = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS}


def local_name(tag: Any) -> str:
    """``{ns}name`` -> ``name`` (comments and processing instructions have no string tag: ``""``)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def namespace_of(tag: Any) -> str | None:
    """``{ns}name`` -> ``ns`` (``None`` without a namespace or for comments)."""
    return tag[1:tag.index("}")] if isinstance(tag, str) and tag.startswith("{") else None


def is_executable(process: etree._Element) -> bool:
    """SpiffWorkflow's reading of ``isExecutable``: a process is executable unless it says ``false``.

    BPMN gives the attribute no default; SpiffWorkflow treats a missing one as ``true`` and so do we, so that
    a model whose author forgot the attribute is checked as the executable model it will be run as.
    """
    return process.get("isExecutable", "true") == "true"


class GongaiBpmnParser(BpmnParser):
    """SpiffWorkflow's plain ``BpmnParser`` with one change: unknown data stores do not fail the whole file.

    The stock parser refuses any file declaring a ``dataStore`` it has no implementation for, even when the
    store is only drawn in a descriptive (non-executable) process. The engine implements no data stores;
    the validator refuses executable processes that *use* one, with the element named.
    """

    def _add_data_stores(self, bpmn: Any) -> None:
        for data_store in bpmn.xpath(".//bpmn:dataStore", namespaces=self.namespaces):
            name = data_store.get("name")
            if name in self.DATA_STORE_CLASSES:
                spec = self.DATA_STORE_CLASSES[name](data_store.get("id"), name, data_store.get("capacity"),
                                                     data_store.get("isUnlimited"))
                self.data_stores[data_store.get("id")] = spec


def make_parser() -> BpmnParser:
    """The parser used for validation and at run time (no SpiffWorkflow XSD step: ours gives better messages)."""
    return GongaiBpmnParser()


@dataclass
class ParsedModels:
    """The process specs of a set of model files.

    ``specs`` holds every parsed spec by id: the executable processes and, under their element ids, the
    embedded sub-processes and called processes they need. ``executable`` lists the ids of the executable
    top-level processes in file order; ``entry_points`` those of them no call activity calls.
    """

    specs: dict[str, BpmnProcessSpec]
    executable: list[str]
    called: set[str] = field(default_factory=set)
    sources: dict[str, str] = field(default_factory=dict)
    subprocesses: dict[str, dict[str, BpmnProcessSpec]] = field(default_factory=dict)
    parser: BpmnParser | None = None

    @property
    def entry_points(self) -> list[str]:
        top = [pid for pid in self.executable if pid not in self.called]
        return top or list(self.executable)

    def subprocess_specs(self, process_id: str) -> dict[str, BpmnProcessSpec]:
        """The specs SpiffWorkflow's ``BpmnWorkflow(spec, subprocess_specs)`` needs for ``process_id``."""
        return dict(self.subprocesses.get(process_id, {}))


def parse_models(sources: Sequence[tuple[str, bytes]], *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedModels:
    """Safely parse every ``(file name, bytes)`` and build the SpiffWorkflow specs of the executable processes.

    Raises :class:`BpmnLoadError` listing every problem found (all files are tried before raising).
    """
    roots: list[tuple[str, etree._Element]] = []
    problems: list[Problem] = []
    for name, data in sources:
        try:
            roots.append((name, parse_xml(data, source=name, max_bytes=max_bytes)))
        except BpmnLoadError as exc:
            problems.extend(exc.problems)
    if problems:
        raise BpmnLoadError(problems)
    return parse_trees(roots)


def parse_trees(roots: Sequence[tuple[str, etree._Element]]) -> ParsedModels:
    """:func:`parse_models` for documents already parsed by :func:`~engine.bpmn.safe_xml.parse_xml`."""
    problems: list[Problem] = []
    locator = _Locator(roots)
    parser = make_parser()
    process_sources: dict[str, str] = {}
    executable: list[str] = []
    called: set[str] = set()
    for name, root in roots:
        if root.tag != f"{{{BPMN_NS}}}definitions":
            problems.append(not_bpmn_problem(root, name))
            continue
        try:
            parser.add_bpmn_xml(root, filename=name)
        except Exception as exc:  # noqa: BLE001 - any parser failure becomes a problem, never a crash
            problems.append(problem_from_exception(exc, name, locator))
            continue
        for process in root.iterfind(f"{{{BPMN_NS}}}process"):
            pid = process.get("id")
            if pid is None:
                continue
            process_sources[pid] = name
            if is_executable(process):
                executable.append(pid)
            called.update(a.get("calledElement") for a in process.iter(f"{{{BPMN_NS}}}callActivity")
                          if a.get("calledElement"))
    for name, root in roots:
        problems.extend(_undeclared_data_objects(root, name))
    specs: dict[str, BpmnProcessSpec] = {}
    subprocesses: dict[str, dict[str, BpmnProcessSpec]] = {}
    if not problems:
        for pid in executable:
            source = process_sources[pid]
            try:
                specs[pid] = parser.get_spec(pid)
                subprocesses[pid] = parser.get_subprocess_specs(pid)
            except Exception as exc:  # noqa: BLE001
                problems.append(problem_from_exception(exc, source, locator, process_id=pid))
                continue
            for sub_id, sub_spec in subprocesses[pid].items():
                if sub_spec is not None:
                    specs.setdefault(sub_id, sub_spec)
    if problems:
        raise BpmnLoadError(_dedupe(problems))
    return ParsedModels(specs=specs, executable=executable, called=called, sources=process_sources,
                        subprocesses=subprocesses, parser=parser)


def _undeclared_data_objects(root: etree._Element, source: str) -> list[Problem]:
    """Data object references whose data object is not declared in their process or an enclosing sub-process.

    SpiffWorkflow 3.2 loops forever resolving such a reference inside a sub-process
    (``NodeParser._resolve_data_object_ref`` re-reads the same parent), so this is checked before it parses.
    """
    if root.tag != f"{{{BPMN_NS}}}definitions":
        return []
    problems: list[Problem] = []
    scopes = {"process", "subProcess", "transaction", "adHocSubProcess"}
    for process in root.iterfind(f"{{{BPMN_NS}}}process"):
        if not is_executable(process):
            continue
        for reference in process.iter(f"{{{BPMN_NS}}}dataObjectReference"):
            wanted = reference.get("dataObjectRef")
            visible = {obj.get("id") for scope in reference.iterancestors() if local_name(scope.tag) in scopes
                       for obj in scope.iterfind(f"{{{BPMN_NS}}}dataObject")}
            if wanted not in visible:
                problems.append(error("unresolved-data-reference",
                                      f"data object reference {reference.get('id')!r} stands for data object "
                                      f"{wanted!r}, which is not declared in its process or an enclosing one",
                                      source, reference.sourceline, reference.get("id")))
    return problems


def not_bpmn_problem(root: etree._Element, source: str) -> Problem:
    """The problem for a well-formed XML document that is not a BPMN 2.0 ``definitions``."""
    qname = etree.QName(root.tag)
    if qname.namespace in (BPMN_NS, BPMNDI_NS):
        prefix = "bpmn" if qname.namespace == BPMN_NS else "bpmndi"
        return error("not-bpmn", f"not a complete BPMN model: this is a fragment whose root element is "
                                 f"<{prefix}:{qname.localname}>; a model file must have <bpmn:definitions> as its root",
                     source, root.sourceline)
    if qname.localname == "definitions" and qname.namespace and "DMN" in qname.namespace.upper():
        what = f"a DMN decision model ({qname.namespace})"
    elif qname.localname == "definitions":
        what = f"<definitions> in namespace {qname.namespace or '(none)'!r}"
    elif qname.localname == "schema":
        what = "an XML Schema"
    else:
        what = f"<{qname.localname}>" + (f" in namespace {qname.namespace!r}" if qname.namespace else "")
    return error("not-bpmn", f"not a BPMN 2.0 model: the root element is {what}, not <definitions> in "
                             f"namespace {BPMN_NS!r}", source, root.sourceline)


class _Locator:
    """Finds the line of an element by id (SpiffWorkflow exceptions carry ids, not lines)."""

    def __init__(self, roots: Sequence[tuple[str, etree._Element]]) -> None:
        self._by_source: dict[str, dict[str, int | None]] = {}
        for name, root in roots:
            index: dict[str, int | None] = {}
            for element in root.iter():
                element_id = element.get("id") if isinstance(element.tag, str) else None
                if element_id is not None and element_id not in index:
                    index[element_id] = element.sourceline
            self._by_source[name] = index

    def line(self, source: str, element_id: str | None) -> int | None:
        if not element_id:
            return None
        return self._by_source.get(source, {}).get(element_id)

    def find(self, element_id: str) -> tuple[str, int | None] | None:
        for source, index in self._by_source.items():
            if element_id in index:
                return source, index[element_id]
        return None


_CODES: tuple[tuple[str, str], ...] = (
    (r"no support implemented for this task type", "unsupported-element"),
    (r"No start event found", "no-start-event"),
    (r"Exactly one start event is required", "subprocess-start-events"),
    (r"SubWorkflow Must contain an End event", "subprocess-no-end"),
    (r"The process '.*' was not found", "missing-called-process"),
    (r"No \"calledElement\" attribute", "missing-called-process"),
    (r"Duplicate process ID", "duplicate-id"),
    (r"Non-default exclusive outgoing sequence flow without condition", "missing-condition"),
    (r"Cancel Events may only be used with transactions", "invalid-cancel-event"),
    (r"multiinstance task must specify", "invalid-multi-instance"),
    (r"loop (input|output) data reference is missing", "invalid-multi-instance"),
    (r"loopMaximum or loopCondition", "invalid-loop"),
    (r"Data Store", "unsupported-data-store"),
    (r"Cannot resolve data(Input|Output)Association", "unresolved-data-reference"),
    (r"Multiple outgoing flows are not supported", "multiple-outgoing"),
    (r"is not executable", "not-executable"),
    (r"Time Specification Error|Unknown Time Specification", "bad-timer"),
    (r"No Script Provided", "missing-script"),
    (r"Unsupported Catch Event", "invalid-boundary-event"),
    (r"Expected a(n)? (Message|Signal|Error|Escalation) node", "missing-event-reference"),
    (r"Conditional event definition with missing condition", "missing-condition"),
    (r"Ad hoc subprocess|ordering for ad hoc", "unsupported-element"),
)


def problem_from_exception(exc: BaseException, source: str, locator: _Locator | None = None, *,
                           process_id: str | None = None) -> Problem:
    """Translate a SpiffWorkflow (or any) parse exception into a specific :class:`Problem`."""
    raw = str(exc.args[0]) if exc.args else str(exc)
    element_id = getattr(exc, "id", None) or None
    tag = getattr(exc, "tag", "") or ""
    file_name = getattr(exc, "file_name", "") or source
    code = next((c for pattern, c in _CODES if re.search(pattern, raw)), "engine-parse")
    if not isinstance(exc, ValidationException) and code == "engine-parse":
        raw = f"{type(exc).__name__}: {raw}"
    line = locator.line(file_name, element_id) if locator is not None else None
    if code == "missing-called-process":
        match = re.search(r"The process '(.*?)' was not found", raw)
        if match and locator is not None:
            raw = f"called process {match.group(1)!r} is not in the deployed files"
    # SpiffWorkflow prints lxml elements in a few messages ("<Element {...}targetRef at 0x7f...>").
    raw = re.sub(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-f]+>", r"<\1>", raw).rstrip(". ")
    subject = f"{tag} {element_id!r}" if element_id else (f"process {process_id!r}" if process_id else "")
    message = f"{subject}: {raw}" if subject else raw
    return error(code, message, file_name, line, element_id)


def _dedupe(problems: Sequence[Problem]) -> list[Problem]:
    seen: set[tuple[str, str, int | None]] = set()
    unique: list[Problem] = []
    for problem in problems:
        key = (problem.source, problem.message, problem.line)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique

