"""``gongai report``: stage and whole-process timing statistics from an existing database."""

from __future__ import annotations

from pathlib import Path
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


def write_chart_files(engine: Any, folder: Path, catalogue: Any, gantts: int = 3, now: Any = None) -> list[Path]:
    """The analytics charts as SVG and PNG (engine/analytics/charts.py); a note on stderr when no CJK font."""
    from engine.analytics.charts import cjk_font, write_charts

    if cjk_font() is None:
        Console(stderr=True).print("[yellow]note:[/yellow] the shipped CJK font (engine/analytics/fonts) is missing "
                                   "and no installed font draws Chinese: chart labels are in English", highlight=False)
    paths = write_charts(engine, folder, catalogue=catalogue, gantt_projects=gantts, now=now)
    Console(stderr=True).print(f"wrote {len(paths)} chart files to {folder}", highlight=False)
    return paths


@app.command()
def report(
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: $GONGAI_DATABASE_URL or sqlite:///gongai.db)."),
    fmt: str = typer.Option("table", "--format", help="table | json | csv"),
    profile: str = typer.Option("default", "--profile", help="Catalogue profile used for stage and type names."),
    charts: Optional[Path] = typer.Option(None, "--charts", help="Also write the charts (SVG and PNG) into this folder."),
    gantts: int = typer.Option(3, "--gantts", min=0, help="With --charts: Gantt charts of the N slowest projects."),
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
    engine = open_db(db)
    data = build_report(engine, catalogue)
    if charts is not None:
        write_chart_files(engine, charts, catalogue, gantts)
    if fmt == "json":
        typer.echo(to_json(data))
    elif fmt == "csv":
        typer.echo(to_csv(data), nl=False)
    else:
        console = Console()
        for table in render_tables(data):
            console.print(table)
