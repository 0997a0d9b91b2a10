"""The national 工改 data-exchange tables: written as CSV, read back unchanged, every handling step with the
办理状态 (BLZT) the exchange uses, keyed by the project code."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.analytics.exchange import TABLES, detail_rows, matter_rows, project_rows, read_exchange, write_exchange
from tests.analytics_scenario import build
from tests.test_analytics_defects import REVOKED, _run

pytestmark = pytest.mark.filterwarnings("ignore::engine.domain.workcalendar.CalendarDataMissing")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    return build(f"sqlite:///{tmp_path_factory.mktemp('exchange') / 'x.db'}")


def _steps(rows: list[dict[str, str]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        out[row["SPSXSLBM"]].append(int(row["BLZT"]))
    return out


def test_the_tables_round_trip(scenario, tmp_path: Path) -> None:
    service, ids = scenario
    with service.db.connect() as conn:
        counts = write_exchange(conn, tmp_path, catalogue=service.catalogue)
        expected = {"SPGL_XMJBXXB": list(project_rows(conn, service.catalogue)),
                    "SPGL_XMSPSXBLXXB": list(matter_rows(conn)), "SPGL_XMSPSXBLXXXXB": list(detail_rows(conn))}
    back = read_exchange(tmp_path)
    assert back == expected
    assert counts == {table: len(rows) for table, rows in back.items()} and set(back) == set(TABLES)
    # keyed by the project code: every instance belongs to a listed project, every step to a listed instance
    projects = {r["GCDM"] for r in back["SPGL_XMJBXXB"]}
    assert projects == set(ids.values())
    instances = {r["SPSXSLBM"] for r in back["SPGL_XMSPSXBLXXB"]}
    assert {r["GCDM"] for r in back["SPGL_XMSPSXBLXXB"]} <= projects
    assert {r["SPSXSLBM"] for r in back["SPGL_XMSPSXBLXXXXB"]} <= instances
    assert len({r["DFSJZJ"] for r in back["SPGL_XMSPSXBLXXXXB"]}) == len(back["SPGL_XMSPSXBLXXXXB"])


def test_handling_status_codes(scenario, tmp_path: Path) -> None:
    """A: 节能审查 补正 (6, 7) then approved (11); 核准 with a 专家评审 (9, 10); B's 超时默许 matters are 11."""
    service, ids = scenario
    with service.db.connect() as conn:
        steps = _steps(list(detail_rows(conn)))
        matters = {r["SPSXSLBM"]: r for r in matter_rows(conn)}
    a, b = ids["A"], ids["B"]
    assert steps[f"{a}-S1/s1_energy_review"] == [3, 6, 7, 11]
    assert steps[f"{a}-S1/s1_project_ratification"] == [3, 9, 10, 11]
    assert steps[f"{b}-S2/s2_greening_scheme_review"] == [3, 11]
    assert matters[f"{b}-S2/s2_greening_scheme_review"]["BLJG"] == "通过（超时默许）"
    assert matters[f"{a}-S1/s1_energy_review"]["SPJDXH"] == "1" and matters[f"{a}-S1/s1_energy_review"]["SLSJ"]


def test_a_revoked_project_reports_tolerance_revocation_and_the_cases_it_ended(tmp_path: Path) -> None:
    service, _ = _run(REVOKED, tmp_path)
    with service.db.connect() as conn:
        steps = _steps(list(detail_rows(conn)))
    # S1 accepted with missing materials: approved 容缺通过 (12); only the tolerated matter's permit is revoked (15)
    assert steps["P1-S1/s1_project_filing"] == [3, 12]
    assert steps["P1-S1/s1_land_use_planning_permit"] == [3, 12, 15]
    # S23 went on: the planning permit built on the revoked one ends without a decision (2 已撤件); the matter
    # waiting for 补正 lets its deadline pass (20 wd from 10 Nov) and is 视为撤回 (14) after the stop ends (7)
    assert steps["P1-S23/s3_construction_permit"] == [3, 6, 7, 14]
    assert steps["P1-S23/s2_construction_planning_permit"] == [3, 2]
    assert steps["P1-S23/s2_greening_scheme_review"] == [3, 11]  # deemed approved (超时默许), not built on S1


def test_gongai_export_writes_the_tables(scenario, tmp_path: Path) -> None:
    from engine.cli import app

    service, _ = scenario
    result = CliRunner().invoke(app, ["export", "--format", "exchange", "--db", str(service.db.url), "--out",
                                      str(tmp_path / "exchange")])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "exchange").iterdir()} == {f"{t}.csv" for t in TABLES}
