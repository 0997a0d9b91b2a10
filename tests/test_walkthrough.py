"""The README's walkthrough, run verbatim against a live server (`gongai serve`), so the documentation
cannot drift from the product: every curl fails the script on an HTTP error (`curl -f`, `set -e`)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- walkthrough: tests/test_walkthrough.py runs the next block verbatim -->"


def walkthrough() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert MARKER in text, "the README's walkthrough marker is gone"
    match = re.search(re.escape(MARKER) + r"\s*```sh\n(.*?)\n```", text, re.S)
    assert match, "the walkthrough marker must be followed by a ```sh block"
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    env = dict(os.environ, GONGAI_DATABASE_URL=f"sqlite:///{tmp_path / 'walkthrough.db'}",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gongai"), "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--no-timers"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                pytest.fail(f"gongai serve exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gongai serve did not answer within 60 s")
        yield url, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_the_readme_walkthrough_runs_as_written(server) -> None:
    url, env = server
    script = walkthrough()
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=REPO_ROOT,
                          env=dict(env, API=url), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert '"outcome":"approved"' in done.stdout.replace(" ", "") or "S1-2026-001" in done.stdout
    assert "project_started" in done.stdout, "the event log (CSV) ends the walkthrough"


def test_the_project_body_is_one_field_per_line() -> None:
    """Adding a field to the filing is a one-line change to the walkthrough."""
    script = walkthrough()
    body = script[script.index("$API/projects -H"):]
    body = body[body.index("<<EOF"):body.index("\nEOF")].splitlines()[2:]
    assert [line.strip() for line in body] == ['"name": "滨江综合楼",', '"project_type": "social_general",',
                                               '"case": $CASE', '}']


def test_docs_api_names_every_route() -> None:
    """docs/api.md shows every route of the API (the chart routes were once missing)."""
    import tempfile

    from api.app import create_app

    app = create_app(database_url=f"sqlite:///{tempfile.mkdtemp()}/routes.db", deploy_bundled=False)
    text = (REPO_ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = []
    for path in app.openapi()["paths"]:
        pattern = re.escape(path)
        for name in re.findall(r"\\\{(\w+)\\\}", pattern):
            pattern = pattern.replace(re.escape("{" + name + "}"), r"[^/\s\"?]+")
        if not re.search(pattern.replace(r"[^/\s\"?]+\.", r"[^/\s\"?]+?\."), text):
            missing.append(path)
    assert not missing, f"docs/api.md does not show: {missing}"
