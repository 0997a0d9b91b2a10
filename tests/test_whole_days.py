"""Both counts for every duration (issue 11): the whole working days used (受理次日起算, as a clerk counts) beside
the decimal working days, in every distribution the report gives — measures, the API report, the CLI table, the
analyst's page and the scoring sheet's xlsx.

The data: the three S1 stages of tests/test_analytics_division.py, each accepted on a Monday and issued on the
Wednesday at the same hour: 2 whole working days (Tuesday and Wednesday), and 2.0 decimal working days.
"""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from engine.analytics.measures import Filters, report
from engine.services.analytics import scoring_ranking, scoring_xlsx
from engine.services.users import UserStore
from tests.test_analytics_division import three  # noqa: F401 - the fixture

pytestmark = pytest.mark.filterwarnings("ignore::engine.domain.workcalendar.CalendarDataMissing")
WHOLE = {"mean": 2.0, "median": 2.0, "p90": 2.0, "max": 2.0}


def test_every_distribution_carries_the_whole_days(three) -> None:  # noqa: F811
    with three.db.connect() as conn:
        data = report(conn, Filters())
    s1 = {row["group"]: row for row in data["stages"]}["S1"]
    assert s1["approval_days_used"] == WHOLE
    assert s1["span_days_used"] == WHOLE  # no clock stop: the span counts the same whole days
    for row in data["departments"] + data["matters"] + data["whole_process"]:
        assert set(row["approval_days_used"]) == set(row["span_days_used"]) == {"mean", "median", "p90", "max"}
        assert row["span_days_used"]["max"] is not None and row["span_days_used"]["max"] >= row["approval_days_used"]["max"]
        assert row["approval_days_used"]["max"] is not None and float(row["approval_days_used"]["max"]).is_integer()
    assert all(row["whole_days"] == row_d["approval_days_used"]
               for row in data["bottlenecks"]["departments"]
               for row_d in data["departments"] if row_d["group"] == row["group"])


def _client(three):  # noqa: F811
    from api.app import create_app

    token = UserStore(three.db).add(f"wd-analyst-{id(three)}", "analyst")[1]
    return TestClient(create_app(three), raise_server_exceptions=False), f"wd-analyst-{id(three)}", token


def test_the_api_report_the_page_and_the_cli_show_both(three) -> None:  # noqa: F811
    from engine.cli import app

    client, name, token = _client(three)
    body = client.get("/analytics/report", headers={"Authorization": f"Bearer {token}"}).json()
    assert {row["group"]: row for row in body["stages"]}["S1"]["approval_days_used"] == WHOLE
    page = client.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/signin", data={"csrf": csrf, "name": name, "token": token},
                       follow_redirects=False).status_code == 303
    html = client.get("/ui/analytics").text
    row = re.search(r'<tr data-stage="S1">(.*?)</tr>', html, re.S).group(1)
    assert row.count("（2 整日）") == 3 and "（2.0 整日）" in row  # median, p90, max whole; the mean to one place
    assert "受理次日起算" in html
    out = CliRunner().invoke(app, ["measures", "--db", str(three.db.url)], env={"COLUMNS": "400"})
    assert out.exit_code == 0, out.output
    assert "受理次日起算" in out.output and out.output.count("2 / 2 / 2 / 2") >= 2  # span and approval


def test_the_scoring_xlsx_has_the_whole_days_beside_the_value(three) -> None:  # noqa: F811
    result = scoring_ranking(three.db, three.catalogue, division="360700", now=three.clock.now())
    values = load_workbook(io.BytesIO(scoring_xlsx(result)))["指标值"]
    header = [c.value for c in values[1]]
    column = header.index("整工作日（受理次日起算）")
    assert header[column - 1] == "值"
    approval = [r for r in values.iter_rows(min_row=2, values_only=True)  # stage_approval, the stages' approval times
                if r[0] == "360702" and r[2] == "全流程审批用时"]
    assert approval and approval[0][column] == 2.0
