"""The scoring sheet (Jiangxi 2023 评分细则): each indicator as the sheet defines it, the sheet's scoring rules,
the ranking of divisions, and the xlsx from the service, the API and the CLI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from engine.analytics.measures import Filters
from engine.analytics.scoring import MEASURES, Rule, _ranks, _tier, load_sheet, peers, ranking, score, sheet_values
from engine.services.analytics import filing_matters, scoring_ranking, scoring_xlsx
from engine.services.users import UserStore
from tests.test_analytics_division import three  # noqa: F401 - the fixture: G1, G2 in 赣州, N1 in 南昌

pytestmark = pytest.mark.filterwarnings("ignore::engine.domain.workcalendar.CalendarDataMissing")


def test_the_sheet_is_the_sheet() -> None:
    """Every indicator cites its line of policy-compilation.txt:2266–2314; the system-scored part adds up to the
    sheet's 60 points; each is computed or says why not."""
    sheet = load_sheet()
    assert all(2266 <= i.line <= 2314 for i in sheet.indicators)
    assert sum(i.points for i in sheet.indicators if 2271 <= i.line <= 2299) == 60
    for i in sheet.indicators:
        assert (i.measure in MEASURES) if i.measure else bool(i.reason), i.id
        assert i.unit and i.numerator and i.denominator
    names = {i.name for i in sheet.indicators}
    for must in ("告知承诺制实施情况", "联合验收率", "政府投资项目报建周期", "社会投资项目报建周期", "区域评估事项比例",
                 "电子证照应用情况", "“一次不跑”实施情况", "企业满意度", "审批办件/审批项目比例"):
        assert must in names


def test_every_indicator_has_a_denominator_or_a_reason(three) -> None:  # noqa: F811
    catalogue = three.catalogue
    with three.db.connect() as conn:
        values = {v["id"]: v for v in sheet_values(conn, Filters(), catalogue=catalogue,
                                                   filing_matters=filing_matters(catalogue))}
    for v in values.values():
        assert v["line"].startswith("policy-compilation.txt:")
        if v["value"] is None:
            assert v["reason"], v["id"]
    # three projects, two S1 matters each: 6 cases over 3 projects
    assert values["cases_per_project"]["value"] == 2.0
    assert (values["cases_per_project"]["numerator"], values["cases_per_project"]["denominator"]) == (6, 3)
    # 告知承诺 counts cases (办件): none signed here
    assert values["commitment_cases"]["numerator"] == 0 and values["commitment_cases"]["denominator"] == 6
    # no project reached 竣工验收: the denominator is 0 and the report says so rather than 0 %
    assert values["joint_acceptance"]["value"] is None and values["joint_acceptance"]["denominator"] == 0
    assert values["online_filing"]["value"] == 1.0  # the owners filed S1 themselves
    assert values["satisfaction"]["value"] is None and "满意度" in values["satisfaction"]["reason"]
    assert values["stage_span"]["by_stage"]["S1"]["denominator"] == 3
    from sqlalchemy import func, select

    from engine.persistence import tables as t

    with three.db.connect() as conn:  # 电子证照应用: the certificate types issued, counted from the records
        types = conn.execute(select(func.count(t.certificates.c.type_id.distinct()))).scalar_one()
    assert values["electronic_licences"]["value"] == types


def test_the_sheets_scoring_rules() -> None:
    tiers = Rule(kind="tiers", base=1.5, delta=0.5, better="lower")
    assert [_tier(r, 11, tiers) for r in (1, 4, 5, 7, 8, 11)] == [2.0, 2.0, 1.5, 1.5, 1.0, 1.0]
    assert _ranks({"a": 3.0, "b": 1.0, "c": 1.0, "d": None}, "lower") == {"a": 3, "b": 1, "c": 1, "d": None}
    assert _ranks({"a": 0.0, "b": 0.0}, "higher") == {"a": None, "b": None}  # nothing tells them apart: base
    assert score({"value": 0.01, "cases": 3}, Rule(kind="per_case", base=2, per=0.2)) == 1.4
    assert score({"value": 0.0, "cases": 20}, Rule(kind="per_case", base=2, per=0.2)) == 0.0
    assert score({"value": 0.12}, Rule(kind="per_step", base=1, per=0.2, step=0.05)) == 0.6
    bands = Rule(kind="bands", bands=({"min": 0.6, "points": 1}, {"min": 0.7, "points": 2}, {"min": 0.8, "points": 3}))
    assert [score({"value": v}, bands) for v in (0.5, 0.6, 0.75, 0.8)] == [0.0, 1, 2, 3]
    assert score({"value": None}, Rule(kind="scaled", of=10)) is None


def test_peers_are_a_provinces_cities_or_a_citys_counties() -> None:
    assert len(peers("360000")) == 11
    assert peers("360700") == ["360702", "360703", "360704"] == peers("360702")
    assert peers("360500") == ["360500"]


def test_ranking_scores_each_division(three) -> None:  # noqa: F811
    with three.db.connect() as conn:
        result = ranking(conn, catalogue=three.catalogue, division="360700")
    rows = {r["division"]: r for r in result["rows"]}
    assert set(rows) == {"360702", "360703", "360704"}
    assert rows["360704"]["values"]["cases_per_project"]["denominator"] == 0  # no project there
    assert all(r["total"] == pytest.approx(sum(v for v in r["scores"].values() if v is not None)) for r in rows.values())
    assert [r["place"] for r in result["rows"]] == [1, 2, 3]
    assert {n["id"] for n in result["not_computed"]} >= {"satisfaction", "electronic_seals"}
    assert "electronic_licences" not in {n["id"] for n in result["not_computed"]}  # from the certificate records


