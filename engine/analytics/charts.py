"""Charts for analysts (工改办 / 营商办): the measures as pictures, SVG or PNG.

Four kinds, each a function taking plain data from the ``subjects`` table (the same rows the measures in
:mod:`engine.analytics.measures` aggregate) and returning the file's bytes:

- :func:`stage_boxplots` — per stage, one box per project type of approval working days (审批用时), with the
  profile's stage limit (``catalogue.stage_limit_wd``) drawn over each box;
- :func:`project_gantt` — one project: a bar per matter grouped by stage, clock stops (补正, 特别程序) hatched,
  special procedures marked, and each stage's critical path highlighted;
- :func:`weekly_rates` — 办件逾期率 and 超时默许率 of the matters finished in each ISO week;
- :func:`department_bottlenecks` — mean and p90 approval working days per department, with matter counts.

matplotlib draws them with the non-interactive Agg backend through ``Figure`` objects (never ``pyplot``: no
global state, safe in a web server's threads). Chinese labels are drawn with the CJK font the package ships
(engine/analytics/fonts); were it missing and no installed font really drew Chinese, the labels would fall back
to English ids with a note logged once (never boxes without a word). SVG text is drawn as paths, so the
file looks the same on a machine without the font; the bars carry ``gid`` attributes (``matter:S1/…``,
``critical:S1/…``, ``stop:…``, ``special:…``) so the SVG can be checked and scripted.
"""

from __future__ import annotations

import io
import logging
import threading
from contextlib import contextmanager
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg", force=False)  # no display: never open a window, whatever the environment says

import networkx as nx  # noqa: E402
from matplotlib import dates as mdates  # noqa: E402
from matplotlib import lines as mlines  # noqa: E402
from matplotlib import ticker as mticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from sqlalchemy import Connection, case, func, select  # noqa: E402

from engine.analytics.fonts import cjk_font, installed_cjk_families  # noqa: E402
from engine.analytics.measures import Filters, conditions, bottlenecks  # noqa: E402
from engine.persistence import tables as t  # noqa: E402

__all__ = [
    "BUILDERS", "KINDS", "Format", "GanttRow", "cjk_font", "critical_path", "gantt_rows", "stage_boxplots", "project_gantt",
    "weekly_rates", "department_bottlenecks", "stage_boxplots_figure", "weekly_rates_figure",
    "department_bottlenecks_figure", "project_gantt_figure", "slowest_projects", "render", "write_charts",
]

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
Format = Literal["svg", "png"]
#: The analytics chart kinds (the Gantt is per project and is not among them).
KINDS: tuple[str, ...] = ("stage_boxplots", "weekly_rates", "department_bottlenecks")

_SHORT_TYPES = {"gov_building": "政府房建", "gov_municipal": "政府市政", "social_general": "社会一般",
                "social_small": "小型低风险", "land_with_scheme": "带方案出让"}
_STAGE_ORDER = {"S0": 0, "S1": 1, "S2": 2, "S3": 3, "S23": 3, "S4": 4, "S5": 5}
_s = t.subjects


# -- fonts --------------------------------------------------------------------------------------------------------
# the shipped CJK font and the real-coverage check live in engine/analytics/fonts (the analyst pages serve the file)


#: matplotlib's rcParams are one global dict: ``rc_context`` sets and then restores them, so two threads drawing
#: at once (the API draws in its thread pool; a page asks for several charts together) would restore each
#: other's fonts mid-draw and a chart would fall back to DejaVu Sans (boxes for Chinese). One re-entrant lock
#: makes building and saving a figure one critical section.
_STYLE_LOCK = threading.RLock()


@contextmanager
def _style() -> Iterator[None]:
    """The charts' rcParams (the CJK font first), held for the whole block and for no other thread."""
    with _STYLE_LOCK, matplotlib.rc_context(_rc()):
        yield


