"""A throwaway PostgreSQL server for the integration tests (pytest fixture ``pg_url``).

The project runs on SQLite by default and must run on PostgreSQL too, so the test set-up brings its own
server instead of assuming one: it finds the server binaries (``/usr/lib/postgresql/*/bin``), installs them
with apt when they are missing and the tests run as root on Debian (as CI does, on a clean machine), creates
a cluster in a temporary directory, starts it on a free localhost port, and removes it at the end. One
cluster serves the whole session; each test module gets its own database.

initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` system user (created if
needed) and the server commands run through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    pass


def _say(message: str) -> None:
    # visible even with pytest's output capture (set-up of a session fixture)
    sys.stderr.write(f"\n[pg_server] {message}\n")
    sys.stderr.flush()


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL server installation's bin directory, or None."""
    candidates = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").exists():
            try:
                major = int(bindir.parent.name)
            except ValueError:
                major = 0
            candidates.append((major, bindir))
    if candidates:
        return max(candidates)[1]
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    return None


def install_server() -> Path:
    """apt-get install postgresql (root on Debian only); returns the bin directory or raises."""
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed and the tests are not running as root, "
            "so they cannot install them: run `apt-get install postgresql` (Debian/Ubuntu) or run the tests as root")
    if shutil.which("apt-get") is None:
        raise PostgresUnavailable("PostgreSQL server binaries are not installed and this machine has no apt-get: "
                                  "install PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql/<v>/bin)")
    _say("PostgreSQL is not installed: installing it once with apt-get (postgresql) for the integration tests …")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise PostgresUnavailable(f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stderr[-2000:]}")
    bindir = find_bin_dir()
    if bindir is None:
        raise PostgresUnavailable("apt-get installed postgresql but no initdb/pg_ctl was found under /usr/lib/postgresql")
    _say(f"PostgreSQL installed: {bindir}")
    return bindir


def _server_user() -> str | None:
    """The user the cluster runs as: None for a non-root user (itself), else the ``postgres`` system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false", SERVER_USER],
                       check=True, capture_output=True)
    return SERVER_USER


def _run(command: list[str], user: str | None, **kwargs) -> subprocess.CompletedProcess:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise PostgresUnavailable(f"`{' '.join(command)}` failed ({result.returncode}):\n"
                                  f"{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One running throwaway cluster; :meth:`create_database` hands out SQLAlchemy URLs."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="gongai-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.superuser = self.user or pwd.getpwuid(os.geteuid()).pw_name

    def start(self, settings: str = "") -> None:
        """Start the cluster; ``settings`` adds server options (``-c work_mem=256MB …``, as the bench does)."""
        if self.user is not None:
            uid = pwd.getpwnam(self.user)
            os.chmod(self.root, 0o755)
            os.chown(self.root, uid.pw_uid, uid.pw_gid)
        _run([str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.superuser,
              "-E", "UTF8", "--locale=C", "--no-sync"], self.user)
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off " \
                  f"-c synchronous_commit=off -c full_page_writes=off {settings}".strip()
        self.options = options
        self.resume()

    def pause(self) -> None:
        """Stop the server but keep its data (a database restart, as an operator's maintenance would be)."""
        _run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], self.user)

    def resume(self) -> None:
        """Start the (initialised) cluster again on the same port."""
        _run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
              "-o", self.options, "-w", "-t", "60", "start"], self.user)

    def stop(self) -> None:
        try:
            _run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], self.user)
        except PostgresUnavailable as exc:  # pragma: no cover - best effort on tear-down
            _say(f"stopping PostgreSQL failed: {exc}")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        from sqlalchemy import create_engine, text

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)


def start_server(settings: str = "") -> PostgresServer:
    bindir = find_bin_dir() or install_server()
    server = PostgresServer(bindir)
    server.start(settings)
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("the PostgreSQL tests need psycopg 3: install the test extra (pip install -e '.[test]')",
                    pytrace=False)
    try:
        server = start_server()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL integration tests need a server and none could be set up: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh, empty database on the session's throwaway server (SQLAlchemy URL, psycopg 3 driver)."""
    return pg_server.create_database()
