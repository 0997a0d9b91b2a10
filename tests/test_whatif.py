"""What-if simulation: reforms as data, the paired bootstrap, and serial vs parallel S2 through the engine."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.simulation.whatif import (
    Reform,
    ReformError,
    bootstrap_ci,
    build_catalogue,
    build_settings,
    compare,
    load_reform,
    model_files,
    whatif,
)
from engine.simulation.workload import WorkloadSettings

ROOT = Path(__file__).resolve().parents[1]
REFORMS = ROOT / "workflows" / "reforms"
START = datetime(2026, 9, 1, 1, tzinfo=timezone.utc)


# -- the interval ---------------------------------------------------------------------------------------------
def test_bootstrap_known_answers() -> None:
    assert bootstrap_ci([1.5, 1.5, 1.5, 1.5]) == (1.5, 1.5)
    assert bootstrap_ci([3.0]) is None and bootstrap_ci([]) is None
    # resampled means of {0, 2} (n = 2) are 0, 1, 2 with probabilities ¼, ½, ¼: the 2.5 % / 97.5 % quantiles are 0, 2
    assert bootstrap_ci([0.0, 2.0], resamples=4000) == (0.0, 2.0)
    lo, hi = bootstrap_ci([float(x) for x in range(1, 21)])  # mean 10.5, sd of the mean ≈ 1.29
    assert 7.5 < lo < 9.0 and 12.0 < hi < 13.5
    assert bootstrap_ci([1.0, 2.0, 4.0], seed=3) == bootstrap_ci([1.0, 2.0, 4.0], seed=3)


def test_compare_pairs_by_project() -> None:
    base = {"P1": {"S2": {"span_working_days": 10.0, "approval_working_days": 8.0}},
            "P2": {"S2": {"span_working_days": 12.0, "approval_working_days": 9.0}},
            "P3": {"S2": {"span_working_days": 11.0, "approval_working_days": 9.0}}}
    var = {"P1": {"S2": {"span_working_days": 20.0, "approval_working_days": 18.0}},
           "P2": {"S2": {"span_working_days": 22.0, "approval_working_days": 19.0}}}
    span = next(c for c in compare(base, var) if c.measure == "span_working_days")
    assert (span.pairs, span.baseline_mean, span.variant_mean, span.difference) == (2, 11.0, 21.0, 10.0)
    assert span.ci == (10.0, 10.0) and span.significant and span.baseline_only == 1
    same = compare(base, base)
    assert all(c.difference == 0 and not c.significant for c in same)


# -- reforms as data ------------------------------------------------------------------------------------------
def test_example_reforms_load_and_build() -> None:
    serial = load_reform(REFORMS / "serial_s2.yaml")
    assert serial.serial_stage == "S2" and serial.profile == "default"
    shorter = load_reform(REFORMS / "shorter_limits.yaml")
    catalogue = build_catalogue(shorter)
    assert catalogue.matter("s2_design_scheme_review").committed_limit_wd == 3
    assert build_catalogue(load_reform("default")).matter("s2_design_scheme_review").committed_limit_wd == 7


def test_route_override_merges_stages_with_a_summed_limit() -> None:
    catalogue = build_catalogue(Reform("merge", route_overrides={"social_general": "merged_2_3"}))
    assert catalogue.route("social_general").id == "merged_2_3"
    limits = catalogue.profile.stage_limits_wd["social_general"]
    assert catalogue.stage_limit_wd("social_general", "S23") == limits["S2"] + limits["S3"]
    assert [m.stage for m in catalogue.matters_for("social_general", "S23")][:1] == ["S2"]


def test_tolerance_and_workload_settings() -> None:
    assert build_settings(Reform("t", tolerance=True)).intake_tolerance_p == 0.30
    assert build_settings(Reform("w", workload={"refuse_p": 0.0})).refuse_p == 0.0
    with pytest.raises(ReformError, match="unknown setting 'nope'"):
        build_settings(Reform("w", workload={"nope": 1}))


@pytest.mark.parametrize("reform, message", [
    (Reform("x", matter_overrides={"nope": {"committed_limit_wd": 1}}), "unknown matter 'nope'"),
    (Reform("x", matter_overrides={"s2_design_scheme_review": {"committed_limit_wd": 999}}), "exceeds"),
    (Reform("x", route_overrides={"social_general": "nope"}), "unknown route 'nope'"),
    (Reform("x", serial_stage="S9"), "unknown stage 'S9'"),
])
def test_bad_reforms_name_the_problem(reform: Reform, message: str) -> None:
    with pytest.raises(ReformError, match=message):
        build_catalogue(reform)


def test_unknown_key_in_a_reform_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nserial: S2\n", encoding="utf-8")
    with pytest.raises(ReformError, match="unknown key"):
        load_reform(path)


def test_serial_stage_points_only_that_stage_at_the_serial_model() -> None:
    files = model_files(Reform("s", serial_stage="S2"))
    main = files["project_approval.bpmn"].decode("utf-8")
    assert main.count('calledElement="stage_approval_serial"') == 2  # Call_S2 and Call_S2c (拿地即开工)
    assert 'id="Call_S3" name="施工许可" calledElement="stage_approval"' in main
    assert "stage_approval_serial.bpmn" in files
    assert model_files(Reform("p"))["project_approval.bpmn"] == (ROOT / "bpmn" / "project_approval.bpmn").read_bytes()


# -- through the engine ---------------------------------------------------------------------------------------
def test_serial_s2_is_significantly_longer_than_parallel() -> None:
    """Done-when of issue 5: a measurable difference between a serial and a parallel variant of one stage."""
    settings = WorkloadSettings(mix={"social_general": 1.0})  # every project has an S2 with several matters
    doc = whatif(load_reform("default"), load_reform(REFORMS / "serial_s2.yaml"), projects=4, seed=7, start=START,
                 base_settings=settings, jobs=2)
    by = {(c["scope"], c["measure"]): c for c in doc["comparisons"]}
    s2 = by[("S2", "span_working_days")]
    assert s2["pairs"] == 4 and s2["excludes_zero"] and s2["ci95"][0] > 0
    assert by[("S2", "approval_working_days")]["excludes_zero"]
    assert by[("project", "span_working_days")]["difference"] > 0
    s1 = by[("S1", "span_working_days")]  # S1 runs before the reform touches anything: identical
    assert s1["difference"] == 0 and not s1["excludes_zero"]
    cp_base, cp_var = doc["baseline"]["critical_path"]["S2"], doc["variant"]["critical_path"]["S2"]
    assert cp_var["serial"] and not cp_base["serial"] and cp_var["length"] > cp_base["length"]
    assert cp_base["critical_matter"]


def test_cli_rejects_a_bad_reform(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nroute_overrides: {social_general: nope}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", "--variant", str(path)])
    assert result.exit_code == 1 and "unknown route 'nope'" in result.output and "Traceback" not in result.output


def test_fit_response_times_from_a_log(tmp_path: Path) -> None:
    import math

    from sqlalchemy import create_engine, insert

    from engine.persistence import tables as t
    from engine.simulation.whatif import fit_response_times

    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = create_engine(url)
    t.metadata.create_all(engine, tables=[t.subjects])
    rows = [{"project_id": f"P{i}", "key": f"S2/m{i}", "level": "matter", "project_type": "social_general",
             "stage": "S2", "matter_id": "m", "department": dept, "started_at": START, "ended_at": START,
             "outcome": "approved", "approval_working_days": days, "state": {}}
            for i, (dept, days) in enumerate([("zrzy", 1.0), ("zrzy", math.e), ("zrzy", math.e ** 2), ("yl", 5.0)])]
    with engine.begin() as c:
        c.execute(insert(t.subjects), rows)
    engine.dispose()
    assert fit_response_times(url) == {"zrzy": (1.0, 1.0)}  # logs 0, 1, 2; yl has too few matters to fit


def test_cli_small_run_writes_json(tmp_path: Path) -> None:
    import json

    out = tmp_path / "w.json"
    result = CliRunner().invoke(app, ["simulate", "--variant", str(REFORMS / "shorter_limits.yaml"), "--projects", "2",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "改革效果模拟" in result.output and "关键路径" in result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["projects"] == 2 and doc["variant"]["reform"]["name"] == "压缩承诺时限"
    assert {c["scope"] for c in doc["comparisons"]} >= {"S1", "project"}