def _rc() -> dict[str, Any]:
    family = cjk_font()
    # the shipped font first; installed CJK fonts after it for a character outside its subset (matplotlib falls
    # back glyph by glyph along this list)
    others = [f for f in installed_cjk_families() if f != family] if family else []
    return {"font.family": "sans-serif", "font.sans-serif": ([family] if family else []) + others + ["DejaVu Sans"],
            "axes.unicode_minus": False, "svg.fonttype": "path", "svg.hashsalt": "gongai", "font.size": 9}


class _Labels:
    """Chinese labels when a CJK font exists, else the English text / ids (never tofu boxes)."""

    def __init__(self, catalogue: Any = None) -> None:
        self.zh = cjk_font() is not None
        self.catalogue = catalogue

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.zh else en

    def project_type(self, pid: str) -> str:
        if not self.zh:
            return pid
        if pid in _SHORT_TYPES:
            return _SHORT_TYPES[pid]
        return _name(self.catalogue, "project_types", pid)

    def stage(self, sid: str) -> str:
        return f"{sid} {_name(self.catalogue, 'stages', sid)}" if self.zh and self.catalogue else sid

    def department(self, did: str | None) -> str:
        if did is None:
            return "—"
        return _name(self.catalogue, "departments", did) if self.zh else did


def _name(catalogue: Any, attr: str, key: str) -> str:
    try:
        return getattr(catalogue, attr)[key].name
    except (AttributeError, KeyError, TypeError):
        return key


def _catalogue(catalogue: Any, filters: Filters) -> Any:
    if catalogue is not None:
        return catalogue
    from engine.domain.catalogue import load_catalogue

    return load_catalogue(filters.jurisdiction or "default")


