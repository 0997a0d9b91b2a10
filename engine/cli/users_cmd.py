"""``gongai users add | list | revoke | reissue``: API users and their bearer tokens (shown once)."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from engine.cli import app

users_app = typer.Typer(help="Manage API users (tokens are stored hashed and shown once).", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _store(db: str | None):
    from engine.domain.catalogue import load_catalogue
    from engine.persistence.db import make_engine, migrate
    from engine.services.users import UserStore

    engine = make_engine(db)
    migrate(engine)
    return UserStore(engine, departments=load_catalogue().departments)


def _operator() -> str:
    """Who ran the command, for the audit chain: ``cli:<operating-system user>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # pragma: no cover - no user name (some containers)
        return "cli"


@users_app.command("add")
def add(
    name: str = typer.Argument(..., help="user id; an owner's name is its owner_id"),
    role: str = typer.Option(..., "--role", help="owner, agent, window, agency, lead, analyst or admin"),
    department: Optional[str] = typer.Option(None, "--department", help="agency / lead officers: their department"),
    owner: List[str] = typer.Option([], "--owner", help="agents: an owner who authorised them (repeatable)"),
    db: Optional[str] = typer.Option(None, "--db", help="database URL (default: GONGAI_DATABASE_URL or sqlite:///gongai.db)"),
) -> None:
    """Create a user and print its token — once; it cannot be shown again."""
    from engine.services.errors import ServiceError

    try:
        user, token = _store(db).add(name, role, department=department, owner_ids=owner, by=_operator())
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created {user['role']} '{user['name']}'" + (f" of {user['department']}" if user["department"] else "")
               + (f" for {', '.join(user['owner_ids'])}" if user["owner_ids"] else ""), err=True)
    typer.echo("token (shown once, store it now):", err=True)
    typer.echo(token)


@users_app.command("list")
def list_users(
    db: Optional[str] = typer.Option(None, "--db", help="database URL"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List users (never their tokens)."""
    rows = _store(db).list()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for u in rows:
        extra = u["department"] or ", ".join(u["owner_ids"]) or ""
        typer.echo(f"{u['name']:<24} {u['role']:<8} {extra:<20} {'disabled' if u['disabled'] else ''}".rstrip())


@users_app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="the user whose token stops working now"),
    db: Optional[str] = typer.Option(None, "--db", help="database URL"),
) -> None:
    """Revoke a user's token (the user stays, named in the event log; `reissue` gives it a new token)."""
    from engine.services.errors import ServiceError

    try:
        _store(db).disable(name, by=_operator())
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked the token of '{name}'", err=True)


@users_app.command("reissue")
def reissue(
    name: str = typer.Argument(..., help="the user who gets a new token (an expired or revoked one)"),
    db: Optional[str] = typer.Option(None, "--db", help="database URL"),
) -> None:
    """Issue a new token for a user and print it — once; the old token stops working."""
    from engine.services.errors import ServiceError

    try:
        _, token = _store(db).reissue(name, by=_operator())
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"new token for '{name}' (shown once, store it now; it expires after GONGAI_TOKEN_TTL_DAYS, default 90):",
               err=True)
    typer.echo(token)
