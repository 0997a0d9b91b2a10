"""Online backups of the embedded SQLite database (``gongai backup``).

Copying a live SQLite file is not a backup: in WAL mode recent commits live in ``gongai.db-wal`` until a
checkpoint, so a copied ``gongai.db`` alone silently loses them (the issue measured 40 % of events). SQLite's
online backup API copies the database *as of one transaction*, including what is still in the WAL, while the
API and the workers go on writing; the copy is then switched to a single self-contained file (rollback
journal) and checked with ``PRAGMA integrity_check``. PostgreSQL is backed up with its own tools (pg_dump;
docs/operations.md).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """The backup could not be made; the message says why and what to do."""


def sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(f"gongai backup copies SQLite databases; {parsed.get_backend_name()} is backed up with "
                          "its own tools (PostgreSQL: pg_dump -Fc, see docs/operations.md#backup-and-restore)")
    if not parsed.database or parsed.database == ":memory:" or "mode=memory" in str(parsed):
        raise BackupError("an in-memory database cannot be backed up")
    path = Path(parsed.database)
    if not path.exists():
        raise BackupError(f"{path}: no such database file")
    return path


def backup_sqlite(url: str, target: Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Copy the live database at ``url`` to ``target`` consistently; returns what was copied."""
    source_path = sqlite_path(url)
    target = Path(target)
    if target.resolve() == source_path.resolve():
        raise BackupError(f"{target}: the backup must not be the database itself")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose a new file name (or --overwrite)")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(str(source_path), timeout=30)
    try:
        copy = sqlite3.connect(str(partial))
        try:
            source.backup(copy)  # all pages in one step: a snapshot of one transaction, WAL content included
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, safe to copy around
            status = copy.execute("PRAGMA integrity_check").fetchone()[0]
            events = copy.execute("SELECT count(*) FROM events").fetchone()[0]
            projects = copy.execute("SELECT count(*) FROM projects").fetchone()[0]
        finally:
            copy.close()
    finally:
        source.close()
    if status != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its integrity check: {status}")
    os.replace(partial, target)
    return {"source": str(source_path), "target": str(target), "bytes": target.stat().st_size,
            "projects": projects, "events": events}