def test_the_xlsx_opens_with_the_scores_values_and_definitions(three) -> None:  # noqa: F811
    result = scoring_ranking(three.db, three.catalogue, division="360000", now=three.clock.now())
    book = load_workbook(io.BytesIO(scoring_xlsx(result)))
    assert book.sheetnames == ["评分", "指标值", "口径"]
    scores = book["评分"]
    header = [c.value for c in scores[4]]
    assert header[:4] == ["名次", "行政区划代码", "单位", "系统计分合计"] and any("联合验收率" in h for h in header)
    assert scores.max_row == 4 + 11
    terms = [row for row in book["口径"].iter_rows(min_row=2, values_only=True)]
    assert any(r[0] == "企业满意度" and r[7] == "否" for r in terms)
    assert all(str(r[2]).startswith("policy-compilation.txt:") for r in terms)


def test_the_api_serves_the_scoring_sheet_to_analysts(three) -> None:  # noqa: F811
    from api.app import create_app

    store = UserStore(three.db)
    analyst, owner = store.add("scoring-analyst", "analyst")[1], store.add("scoring-owner", "owner")[1]
    client = TestClient(create_app(three), raise_server_exceptions=False)
    h = {"Authorization": f"Bearer {analyst}"}
    xlsx = client.get("/analytics/scoring.xlsx", headers=h, params={"division": "360700"})
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert load_workbook(io.BytesIO(xlsx.content))["评分"].max_row == 4 + 3
    body = client.get("/analytics/scoring", headers=h, params={"since": "2026-11-01"}).json()
    assert len(body["rows"]) == 11 and body["filters"]["since"].startswith("2026-11-01")
    assert client.get("/analytics/scoring", headers=h, params={"division": "990000"}).status_code == 422
    assert client.get("/analytics/scoring", headers={"Authorization": f"Bearer {owner}"}).status_code == 403
    report = client.get("/analytics/report", headers=h, params={"division": "360700"}).json()
    sheet = {v["id"]: v for v in report["scoring_sheet"]}
    assert sheet["cases_per_project"]["denominator"] == 2


def test_the_cli_writes_the_xlsx(three, tmp_path: Path) -> None:  # noqa: F811
    from engine.cli import app

    out = tmp_path / "sheet.xlsx"
    url = str(three.db.url)
    result = CliRunner().invoke(app, ["scoring", "--db", url, "--division", "360100", "--xlsx", str(out)])
    assert result.exit_code == 0, result.output
    assert load_workbook(out)["评分"].cell(5, 2).value in {"360102", "360103", "360111", "360121"}
    bad = CliRunner().invoke(app, ["scoring", "--db", url, "--division", "36"])
    assert bad.exit_code == 2 and "--division" in bad.output


def test_regional_assessment_indicators_read_the_case_plans(tmp_path: Path) -> None:
    """R1's case has a regional assessment covering 节能 and 交通影响: those two matters are waived (the plan's
    rule says 区域评估), so 2 of its 5 assessment matters; R2 has none."""
    from tests.test_analytics_defects import _run

    case = {"investment_mode": "filing", "land_supply": "transfer", "floor_area_m2": 20000, "site_area_m2": 8000,
            "energy_above_threshold": True, "eia_category": "form", "in_relics_zone": True}
    raw = {"start": "2026-11-02T09:00:00+08:00", "projects": [
        {"id": "R1", "project_type": "social_general", "owner": "o1", "division_code": "360702",
         "case": {**case, "regional_assessment": ["energy", "traffic"]}},
        {"id": "R2", "project_type": "social_general", "owner": "o2", "division_code": "360102", "case": case}],
        "actions": [{"at": "2026-11-02T10:00+08:00", "project": pid, "do": do, "stage": "S1"}
                    for pid in ("R1", "R2") for do in ("submit", "accept")]}
    service, _ = _run(raw, tmp_path)
    with service.db.connect() as conn:
        def values(division: str | None) -> dict:
            rows = sheet_values(conn, Filters(division=division), catalogue=service.catalogue)
            return {v["id"]: (v["value"], v["numerator"], v["denominator"]) for v in rows}

        everything, ganzhou = values(None), values("360700")
    assert everything["regional_assessment_items"] == (0.2, 2, 10)
    assert everything["regional_assessment_projects"] == (0.5, 1, 2)
    assert ganzhou["regional_assessment_items"] == (0.4, 2, 5)


def test_main_matters_decided_without_online_handling_are_found(three) -> None:  # noqa: F811
    """主要事项线上办理情况: a main matter whose decision no person made in the system (its review completed by the
    engine's own actor, i.e. the result was entered) is a case the sheet deducts for; officers' decisions are not."""
    from sqlalchemy import update

    from engine.persistence import tables as t

    catalogue = three.catalogue
    with three.db.connect() as conn:
        def offline() -> dict:
            values = {v["id"]: v for v in sheet_values(conn, Filters(), catalogue=catalogue,
                                                       filing_matters=filing_matters(catalogue))}
            return values["main_matters_online"]

        before = offline()
        assert before["value"] == 0 and before["cases"] == 0 and before["denominator"] == 3  # 3 land-use permits
        conn.execute(update(t.tasks).where(t.tasks.c.project_id == "G1", t.tasks.c.spec_id == "Task_Review",
                                           t.tasks.c.matter_key.like("%s1_land_use_planning_permit%"))
                     .values(actor="system"))
        after = offline()
        assert (after["cases"], after["denominator"]) == (1, 3)
        assert score(after, load_sheet().indicators[1].rule) == 2.5  # 3 − 0.5 per case
        conn.rollback()