def render(fig: Figure, fmt: Format = "svg") -> bytes:
    """The figure's file bytes (``svg`` or ``png``, 120 dpi)."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"format must be svg or png, not {fmt!r}")
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
    # the constrained layout is solved at the first save; keeping it makes the next format half the work
    fig.set_layout_engine("none")
    return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    with _style():
        return Figure(figsize=(width, height), layout="constrained")


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


# -- stage box plots ----------------------------------------------------------------------------------------------
def stage_boxplots_figure(conn: Connection, filters: Filters = Filters(), *, catalogue: Any = None) -> Figure:
    """Per stage, a box per project type of the approval working days of finished stages, against the limit."""
    catalogue = _catalogue(catalogue, filters)
    query = (select(_s.c.stage, _s.c.project_type, _s.c.approval_working_days)
             .where(*conditions(filters, "stage"), _s.c.ended_at.is_not(None), _s.c.approval_working_days.is_not(None)))
    values: dict[str, dict[str, list[float]]] = {}
    for stage, ptype, days in conn.execute(query):
        values.setdefault(stage, {}).setdefault(ptype, []).append(float(days))
    stages = sorted(values, key=lambda s: (_STAGE_ORDER.get(s, 9), s))
    label = _Labels(catalogue)
    with _style():
        ncols = min(4, max(1, len(stages)))
        nrows = -(-max(1, len(stages)) // ncols)
        fig = _figure(max(4.5, 3.4 * ncols), 3.3 * nrows + 0.6)
        axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
        for spare in axes[max(1, len(stages)):]:
            spare.set_visible(False)
        if not stages:
            _empty(axes[0], label("没有办结的阶段", "no finished stages"))
        for ax, stage in zip(axes, stages):
            types = sorted(values[stage])
            box = ax.boxplot([values[stage][p] for p in types], patch_artist=True, widths=0.55,
                             medianprops={"color": "black"}, flierprops={"markersize": 3})
            for patch in box["boxes"]:
                patch.set_facecolor("#9ecae1")
            for i, ptype in enumerate(types, start=1):
                try:
                    limit = catalogue.stage_limit_wd(ptype, stage)
                except Exception:  # noqa: BLE001 - not on this type's route in the profile: no limit to draw
                    continue
                ax.hlines(limit, i - 0.38, i + 0.38, colors="#d62728", linewidths=2, gid=f"limit:{stage}:{ptype}")
                ax.annotate(f"{limit}", (i + 0.38, limit), fontsize=7, color="#d62728", va="bottom")
            ax.set_xticks(range(1, len(types) + 1), [f"{label.project_type(p)}\nn={len(values[stage][p])}" for p in types],
                          fontsize=7)
            ax.set_title(label.stage(stage), fontsize=9)
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", alpha=0.3)
        axes[0].set_ylabel(label("审批用时（工作日）", "approval working days"))
        fig.legend(handles=[Patch(color="#9ecae1", label=label("审批用时", "approval time")),
                            Patch(color="#d62728", label=label("阶段时限", "stage limit (profile)"))],
                   loc="outside lower center", ncols=2, fontsize=8)
        fig.suptitle(label("各阶段审批用时（按项目类型）", "Stage approval time by project type"))
    return fig


# -- weekly rates -------------------------------------------------------------------------------------------------
def _weekly_counts(conn: Connection, filters: Filters) -> list[tuple[datetime, int, int, int]]:
    """(Monday 00:00 Shanghai, finished, overdue, 超时默许) for each ISO week a matter finished in."""
    base = [*conditions(filters, "matter"), _s.c.ended_at.is_not(None)]
    first, last = conn.execute(select(func.min(_s.c.ended_at), func.max(_s.c.ended_at)).where(*base)).one()
    if first is None:
        return []
    day = first.astimezone(SHANGHAI).date()
    monday = datetime.combine(day - timedelta(days=day.weekday()), datetime.min.time(), SHANGHAI)
    bounds = [monday]
    while bounds[-1] <= last:
        bounds.append(bounds[-1] + timedelta(days=7))
    # one grouped query: the week index as a CASE over the week boundaries (same SQL on SQLite and PostgreSQL)
    week = case(*[(_s.c.ended_at < b.astimezone(timezone.utc), i) for i, b in enumerate(bounds[1:])], else_=len(bounds))
    query = (select(week.label("w"), func.count(), func.sum(case((_s.c.overdue.is_(True), 1), else_=0)),
                    func.sum(case((_s.c.outcome == "silent_consent", 1), else_=0)))
             .where(*base).group_by(week).order_by(week))
    rows = {int(w): (int(n), int(o or 0), int(s or 0)) for w, n, o, s in conn.execute(query)}
    return [(bounds[i], *rows.get(i, (0, 0, 0))) for i in range(len(bounds) - 1)]


def weekly_rates_figure(conn: Connection, filters: Filters = Filters(), *, catalogue: Any = None) -> Figure:
    """办件逾期率 (committed limit) and 超时默许率 of the matters finished in each ISO week, with the counts."""
    weeks = _weekly_counts(conn, filters)
    label = _Labels(catalogue)
    with _style():
        fig = _figure(max(6.0, 0.35 * len(weeks) + 3), 4.0)
        ax = fig.subplots()
        if not weeks:
            _empty(ax, label("没有办结的事项", "no finished matters"))
        else:
            names = [f"{m.isocalendar().year % 100:02d}-W{m.isocalendar().week:02d}" for m, *_ in weeks]
            x = range(len(weeks))
            counts = ax.twinx()
            counts.bar(x, [n for _, n, _, _ in weeks], color="#dddddd", width=0.8, zorder=0,
                       label=label("办结事项数", "matters finished"))
            counts.set_ylabel(label("办结事项数", "matters finished"), color="grey")
            ax.set_zorder(counts.get_zorder() + 1)
            ax.patch.set_visible(False)

            def rate(num: int, den: int) -> float | None:
                return num / den if den else None

            overdue = [rate(o, n) for _, n, o, _ in weeks]
            silent = [rate(s, n) for _, n, _, s in weeks]
            ax.plot(x, [v if v is not None else float("nan") for v in overdue], "o-", color="#d62728",
                    label=label("逾期率", "overdue rate"), gid="overdue")
            ax.plot(x, [v if v is not None else float("nan") for v in silent], "s--", color="#ff7f0e",
                    label=label("超时默许率", "silent-consent rate (超时默许)" if label.zh else "silent-consent rate"),
                    gid="silent_consent")
            ax.set_xticks(list(x), names, rotation=60, fontsize=7)
            top = max([v for v in overdue + silent if v is not None] + [0.05])
            ax.set_ylim(0, min(1.0, top * 1.25))
            ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
            ax.set_ylabel(label("比率", "rate"))
            ax.grid(axis="y", alpha=0.3)
            handles = ax.get_legend_handles_labels()[0] + counts.get_legend_handles_labels()[0]
            ax.legend(handles=handles, loc="upper left", fontsize=8)
        ax.set_title(label("每周办件逾期率与超时默许率（按办结周）", "Overdue and silent-consent rate per ISO week finished"))
    return fig


# -- department bottlenecks ---------------------------------------------------------------------------------------
def department_bottlenecks_figure(conn: Connection, filters: Filters = Filters(), *, catalogue: Any = None, top: int = 15) -> Figure:
    """Horizontal bars of mean and p90 approval working days per department (the slowest on top), with counts and
    how often the department's matter was the one that held its stage open (关键路径)."""
    rows = bottlenecks(conn, filters, by="department", top=top)
    label = _Labels(catalogue if catalogue is not None else _catalogue(None, filters))
    with _style():
        fig = _figure(7.5, max(2.5, 0.42 * len(rows) + 1.4))
        ax = fig.subplots()
        if not rows:
            _empty(ax, label("没有办结的事项", "no finished matters"))
        else:
            rows = list(reversed(rows))  # barh draws bottom-up: the slowest ends on top
            y = range(len(rows))
            p90 = [r["p90"] or 0.0 for r in rows]
            mean = [r["mean"] or 0.0 for r in rows]
            ax.barh(y, p90, color="#c6dbef", height=0.7, label="p90")
            ax.barh(y, mean, color="#3182bd", height=0.4, label=label("平均", "mean"))
            for i, r in enumerate(rows):
                critical = (r.get("critical_path") or {}).get("rate")
                on_path = f"  {label('关键路径', 'critical')} {critical:.0%}" if critical is not None else ""
                ax.text(max(p90[i], mean[i]), i, f"  {mean[i]:.1f} / {p90[i]:.1f}  n={r['count']}{on_path}",
                        va="center", fontsize=7)
            ax.set_yticks(list(y), [label.department(r["group"]) for r in rows], fontsize=8)
            ax.set_xlim(0, max(p90 + mean) * 1.6 or 1)
            ax.set_xlabel(label("审批用时（工作日）", "approval working days"))
            ax.legend(loc="lower right", fontsize=8)
            ax.grid(axis="x", alpha=0.3)
        ax.set_title(label("部门审批用时（瓶颈排名）", "Department bottlenecks: approval working days"))
    return fig


