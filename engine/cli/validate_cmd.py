"""``gongai validate FILE...``: check BPMN models before deploying them.

Runs exactly the validator the deploy API uses (:func:`engine.bpmn.validation.validate_paths`) over the
files given, treated as one deployment (so call activities may call processes in the other files). Prints
one line per problem and a summary, and exits 1 when there is an error (or, with ``--strict``, a warning).
Whatever the files contain, it never prints a traceback: an unexpected failure is reported as a problem.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from engine.bpmn.problems import Problem, ValidationReport, error
from engine.bpmn.validation import validate_paths
from engine.cli import app


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="BPMN files deployed together (.bpmn, .bpmn20.xml, .xml).",
                                                show_default=False)],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: Annotated[OutputFormat, typer.Option("--format", help="Output as text lines or one JSON document.",
                                                 case_sensitive=False)] = OutputFormat.text,
) -> None:
    """Check BPMN models: safe XML, BPMN schema, structure, supported elements, expressions, diagram."""
    try:
        report = validate_paths(files)
    except Exception as exc:  # noqa: BLE001 - the validator should never raise; if it does, say so plainly
        report = ValidationReport([error("internal-error", f"the validator failed unexpectedly: "
                                                           f"{type(exc).__name__}: {exc}", str(files[0]))])
    failed = not report.ok or (strict and bool(report.problems))
    if output is OutputFormat.json:
        document = report.as_dict()
        document["strict"] = strict
        document["ok"] = not failed
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        for problem in report.problems:
            typer.echo(_line(problem, strict))
        typer.echo(_summary(report, len(files), strict, failed))
    raise typer.Exit(code=1 if failed else 0)


def _line(problem: Problem, strict: bool) -> str:
    if strict and not problem.is_error:
        return str(problem).replace(": warning [", ": error [", 1)
    return str(problem)


def _summary(report: ValidationReport, file_count: int, strict: bool, failed: bool) -> str:
    errors, warnings = len(report.errors), len(report.warnings)
    files_text = f"{file_count} file{'s' if file_count != 1 else ''}"
    counts = f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
    verdict = "refused" if failed else "ok"
    if failed and strict and not errors:
        verdict = "refused (--strict: warnings count as errors)"
    return f"{files_text}: {counts}; {verdict}"
