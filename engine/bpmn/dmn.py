"""The matter-selection decision table (DMN 1.3), evaluated by SpiffWorkflow's DMN engine in the sandbox.

A reform office edits ``workflows/rules/matter_selection.dmn`` in dmn-js / Camunda Modeler: one row per
rule, the first column the matter, the others the case answers (情形), the outputs 是否办理 (``applies``)
and 依据 (``basis``). Hit policy FIRST: for each matter the first matching row decides. This module

* validates a table before anyone uses it — every problem names its row (and rule id) and column, so a
  broken edit is refused with a message a non-programmer can act on;
* answers :meth:`DmnMatterRules.decide` for :func:`engine.domain.plan.build_plan`, using SpiffWorkflow's
  :class:`DMNEngine` (we do not hand-write a DMN evaluator) with the sandboxed script engine, so a cell
  can do nothing a BPMN expression could not.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import SpiffWorkflow.dmn.parser
from lxml import etree
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser
from SpiffWorkflow.dmn.specs.model import DecisionTable
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.bpmn.problems import BpmnLoadError
from engine.bpmn.safe_xml import parse_xml
from engine.bpmn.sandbox import ExpressionRejected, check_expression, make_script_engine
from engine.domain.catalogue import Catalogue
from engine.domain.plan import RuleDecision

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
_SCHEMA = Path(SpiffWorkflow.dmn.parser.__file__).parent / "schema" / "DMN13.xsd"
_QUESTION = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")
#: Names a cell may read besides the case answers.
BUILT_IN_NAMES = ("matter", "project_type")


class DecisionTableError(ValueError):
    """A decision table that cannot be used; ``problems`` name the row and column of each fault."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid decision table:\n" + "\n".join(f"  {p}" for p in problems))


class _ScriptEngine:
    """The sandbox as DMNEngine expects it: a rejected expression is a SyntaxError (DMNEngine retries it
    with the input on the left, ``input >= 20000``), everything else runs in the sandbox."""

    def __init__(self) -> None:
        self._engine = make_script_engine({})

    def validate(self, text: str) -> None:
        try:
            self._engine.validate(text)
        except ExpressionRejected as exc:
            raise SyntaxError(str(exc)) from None

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        return self._engine.evaluate(task, expression, external_context=external_context)


@dataclass
class _Workflow:
    script_engine: _ScriptEngine
    data_objects: dict[str, Any]


@dataclass
class _Facts:
    """What DMNEngine reads of a task: its data and its workflow's script engine."""

    data: dict[str, Any]
    workflow: _Workflow
    task_spec: Any = None  # DMNEngine names it in its error notes


class DmnMatterRules:
    """The matter-selection rules of one jurisdiction (implements :class:`engine.domain.plan.MatterRules`)."""

    def __init__(self, table: DecisionTable, *, version: str, source: str) -> None:
        self.version = version
        self.source = source
        self._engine = _ScriptEngine()
        self._by_matter: dict[str, DMNEngine] = {}
        matter_col = _matter_column(table)
        groups: dict[str, list[Any]] = {}
        for rule in table.rules:
            groups.setdefault(_literal(rule.inputEntries[matter_col].text), []).append(rule)
        for matter_id, rules in groups.items():
            sub = DecisionTable(table.id, table.name, table.hit_policy)
            sub.inputs, sub.outputs, sub.rules = table.inputs, table.outputs, rules
            self._by_matter[matter_id] = DMNEngine(sub)

    @classmethod
    def for_catalogue(cls, catalogue: Catalogue, path: Path | None = None, *, data: bytes | None = None,
                      source: str | None = None) -> DmnMatterRules:
        """The table at ``path`` (default: the profile's own) — or ``data``, a table an administrator uploads —
        checked against this catalogue's questions and matters. The one check: service start, filing with a
        deployed table, ``gongai rules check`` and the admin upload all come here."""
        if data is None:
            path = path or catalogue.matter_rules_path
            data, source = path.read_bytes(), source or str(path)
        return cls.from_bytes(data, source=source or "upload", question_ids=catalogue.case.ids(),
                              matter_ids=list(catalogue.matters))

    @classmethod
    def load(cls, path: Path, *, question_ids: Collection[str], matter_ids: Collection[str]) -> DmnMatterRules:
        return cls.from_bytes(path.read_bytes(), source=str(path), question_ids=question_ids, matter_ids=matter_ids)

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str, question_ids: Collection[str],
                   matter_ids: Collection[str]) -> DmnMatterRules:
        """Parse and validate; raise :class:`DecisionTableError` listing every problem with row and column."""
        table = parse_table(data, source=source)
        problems = check_table(table, question_ids=question_ids, matter_ids=matter_ids)
        if problems:
            raise DecisionTableError(source, problems)
        return cls(table, version=hashlib.sha256(data).hexdigest()[:16], source=source)

    @property
    def matters(self) -> list[str]:
        return list(self._by_matter)

    def decide(self, matter_id: str, facts: Mapping[str, Any]) -> RuleDecision | None:
        engine = self._by_matter.get(matter_id)
        if engine is None:
            return None
        task = _Facts(data={**facts, "matter": matter_id}, workflow=_Workflow(self._engine, {}))
        try:
            rules = engine.decide(task)
        except (SpiffWorkflowException, Exception) as exc:  # noqa: BLE001 - named and re-raised
            raise DecisionTableError(self.source, [f"matter {matter_id}: a rule failed on this case: {exc}"]) from None
        if not rules:
            return None
        rule = rules[0]
        out = rule.output_as_dict(task)
        return RuleDecision(applies=bool(out.get("applies")), rule_id=rule.id, row=rule.row_number,
                            basis=str(out.get("basis") or ""))


# --------------------------------------------------------------------------- parsing and checking

