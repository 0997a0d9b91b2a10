"""Inputs the audit found unbounded or unchecked: analytics windows in year 1, non-finite numbers, lone
surrogates, and lists and names without a size limit. Each is a 4xx problem naming the field, never a 500,
and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.persistence import tables as t
from tests.test_api_support import FILING, make_harness


@pytest.fixture(scope="module")
def hz(tmp_path_factory):
    return make_harness(tmp_path_factory.mktemp("inputs"))


def _problem(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert field in body["detail"], body
    return body


def _projects(hz) -> int:
    with hz.service.db.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.projects)).scalar()


@pytest.mark.parametrize("url", ["/analytics/timings", "/analytics/report", "/analytics/events.xes",
                                 "/analytics/charts/stage_boxplots.svg"])
@pytest.mark.parametrize("query", ["since=0001-01-01T00:00:00", "until=0001-01-01", "since=9999-12-31T23:59:59"])
def test_analytics_windows_outside_the_calendar_are_422(hz, url: str, query: str) -> None:
    _problem(hz.client.get(f"{url}?{query}", headers=hz.h("analyst1")), 422, query.split("=")[0])


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e309", "-1e400"])
def test_non_finite_numbers_are_refused_wherever_they_appear(hz, number: str) -> None:
    before = _projects(hz)
    body = ('{"name": "x", "project_type": "land_with_scheme", "investment_wan_yuan": %s}' % number).encode()
    _problem(hz.client.post("/projects", content=body, headers=hz.h("owner1", **{"Content-Type": "application/json"})),
             422, "investment_wan_yuan")
    nested = ('{"outcome": "complete", "extra": [1, {"deep": %s}]}' % number).encode()
    _problem(hz.client.post("/tasks/x/complete", content=nested,
                            headers=hz.h("window1", **{"Content-Type": "application/json"})), 422, "extra[1].deep")
    assert _projects(hz) == before


def test_a_lone_surrogate_in_a_deployed_file_or_a_name_is_422(hz) -> None:
    body = b'{"files": {"m.bpmn": "<definitions>\\ud800</definitions>"}}'
    _problem(hz.client.post("/admin/definitions", content=body,
                            headers=hz.h("admin", **{"Content-Type": "application/json"})), 422, "files.m.bpmn")
    before = _projects(hz)
    body = b'{"name": "\\udfff", "project_type": "land_with_scheme"}'
    _problem(hz.client.post("/projects", content=body, headers=hz.h("owner1", **{"Content-Type": "application/json"})),
             422, "name")
    assert _projects(hz) == before


@pytest.mark.parametrize(("extra", "field"), [
    ({"owner_name": "名" * 201}, "owner_name"),
    ({"name": "n" * 201}, "name"),
    ({"project_type": "t" * 41}, "project_type"),
    ({"investment_wan_yuan": 1e13}, "investment_wan_yuan"),
    ({"unit_works": [{"id": f"U{i}", "name": "楼"} for i in range(501)]}, "unit_works"),
    ({"unit_works": [{"id": "U1", "name": "楼", "early_items": ["s4_fire_acceptance"] * 51}]}, "early_items"),
])
def test_filing_sizes_are_bounded(hz, extra: dict, field: str) -> None:
    before = _projects(hz)
    _problem(hz.client.post("/projects", json=FILING | extra, headers=hz.h("owner1")), 422, field)
    assert _projects(hz) == before


def test_payload_lists_and_items_are_bounded() -> None:
    from engine.domain.tasks import PayloadError, parse_payload

    with pytest.raises(PayloadError, match="items"):
        parse_payload("Task_Review", {"decision": "correction", "items": ["补正"] * 201})
    with pytest.raises(PayloadError, match="items"):
        parse_payload("Task_Review", {"decision": "correction", "items": ["补" * 501]})
    with pytest.raises(PayloadError, match="missing"):
        parse_payload("Task_Intake", {"outcome": "incomplete", "missing": ["m"] * 201})
    assert parse_payload("Task_Review", {"decision": "correction", "items": ["补正"] * 200})
