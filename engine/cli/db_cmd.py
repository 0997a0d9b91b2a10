"""``gongai db upgrade`` / ``gongai db status``: the database schema, for operators.

Run ``gongai db upgrade`` once before starting the API processes and workers of a new release; the
processes also upgrade on start-up, under a lock, so two starting together on a new database both come up.
"""

from __future__ import annotations

from typing import Optional

import typer

from engine.cli import app

db_app = typer.Typer(help="Database schema: upgrade to this release, show the current revision.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DB_HELP = "Database URL (default: $GONGAI_DATABASE_URL or sqlite:///gongai.db)."


def _revisions(engine) -> tuple[set[str], set[str]]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from engine.persistence.db import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current, heads


@db_app.command("upgrade")
def upgrade(db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Bring the database to this release's schema (safe to run while another process does the same)."""
    from engine.persistence.db import make_engine, migrate

    engine = make_engine(db)
    before, _ = _revisions(engine)
    migrate(engine)
    after, _ = _revisions(engine)
    state = "already current" if before == after else f"upgraded from {', '.join(sorted(before)) or 'an empty database'}"
    typer.echo(f"database at {', '.join(sorted(after))} ({state})")


@db_app.command("status")
def status(db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Show the database's schema revision and whether it is this release's; exit 1 when behind."""
    from engine.persistence.db import make_engine

    current, heads = _revisions(make_engine(db))
    if current == heads:
        typer.echo(f"database at {', '.join(sorted(current))} (current)")
        return
    typer.echo(f"database at {', '.join(sorted(current)) or 'no schema'}; this release needs "
               f"{', '.join(sorted(heads))}: run `gongai db upgrade`")
    raise typer.Exit(1)