def parse_table(data: bytes, *, source: str) -> DecisionTable:
    """The one decision table of a DMN 1.3 file (safe XML, XSD-checked), as SpiffWorkflow parses it."""
    try:
        root = parse_xml(data, source=source)
    except BpmnLoadError as exc:
        raise DecisionTableError(source, [str(p) for p in exc.problems]) from None
    if etree.QName(root).namespace != DMN13:
        raise DecisionTableError(source, [f"not a DMN 1.3 file (namespace {etree.QName(root).namespace!r}, expected {DMN13})"])
    schema = etree.XMLSchema(etree.parse(str(_SCHEMA)))
    if not schema.validate(root):
        raise DecisionTableError(source, [f"line {e.line}: {e.message}" for e in schema.error_log])
    parser = BpmnDmnParser()
    try:
        parser.add_dmn_xml(root, filename=source)
        dmn = next(iter(parser.dmn_parsers.values()))
        dmn.parse()
    except (SpiffWorkflowException, StopIteration, KeyError, SyntaxError) as exc:
        raise DecisionTableError(source, [str(exc) or "no decision found"]) from None
    tables = dmn.decision.decisionTables
    if len(tables) != 1:
        raise DecisionTableError(source, [f"expected one decision table, found {len(tables)}"])
    return tables[0]


def _matter_column(table: DecisionTable) -> int:
    for i, column in enumerate(table.inputs):
        if (column.expression or "").strip() == "matter":
            return i
    raise DecisionTableError("", ["no input column with expression 'matter' (the first column names the matter)"])


def _literal(text: str | None) -> str:
    try:
        value = ast.literal_eval((text or "").strip())
    except (ValueError, SyntaxError):
        return ""
    return value if isinstance(value, str) else ""


def check_table(table: DecisionTable, *, question_ids: Collection[str], matter_ids: Collection[str]) -> list[str]:
    """Every fault of ``table`` as "row N (rule id), column 'label': message" lines (empty: usable)."""
    problems: list[str] = []
    names = set(question_ids) | set(BUILT_IN_NAMES)
    if table.hit_policy not in ("FIRST", "UNIQUE"):
        problems.append(f"hit policy {table.hit_policy}: use FIRST (the first matching row decides)")
    try:
        matter_col = _matter_column(table)
    except DecisionTableError as exc:
        return problems + exc.problems
    outputs = {o.name: i for i, o in enumerate(table.outputs)}
    for wanted in ("applies", "basis"):
        if wanted not in outputs:
            problems.append(f"output column named {wanted!r} missing (是否办理 → applies, 依据 → basis)")
    for column in table.inputs:
        label = column.label or column.id
        why = check_expression(column.expression, functions=())
        unknown = _names(column.expression) - names
        if why:
            problems.append(f"column {label!r}: input expression {column.expression!r}: {why}")
        elif unknown:
            problems.append(f"column {label!r}: input expression reads {', '.join(sorted(unknown))}, which no "
                            f"case question defines (questions: {', '.join(sorted(question_ids))})")
    listed: set[str] = set()
    for rule in table.rules:
        where = f"row {rule.row_number} ({rule.id})"
        if len(rule.inputEntries) != len(table.inputs) or len(rule.outputEntries) != len(table.outputs):
            problems.append(f"{where}: has {len(rule.inputEntries)} input and {len(rule.outputEntries)} output "
                            f"cells; the table has {len(table.inputs)} and {len(table.outputs)} columns")
            continue
        matter = _literal(rule.inputEntries[matter_col].text)
        if matter not in matter_ids:
            problems.append(f"{where}, column {table.inputs[matter_col].label!r}: "
                            f"{rule.inputEntries[matter_col].text!r} is not a catalogue matter id")
        listed.add(matter)
        for i, entry in enumerate(rule.inputEntries):
            if i == matter_col or (entry.text or "-").strip() in ("", "-"):
                continue
            why = _cell_problem(table.inputs[i].expression or "", entry.text, names)
            if why:
                problems.append(f"{where}, column {table.inputs[i].label!r}: {entry.text!r}: {why}")
        if "applies" in outputs:
            text = (rule.outputEntries[outputs["applies"]].text or "").strip()
            if text not in ("True", "False"):
                problems.append(f"{where}, column {table.outputs[outputs['applies']].label!r}: {text!r}: "
                                "must be True or False")
        if "basis" in outputs:
            text = rule.outputEntries[outputs["basis"]].text or ""
            if not _literal(text).strip():
                problems.append(f"{where}, column {table.outputs[outputs['basis']].label!r}: {text!r}: "
                                "must be a quoted, non-empty text (the 依据 a clerk reads)")
    for matter in sorted(set(matter_ids) - listed):
        problems.append(f"matter {matter!r} has no row: every catalogue matter is decided by the table "
                        "(add a row, with 是否办理 False if it is never done here)")
    return problems


def _names(expression: str | None) -> set[str]:
    try:
        tree = ast.parse((expression or "").strip(), mode="eval")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {"True", "False", "None"}


def _cell_problem(input_expr: str, cell: str, names: set[str]) -> str | None:
    """Why a cell cannot be evaluated the way DMNEngine will evaluate it (None when it can)."""
    if _QUESTION.search(cell):
        expr = _QUESTION.sub("dmninputexpr", cell)
        scope = names | {"dmninputexpr"}
    elif check_expression(cell, functions=()) is None:
        expr = f"({input_expr}) == ({cell})"
        scope = names
    else:
        expr = f"{input_expr} {cell}"
        scope = names
    why = check_expression(expr, functions=())
    if why:
        return why
    unknown = _names(expr) - scope
    return f"reads {', '.join(sorted(unknown))}, which no case question defines" if unknown else None
