"""The analytics charts: valid SVG and PNG for every kind, a hand-built project's Gantt (its matters, its clock
stop, its 专家评审 and its critical matter), the critical path of sequential batches, the API routes with their
authorisation, and ``gongai report --charts``.

The projects are those of tests/analytics_scenario.py, driven through the real ApprovalService on a virtual
clock. Project A's S1: 节能审查 is stopped for 补正 (3 → 5 Nov) and approved last (5 Nov 15:00), so it is the
stage's critical path; 核准 had a 专家评审.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from typer.testing import CliRunner

from engine.analytics import charts, fonts
from engine.analytics.charts import GanttRow
from engine.analytics.measures import Filters
from engine.services.users import UserStore
from tests.analytics_scenario import build

pytestmark = pytest.mark.filterwarnings("ignore::engine.domain.workcalendar.CalendarDataMissing")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("charts") / "charts.db"
    service, ids = build(f"sqlite:///{path}")
    return service, ids, path


def gids(svg: bytes) -> set[str]:
    root = etree.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    return {el.get("id") for el in root.iter() if el.get("id")}


@pytest.mark.parametrize("kind", ["stage_boxplots", "weekly_rates", "department_bottlenecks"])
def test_each_analytics_chart_is_valid_svg_and_png(scenario, kind: str) -> None:
    service, _, _ = scenario
    build_chart = getattr(charts, kind)
    with service.db.connect() as conn:
        svg = build_chart(conn, Filters(), catalogue=service.catalogue, fmt="svg")
        png = build_chart(conn, Filters(), catalogue=service.catalogue, fmt="png")
    assert etree.fromstring(svg).tag == f"{SVG_NS}svg"
    assert png.startswith(PNG_MAGIC) and len(png) > 1000


def test_box_plots_draw_the_profile_limit_of_each_type(scenario) -> None:
    service, _, _ = scenario
    with service.db.connect() as conn:
        ids = gids(charts.stage_boxplots(conn, Filters(), catalogue=service.catalogue))
    assert "limit:S1:social_general" in ids  # S1 of social_general finished in A and C (B's S1 too)


def test_filters_that_match_nothing_still_give_a_chart(scenario) -> None:
    service, _, _ = scenario
    nothing = Filters(project_type="gov_building")
    with service.db.connect() as conn:
        for kind in ("stage_boxplots", "weekly_rates", "department_bottlenecks"):
            assert etree.fromstring(getattr(charts, kind)(conn, nothing, catalogue=service.catalogue)) is not None


def test_weekly_counts_bucket_matters_by_the_iso_week_they_finished(scenario) -> None:
    service, _, _ = scenario
    with service.db.connect() as conn:
        weeks = charts._weekly_counts(conn, Filters())
    assert all(monday.weekday() == 0 for monday, *_ in weeks)
    by_week = {monday.date().isoformat(): (n, overdue, silent) for monday, n, overdue, silent in weeks}
    # C: 4 matters on Fri 9 Oct (none overdue: 2 working days across 国庆); A and B's S1 in the week of 2 Nov
    assert by_week["2026-10-05"][0] == 4 and by_week["2026-10-05"][1] == 0
    assert by_week["2026-10-12"][0] == 0  # an empty week is shown, not skipped
    assert by_week["2026-11-02"][0] >= 8
    assert sum(s for _, _, s in by_week.values()) == 2  # the two 超时默许 of B


def test_gantt_rows_of_the_hand_built_project(scenario) -> None:
    service, ids, _ = scenario
    with service.db.connect() as conn:
        rows = charts.gantt_rows(conn, ids["A"], now=service.clock.now())
    assert [r.key for r in rows if r.level == "stage"] == ["S1"]
    matters = {r.key: r for r in rows if r.level == "matter"}
    assert set(matters) == {"S1/s1_project_ratification", "S1/s1_land_presite", "S1/s1_land_use_planning_permit",
                            "S1/s1_energy_review"}
    assert [k for k, r in matters.items() if r.critical] == ["S1/s1_energy_review"]
    stop = matters["S1/s1_energy_review"].stops
    assert [(s.isoformat(), e.isoformat(), kind) for s, e, kind in stop] == [
        ("2026-11-03T01:00:00+00:00", "2026-11-05T01:00:00+00:00", "correction")]
    assert [p for _, _, p in matters["S1/s1_project_ratification"].specials] == ["expert_review"]


def test_gantt_svg_marks_the_critical_matter_the_stop_and_the_special_procedure(scenario) -> None:
    service, ids, _ = scenario
    svg = charts.project_gantt(service, ids["A"], fmt="svg")
    found = gids(svg)
    assert "stage:S1" in found
    assert "critical:S1/s1_energy_review" in found
    assert {"matter:S1/s1_project_ratification", "matter:S1/s1_land_presite",
            "matter:S1/s1_land_use_planning_permit"} <= found
    assert "stop:S1/s1_energy_review:0:correction" in found
    assert "special:S1/s1_project_ratification:0:expert_review" in found
    assert charts.project_gantt(service, ids["A"], fmt="png").startswith(PNG_MAGIC)


def test_gantt_of_an_open_stage_runs_to_now(scenario) -> None:
    service, ids, _ = scenario
    with service.db.connect() as conn:
        rows = charts.gantt_rows(conn, ids["B"], now=service.clock.now())
    s2 = [r for r in rows if r.stage == "S2"]
    assert s2[0].level == "stage" and s2[0].end is None
    critical = [r for r in s2 if r.critical]
    # 人防 approved late on 12 Nov 10:00, when the two 超时默许 lapsed too: one of those that ended last,
    # the first in (start, key) order on a tie
    last = max(r.end for r in s2 if r.level == "matter")
    assert len(critical) == 1 and critical[0].end == last
    assert critical[0].key == "S2/s2_civil_defense_design_opinion"


def _row(key: str, start: datetime, hours: float) -> GanttRow:
    return GanttRow(key=key, level="matter", stage="S4", name=key, department=None, start=start,
                    end=start + timedelta(hours=hours), outcome="approved", overdue=False)


def test_critical_path_follows_sequential_batches() -> None:
    t0 = datetime(2026, 10, 12, 1, 0, tzinfo=timezone.utc)
    # U1: 先行验收 of fire (48 h) and planning (10 h); then archives (20 h) and the filing (5 h) after the early opinion
    fire, planning = _row("S4/U1/fire", t0, 48), _row("S4/U1/planning", t0, 10)
    archives = _row("S4/U1/archives", fire.end + timedelta(hours=2), 20)
    filing = _row("S4/U1/filing", archives.end, 5)
    # U2 runs in parallel and ends earlier: not critical
    other = _row("S4/U2/fire", t0, 30)
    path = charts.critical_path([fire, planning, archives, filing, other], t0, filing.end, filing.end)
    assert path == ["S4/U1/fire", "S4/U1/archives", "S4/U1/filing"]
    # a purely parallel stage: the matter that ended last
    assert charts.critical_path([planning, other], t0, other.end, other.end) == ["S4/U2/fire"]
    assert charts.critical_path([], t0, None, t0) == []


def test_without_a_cjk_font_labels_are_english_and_a_note_is_logged(scenario, monkeypatch, caplog, tmp_path) -> None:
    service, ids, _ = scenario
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    label = charts._Labels(service.catalogue)
    assert label("阶段", "stage") == "stage" and label.project_type("social_general") == "social_general"
    assert charts.project_gantt(service, ids["A"], fmt="png").startswith(PNG_MAGIC)
    # the real detector logs its note when the shipped font is gone and nothing installed really draws Chinese
    monkeypatch.undo()
    fonts.cjk_font.cache_clear()
    fonts.installed_cjk_families.cache_clear()
    monkeypatch.setattr(fonts, "FONT_FILE", tmp_path / "missing.ttf")
    monkeypatch.setattr(fonts, "covers", lambda path, text="": False)
    with caplog.at_level(logging.WARNING, logger="engine.analytics.charts"):
        assert fonts.cjk_font() is None
    assert "no CJK font" in caplog.text
    monkeypatch.undo()
    fonts.cjk_font.cache_clear()
    fonts.installed_cjk_families.cache_clear()


def _cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_the_fallback_font_does_not_pass_for_a_cjk_font() -> None:
    """matplotlib's Last Resort font maps every character to a placeholder box: it covers nothing."""
    from matplotlib import font_manager

    last_resort = [f.fname for f in font_manager.fontManager.ttflist if "last resort" in f.name.lower()]
    dejavu = font_manager.findfont("DejaVu Sans")
    assert fonts.covers(fonts.FONT_FILE) and fonts.covers(fonts.FONT_FILE, "联合验收率逾期默许")
    assert not fonts.covers(dejavu)
    for path in last_resort:  # bundled since matplotlib 3.10
        assert not fonts.covers(path)


