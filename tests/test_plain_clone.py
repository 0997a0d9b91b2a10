"""A plain clone (no ../shared/conformance) passes: the conformance tests are left out with one line naming
the missing corpus — unless GONGAI_REQUIRE_CONFORMANCE=1 (CI), which makes them fail."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.corpus import REPO_ROOT

SELECTION = ["tests/test_conformance.py", "tests/test_layout.py::test_conformance_models",
             "tests/test_timer_bounds.py::test_the_bound_is_checked_before_any_calendar_walk"]


def _pytest(tmp_path, *, require: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GONGAI_REQUIRE_CONFORMANCE"}
    env["GONGAI_CONFORMANCE_DIR"] = str(tmp_path / "no-such-corpus")
    if require:
        env["GONGAI_REQUIRE_CONFORMANCE"] = "1"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SELECTION]
    if require:
        args += ["-k", "manifest_covers or the_bound_is_checked"]
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_without_the_corpus_the_suite_passes_with_one_line_naming_it(tmp_path) -> None:
    done = _pytest(tmp_path, require=False)
    assert done.returncode == 0, done.stdout[-2000:]
    lines = [line for line in done.stdout.splitlines() if "conformance" in line and "no-such-corpus" in line]
    assert len(lines) == 1, done.stdout[-2000:]
    assert lines[0].startswith("SKIPPED") and "GONGAI_REQUIRE_CONFORMANCE=1" in lines[0]
    assert "1 passed" in done.stdout and "failed" not in done.stdout


def test_ci_requires_the_corpus(tmp_path) -> None:
    done = _pytest(tmp_path, require=True)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "conformance corpora not found" in done.stdout and "no-such-corpus" in done.stdout
    assert "1 failed, 1 passed" in done.stdout


def test_ci_script_sets_the_requirement() -> None:
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "export GONGAI_REQUIRE_CONFORMANCE=1" in script and script.index("GONGAI_REQUIRE") < script.index("make test")
