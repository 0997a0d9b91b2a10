"""``gongai measures``: its help says which "now" the running figures are measured at; its filters are checked
by the service layer as ``GET /analytics/report``'s are (a typo is exit code 2 naming it, not empty figures);
``--jurisdiction`` reads that profile's catalogue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from engine.simulation.cases import typical_case
from typer.testing import CliRunner

from tests.analytics_scenario import OWNER, Driver, build, local

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def test_measures_help_says_running_matters_are_measured_at_the_wall_clock() -> None:
    from engine.cli import app

    result = CliRunner().invoke(app, ["measures", "--help"], env=ENV)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "wall clock" in text and "/analytics/report" in text


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    """The three default-profile scenario projects plus one 江西 project with its S1 accepted (4 matters)."""
    from engine.clock import VirtualClock
    from engine.domain.catalogue import load_catalogue
    from engine.services.approval import ApprovalService

    url = f"sqlite:///{tmp_path_factory.mktemp('measures_cli') / 'a.db'}"
    service, _ = build(url)
    clock = VirtualClock(local(2026, 11, 2, 9, 0))
    jiangxi = ApprovalService(service.db, catalogue=load_catalogue("jiangxi"), clock=clock)
    driver = Driver(jiangxi, clock)
    pid = jiangxi.start_project({"name": "江西示例项目", "project_type": "social_general", "owner_id": OWNER.id,
                                 "include_planning": False, "case": typical_case("social_general")})
    driver.do(local(2026, 11, 2, 9, 0), pid, "Task_SubmitFiling", {})
    driver.do(local(2026, 11, 2, 10, 0), pid, "Task_Intake", {"outcome": "complete"})
    return url


def _run(*args: str):
    from engine.cli import app

    return CliRunner().invoke(app, ["measures", *args], env=ENV)


def _json(url: str, *args: str) -> dict[str, Any]:
    result = _run("--db", url, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(("args", "option", "named"), [
    (["--project-type", "social_genral"], "--project-type", "'social_genral'"),
    (["--stage", "S9"], "--stage", "'S9'"),
    (["--department", "zrzyj"], "--department", "'zrzyj'"),
    (["--matter", "s1_nope"], "--matter", "'s1_nope'"),
    (["--jurisdiction", "jiangsu"], "--jurisdiction", "'jiangsu'"),
    (["--since", "2026-12-01", "--until", "2026-11-01"], "--since", "is not before"),
])
def test_unknown_filter_is_a_usage_error_naming_the_value(url: str, args: list[str], option: str, named: str) -> None:
    result = _run("--db", url, *args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert option in text and named in text


def test_jurisdiction_measures_that_profiles_projects_only(url: str) -> None:
    everything = _json(url)
    jiangxi = _json(url, "--jurisdiction", "jiangxi")
    assert jiangxi["filters"] == {"jurisdiction": "jiangxi"}
    started = jiangxi["special_procedures"]["matters_with_special"]["of"]
    assert started == 2  # the 江西 project's S1 matters its case selects: 备案 and 建设用地规划许可
    assert everything["special_procedures"]["matters_with_special"]["of"] > started
    assert _json(url, "--jurisdiction", "default")["special_procedures"]["matters_with_special"]["of"] \
        == everything["special_procedures"]["matters_with_special"]["of"] - started


def test_jurisdiction_loads_that_profiles_catalogue(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The filing-matter list (体外循环 exclusions) comes from the named profile, not the default one."""
    import engine.services.analytics as analytics

    seen: list[str] = []
    real = analytics.kpi_report

    def spy(db, catalogue, filters, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(catalogue.profile.id)
        return real(db, catalogue, filters, **kwargs)

    monkeypatch.setattr(analytics, "kpi_report", spy)
    _json(url, "--jurisdiction", "jiangxi")
    _json(url)
    assert seen == ["jiangxi", "default"]
