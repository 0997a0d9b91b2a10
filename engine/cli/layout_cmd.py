"""``gongai layout``: draw a fresh diagram (BPMN DI) into hand-written models, or check that they have one.

Models are written semantically, then opened and maintained in Camunda Modeler / bpmn.io, which show only
elements that have DI. ``gongai layout FILE...`` rewrites each file in place with a new automatic layout;
``--check`` changes nothing and fails (exit 1) if any flow node, sequence flow, lane or pool lacks DI, so
CI can insist that committed models open in a modeller. Files that are not BPMN documents exit with 2.

``gongai modeller-prepare FILE...`` makes hand-written models survive a load and save in the modeller
(:mod:`engine.bpmn.modeller`): XML comments become ``bpmn:documentation``, multi-instance loop variables are
declared as process properties. ``--check`` changes nothing and exits 1 if a file still needs it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import typer

from engine.bpmn.layout import LayoutError, check_di, layout_definitions
from engine.bpmn.modeller import prepare_for_modeller
from engine.cli import app

_SHOWN_IDS = 10


@app.command("layout")
def layout(
    files: list[Path] = typer.Argument(..., help="BPMN files to lay out (rewritten in place).",
                                       exists=True, dir_okay=False, readable=True),
    check: bool = typer.Option(False, "--check",
                               help="Do not write; exit 1 listing files where an element has no DI."),
) -> None:
    """Lay out BPMN diagrams automatically (replaces any existing diagram), or check DI with --check."""
    failed_check: list[Path] = []
    broken = False
    for path in files:
        try:
            data = path.read_bytes()
            if check:
                missing = check_di(data)
                if missing:
                    failed_check.append(path)
                    shown = ", ".join(missing[:_SHOWN_IDS])
                    more = f" (and {len(missing) - _SHOWN_IDS} more)" if len(missing) > _SHOWN_IDS else ""
                    typer.echo(f"{path}: no diagram for {len(missing)} element(s): {shown}{more}")
                continue
            result = layout_definitions(data)
        except (LayoutError, OSError) as exc:
            typer.echo(f"{path}: error: {exc}", err=True)
            broken = True
            continue
        if result == data:
            typer.echo(f"{path}: unchanged")
        else:
            _replace(path, result)
            typer.echo(f"{path}: laid out")
    if broken:
        raise typer.Exit(2)
    if failed_check:
        raise typer.Exit(1)
    if check:
        typer.echo(f"{len(files)} file(s) have a diagram for every element")


@app.command("modeller-prepare")
def modeller_prepare(
    files: list[Path] = typer.Argument(..., help="BPMN files to prepare (rewritten in place).",
                                       exists=True, dir_okay=False, readable=True),
    check: bool = typer.Option(False, "--check", help="Do not write; exit 1 listing files that need it."),
) -> None:
    """Make models survive bpmn.io / Camunda Modeler: XML comments to bpmn:documentation, loop variables
    declared as bpmn:property (the modeller drops comments and unresolvable loopDataInputRef/OutputRef)."""
    needs: list[Path] = []
    broken = False
    for path in files:
        try:
            data = path.read_bytes()
            result, changes = prepare_for_modeller(data)
        except (LayoutError, OSError) as exc:
            typer.echo(f"{path}: error: {exc}", err=True)
            broken = True
            continue
        what = []
        if changes.documented:
            what.append(f"{len(changes.documented)} comment(s) to documentation of {', '.join(changes.documented)}")
        if changes.declared:
            what.append(f"loop variable(s) declared as properties: {', '.join(changes.declared)}")
        if changes.kept_comments:
            what.append(f"{changes.kept_comments} comment(s) outside any element kept (the modeller drops them)")
        if not changes.changed:
            typer.echo(f"{path}: unchanged" + (f" ({'; '.join(what)})" if what else ""))
            continue
        needs.append(path)
        if check:
            typer.echo(f"{path}: needs preparing: {'; '.join(what)}")
        else:
            _replace(path, result)
            typer.echo(f"{path}: {'; '.join(what)}")
    if broken:
        raise typer.Exit(2)
    if check and needs:
        raise typer.Exit(1)


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a crash never leaves half a model) keeping its permissions."""
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
