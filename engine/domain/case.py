"""情形 (the case): the questions an owner answers at filing, and the validation of its answers.

A project's case — investment mode, land supply, protection zones, 环评 category, thresholds, what a
区域评估 already covers — is what decides which matters it must do (the decision table in
``workflows/rules/``). The questions are catalogue data (``workflows/case.yaml``), so a reform office adds
or rewords one without code; this module only knows the four answer types and checks each answer against
its question, naming the question in every problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

_AsciiId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
AnswerType = Literal["choice", "multi", "bool", "number"]


class CaseError(ValueError):
    """Answers that do not fit the questions; ``problems`` are ``(question id, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"case.{qid}: {msg}" for qid, msg in problems))


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: _AsciiId
    label: str = Field(min_length=1)
    project_types: tuple[str, ...] | None = None
    """Offered only to these project types (None: to every type)."""

    def offered_to(self, project_type: str) -> bool:
        return self.project_types is None or project_type in self.project_types


class CaseQuestion(BaseModel):
    """One question of the 情形 questionnaire (一张表单 starts from it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: _AsciiId
    label: str = Field(min_length=1)
    type: AnswerType
    required: StrictBool = True
    choices: tuple[Choice, ...] = ()
    default: Any = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    """Default answer per project type (overrides ``default``)."""
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    help: str | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CaseQuestion:
        if self.type in ("choice", "multi") and not self.choices:
            raise ValueError(f"question {self.id}: a {self.type} question needs choices")
        if self.type not in ("choice", "multi") and self.choices:
            raise ValueError(f"question {self.id}: only choice/multi questions have choices")
        if self.type != "number" and (self.min is not None or self.max is not None):
            raise ValueError(f"question {self.id}: min/max are for number questions")
        for where, value in [("default", self.default), *((f"defaults.{k}", v) for k, v in self.defaults.items())]:
            if value is not None and self._problem(value, project_type=None) is not None:
                raise ValueError(f"question {self.id}: {where} {value!r} is not a valid answer")
        return self

    def default_for(self, project_type: str) -> Any:
        return self.defaults.get(project_type, self.default)

    def offered_choices(self, project_type: str) -> list[Choice]:
        return [c for c in self.choices if c.offered_to(project_type)]

    def _problem(self, value: Any, *, project_type: str | None) -> str | None:
        """Why ``value`` is not an answer to this question (None when it is)."""
        if self.type == "bool":
            return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return f"expected a finite number, got {value!r}"
            if self.min is not None and value < self.min:
                return f"{value} is below the minimum {self.min:g}"
            if self.max is not None and value > self.max:
                return f"{value} is above the maximum {self.max:g}"
            return None
        choices = self.choices if project_type is None else tuple(self.offered_choices(project_type))
        allowed = [c.value for c in choices]
        values = value if self.type == "multi" else [value]
        if self.type == "multi" and not isinstance(value, list):
            return f"expected a list of {', '.join(allowed)}, got {value!r}"
        bad = [v for v in values if v not in allowed]
        if bad:
            scope = f" for project type {project_type}" if project_type else ""
            return f"{', '.join(map(repr, bad))} is not allowed{scope} (allowed: {', '.join(allowed)})"
        if self.type == "multi" and len(set(values)) != len(values):
            return "an item is listed twice"
        return None

    def to_view(self, project_type: str) -> dict[str, Any]:
        """The question as a form shows it to an owner of ``project_type``."""
        return {
            "id": self.id, "label": self.label, "type": self.type, "required": self.required,
            "choices": [{"value": c.value, "label": c.label} for c in self.offered_choices(project_type)],
            "default": self.default_for(project_type), "unit": self.unit, "min": self.min, "max": self.max,
            "help": self.help, "source": self.source,
        }


class CaseQuestionnaire(BaseModel):
    """Every question of the catalogue, in the order the form asks them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: tuple[CaseQuestion, ...]

    @model_validator(mode="after")
    def _unique(self) -> CaseQuestionnaire:
        ids = [q.id for q in self.questions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate question id(s): {', '.join(dupes)}")
        return self

    def ids(self) -> list[str]:
        return [q.id for q in self.questions]

    def for_type(self, project_type: str) -> list[dict[str, Any]]:
        return [q.to_view(project_type) for q in self.questions]

    def validate_answers(self, project_type: str, answers: Mapping[str, Any] | None) -> dict[str, Any]:
        """The complete, checked case of a project: every answer valid, defaults filled in.

        Raises :class:`CaseError` naming every unknown, missing or invalid answer at once, so an owner
        corrects its form in one go (一次性告知 applies to forms too).
        """
        answers = dict(answers or {})
        problems: list[tuple[str, str]] = []
        known = {q.id for q in self.questions}
        for qid in sorted(set(answers) - known):
            problems.append((qid, f"unknown question (known: {', '.join(self.ids())})"))
        case: dict[str, Any] = {}
        for q in self.questions:
            value = answers.get(q.id, None)
            if value is None:
                value = q.default_for(project_type)
            if value is None:
                if q.required:
                    problems.append((q.id, f"required: {q.label}"))
                continue
            problem = q._problem(value, project_type=project_type)
            if problem:
                problems.append((q.id, f"{problem}（{q.label}）"))
                continue
            case[q.id] = list(value) if q.type == "multi" else value
        if problems:
            raise CaseError(problems)
        return case