# -- the Gantt of one project -------------------------------------------------------------------------------------
@dataclass
class GanttRow:
    """One bar: a stage or a matter, with its clock stops and special procedures (plain data, for tests too)."""

    key: str
    level: Literal["stage", "matter"]
    stage: str
    name: str
    department: str | None
    start: datetime
    end: datetime | None
    outcome: str | None
    overdue: bool | None
    stops: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)
    specials: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)
    critical: bool = False


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def critical_path(matters: Sequence[GanttRow], accepted: datetime, result: datetime | None, now: datetime) -> list[str]:
    """The longest chain of a stage's matters from 受理 to 出件, weighted by the matters' durations.

    The stage is a DAG: ``accepted`` → every matter → ``result``, and matter A → matter B when B started once A
    had ended in the same group (the same unit work in 竣工验收, where the rest follow the 先行验收 batch) or in a
    group inside B's (the stage's 联合验收意见书 follows every unit work's items). In a
    purely parallel stage that is the matter that ended last; with sequential batches it is the chain through
    the slowest matter of each batch. Ties (matters ending together) go to the first in (start, key) order.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(["accepted", "result"])

    def end(m: GanttRow) -> datetime:
        return m.end or result or now

    for m in matters:
        hours = max((end(m) - m.start).total_seconds() / 3600.0, 0.0)
        graph.add_edge("accepted", m.key, weight=0.0)
        graph.add_edge(m.key, "result", weight=hours)  # a matter's weight sits on its outgoing edges
        graph.nodes[m.key]["hours"] = hours
    for a in matters:
        for b in matters:
            group = b.key.rsplit("/", 1)[0]
            follows = a.key.rsplit("/", 1)[0] == group or a.key.startswith(group + "/")
            if a is not b and follows and b.start >= end(a) and end(a) > a.start:
                graph.add_edge(a.key, b.key, weight=graph.nodes[a.key]["hours"])
    if not matters:
        return []
    path = nx.dag_longest_path(graph, weight="weight", default_weight=0)
    return [node for node in path if node not in ("accepted", "result")]


def gantt_rows(conn: Connection, project_id: str, *, now: datetime | None = None) -> list[GanttRow]:
    """The project's stages and matters in stage order, each stage followed by its matters, critical ones marked."""
    now = now or datetime.now(timezone.utc)
    query = (select(_s.c.key, _s.c.level, _s.c.stage, _s.c.department, _s.c.started_at, _s.c.ended_at, _s.c.outcome,
                    _s.c.overdue, _s.c.state)
             .where(_s.c.project_id == project_id, _s.c.level.in_(("stage", "matter", "special")),
                    _s.c.started_at.is_not(None)))
    stages: dict[str, GanttRow] = {}
    matters: dict[str, GanttRow] = {}
    specials: list[tuple[str, datetime, datetime | None, str]] = []
    for r in conn.execute(query).mappings():
        state = r["state"] or {}
        start, end = _aware(r["started_at"]), _aware(r["ended_at"])
        if r["level"] == "special":
            parent = (state.get("attrs") or {}).get("matter_key") or r["key"].split("#", 1)[0]
            specials.append((parent, start, end, (state.get("attrs") or {}).get("procedure") or state.get("name") or "special"))
            continue
        row = GanttRow(key=r["key"], level=r["level"], stage=r["stage"] or "", name=state.get("name") or r["key"],
                       department=r["department"], start=start, end=end, outcome=r["outcome"], overdue=r["overdue"],
                       stops=[(_aware(s["start"]), _aware(s.get("end")), s.get("kind") or "") for s in state.get("stops", [])])
        (stages if r["level"] == "stage" else matters)[r["key"]] = row
    for parent, start, end, procedure in specials:
        if parent in matters:
            matters[parent].specials.append((start, end, procedure))
    out: list[GanttRow] = []
    for stage in sorted(stages.values(), key=lambda s: (s.start, _STAGE_ORDER.get(s.stage, 9))):
        own = sorted((m for m in matters.values() if m.stage == stage.stage), key=lambda m: (m.start, m.key))
        # the stage's path runs through what held it open, not 分阶段施工许可 phases started after it closed
        held = [m for m in own if stage.end is None or m.start < stage.end]
        for key in critical_path(held, stage.start, stage.end, now):
            matters[key].critical = True
        out += [stage, *own]
    return out


