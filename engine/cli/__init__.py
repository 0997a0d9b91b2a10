"""The ``gongai`` command line: thin entry points over the service layer.

Each sub-command lives in its own module of this package and registers itself on :data:`app`.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="gongai",
    help="gongai — BPMN engine for engineering-project approval (工程建设项目审批).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that register commands on ``app``; a module that does not exist yet is simply not offered.
_COMMAND_MODULES = (
    "engine.cli.validate_cmd",
    "engine.cli.layout_cmd",
    "engine.cli.run_cmds",
    "engine.cli.report_cmd",
    "engine.cli.serve_cmd",
    "engine.cli.users_cmd",
    "engine.cli.simulate_cmd",
    "engine.cli.analytics_cmd",
    "engine.cli.rules_cmd",
    "engine.cli.db_cmd",
    "engine.cli.audit_cmd",
    "engine.cli.backup_cmd",
    "engine.cli.versions_cmd",
)

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a command is being built
        if exc.name != _name:
            raise


def main() -> None:
    from engine.persistence.db import DatabaseConfigError

    try:
        app()
    except DatabaseConfigError as exc:  # one line, not a traceback: the operator's configuration is wrong
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