@pytest.mark.parametrize("kind", ["stage_boxplots", "department_bottlenecks"])
def test_chinese_labels_are_drawn_with_a_real_cjk_font(scenario, kind: str) -> None:
    """Render a chart and ask the Agg renderer which font file draws each Chinese character of each label."""
    import matplotlib
    from matplotlib import font_manager
    from matplotlib._text_helpers import layout  # how the renderers pick a face per character (with fallback)
    from matplotlib.backends.backend_agg import get_font
    from matplotlib.text import Text

    service, _, _ = scenario
    with service.db.connect() as conn:
        fig = getattr(charts, f"{kind}_figure")(conn, Filters(), catalogue=service.catalogue)
    assert charts.render(fig, "png").startswith(PNG_MAGIC)
    texts = [t for t in fig.findobj(Text) if _cjk(t.get_text())]
    assert texts, "the chart has Chinese labels"
    with matplotlib.rc_context(charts._rc()):  # the fonts a save resolves 'sans-serif' to
        for text in texts:
            font = get_font(font_manager.fontManager._find_fonts_by_props(text.get_fontproperties()))
            font.set_size(text.get_fontsize(), 72)
            for item in layout(text.get_text(), font):
                ch, face = item.char, item.ft_object
                if _cjk(ch):
                    assert "lastresort" not in Path(face.fname).name.lower(), (text.get_text(), ch, face.fname)
                    assert fonts.covers(face.fname, ch), (text.get_text(), ch, face.fname)
                    assert Path(face.fname) == fonts.FONT_FILE, (ch, face.fname)


