"""``gongai versions list`` / ``gongai versions migrate``: running projects and definition versions."""

from __future__ import annotations

from typing import List, Optional

import typer

from engine.cli import app

versions_app = typer.Typer(help="Definition versions and moving running projects between them.", no_args_is_help=True)
app.add_typer(versions_app, name="versions")
DB_HELP = "Database URL (default: $GONGAI_DATABASE_URL or sqlite:///gongai.db)."


def _service(db: Optional[str]):
    from engine.cli.report_cmd import open_db
    from engine.domain.catalogue import load_catalogue
    from engine.services.approval import ApprovalService

    return ApprovalService(open_db(db), catalogue=load_catalogue())


@versions_app.command("list")
def list_versions(db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
                  process: str = typer.Option("project_approval", "--process")) -> None:
    """Deployed versions and how many running projects each has."""
    from sqlalchemy import func, select

    from engine.persistence import tables as t

    service = _service(db)
    with service.db.connect() as conn:
        rows = conn.execute(
            select(t.definitions.c.version, t.definitions.c.deployed_at, t.definitions.c.deployed_by,
                   func.count(t.projects.c.id))
            .select_from(t.definitions.outerjoin(t.projects, (t.projects.c.definition_id == t.definitions.c.id)
                                                 & (t.projects.c.status == "running")))
            .where(t.definitions.c.process_id == process).group_by(t.definitions.c.id).order_by(t.definitions.c.version)
        ).all()
    for version, at, by, running in rows:
        typer.echo(f"version {version}  deployed {at:%Y-%m-%d %H:%M} by {by or '-'}  running projects: {running}")


@versions_app.command("migrate")
def migrate(
    project: List[str] = typer.Option([], "--project", help="A project to move (repeatable); default: every "
                                                              "running project on an older version."),
    to: Optional[int] = typer.Option(None, "--to", help="Target version (default: the newest)."),
    mapping: List[str] = typer.Option([], "--map", help="OLD_ID=NEW_ID for an element renamed in the new version "
                                                        "(repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say whether each move is possible."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    process: str = typer.Option("project_approval", "--process"),
) -> None:
    """Move running projects to a new definition version; a project the change does not allow is refused
    (exit 1) with the tasks that have no counterpart."""
    from engine.domain.actors import Actor
    from engine.services.errors import ServiceError
    from engine.services.versions import migrate_project, running_on_older_versions

    pairs = {}
    for item in mapping:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            typer.echo(f"error: --map {item!r}: expected OLD_ID=NEW_ID", err=True)
            raise typer.Exit(2)
        pairs[old] = new
    service = _service(db)
    targets = project or running_on_older_versions(service, process)
    refused = 0
    for pid in targets:
        try:
            result = migrate_project(service, pid, to_version=to, mapping=pairs, actor=Actor("cli", "admin"),
                                     dry_run=dry_run)
            typer.echo(f"{pid}: {result['detail']}")
        except ServiceError as exc:
            refused += 1
            typer.echo(f"{pid}: refused: {exc}")
    typer.echo(f"{len(targets) - refused} of {len(targets)} project(s) {'can move' if dry_run else 'moved or current'}")
    if refused:
        raise typer.Exit(1)
