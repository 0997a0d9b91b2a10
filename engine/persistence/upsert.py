"""``upsert``: the one INSERT … ON CONFLICT helper every repository writes through.

Its own module so that the repositories (``uow``) and the facet registry (``facets``) share it without importing
each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select
from sqlalchemy import update as sa_update  # ``upsert`` has a parameter named update

__all__ = ["upsert"]


def upsert(conn: Connection, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str], *,
           update: bool = True) -> None:
    """Insert ``rows`` or update them where their ``keys`` exist, in one executemany statement.

    Uses INSERT … ON CONFLICT DO UPDATE, which SQLite (3.24+) and PostgreSQL both have; a step writes its
    changed rows in one round trip instead of an UPDATE-then-INSERT pair per row. ``update=False`` keeps
    existing rows as they are (ON CONFLICT DO NOTHING), for rows that never change once written. The statement
    is built once per (dialect, table, keys, columns) and reused: building ``excluded`` and its column
    collection cost more than executing it (issue 14).
    """
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - other databases: portable but slower
        for row in rows:
            where = and_(*(table.c[k] == row[k] for k in keys))
            if conn.execute(select(func.count()).select_from(table).where(where)).scalar():
                if update:
                    conn.execute(sa_update(table).where(where).values(**row))
            else:
                conn.execute(insert(table).values(**row))
        return
    columns = tuple(c for c in rows[0] if c not in keys) if update else ()
    conn.execute(_upsert_statement(dialect, table, tuple(keys), columns, update), list(rows))


_UPSERTS: dict[tuple[Any, ...], Any] = {}


def _upsert_statement(dialect: str, table: Any, keys: tuple[str, ...], columns: tuple[str, ...], update: bool) -> Any:
    cache_key = (dialect, table.name, keys, columns, update)
    statement = _UPSERTS.get(cache_key)
    if statement is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(table)
        index = [table.c[k] for k in keys]
        if update:
            excluded = statement.excluded
            statement = statement.on_conflict_do_update(index_elements=index, set_={c: excluded[c] for c in columns})
        else:
            statement = statement.on_conflict_do_nothing(index_elements=index)
        _UPSERTS[cache_key] = statement
    return statement
