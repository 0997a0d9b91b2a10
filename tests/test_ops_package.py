"""The built wheel carries the BPMN models and the catalogue and runs from an install (not only a checkout);
the deployment files (script, Dockerfile, compose file) stay in step."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the sources (the checkout stays clean), offline."""
    src = tmp_path_factory.mktemp("src")
    for name in ("engine", "api", "bpmn", "workflows"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                             "-w", str(out), str(src)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    [built] = out.glob("gongai-*.whl")
    return built


def test_the_wheel_carries_the_models_the_catalogue_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("bpmn", "workflows"):  # every model, catalogue file, rule table, profile, holiday year
        files = [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert any(p.suffix == ".bpmn" for p in files) or folder != "bpmn"
        assert any(p.suffix == ".yaml" for p in files) or folder != "workflows"
        for data in files:
            assert f"engine/_bundled/{folder}/{data.relative_to(ROOT / folder).as_posix()}" in names, data
    assert any(n.startswith("engine/persistence/migrations/versions/0001") for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Provides-Extra: postgres" in text and re.search(r"psycopg.*extra == .postgres.", text)


def test_gongai_runs_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import json, engine, engine.assets as a\n"
        "from engine.domain.catalogue import load_catalogue\n"
        "from engine.persistence.db import make_engine, migrate\n"
        "from engine.services.approval import ApprovalService\n"
        "db = make_engine('sqlite:///run.db')\n"
        "migrate(db)\n"
        "service = ApprovalService(db, catalogue=load_catalogue())\n"
        "print(json.dumps({'engine': engine.__file__, 'bpmn': str(a.bundled_dir('bpmn')),\n"
        "                  'deployed': service.deploy_bundled()['created'],\n"
        "                  'profile': service.catalogue.profile.id}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GONGAI_CATALOGUE_DIR", "PYTHONPATH")}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env | {"PYTHONPATH": str(site)},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["engine"].startswith(str(site)) and out["bpmn"].startswith(str(site / "engine" / "_bundled"))
    assert out["deployed"] is True and out["profile"] == "default"


def test_an_operator_catalogue_folder_replaces_the_bundled_one(tmp_path: Path, monkeypatch) -> None:
    from engine.domain.catalogue import list_profiles, load_catalogue

    mine = tmp_path / "catalogue"
    shutil.copytree(ROOT / "workflows", mine)
    (mine / "profiles" / "jiangxi.yaml").rename(mine / "profiles" / "nanchang.yaml")
    monkeypatch.setenv("GONGAI_CATALOGUE_DIR", str(mine))
    assert "nanchang" in list_profiles() and "jiangxi" not in list_profiles()
    assert load_catalogue("nanchang").departments


def _documented_variables(text: str) -> set[str]:
    return set(re.findall(r"\b(?:GONGAI|PROMETHEUS)_[A-Z_]+\b", text))


def test_the_compose_file_and_the_dockerfile_run_what_the_cluster_script_runs() -> None:
    import yaml

    script = (ROOT / "deploy" / "run-cluster.sh").read_text(encoding="utf-8")
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    commands = {name: " ".join(service["command"]) for name, service in compose["services"].items() if "command" in service}
    assert commands == {"migrate": "gongai db upgrade", "api": "gongai serve --no-timers", "worker": "gongai worker"}
    for command in commands.values():
        assert command.replace("gongai ", '"$GONGAI" ') in script, f"run-cluster.sh does not run {command!r}"
    assert 'CMD ["gongai", "serve", "--no-timers"]' in dockerfile
    in_script = _documented_variables(script)
    in_compose = set()
    for service in compose["services"].values():
        in_compose |= {k for k in (service.get("environment") or {}) if k.startswith("GONGAI_")}
    assert in_compose and in_compose <= in_script, in_compose - in_script
    assert _documented_variables(dockerfile) <= in_script
    assert in_script <= _documented_variables(operations), in_script - _documented_variables(operations)
