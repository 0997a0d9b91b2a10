"""Every file of the three conformance corpora has the outcome the manifest states.

The corpora (SpiffWorkflow's test models, bpmn.io's parser fixtures, the OMG interchange working group's
reference models) live outside the repository, in ``../shared/conformance`` next to the checkout, with their
licences. ``tests/conformance_manifest.yaml`` states for each file whether it runs (with which inputs), loads
without being executable, or is refused (with which error); these tests hold the engine to it, and check
that ``gongai validate`` over all of them never prints a traceback.

Without the corpora these tests are left out with one line saying so, unless ``GONGAI_REQUIRE_CONFORMANCE=1``
(CI, ``.ci/run``): then they fail, so a green CI run means the check happened (tests/corpus.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.bpmn.parsing import parse_models
from engine.bpmn.runner import RunInputs, run_process
from engine.bpmn.validation import validate_models

from tests.corpus import CORPUS, REPO_ROOT

pytestmark = pytest.mark.conformance
MANIFEST_PATH = Path(__file__).with_name("conformance_manifest.yaml")
MANIFEST: dict[str, dict[str, Any]] = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
PROVENANCE_FILES = {"README.md", "LICENSE", "SOURCE", "COPYING"}


def require_corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"conformance corpora not found at {CORPUS}: these tests read the BPMN files of "
                    f"../shared/conformance next to the repository checkout (see its README); put them there "
                    f"to run the conformance tests", pytrace=False)
    return CORPUS


def corpus_files() -> list[str]:
    root = require_corpus()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name not in PROVENANCE_FILES)


def sources_for(name: str) -> list[tuple[str, bytes]]:
    entry = MANIFEST[name]
    root = require_corpus()
    return [(file, (root / file).read_bytes()) for file in [name, *entry.get("with", [])]]


def test_manifest_covers_every_corpus_file_exactly() -> None:
    files = set(corpus_files())
    listed = set(MANIFEST)
    assert not files - listed, f"corpus files missing from the manifest: {sorted(files - listed)}"
    assert not listed - files, f"manifest entries without a corpus file: {sorted(listed - files)}"
    for name, entry in MANIFEST.items():
        assert entry.get("outcome") in ("runs", "loads", "refused"), name
        if entry["outcome"] == "refused":
            assert entry.get("code") and entry.get("message"), f"{name}: a refusal states its code and message"
        if entry["outcome"] == "loads":
            assert entry.get("reason"), f"{name}: a model that loads but cannot run states why"


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_outcome_matches_manifest(name: str) -> None:
    entry = MANIFEST[name]
    sources = sources_for(name)
    report = validate_models(sources)
    listing = "\n".join(str(p) for p in report.problems)

    if entry["outcome"] == "refused":
        assert not report.ok, f"{name} should be refused but validates:\n{listing}"
        matching = [p for p in report.errors if p.code == entry["code"] and entry["message"] in p.message]
        assert matching, (f"{name}: no error [{entry['code']}] containing {entry['message']!r}; got:\n{listing}")
        assert all(p.line is None or p.line > 0 for p in report.errors)
        return

    assert report.ok, f"{name} should load but is refused:\n{listing}"
    models = parse_models(sources)
    if entry["outcome"] == "loads":
        assert not models.entry_points, f"{name} has an executable process, so it should run"
        reasons = [p.message for p in report.warnings if p.code == "not-executable"]
        assert any(entry["reason"] in r for r in reasons), f"{name}: expected reason {entry['reason']!r}; got {reasons}"
        return

    outcome = run_process(models, entry.get("process"), RunInputs.from_mapping(entry.get("inputs")))
    assert outcome.status == "completed", f"{name} should run to completion: {outcome}"
    for key, value in (entry.get("expect") or {}).items():
        assert outcome.data.get(key) == value, f"{name}: {key} = {outcome.data.get(key)!r}, expected {value!r}"


def test_gongai_validate_never_prints_a_traceback() -> None:
    """The real command, in a subprocess, over every corpus file: once per file and once with all together."""
    root = require_corpus()
    files = corpus_files()
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from engine.cli import app\n"
        "runner = CliRunner()\n"
        "files = sys.argv[1:]\n"
        "for f in files:\n"
        "    r = runner.invoke(app, ['validate', f])\n"
        "    assert r.exception is None or isinstance(r.exception, SystemExit), (f, repr(r.exception))\n"
        "    print(f'{r.exit_code} {f}')\n"
        "    sys.stdout.write(r.output)\n"
        "r = runner.invoke(app, ['validate', *files])\n"
        "assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)\n"
        "print(f'{r.exit_code} ALL')\n"
        "sys.stdout.write(r.output)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", script, *files], cwd=root, env=env, capture_output=True, text=True,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[output.index("Traceback") - 500:][:3000]
    exit_codes = {line.split(" ", 1)[1]: int(line.split(" ", 1)[0]) for line in done.stdout.splitlines()
                  if line[:2] in ("0 ", "1 ") and (line[2:] in MANIFEST or line[2:] == "ALL")}
    for name in files:
        entry = MANIFEST[name]
        if entry.get("with"):
            continue  # validated alone it may miss its called processes; with them it is checked above
        expected = 1 if entry["outcome"] == "refused" else 0
        assert exit_codes.get(name) == expected, f"gongai validate {name} exited {exit_codes.get(name)}"
    assert exit_codes.get("ALL") == 1
