"""Rules deployed through the admin route (规则发布): an administrator uploads a matter-selection table for a
profile; it is checked as at service start, refused with every fault's row and column (nothing stored), or
stored as the profile's next version and used for new filings — filed projects keep their plan's rules."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.domain.catalogue import load_catalogue
from engine.persistence import tables as t
from engine.simulation.cases import typical_case
from tests.test_api_support import make_harness

DMN = load_catalogue().matter_rules_path.read_text(encoding="utf-8")
THRESHOLD = '<inputEntry id="Rule_025_floor_area_m2"><text>&gt;= 20000</text></inputEntry>'
#: The worked example of docs/case-and-route.md: 交通影响评价 from 5,000 m² instead of 20,000 m².
EDITED = DMN.replace(THRESHOLD, THRESHOLD.replace("20000", "5000"))
BROKEN = (EDITED.replace('<inputEntry id="Rule_025_floor_area_m2"><text>&gt;= 5000</text>',
                         '<inputEntry id="Rule_025_floor_area_m2"><text>&gt;= 5000 m2</text>')
          .replace('<text>"s2_soil_water_conservation"</text>', '<text>"s2_soil_water"</text>'))


def _filing(floor_area: float) -> dict:
    case = typical_case("social_general") | {"floor_area_m2": floor_area}
    return {"name": "研发楼", "project_type": "social_general", "owner_id": "owner1", "case": case}


def _traffic(hz, pid: str) -> dict:
    plan = hz.get("owner1", f"/projects/{pid}/plan")
    return next(m for s in plan["stages"] for m in s["matters"] if m["matter_id"] == "s2_traffic_impact_opinion")


def _count(hz, table) -> int:
    with hz.service.db.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return make_harness(tmp_path_factory.mktemp("rules"))


@pytest.fixture()
def hz(shared):
    """One harness for the module (building one costs seconds); each test starts with no deployed table."""
    yield shared
    with shared.service.db.begin() as conn:
        conn.execute(t.rule_tables.delete())
    shared.service._deployed_rules.clear()


def test_a_deployed_table_decides_new_filings_and_filed_projects_keep_theirs(hz) -> None:
    assert THRESHOLD in DMN and EDITED != DMN
    before = hz.post("owner1", "/projects", _filing(8000), status=201)["id"]
    assert not _traffic(hz, before)["selected"]
    file_version = hz.get("owner1", f"/projects/{before}/plan")["rules_version"]

    deployed = hz.post("admin", "/admin/rules", {"profile": "default", "dmn": EDITED}, status=201)
    assert deployed["created"] and deployed["version"] == 1 and deployed["profile"] == "default"
    assert deployed["rules_version"] != file_version and deployed["deployed_by"] == "admin"

    after = hz.post("owner1", "/projects", _filing(8000), status=201)["id"]
    traffic = _traffic(hz, after)
    assert traffic["selected"] and traffic["rule"]["id"] == "Rule_025"
    assert hz.get("owner1", f"/projects/{after}/plan")["rules_version"] == deployed["rules_version"]
    # the project filed before keeps the plan (and the rules version) it was filed with
    assert not _traffic(hz, before)["selected"]
    assert hz.get("owner1", f"/projects/{before}/plan")["rules_version"] == file_version
    # listed, with what new filings use; the DMN can be read back to edit it again
    listed = hz.get("analyst1", "/admin/rules")
    assert [(r["profile"], r["version"], r["in_use"]) for r in listed] == [("default", 1, True)]
    assert hz.get("admin", f"/admin/rules/{deployed['id']}")["content"] == EDITED
    # the same content deploys once; the deployment is an administrative event (one)
    events = _count(hz, t.admin_events)
    again = hz.post("admin", "/admin/rules", {"profile": "default", "dmn": EDITED}, status=201)
    assert not again["created"] and again["id"] == deployed["id"] and _count(hz, t.admin_events) == events
    with hz.service.db.connect() as conn:
        last = conn.execute(select(t.admin_events).order_by(t.admin_events.c.seq.desc())).mappings().first()
    assert (last["type"], last["actor"], last["subject"]) == ("rules_deployed", "admin", "default")


def test_a_newer_version_replaces_the_older_for_new_filings(hz) -> None:
    first = hz.post("admin", "/admin/rules", {"profile": "default", "dmn": EDITED}, status=201)
    second = hz.post("admin", "/admin/rules", {"profile": "default", "dmn": DMN}, status=201)
    assert second["version"] == 2
    pid = hz.post("owner1", "/projects", _filing(8000), status=201)["id"]
    assert not _traffic(hz, pid)["selected"]
    assert [r["in_use"] for r in hz.get("admin", "/admin/rules")] == [False, True]
    assert first["rules_version"] != second["rules_version"]


def test_an_invalid_table_is_refused_with_row_and_column_and_nothing_changes(hz) -> None:
    events = _count(hz, t.admin_events)
    r = hz.client.post("/admin/rules", json={"profile": "default", "dmn": BROKEN}, headers=hz.h("admin"))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["detail"].startswith("dmn: the decision table was refused (5 problems, nothing was deployed)")
    problems = body["problems"]
    assert problems[0].startswith("row 25 (Rule_025), column '总建筑面积（m²）': '>= 5000 m2': not a valid Python")
    assert problems[1:4] == [f"row {n} (Rule_0{n}), column '事项': '\"s2_soil_water\"' is not a catalogue matter id"
                             for n in (34, 35, 36)]
    assert any(p.startswith("matter 's2_soil_water_conservation' has no row") for p in problems), problems
    assert _count(hz, t.rule_tables) == 0 and _count(hz, t.admin_events) == events
    assert hz.get("admin", "/admin/rules") == []


@pytest.mark.parametrize(("body", "field"), [
    ({"profile": "shanghai", "dmn": DMN}, "profile: unknown profile 'shanghai'"),
    ({"profile": "default", "dmn": "<not-xml"}, "dmn: the decision table was refused"),
    ({"profile": "default"}, "dmn"),
])
def test_bad_uploads_name_the_field(hz, body: dict, field: str) -> None:
    r = hz.client.post("/admin/rules", json=body, headers=hz.h("admin"))
    assert r.status_code == 422 and field in r.json()["detail"], r.json()
    assert _count(hz, t.rule_tables) == 0


def test_a_table_for_another_profile_is_checked_against_that_profile_and_leaves_this_one_alone(hz) -> None:
    deployed = hz.post("admin", "/admin/rules", {"profile": "jiangxi", "dmn": EDITED}, status=201)
    assert deployed["profile"] == "jiangxi" and deployed["version"] == 1
    pid = hz.post("owner1", "/projects", _filing(8000), status=201)["id"]  # this service runs "default"
    assert not _traffic(hz, pid)["selected"]


@pytest.mark.parametrize("who", ["owner1", "window1", "officer-zjj", "lead-zjj", "analyst1"])
def test_only_administrators_deploy(hz, who: str) -> None:
    r = hz.client.post("/admin/rules", json={"profile": "default", "dmn": EDITED}, headers=hz.h(who))
    assert r.status_code == 403
    assert hz.client.post("/admin/rules", json={"profile": "default", "dmn": EDITED}).status_code == 401
    assert _count(hz, t.rule_tables) == 0


def test_unknown_rules_id_is_404(hz) -> None:
    assert hz.client.get("/admin/rules/99", headers=hz.h("admin")).status_code == 404


def test_cli_deploys_a_table_and_refuses_a_broken_one(tmp_path) -> None:
    from typer.testing import CliRunner

    from engine.cli import app
    from engine.persistence.db import make_engine

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    edited, broken = tmp_path / "edited.dmn", tmp_path / "broken.dmn"
    edited.write_text(EDITED, encoding="utf-8")
    broken.write_text(BROKEN, encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(app, ["rules", "deploy", str(broken), "--profile", "default", "--db", url])
    assert refused.exit_code == 1 and "row 25 (Rule_025), column '总建筑面积（m²）'" in refused.output
    assert "nothing was deployed" in refused.output
    ok = runner.invoke(app, ["rules", "deploy", str(edited), "--profile", "jiangxi", "--db", url])
    assert ok.exit_code == 0 and "profile jiangxi rules version 1" in ok.output, ok.output
    with make_engine(url).connect() as conn:
        rows = conn.execute(select(t.rule_tables.c.profile, t.rule_tables.c.version, t.rule_tables.c.deployed_by)).all()
    assert [tuple(r) for r in rows] == [("jiangxi", 1, "cli")]