def project_gantt_figure(source: Any, project_id: str, *, catalogue: Any = None, now: datetime | None = None) -> Figure:
    """The timeline of one project. ``source`` is a Connection or an ApprovalService (whose clock gives 'now')."""
    if hasattr(source, "db") and hasattr(source, "clock"):
        now = now or source.clock.now()
        catalogue = catalogue if catalogue is not None else source.catalogue
        with source.db.connect() as conn:
            rows = gantt_rows(conn, project_id, now=now)
            ptype = conn.execute(select(t.projects.c.project_type).where(t.projects.c.id == project_id)).scalar()
    else:
        now = now or datetime.now(timezone.utc)
        rows = gantt_rows(source, project_id, now=now)
        ptype = source.execute(select(t.projects.c.project_type).where(t.projects.c.id == project_id)).scalar()
    label = _Labels(catalogue)
    local = (lambda d: d.astimezone(SHANGHAI))  # noqa: E731
    with _style():
        fig = _figure(11.0, max(2.5, 0.3 * len(rows) + 1.6))
        ax = fig.subplots()
        if not rows:
            _empty(ax, label("项目尚无计时记录", "no timed stages yet"))
        ticks: list[str] = []
        extent = [mdates.date2num(local(d)) for r in rows for d in (r.start, r.end or now)]
        min_width = (max(extent) - min(extent)) * 0.003 if extent else 0.0  # a 3-minute 秒办 stays visible
        for i, row in enumerate(rows):
            y = -i
            end = row.end or now
            width = max(mdates.date2num(local(end)) - mdates.date2num(local(row.start)), min_width)
            left = mdates.date2num(local(row.start))
            if row.level == "stage":
                colour = "#636363"
                ax.barh(y, width, left=left, height=0.5, color=colour, gid=f"stage:{row.key}")
                ticks.append(label.stage(row.stage))
            else:
                colour = "#d62728" if row.critical else ("#fdae6b" if row.outcome == "silent_consent" else "#6baed6")
                ax.barh(y, width, left=left, height=0.6, color=colour, edgecolor="black" if row.critical else "none",
                        linewidth=1.2 if row.critical else 0, gid=f"{'critical' if row.critical else 'matter'}:{row.key}")
                parts = row.key.split("/")
                name = row.name if label.zh else parts[-1]
                if len(parts) > 2:  # 竣工验收 per unit work: S4/U1/<matter>
                    name = f"{'/'.join(parts[1:-1])} {name}"
                ticks.append(f"  {name}")
            if row.end is None:
                ax.plot([mdates.date2num(local(now))], [y], marker=">", color=colour, markersize=5)
            for n, (s0, s1, kind) in enumerate(row.stops):
                s_end = s1 or row.end or now
                ax.barh(y, mdates.date2num(local(s_end)) - mdates.date2num(local(s0)), left=mdates.date2num(local(s0)),
                        height=0.6, color="#e0e0e0", hatch="///", edgecolor="#555555", linewidth=0,
                        gid=f"stop:{row.key}:{n}:{kind}")
            for n, (s0, s1, procedure) in enumerate(row.specials):
                ax.plot([mdates.date2num(local(s0))], [y + 0.38], marker="v", color="#6a3d9a", markersize=6,
                        gid=f"special:{row.key}:{n}:{procedure}")
                ax.annotate(label("特别程序", procedure), (mdates.date2num(local(s0)), y + 0.38), fontsize=6,
                            color="#6a3d9a", xytext=(3, 2), textcoords="offset points")
        if rows:
            ax.set_yticks([-i for i in range(len(rows))], ticks, fontsize=7)
            ax.xaxis_date(tz=SHANGHAI)
            locator = mdates.AutoDateLocator(tz=SHANGHAI, maxticks=12)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=SHANGHAI))
            ax.grid(axis="x", alpha=0.3)
            ax.set_ylim(-len(rows) + 0.4, 0.8)
        fig.legend(handles=[Patch(color="#636363", label=label("阶段", "stage")),
                           Patch(color="#6baed6", label=label("事项", "matter")),
                           Patch(facecolor="#d62728", edgecolor="black", label=label("关键路径", "critical path")),
                           Patch(color="#fdae6b", label=label("超时默许", "silent consent")),
                           Patch(facecolor="#e0e0e0", hatch="///", edgecolor="#555555", label=label("停表（补正/特别程序）", "clock stopped")),
                           mlines.Line2D([], [], marker="v", color="#6a3d9a", linestyle="",
                                                   label=label("特别程序", "special procedure"))],
                  loc="outside lower center", ncols=6, fontsize=7)
        ax.set_title(f"{project_id} {label.project_type(ptype) if ptype else ''} — " + label("审批甘特图（上海时间）",
                                                                                           "approval timeline (Shanghai time)"))
    return fig


