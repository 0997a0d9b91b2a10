"""``gongai rules``: check an edited matter-selection table, and try a case against it, before it is used.

A reform office edits ``workflows/rules/*.dmn`` in dmn-js / Camunda Modeler, then runs
``gongai rules check FILE`` (every fault named by row and column; exit 1 when the table cannot be used) and
``gongai rules preview --project-type T --case case.json [--rules FILE]`` (which matters that case would do,
with the 依据 of each) — the same code the service runs at start and at filing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.cli import app

rules_app = typer.Typer(help="Check and try the matter-selection decision table (DMN).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


def _catalogue(profile: str):
    from engine.domain.catalogue import CatalogueError, load_catalogue

    try:
        return load_catalogue(profile)
    except CatalogueError as exc:
        typer.echo(f"profile {profile!r}: {exc}", err=True)
        raise typer.Exit(2) from None


@rules_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="A decision table (.dmn).", exists=True, dir_okay=False)],
    profile: Annotated[str, typer.Option("--profile", help="Catalogue profile whose questions and matters it must use.")] = "default",
) -> None:
    """Validate a decision table against the catalogue's questions and matters; one line per problem."""
    from engine.bpmn.dmn import DecisionTableError, DmnMatterRules

    catalogue = _catalogue(profile)
    try:
        rules = DmnMatterRules.for_catalogue(catalogue, file)
    except DecisionTableError as exc:
        for problem in exc.problems:
            typer.echo(f"{file}: {problem}")
        typer.echo(f"{file}: {len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}; refused")
        raise typer.Exit(1) from None
    typer.echo(f"{file}: ok — {len(rules.matters)} matters decided (rules version {rules.version})")


@rules_app.command("preview")
def preview(
    project_type: Annotated[str, typer.Option("--project-type", help="Project type id.")],
    case: Annotated[Optional[Path], typer.Option("--case", help="JSON file of 情形 answers (question id → answer).")] = None,
    rules: Annotated[Optional[Path], typer.Option("--rules", help="A decision table to try instead of the profile's.")] = None,
    profile: Annotated[str, typer.Option("--profile")] = "default",
) -> None:
    """Which matters a case would do, per stage, with the rule and 依据 that decided each."""
    from engine.bpmn.dmn import DecisionTableError, DmnMatterRules
    from engine.domain.case import CaseError
    from engine.domain.catalogue import UnknownIdError
    from engine.domain.plan import PlanConflict, build_plan
    from engine.services.approval import load_matter_rules

    catalogue = _catalogue(profile)
    try:
        answers = json.loads(case.read_text(encoding="utf-8")) if case else {}
        table = DmnMatterRules.for_catalogue(catalogue, rules) if rules else load_matter_rules(catalogue)
        checked = catalogue.case.validate_answers(catalogue.project_type(project_type).id, answers)
        plan = build_plan(catalogue, project_type, catalogue.route_stages(project_type), checked, table)
    except (CaseError, DecisionTableError, PlanConflict, UnknownIdError, json.JSONDecodeError, OSError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    for stage in plan.stages:
        typer.echo(f"{stage} {catalogue.stage(stage).name}")
        for m in (p for p in plan.matters if p.stage == stage):
            mark = "办理  " if m.selected else "不办理"
            where = f"{m.rule.id}" + (f" row {m.rule.row}" if m.rule.row else "")
            typer.echo(f"  {mark} {m.matter_id:<34} {m.name}　依据：{m.rule.text}（{where}）")


@rules_app.command("deploy")
def deploy(
    file: Annotated[Path, typer.Argument(help="A decision table (.dmn).", exists=True, dir_okay=False)],
    profile: Annotated[str, typer.Option("--profile", help="The profile (jurisdiction) the table is for.")] = "default",
    db: Annotated[Optional[str], typer.Option("--db", help="Database URL (default: $GONGAI_DATABASE_URL or sqlite:///gongai.db).")] = None,
) -> None:
    """Publish a decision table for a profile (as POST /admin/rules): checked first, refused with every fault."""
    from engine.clock import SystemClock
    from engine.cli.report_cmd import open_db
    from engine.domain.actors import Actor
    from engine.domain.workcalendar import WorkCalendar
    from engine.services.approval import ApprovalService
    from engine.services.errors import ServiceError
    from engine.services.rules import deploy_rules

    service = ApprovalService(open_db(db), catalogue=_catalogue(profile), calendar=WorkCalendar.default(),
                              clock=SystemClock())
    try:
        result = deploy_rules(service, file.read_bytes(), profile=profile, actor=Actor("cli", "admin"))
    except ServiceError as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            typer.echo(f"{file}: {problem}", err=True)
        typer.echo(f"{file}: refused; nothing was deployed", err=True)
        raise typer.Exit(1) from None
    state = "deployed" if result["created"] else "already deployed"
    typer.echo(f"{file}: profile {result['profile']} rules version {result['version']} "
               f"({result['rules_version']}) {state}; new filings of {result['profile']} use it")
