"""``gongai audit verify``: check the event log's hash chains (engine/persistence/audit.py)."""

from __future__ import annotations

from typing import Optional

import typer

from engine.cli import app

audit_app = typer.Typer(help="The tamper-evident event log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: $GONGAI_DATABASE_URL or sqlite:///gongai.db)."),
    project: Optional[str] = typer.Option(None, "--project", help="Only this project's chain."),
) -> None:
    """Recompute every chain; name each edited, deleted or inserted event. Exit 1 if any."""
    from engine.persistence.audit import verify as check
    from engine.persistence.db import make_engine

    engine = make_engine(db)
    with engine.connect() as conn:
        checked, problems = check(conn, project_id=project)
    for problem in problems:
        typer.echo(problem)
    if problems:
        typer.echo(f"audit chain BROKEN: {len(problems)} problem(s) in {checked} event(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {checked} event(s) checked")
