"""A real browser and a real server for the page tests (fixtures ``live`` and ``browser``).

The test set-up brings what it needs, as tests/pg_server.py does for PostgreSQL: Debian's ``chromium`` package
(installed with apt-get when missing and the tests run as root on Debian, as CI does) driven by Playwright for
Python through ``executable_path`` — no browser build is ever downloaded (``playwright install`` is never run) —
and the web assets (``assets/build.sh``, from the npm registry) when ``make assets`` has not built them yet.

The app runs under uvicorn in a thread of the test process on a free port, on a temporary SQLite database and
a :class:`VirtualClock` the test moves forward (time passes between the steps, as it would in an office).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = ROOT / "test-artifacts"


def _say(message: str) -> None:
    sys.stderr.write(f"\n[browser] {message}\n")
    sys.stderr.flush()


def ensure_chromium() -> str:
    """The system chromium's path, installing Debian's package once if it is missing (root only)."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail("the browser tests need Debian's chromium (/usr/bin/chromium): run `apt-get install chromium` "
                    "or run the tests as root on Debian so they install it")
    _say("chromium is not installed: installing Debian's package once with apt-get for the browser tests …")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return CHROMIUM


def ensure_assets() -> None:
    """The vendored web assets (what `make assets` builds), built now if a bare pytest run comes first."""
    if (ROOT / "api" / "static" / "vendor" / ".built").exists():
        return
    if shutil.which("npm") is None:
        pytest.fail("the web assets are not built and npm is missing: run `make assets` (needs npm)")
    _say("web assets not built: running assets/build.sh (npm registry) …")
    result = subprocess.run([str(ROOT / "assets" / "build.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"assets/build.sh failed:\n{result.stdout[-1000:]}\n{result.stderr[-2000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    """The running app: its base URL, service, virtual clock and the users' tokens."""

    url: str
    service: Any
    clock: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def tick(self, hours: float = 3) -> None:
        """Let office time pass and fire due timers (the worker's job)."""
        self.clock.advance(timedelta(hours=hours))
        self.service.fire_timers()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    import uvicorn

    from api.app import create_app
    from engine.clock import VirtualClock
    from engine.domain.catalogue import load_catalogue
    from engine.persistence.db import make_engine, migrate
    from engine.services.approval import ApprovalService
    from engine.services.users import UserStore
    from tests.test_api_support import START

    ensure_assets()
    db = make_engine(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'pages.db'}")
    migrate(db)
    clock = VirtualClock(START)
    service = ApprovalService(db, catalogue=load_catalogue(), clock=clock)
    service.deploy_bundled()
    app = create_app(service)
    users = UserStore(db, departments=service.catalogue.departments)
    tokens: dict[str, str] = {}
    for name, role, department, owners in (
            ("admin", "admin", None, ()), ("owner1", "owner", None, ()), ("owner2", "owner", None, ()),
            ("window1", "window", None, ()), ("analyst1", "analyst", None, ()),
            ("lead-zrzy", "lead", "zrzy", ()), ("lead-zjj", "lead", "zjj", ()),
            *((f"officer-{d}", "agency", d, ()) for d in ("fgw", "zrzy", "zjj", "yl", "cg", "jt", "ww", "sw"))):
        tokens[name] = users.add(name, role, department=department, owner_ids=owners)[1]
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Live(f"http://127.0.0.1:{port}", service, clock, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
