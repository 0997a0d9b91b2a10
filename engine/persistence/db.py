"""Database engine and schema migrations (Alembic).

The default is an embedded SQLite file; set ``GONGAI_DATABASE_URL`` (or pass a URL) for PostgreSQL.
``migrate()`` brings any database to the current schema with Alembic, so a fresh file and an old one
are handled the same way.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, InvalidatePoolError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_URL = "sqlite:///gongai.db"


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("GONGAI_DATABASE_URL") or DEFAULT_URL


class DatabaseConfigError(RuntimeError):
    """The database URL cannot be used (malformed, or its driver is not installed); the message says what to do."""


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (or ``GONGAI_DATABASE_URL``); a bad URL or missing driver is one clear error."""
    url = database_url(url)
    for plain in ("postgresql://", "postgres://"):  # the driver gongai ships with (the postgres extra): psycopg 3
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain):]
    try:
        return _make_engine(url)
    except ModuleNotFoundError as exc:
        raise DatabaseConfigError(
            f"the database driver '{exc.name}' is not installed: for PostgreSQL run pip install 'gongai[postgres]' "
            "(psycopg 3; URLs look like postgresql+psycopg://user:password@host/database)") from None
    except ArgumentError:  # its message would repeat the URL, password included
        raise DatabaseConfigError(
            "GONGAI_DATABASE_URL / --db is not a usable database URL: expected e.g. "
            "postgresql+psycopg://user:password@host/database or sqlite:///gongai.db") from None


def _make_engine(url: str) -> Engine:
    from engine.persistence.tables import json_column_text, json_column_value

    json_codec = {"json_serializer": json_column_text, "json_deserializer": json_column_value}  # orjson (issue 14)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **json_codec)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            # let SQLAlchemy manage transactions; WAL lets readers work while one writer commits
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and "mode=memory" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            # A writing unit of work (``UnitOfWork()``) takes the write lock at BEGIN, so concurrent writers
            # queue instead of failing when a read lock is upgraded; every other connection (queries, token
            # look-ups, reports, ``UnitOfWork(read_only=True)``) begins deferred and never waits for a writer (WAL).
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("gongai_write") else "BEGIN")

        return engine
    engine = create_engine(url, **json_codec)
    _ping_idle_connections(engine)
    return engine


#: A pooled connection idle at least this long is checked (a round trip) before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "gongai_idle_since"


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use only when it has been idle for :data:`PING_AFTER_IDLE_SECONDS`.

    SQLAlchemy's ``pool_pre_ping`` pings at every check-out: a round trip to the server before each transaction,
    two or three per completed task (issue 14). A connection checked in less than a second ago worked then; one
    idle longer (across a database restart, say) is pinged as before, and a failed ping replaces it and every
    older pooled connection, so the first request after an outage works. A connection that died within the second
    fails its request with the usual 503 (and the pool is renewed).
    """

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_connection, record) -> None:  # pragma: no cover - trivial
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get(_IDLE_SINCE)  # a new connection (info is per DBAPI connection) has none
        if idle_since is not None and time.monotonic() - idle_since >= PING_AFTER_IDLE_SECONDS:
            if not engine.dialect._do_ping_w_event(dbapi_connection):  # False: the server went away
                raise InvalidatePoolError("a pooled connection failed its ping: the server restarted")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = None
    config.attributes["engine"] = engine
    return config


#: The PostgreSQL advisory lock key migrations hold (any constant; "gongai" in ASCII).
MIGRATION_LOCK = 0x676F6E676169


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest schema (``gongai db upgrade``), one process at a time.

    Several processes starting together on a new database must not all create the tables: the migration runs
    in one transaction that first takes a lock — a transaction-scoped advisory lock on PostgreSQL, the write
    lock (BEGIN IMMEDIATE) on SQLite — so the others wait, then find the schema current and do nothing.
    """
    config = alembic_config(engine)
    with engine.connect() as connection:
        connection = connection.execution_options(gongai_write=True)  # SQLite: BEGIN IMMEDIATE (see make_engine)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def is_current(engine: Engine) -> bool:
    """Whether the database schema is at the newest migration (for readiness checks)."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(script.get_heads())


def missing_schema(engine: Engine) -> list[str]:
    """Tables and indexes ``tables.metadata`` defines that the database lacks (empty when complete).

    The migration head alone does not prove the indexes are there (an operator may have dropped one; a database
    may have been migrated by a draft of a migration), and the analytics queries name theirs (SQLite
    ``INDEXED BY``): a missing one would fail every report instead of only slowing it.
    """
    from engine.persistence import tables as t

    present, indexes = _schema_names(engine)
    missing = [f"table {name}" for name in t.metadata.tables if name not in present]
    for name, table in t.metadata.tables.items():
        if name in present:
            missing += [f"index {ix.name}" for ix in table.indexes if ix.name not in indexes]
    return missing


def _schema_names(engine: Engine) -> tuple[set[str], set[str]]:
    """Every table name and index name of the database in one catalogue query (expression indexes included,
    which SQLAlchemy's SQLite reflection skips): readiness probes call this every few seconds, so it must not
    reflect table by table (≈ 0.7 s on SQLite for the whole schema)."""
    from sqlalchemy import text

    if engine.dialect.name == "sqlite":
        query = "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')"
    elif engine.dialect.name == "postgresql":
        query = ("SELECT 'table', tablename FROM pg_tables WHERE schemaname = current_schema() "
                 "UNION ALL SELECT 'index', indexname FROM pg_indexes WHERE schemaname = current_schema()")
    else:  # any other dialect: SQLAlchemy's reflection, slower but general
        from sqlalchemy import inspect

        inspector = inspect(engine)
        tables = set(inspector.get_table_names())
        return tables, {ix["name"] for name in tables for ix in inspector.get_indexes(name)}
    tables: set[str] = set()
    indexes: set[str] = set()
    with engine.connect() as conn:
        for kind, name in conn.execute(text(query)):
            (tables if kind == "table" else indexes).add(name)
    return tables, indexes