# -- the file bytes ------------------------------------------------------------------------------------------------
def stage_boxplots(conn: Connection, filters: Filters = Filters(), *, catalogue: Any = None, fmt: Format = "svg") -> bytes:
    """Per stage, a box per project type of the approval working days of finished stages, against the limit."""
    return render(stage_boxplots_figure(conn, filters, catalogue=catalogue), fmt)


def weekly_rates(conn: Connection, filters: Filters = Filters(), *, catalogue: Any = None, fmt: Format = "svg") -> bytes:
    """办件逾期率 (committed limit) and 超时默许率 of the matters finished in each ISO week, with the counts."""
    return render(weekly_rates_figure(conn, filters, catalogue=catalogue), fmt)


def department_bottlenecks(conn: Connection, filters: Filters = Filters(), *, catalogue: Any = None, top: int = 15,
                           fmt: Format = "svg") -> bytes:
    """Mean and p90 approval working days per department, the slowest on top, with matter counts."""
    return render(department_bottlenecks_figure(conn, filters, catalogue=catalogue, top=top), fmt)


def project_gantt(source: Any, project_id: str, *, catalogue: Any = None, now: datetime | None = None,
                  fmt: Format = "svg") -> bytes:
    """The timeline of one project; ``source`` is a Connection or an ApprovalService (its clock gives 'now')."""
    return render(project_gantt_figure(source, project_id, catalogue=catalogue, now=now), fmt)


