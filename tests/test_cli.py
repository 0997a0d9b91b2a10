"""The command line end to end: demo, report, run-scenario, deploy, worker (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app

pytestmark = pytest.mark.filterwarnings("ignore::engine.domain.workcalendar.CalendarDataMissing")

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--projects", "10", "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "各阶段用时" in result.output
    return out


def test_demo_writes_a_plausible_report(demo_dir: Path) -> None:
    report = json.loads((demo_dir / "report.json").read_text(encoding="utf-8"))
    assert (demo_dir / "gongai.db").exists()
    assert report["run"]["projects"] == 10 and report["run"]["seed"] == 7
    assert report["projects"]["total"] == 10
    assert report["projects"]["by_status"].get("running", 0) == 0
    stages = {s["stage"]: s for s in report["stages"]}
    assert "S1" in stages and stages["S1"]["count"] == 10  # every project files 立项用地规划许可
    for stage in stages.values():
        span, approval = stage["span_working_days"], stage["approval_working_days"]
        assert 0 < span["median"] <= span["p90"] < 80
        assert approval["mean"] <= span["mean"] + 1e-9
        assert 0 <= stage["overdue_rate"] <= 1
    whole = {w["project_type"]: w for w in report["whole_process"]}
    assert whole["all"]["count"] + whole["all"]["open"] == 10
    assert 5 < whole["all"]["span_working_days"]["mean"] < 150


def test_report_formats_read_the_same_database(demo_dir: Path) -> None:
    url = f"sqlite:///{demo_dir / 'gongai.db'}"
    as_json = runner.invoke(app, ["report", "--db", url, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    saved = json.loads((demo_dir / "report.json").read_text(encoding="utf-8"))
    assert data["stages"] == saved["stages"] and data["whole_process"] == saved["whole_process"]
    as_csv = runner.invoke(app, ["report", "--db", url, "--format", "csv"])
    assert as_csv.exit_code == 0
    lines = as_csv.output.strip().splitlines()
    assert lines[0].startswith("scope,key,name,count")
    assert any(line.startswith("stage,S1,") for line in lines)
    table = runner.invoke(app, ["report", "--db", url])
    assert table.exit_code == 0 and "全流程用时" in table.output
    bad = runner.invoke(app, ["report", "--db", url, "--format", "xml"])
    assert bad.exit_code == 1


def test_run_scenario_tables_and_json(tmp_path: Path) -> None:
    path = SCENARIOS / "national_day_correction.yaml"
    shown = runner.invoke(app, ["run-scenario", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "S1/s1_land_use_planning_permit" in shown.output and "overdue" in shown.output
    out = tmp_path / "t.json"
    written = runner.invoke(app, ["run-scenario", str(path), "--json", str(out)])
    assert written.exit_code == 0, written.output
    data = json.loads(out.read_text(encoding="utf-8"))
    stage = data["projects"][0]["timing"]["stages"][0]
    assert stage["key"] == "S1" and stage["approval_working_days"] == pytest.approx(4.0, abs=1e-3)


def test_broken_scenario_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "start: 2026-09-28T09:00:00+08:00\n"
        "projects: [{id: P1, project_type: social_small, owner: o1}]\n"
        "actions:\n"
        "  - {at: '2026-09-28T10:00+08:00', do: submit, stage: S1}\n"
        "  - {at: '2026-09-28T10:00+08:00', do: accept, stage: S1}\n"
        "  - {at: '2026-09-28T11:00+08:00', do: issue, stage: S1}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run-scenario", str(bad)])
    assert result.exit_code == 1
    text = result.output.strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    assert text.startswith("error: action 3 (issue):")
    missing = runner.invoke(app, ["run-scenario", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "cannot read" in missing.output
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("start: [\n", encoding="utf-8")
    result = runner.invoke(app, ["run-scenario", str(broken_yaml)])
    assert result.exit_code == 1 and "not valid YAML" in result.output


def test_deploy_and_worker_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    first = runner.invoke(app, ["deploy", "--db", url])
    assert first.exit_code == 0 and "deployed" in first.output
    again = runner.invoke(app, ["deploy", "--db", url])
    assert "already deployed" in again.output
    junk = tmp_path / "junk.bpmn"
    junk.write_text("<not-bpmn/>", encoding="utf-8")
    refused = runner.invoke(app, ["deploy", str(junk), "--db", url])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    worker = runner.invoke(app, ["worker", "--db", url, "--once"])
    assert worker.exit_code == 0 and "fired timers of 0 project(s)" in worker.output
