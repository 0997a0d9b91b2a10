"""The process-mining export: the XES parsed back must be the event log, trace by trace, event by event."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest
from lxml import etree
from sqlalchemy import select

from engine.analytics.export import CSV_COLUMNS, write_csv, write_xes
from engine.domain.ledger import EVENT_TYPES
from engine.persistence import tables as t
from tests.analytics_scenario import build


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'x.db'}"
    service, ids = build(url)
    return service, ids, url


@pytest.fixture(scope="module")
def log(world):
    service, ids, _ = world
    with service.db.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(t.events).order_by(t.events.c.project_id, t.events.c.at,
                                                                          t.events.c.id)).mappings()]
        xes, text = io.BytesIO(), io.StringIO()
        counts = write_xes(conn, xes), write_csv(conn, text)
    return ids, rows, xes.getvalue(), text.getvalue(), counts


def _attrs(element) -> dict[str, tuple[str, str]]:
    return {child.get("key"): (child.tag, child.get("value")) for child in element if child.get("key")}


def test_xes_round_trip(log) -> None:
    ids, rows, xes, _, (count, _) = log
    assert count == len(rows)
    root = etree.fromstring(xes)
    assert root.tag == "log" and root.get("xes.version") == "1849-2016"
    assert {e.get("prefix") for e in root.findall("extension")} == {"concept", "time", "lifecycle", "org"}
    traces = root.findall("trace")
    assert [_attrs(tr)["concept:name"][1] for tr in traces] == sorted(ids.values())
    by_project: dict[str, list[dict]] = {}
    for row in rows:
        by_project.setdefault(row["project_id"], []).append(row)
    for trace in traces:
        case = _attrs(trace)
        assert case["project_type"] == ("string", "social_general")
        events = trace.findall("event")
        expected = by_project[case["concept:name"][1]]
        assert len(events) == len(expected)
        for element, row in zip(events, expected):
            a = _attrs(element)
            assert a["event_id"] == ("int", str(row["id"]))
            assert a["event_type"][1] == row["type"]
            assert a["time:timestamp"][0] == "date"
            assert datetime.fromisoformat(a["time:timestamp"][1]) == row["at"]
            cancelled = row["type"] == "task_completed" and row["data"].get("cancelled")
            assert a["lifecycle:transition"][1] == ("withdraw" if cancelled else EVENT_TYPES[row["type"]])
            assert a.get("org:group", (None, None))[1] == row["department"]
            assert a.get("org:resource", (None, None))[1] == row["actor"]
            assert a.get("stage", (None, None))[1] == row["stage"]
            assert json.loads(a["data"][1]) == row["data"] if row["data"] else "data" not in a


def test_clock_stops_are_suspend_and_resume_of_the_matter(log) -> None:
    ids, _, xes, _, _ = log
    trace = next(tr for tr in etree.fromstring(xes).findall("trace") if _attrs(tr)["concept:name"][1] == ids["A"])
    energy = [(_attrs(e)["lifecycle:transition"][1], _attrs(e)["time:timestamp"][1]) for e in trace.findall("event")
              if _attrs(e)["concept:name"][1] == "matter:s1_energy_review"]
    assert [lc for lc, _ in energy] == ["start", "suspend", "resume", "complete"]
    # 补正 from Tue 3 Nov 09:00 to Thu 5 Nov 09:00 Shanghai
    assert energy[1][1] == "2026-11-03T01:00:00.000+00:00" and energy[2][1] == "2026-11-05T01:00:00.000+00:00"


def test_csv_has_the_standard_columns_and_every_event(log) -> None:
    _, rows, _, text, (_, count) = log
    records = list(csv.DictReader(io.StringIO(text)))
    assert tuple(records[0].keys()) == CSV_COLUMNS
    assert count == len(records) == len(rows)
    assert [(r["case:concept:name"], int(r["event_id"])) for r in records] == [(r["project_id"], r["id"]) for r in rows]
    stops = [r for r in records if r["event_type"] == "clock_stopped"]
    assert stops and all(r["lifecycle:transition"] == "suspend" for r in stops)


# -- one project, a time window ---------------------------------------------------------------------------------
def _export(conn, **filters):
    xes, text = io.BytesIO(), io.StringIO()
    counts = write_xes(conn, xes, **filters), write_csv(conn, text, **filters)
    return etree.fromstring(xes.getvalue()), list(csv.DictReader(io.StringIO(text.getvalue()))), counts


def test_one_project_exports_one_trace(world, log) -> None:
    ids, rows, *_ = log
    service = world[0]
    with service.db.connect() as conn:
        root, records, (xes_count, csv_count) = _export(conn, project_id=ids["B"])
    expected = [r["id"] for r in rows if r["project_id"] == ids["B"]]
    traces = root.findall("trace")
    assert [_attrs(tr)["concept:name"][1] for tr in traces] == [ids["B"]]
    assert [int(_attrs(e)["event_id"][1]) for e in traces[0].findall("event")] == expected
    assert xes_count == csv_count == len(expected) == len(records)
    assert {r["case:concept:name"] for r in records} == {ids["B"]}
    with service.db.connect() as conn:
        root, records, counts = _export(conn, project_id="P2099-999999")
    assert root.findall("trace") == [] and records == [] and counts == (0, 0)


def test_since_until_keep_the_events_in_the_window(world, log) -> None:
    from tests.analytics_scenario import local

    _, rows, *_ = log
    service = world[0]
    since, until = local(2026, 11, 3), local(2026, 11, 5, 12, 0)
    with service.db.connect() as conn:
        root, records, (xes_count, _) = _export(conn, since=since, until=until)
    expected = [r["id"] for r in rows if since <= r["at"] < until]
    assert 0 < len(expected) < len(rows)
    assert [int(r["event_id"]) for r in records] == expected
    assert [int(_attrs(e)["event_id"][1]) for tr in root.findall("trace") for e in tr.findall("event")] == expected
    assert xes_count == len(expected)


def test_cli_export_of_one_project(world, log, tmp_path) -> None:
    from typer.testing import CliRunner

    from engine.cli import app

    ids, rows, *_ = log
    url = world[2]
    out = tmp_path / "b.xes"
    result = CliRunner().invoke(app, ["export", "--db", url, "--out", str(out), "--project", ids["B"]])
    assert result.exit_code == 0, result.output
    traces = etree.fromstring(out.read_bytes()).findall("trace")
    assert len(traces) == 1 and _attrs(traces[0])["concept:name"][1] == ids["B"]
    assert len(traces[0].findall("event")) == sum(r["project_id"] == ids["B"] for r in rows)
    window = CliRunner().invoke(app, ["export", "--db", url, "--format", "csv", "--out", str(tmp_path / "w.csv"),
                                      "--since", "2026-11-03", "--until", "2026-11-05T12:00"])
    assert window.exit_code == 0, window.output
    assert f"{sum(1 for r in rows if datetime(2026, 11, 2, 16, tzinfo=timezone.utc) <= r['at'] < datetime(2026, 11, 5, 4, tzinfo=timezone.utc))} events" in window.output
    unknown = CliRunner().invoke(app, ["export", "--db", url, "--out", str(tmp_path / "x.xes"), "--project", "P2099-999999"])
    assert unknown.exit_code != 0 and "P2099-999999" in unknown.output
    backwards = CliRunner().invoke(app, ["export", "--db", url, "--out", str(tmp_path / "y.xes"),
                                         "--since", "2026-11-05", "--until", "2026-11-03"])
    assert backwards.exit_code != 0 and "--since" in backwards.output