# -- API ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(scenario):
    from api.app import create_app

    service, ids, _ = scenario
    store = UserStore(service.db)
    tokens = {name: store.add(name, role, **kw)[1] for name, role, kw in [
        ("owner-1", "owner", {}), ("owner-2", "owner", {}), ("analyst-1", "analyst", {}),
        ("officer-fgw", "agency", {"department": "fgw"}), ("officer-rf", "agency", {"department": "rf"})]}
    client = TestClient(create_app(service), raise_server_exceptions=False)
    return client, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}, ids


@pytest.mark.parametrize("kind", ["stage_boxplots", "weekly_rates", "department_bottlenecks"])
def test_api_serves_analytics_charts_to_analysts(api, kind: str) -> None:
    client, h, _ = api
    svg = client.get(f"/analytics/charts/{kind}.svg", headers=h["analyst-1"], params={"project_type": "social_general"})
    assert svg.status_code == 200, svg.text
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert etree.fromstring(svg.content).tag == f"{SVG_NS}svg"
    png = client.get(f"/analytics/charts/{kind}.png", headers=h["analyst-1"], params={"since": "2026-11-01"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content.startswith(PNG_MAGIC)


def test_api_analytics_charts_refuse_owners_and_unknown_kinds(api) -> None:
    client, h, _ = api
    assert client.get("/analytics/charts/stage_boxplots.svg", headers=h["owner-1"]).status_code == 403
    assert client.get("/analytics/charts/stage_boxplots.svg").status_code == 401
    assert client.get("/analytics/charts/pie.svg", headers=h["analyst-1"]).status_code == 422
    assert client.get("/analytics/charts/weekly_rates.gif", headers=h["analyst-1"]).status_code == 422


def test_api_gantt_is_authorised_like_the_project_view(api) -> None:
    client, h, ids = api
    url = f"/projects/{ids['A']}/gantt.svg"
    for who in ("owner-1", "analyst-1", "officer-fgw"):  # the owner, an analyst, a department of its S1
        r = client.get(url, headers=h[who])
        assert r.status_code == 200, (who, r.text)
        assert r.headers["content-type"].startswith("image/svg+xml")
        assert "critical:S1/s1_energy_review" in gids(r.content)
    assert client.get(f"/projects/{ids['A']}/gantt.png", headers=h["owner-1"]).content.startswith(PNG_MAGIC)
    assert client.get(url, headers=h["owner-2"]).status_code in (403, 404)  # another owner's project
    assert client.get(url, headers=h["officer-rf"]).status_code in (403, 404)  # 人防 is not in A's S1
    assert client.get("/projects/P2099-999999/gantt.svg", headers=h["analyst-1"]).status_code == 404


# -- CLI ------------------------------------------------------------------------------------------------------------
def test_report_charts_writes_every_kind_as_svg_and_png(scenario, tmp_path: Path) -> None:
    from engine.cli import app

    _, ids, path = scenario
    out = tmp_path / "charts"
    result = CliRunner().invoke(app, ["report", "--db", f"sqlite:///{path}", "--format", "json", "--charts", str(out),
                                      "--gantts", "2"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    kinds = ["department_bottlenecks", "stage_boxplots", "weekly_rates"]
    assert [n for n in names if not n.startswith("gantt_")] == sorted(f"{k}.{f}" for k in kinds for f in ("png", "svg"))
    gantts = [n for n in names if n.startswith("gantt_")]
    assert len(gantts) == 4 and all(n.split("_", 1)[1].rsplit(".", 1)[0] in ids.values() for n in gantts)
    for p in out.iterdir():
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) if p.suffix == ".png" else etree.fromstring(data) is not None


def test_api_unknown_jurisdiction_is_422_not_a_server_error(api) -> None:
    client, h, _ = api
    for bad in ("checks", "..", "x.yaml"):
        r = client.get("/analytics/charts/stage_boxplots.svg", headers=h["analyst-1"], params={"jurisdiction": bad})
        assert r.status_code == 422, (bad, r.text)
    ok = client.get("/analytics/charts/stage_boxplots.svg", headers=h["analyst-1"], params={"jurisdiction": "jiangxi"})
    assert ok.status_code == 200


def test_demo_writes_the_charts_next_to_report_json(tmp_path: Path) -> None:
    from engine.cli import app

    result = CliRunner().invoke(app, ["demo", "--projects", "4", "--jobs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in tmp_path.iterdir()}
    assert "report.json" in names
    assert {f"{k}.{f}" for k in ("stage_boxplots", "weekly_rates", "department_bottlenecks") for f in ("svg", "png")} <= names
    assert any(n.startswith("gantt_") and n.endswith(".png") for n in names)
    assert {"scoring.xlsx", "scoring.json"} <= names  # the scoring sheet (engine/analytics/scoring.py)


@pytest.mark.parametrize("params, named", [
    ({"project_type": "castle"}, "'castle'"),
    ({"stage": "S9"}, "'S9'"),
    ({"department": "nowhere"}, "'nowhere'"),
    ({"matter": "s9_magic"}, "'s9_magic'"),
    ({"jurisdiction": "atlantis"}, "'atlantis'"),
    ({"since": "2026-12-01", "until": "2026-11-01"}, "is not before until"),
])
def test_api_chart_filters_are_checked_like_the_report(api, params: dict[str, str], named: str) -> None:
    """The chart route gives the same 422 problems as /analytics/report, not an empty chart."""
    client, h, _ = api
    for url in ("/analytics/charts/stage_boxplots.svg", "/analytics/report"):
        r = client.get(url, headers=h["analyst-1"], params=params)
        assert r.status_code == 422, (url, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert named in r.json()["detail"], (url, r.json())


def test_api_chart_profiles_come_from_the_service_catalogue_root(scenario, tmp_path: Path) -> None:
    """A profile that exists only under the service's catalogue root is a known jurisdiction for the charts."""
    import shutil

    from api.app import create_app
    from engine.domain.catalogue import DEFAULT_ROOT, load_catalogue
    from engine.services.approval import ApprovalService

    service, _, _ = scenario
    root = tmp_path / "workflows"
    shutil.copytree(DEFAULT_ROOT, root)
    shutil.copy(root / "profiles" / "jiangxi.yaml", root / "profiles" / "ganzhou.yaml")
    own = ApprovalService(service.db, catalogue=load_catalogue("default", root=root), clock=service.clock)
    _, token = UserStore(service.db).add("analyst-root", "analyst")
    client = TestClient(create_app(own), raise_server_exceptions=False)
    r = client.get("/analytics/charts/stage_boxplots.svg", headers={"Authorization": f"Bearer {token}"},
                   params={"jurisdiction": "ganzhou"})
    assert r.status_code == 200, r.text
    assert etree.fromstring(r.content).tag == f"{SVG_NS}svg"


def test_charts_drawn_in_threads_keep_their_font(scenario) -> None:
    """rcParams are global: threads drawing at once (the API's pool, a page asking for several charts) must not
    restore each other's fonts mid-draw — every PNG equals the one drawn alone."""
    from concurrent.futures import ThreadPoolExecutor

    service, _, path = scenario
    from engine.persistence.db import make_engine

    engine = make_engine(f"sqlite:///{path}")

    def draw(kind: str) -> bytes:
        with engine.connect() as conn:
            return charts.render(charts.BUILDERS[kind](conn, Filters(), catalogue=service.catalogue), "png")

    kinds = ["stage_boxplots", "department_bottlenecks", "weekly_rates"] * 3
    alone = {kind: draw(kind) for kind in set(kinds)}
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(draw, kinds))
    assert all(png == alone[kind] for kind, png in zip(kinds, together))