#: chart kind → figure builder (conn, filters, catalogue=…), for the CLI and the API.
BUILDERS: dict[str, Any] = {"stage_boxplots": stage_boxplots_figure, "weekly_rates": weekly_rates_figure,
                            "department_bottlenecks": department_bottlenecks_figure}


# -- all of them --------------------------------------------------------------------------------------------------
def slowest_projects(conn: Connection, filters: Filters = Filters(), *, count: int = 3) -> list[str]:
    """The projects with the longest whole-process approval time (finished or not), slowest first."""
    query = (select(_s.c.project_id).where(*conditions(replace(filters, stage=None, department=None, matter=None,
                                                                since=None, until=None), "project"),
                                           _s.c.approval_working_days.is_not(None))
             .order_by(_s.c.approval_working_days.desc(), _s.c.project_id).limit(count))
    return [r[0] for r in conn.execute(query)]


def write_charts(db: Any, out_dir: Path | str, filters: Filters = Filters(), *, catalogue: Any = None,
                 gantt_projects: int | Iterable[str] = 3, formats: Sequence[Format] = ("svg", "png"),
                 now: datetime | None = None) -> list[Path]:
    """Write every chart kind (and the Gantt of the ``gantt_projects`` slowest projects, or of the ids given)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    catalogue = _catalogue(catalogue, filters)
    written: list[Path] = []
    with db.connect() as conn:
        ids = slowest_projects(conn, filters, count=gantt_projects) if isinstance(gantt_projects, int) else list(gantt_projects)
        figures = [(kind, build(conn, filters, catalogue=catalogue)) for kind, build in BUILDERS.items()]
        figures += [(f"gantt_{pid}", project_gantt_figure(conn, pid, catalogue=catalogue, now=now)) for pid in ids]
    for name, fig in figures:  # each figure is laid out once and saved in every format
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            path.write_bytes(render(fig, fmt))
            written.append(path)
    return written
