"""``gongai backup FILE``: a consistent copy of the live SQLite database (engine/ops/backup.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from engine.cli import app


@app.command()
def backup(
    target: Path = typer.Argument(..., help="The backup file to write (a new SQLite file)."),
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: $GONGAI_DATABASE_URL or sqlite:///gongai.db)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing backup file."),
) -> None:
    """Back up the SQLite database while gongai keeps serving (online backup API); PostgreSQL: use pg_dump."""
    from engine.ops.backup import BackupError, backup_sqlite
    from engine.persistence.db import database_url

    try:
        done = backup_sqlite(database_url(db), target, overwrite=overwrite)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"backed up {done['source']} to {done['target']}: {done['projects']} project(s), "
               f"{done['events']} event(s), {done['bytes']} bytes (integrity ok)")
