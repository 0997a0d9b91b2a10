"""``gongai report``: stage and whole-process timing statistics from an existing database."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.console import Console

from engine.cli import app


def open_db(url: str | None) -> Any:
    """The command's database (option, else $GONGAI_DATABASE_URL, else sqlite:///gongai.db), migrated."""
    from engine.persistence.db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    return engine


@app.command()
def report(
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: $GONGAI_DATABASE_URL or sqlite:///gongai.db)."),
    fmt: str = typer.Option("table", "--format", help="table | json | csv"),
    profile: str = typer.Option("default", "--profile", help="Catalogue profile used for stage and type names."),
) -> None:
    """Stage timing report: count, mean/median/P90 of span and approval working days, overdue rate."""
    from engine.domain.catalogue import load_catalogue
    from engine.simulation.report import build_report, render_tables, to_csv, to_json

    if fmt not in ("table", "json", "csv"):
        Console(stderr=True).print(f"[red]error:[/red] --format must be table, json or csv, not {fmt!r}", highlight=False)
        raise typer.Exit(1)
    try:
        catalogue = load_catalogue(profile)
    except (KeyError, ValueError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] profile {profile!r}: {' '.join(str(exc).split())}", highlight=False)
        raise typer.Exit(1) from None
    data = build_report(open_db(db), catalogue)
    if fmt == "json":
        typer.echo(to_json(data))
    elif fmt == "csv":
        typer.echo(to_csv(data), nl=False)
    else:
        console = Console()
        for table in render_tables(data):
            console.print(table)
