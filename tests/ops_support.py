"""Helpers of the operations tests (no tests here): real ``gongai`` processes on a database, bounded waits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.simulation.cases import typical_case

GONGAI = str(Path(sys.executable).parent / "gongai")
FILING = {"project_type": "social_general", "include_planning": False, "case": typical_case("social_general")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_text(path: Path, text: str, *, after: int = 0, seconds: float = 60) -> int:
    """Wait (bounded) until ``text`` appears in the file past offset ``after``; returns where it ends."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        content = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        found = content.find(text, after)
        if found >= 0:
            return found + len(text)
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear in {path}:\n{path.read_text()[-3000:] if path.exists() else ''}")


class ApiProcess:
    """``gongai serve --no-timers`` on a free port, until the ``with`` block ends; waits for /readyz."""

    def __init__(self, url: str, log: Path, *, extra_env: dict[str, str] | None = None) -> None:
        self.url = url
        self.log = log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra_env or {}))
        self.process: subprocess.Popen | None = None

    def start(self) -> "ApiProcess":
        with self.log.open("w") as sink:
            self.process = subprocess.Popen([GONGAI, "serve", "--db", self.url, "--port", str(self.port), "--no-timers"],
                                            stdout=sink, stderr=subprocess.STDOUT, env=self.env)
        return self

    def wait_ready(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"gongai serve exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gongai serve never became ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> "ApiProcess":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
