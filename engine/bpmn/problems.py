"""What is wrong with a model, and where.

Every check in :mod:`engine.bpmn.validation` reports through :class:`Problem` rather than raising, so that an
administrator deploying a model drawn elsewhere sees *all* that is wrong with it in one pass, each finding
naming the file, the line and the element, with a stable ``code`` that tests, the API and the manifest of
conformance outcomes can match on without depending on the wording of the message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding about a model.

    ``code`` is a short, stable slug (``dangling-flow``, ``xml-doctype`` ...); ``message`` is for people and
    names the ids involved. ``line`` and ``element_id`` are ``None`` when the finding is about the whole file.
    """

    severity: Severity
    code: str
    message: str
    source: str
    line: int | None = None
    element_id: str | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.severity} [{self.code}] {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def error(code: str, message: str, source: str, line: int | None = None, element_id: str | None = None) -> Problem:
    """Shorthand for an error :class:`Problem` (keeps the checks readable)."""
    return Problem("error", code, message, source, line, element_id)


def warning(code: str, message: str, source: str, line: int | None = None, element_id: str | None = None) -> Problem:
    """Shorthand for a warning :class:`Problem`."""
    return Problem("warning", code, message, source, line, element_id)


@dataclass
class ValidationReport:
    """All problems found in a set of model files; the models may be deployed when :attr:`ok`."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings do not block deployment)."""
        return not any(p.is_error for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def codes(self) -> set[str]:
        return {p.code for p in self.problems}

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.as_dict() for p in self.problems],
        }


class BpmnLoadError(Exception):
    """A model file (or set of files) cannot be loaded; carries the :class:`Problem` objects that say why.

    Raised by :func:`engine.bpmn.safe_xml.parse_xml` and :func:`engine.bpmn.parsing.parse_models`; the
    validator turns it back into report entries, the API into a 422 response.
    """

    def __init__(self, problems: Problem | Iterable[Problem]) -> None:
        self.problems: list[Problem] = [problems] if isinstance(problems, Problem) else list(problems)
        if not self.problems:
            raise ValueError("BpmnLoadError needs at least one problem")
        super().__init__(str(self.problems[0]))

    @property
    def problem(self) -> Problem:
        """The first (usually only) problem."""
        return self.problems[0]

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.problems)
