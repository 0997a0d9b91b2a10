"""The analysts' measures (工改办 / 营商办 KPIs), computed by the database.

Every measure is one or a few SQL aggregations over the ``subjects`` table (one row per timed stage, matter,
special procedure, post-check and whole process, with its figures already in columns) and, for the commitment
share, the ``events`` log. Nothing loads the log into Python: 100,000 projects must report in seconds.

Definitions (docs/analytics.md has the long form):

- **Distributions** (跨度用时 / 审批用时): over *finished* subjects; count, mean, median, p90, max of the span and
  of the approval time, each in natural and working days. The median is the mean of the two middle values for
  an even count; p90 is the nearest-rank value (the ⌈0.9·n⌉-th smallest). PostgreSQL computes both itself
  (``percentile_cont`` / ``percentile_disc``). SQLite has no percentile function: the values are read at their
  rank from partial indexes that keep them sorted per group, each entry followed by the two filter keys (below),
  so a filtered median is an index walk like an unfiltered one.
- **Overdue rate** (办件逾期率): finished items whose result came after the committed (承诺) or the statutory
  (法定) due date, over finished items. 超时默许 matters are counted in their own rate, not as overdue.
- **并联审批率**: share of matters whose handling overlapped another matter of the same project and stage
  (the engine stores from when each matter counts, ``parallel_after``, migration 0005).
- **容缺 / 告知承诺 share**: accepted stages taken in with missing materials / with a signed commitment;
  **broken commitments**: of the stages with a commitment, those whose permit was revoked (撤销).
- **联合验收率**: finished completion-acceptance stages (S4) in which two or more departments accepted.
- **体外循环 suspects**: finished matters that are not filings (备案) and took less than a threshold.

Filters: ``project_type`` and ``jurisdiction`` (the project's profile) apply to everything; ``stage`` to
everything below the whole process; ``department`` and ``matter`` to matter-level measures (matters,
special procedures, post-checks); ``since``/``until`` to the subject's start (受理 in the period). Every
``subjects`` row carries them as two keys, ``facet`` (its type, profile, stage, department and matter as one
id) and ``started_us`` (engine/persistence/facets.py), which every analytics index holds: any filter is tested
on index entries, never on the wide table rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    ColumnElement,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from sqlalchemy.dialects.sqlite.base import SQLiteCompiler

from engine.domain.divisions import prefix as division_prefix
from engine.persistence import tables as t
from engine.persistence.facets import instant_us

__all__ = [
    "Filters", "METRICS", "ALWAYS", "conditions", "parallel_after", "last_to_finish", "distribution", "stage_durations", "process_durations", "department_durations",
    "matter_durations", "bottlenecks", "overdue_rates", "silent_consent_rate", "parallel_rate",
    "tolerance_and_commitment", "joint_acceptance_rate", "special_procedures", "off_system_suspects",
    "report", "divisions_present", "report_by_division",
]

Level = Literal["project", "stage", "matter", "special", "check", "filing"]
GroupBy = Literal["stage", "department", "matter_id", "project_type", "procedure"] | None

#: The whole working days used (受理次日起算, as a clerk counts, engine/domain/timing.py): the integer reported beside
#: the decimal ``approval_working_days`` in every distribution.
WHOLE_DAYS = "approval_days_used"
#: The same count for the span (stops included), beside ``span_working_days``.
SPAN_WHOLE_DAYS = "span_days_used"
#: The duration columns every distribution reports.
METRICS: tuple[str, ...] = ("span_natural_days", "span_working_days", "approval_natural_days", "approval_working_days",
                            WHOLE_DAYS, SPAN_WHOLE_DAYS)

_s = t.subjects


@dataclass(frozen=True)
class Filters:
    """What to measure. ``None`` means no restriction. Instants are aware; they bound the subject's start."""

    project_type: str | None = None
    stage: str | None = None
    department: str | None = None
    matter: str | None = None
    jurisdiction: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    division: str | None = None
    """行政区划代码: a province, city or county code; a city takes in its counties (engine/domain/divisions.py)."""
    division_exact: bool = False
    """Match ``division`` itself only, not the counties under a city (one group of ``group_by=division``); with
    ``division`` None: the projects filed without a division."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()
                if v is not None and v is not False}


def _facet_ids(f: Filters, level: Level) -> Any | None:
    """The ``subject_facets`` ids matching the filter dimensions that apply at ``level`` (None: no restriction)."""
    fc = t.subject_facets.c
    wanted: dict[str, str | None] = {"project_type": f.project_type, "profile": f.jurisdiction}
    if level != "project":
        wanted["stage"] = f.stage
    if level in ("matter", "special", "check"):
        wanted.update(department=f.department, matter_id=f.matter)
    conds = [fc[name] == value for name, value in wanted.items() if value is not None]
    if f.division_exact:  # one group of group_by=division: the code itself (or no code at all)
        conds.append(fc.division_code.is_(None) if f.division is None else fc.division_code == f.division)
    elif f.division is not None:  # a city takes in its counties: the code's prefix (360700 → 3607%)
        conds.append(fc.division_code.like(division_prefix(f.division) + "%"))
    return select(fc.id).where(*conds) if conds else None


def conditions(f: Filters, level: Level, table: Any = _s) -> list[ColumnElement[bool]]:
    """The filter at ``level`` as conditions on the two analytics keys every subject row carries (``facet``,
    ``started_us``): what every analytics index holds, so no filter needs the table's rows
    (engine/persistence/facets.py). Anything that counts subjects for analysts filters through this."""
    c: list[ColumnElement[bool]] = [table.c.level == level] if "level" in table.c else []
    ids = _facet_ids(f, level)
    if ids is not None:
        c.append(table.c.facet.in_(ids))
    if f.since is not None:
        c.append(table.c.started_us >= instant_us(f.since))
    if f.until is not None:
        c.append(table.c.started_us < instant_us(f.until))
    return c


def _indexed(query: Any, index: str, table: Any = _s) -> Any:
    """Pin SQLite to ``index``: its planner, with or without ANALYZE statistics, sometimes walks another index
    and fetches every row of the level from the wide table instead (seconds at 100,000 projects). Other databases
    plan for themselves."""
    return query.with_hint(table, f"INDEXED BY {index}", "sqlite")


def _sqlite_from_hint(self: Any, table: Any, text: str) -> str:
    return text  # ``subjects INDEXED BY ix`` — SQLAlchemy renders from-hints only where a dialect asks for them


SQLiteCompiler.get_from_hint_text = _sqlite_from_hint  # type: ignore[method-assign]


def _rate(numerator: Any, denominator: Any) -> dict[str, Any]:
    num, den = int(numerator or 0), int(denominator or 0)
    return {"count": num, "of": den, "rate": round(num / den, 4) if den else None}


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


# -- distributions ------------------------------------------------------------------------------------------------
#: (level, group) → the index family keeping the finished subjects' values sorted per group, each followed by the
#: two filter keys (``ix_subjects_done_<family>[_<metric>]``, migration 0007). The whole process (level
#: ``project``) has no stage, so the stage family holds it as one more group (stage IS NULL); per project type
#: it has a family of its own, partial on ``level = 'project'`` (written literally so SQLite can match it).
_INDEX_ORDERED: dict[tuple[str, str], str] = {("matter", "department"): "department", ("matter", "matter_id"): "matter",
                                              ("stage", "stage"): "stage", ("project", ""): "stage",
                                              ("project", "project_type"): "project"}
_FAMILY_GROUP = {"department": "department", "matter": "matter_id", "stage": "stage", "project": "project_type"}
_SUFFIX = {"span_natural_days": "", "span_working_days": "_swd", "approval_natural_days": "_and",
           "approval_working_days": "_awd", WHOLE_DAYS: "_dused", SPAN_WHOLE_DAYS: "_sdused"}
#: The metrics the first index of a family holds (count, mean and max of them in one walk); any other metric is
#: aggregated over its own sorted index (``_dused``, migration 0060).
_COVERED = frozenset(("span_natural_days", "span_working_days", "approval_natural_days", "approval_working_days"))


def _index_ordered(level: Level, by: GroupBy, filters: Filters = Filters()) -> bool:
    """True when an index keeps this distribution's values sorted: any filter is then read from the index too."""
    return (level, by or "") in _INDEX_ORDERED


def _ranks(n: int) -> tuple[int, int, int]:
    """1-based ranks of the two middle values and of the nearest-rank p90 (the ⌈0.9·n⌉-th smallest)."""
    return (n + 1) // 2, (n + 2) // 2, (n * 9 + 9) // 10


def distribution(conn: Connection, level: Level, by: GroupBy, filters: Filters = Filters(),
                 metrics: tuple[str, ...] = METRICS) -> list[dict[str, Any]]:
    """count / mean / median / p90 / max of each metric over finished subjects of ``level``, per group.

    PostgreSQL computes the order statistics itself (``percentile_cont(0.5)`` is the median as defined above,
    ``percentile_disc(0.9)`` the nearest-rank p90). SQLite has no percentile function; there, where an index
    keeps the values sorted (``_INDEX_ORDERED``), one walk of it gives each group's count, mean and max, and the
    order statistics are read at their ranks — ``ORDER BY v LIMIT 2 OFFSET k`` for the middle pair and the same
    from the top for p90 — with the filter tested on the index entries' own keys: no sort, no table rows, and
    the same cost for any filter. Elsewhere (special procedures) one ``ROW_NUMBER`` pass over the filtered rows
    keeps only the wanted ranks.
    """
    if conn.dialect.name == "postgresql":
        groups, order = _percentiles_in_sql(conn, level, by, filters, metrics)
    elif _index_ordered(level, by, filters):
        groups, order = _walk_indexes(conn, level, by, filters, metrics)
    else:
        groups, order = _row_numbers(conn, level, by, filters, metrics)
    out: list[dict[str, Any]] = []
    for row in groups:
        item: dict[str, Any] = {"group": row["g"], "count": int(row["count"])}
        if "critical" in row:
            item["critical_path"] = _rate(row["critical"], row["count"])
        for m in metrics:
            n = int(row[f"{m}__n"])
            stats: dict[str, Any] = {"mean": _round(row[f"{m}__mean"]), "median": None, "p90": None,
                                     "max": _round(row[f"{m}__max"])}
            if n:
                median, p90 = order[(row["g"], m)]
                stats["median"], stats["p90"] = _round(median), _round(p90)
            item[m] = stats
        out.append(item)
    return out


_Order = dict[tuple[Any, str], tuple[float, float]]  # (group, metric) → (median, p90)


def _order_statistics(n: int, values: dict[int, float]) -> tuple[float, float]:
    """The median and p90 from the values at the ranks ``_ranks(n)`` gives."""
    lo, hi, p90 = _ranks(n)
    return (values[lo] + values[hi]) / 2, values[p90]


def _aggregates(source: Any, metrics: tuple[str, ...], level: Level) -> list[Any]:
    cols: list[Any] = [func.count().label("count")]
    if level == "matter":  # 关键路径: how often the group's matter was the one that held its stage open
        cols.append(func.sum(case((source.c.critical.is_(True), 1), else_=0)).label("critical"))
    for m in metrics:
        cols += [func.count(source.c[m]).label(f"{m}__n"), func.avg(source.c[m]).label(f"{m}__mean"),
                 func.max(source.c[m]).label(f"{m}__max")]
    return cols


def _percentiles_in_sql(conn: Connection, level: Level, by: GroupBy, filters: Filters,
                        metrics: tuple[str, ...]) -> tuple[list[dict[str, Any]], _Order]:
    group: Any = _s.c[by] if by else literal("all")
    cols: list[Any] = [group.label("g"), *_aggregates(_s, metrics, level)]
    for m in metrics:
        cols += [func.percentile_cont(0.5).within_group(_s.c[m]).label(f"{m}__median"),
                 func.percentile_disc(0.9).within_group(_s.c[m]).label(f"{m}__p90")]
    query = select(*cols).where(*conditions(filters, level), _s.c.ended_at.is_not(None))
    if by:
        query = query.group_by(group).order_by(group)
    groups = [dict(row) for row in conn.execute(query).mappings() if row["count"]]
    order: _Order = {}
    for row in groups:
        for m in metrics:
            if row[f"{m}__n"]:
                order[(row["g"], m)] = (float(row[f"{m}__median"]), float(row[f"{m}__p90"]))
    return groups, order


def _walk_indexes(conn: Connection, level: Level, by: GroupBy, filters: Filters,
                  metrics: tuple[str, ...]) -> tuple[list[dict[str, Any]], _Order]:
    family = _INDEX_ORDERED[(level, by or "")]
    family_col = _s.c[_FAMILY_GROUP[family]]
    finished: list[Any] = [_s.c.ended_at.is_not(None)]
    if family == "project":
        finished.append(_s.c.level == literal_column("'project'"))
    elif level == "project":
        finished.append(_s.c.stage.is_(None))
    group: Any = _s.c[by] if by else literal("all")
    covered = tuple(m for m in metrics if m in _COVERED)
    query = select(group.label("g"), *_aggregates(_s, covered, level)).where(*conditions(filters, level), *finished)
    if by:
        query = query.group_by(group).order_by(group)
    groups = [dict(row) for row in conn.execute(_indexed(query, f"ix_subjects_done_{family}")).mappings()
              if row["count"]]
    for m in metrics:  # a metric outside the first index: count, mean and max from a walk of its own sorted index
        if m in _COVERED:
            continue
        extra = select(group.label("g"), *_aggregates(_s, (m,), "project")[1:]).where(
            *conditions(filters, level), *finished)
        if by:
            extra = extra.group_by(group)
        found = {row["g"]: row for row in conn.execute(
            _indexed(extra, f"ix_subjects_done_{family}{_SUFFIX[m]}")).mappings()}
        for row in groups:
            other = found.get(row["g"])
            row.update({f"{m}__n": other[f"{m}__n"] if other else 0, f"{m}__mean": other[f"{m}__mean"] if other else None,
                        f"{m}__max": other[f"{m}__max"] if other else None})
    order: _Order = {}
    for row in groups:
        where = [*conditions(filters, level), *finished] + ([family_col == row["g"]] if by else [])
        for m in metrics:
            n = int(row[f"{m}__n"])
            if not n:
                continue
            lo, hi, p90 = _ranks(n)
            col = _s.c[m]
            ranked = _indexed(select(col).where(*where, col.is_not(None)), f"ix_subjects_done_{family}{_SUFFIX[m]}")
            middle = list(conn.execute(ranked.order_by(col).limit(hi - lo + 1).offset(lo - 1)).scalars())
            top = conn.execute(ranked.order_by(col.desc()).limit(1).offset(n - p90)).scalar()
            order[(row["g"], m)] = _order_statistics(n, {lo: middle[0], hi: middle[-1], p90: top})
    return groups, order


def _row_numbers(conn: Connection, level: Level, by: GroupBy, filters: Filters,
                 metrics: tuple[str, ...]) -> tuple[list[dict[str, Any]], _Order]:
    group: Any = _s.c[by] if by else literal("all")
    # The filtered rows, read once and kept (MATERIALIZED): left to itself the planner may walk a group-ordered
    # index to save the GROUP BY sort and fetch every finished row of the level from the table instead.
    extra = [_s.c.critical] if level == "matter" else []
    rows: Any = select(*([group.label("g")] if by else []), *(_s.c[m] for m in metrics), *extra).where(
        *conditions(filters, level), _s.c.ended_at.is_not(None))
    source: Any = (_specials_only(rows) if level == "special" else rows).cte("filtered")
    if conn.dialect.name in ("sqlite", "postgresql"):
        source = source.prefix_with("MATERIALIZED")
    g: Any = source.c.g if by else literal("all")
    query = select(g.label("g"), *_aggregates(source, metrics, level)).select_from(source)
    if by:
        query = query.group_by(g).order_by(g)
    groups = [dict(row) for row in conn.execute(query).mappings() if row["count"]]
    order: _Order = {}
    if not groups:
        return groups, order
    wanted = sorted({r for row in groups for m in metrics for r in _ranks(int(row[f"{m}__n"])) if row[f"{m}__n"]})
    partition = [g] if by else None
    inner_cols: list[Any] = [g.label("g")]
    for m in metrics:
        col = source.c[m]
        inner_cols += [col.label(m), func.row_number().over(partition_by=partition,
                                                            order_by=col.asc().nulls_last()).label(f"rn_{m}")]
    inner = select(*inner_cols).select_from(source).subquery()
    ranked: dict[tuple[Any, str], dict[int, float]] = {}
    for row in conn.execute(select(inner).where(or_(*(inner.c[f"rn_{m}"].in_(wanted) for m in metrics)))).mappings():
        for m in metrics:
            ranked.setdefault((row["g"], m), {})[int(row[f"rn_{m}"])] = row[m]
    for row in groups:
        for m in metrics:
            if row[f"{m}__n"]:
                order[(row["g"], m)] = _order_statistics(int(row[f"{m}__n"]), ranked[(row["g"], m)])
    return groups, order


def stage_durations(conn: Connection, filters: Filters = Filters()) -> list[dict[str, Any]]:
    """四阶段跨度用时 / 审批用时, per stage."""
    return distribution(conn, "stage", "stage", filters)


def process_durations(conn: Connection, filters: Filters = Filters(), *, by_project_type: bool = False) -> list[dict[str, Any]]:
    """全流程审批用时: the whole process, overall or per project type (政府投资 / 社会投资 / 简易低风险)."""
    return distribution(conn, "project", "project_type" if by_project_type else None, filters)


def department_durations(conn: Connection, filters: Filters = Filters()) -> list[dict[str, Any]]:
    return distribution(conn, "matter", "department", filters)


def matter_durations(conn: Connection, filters: Filters = Filters()) -> list[dict[str, Any]]:
    return distribution(conn, "matter", "matter_id", filters)


def bottlenecks(conn: Connection, filters: Filters = Filters(), *, by: Literal["department", "matter_id"] = "department",
                top: int = 10) -> list[dict[str, Any]]:
    """Who holds projects longest: groups ranked by mean approval working days, then p90, then total held; with
    how often the group's matter was on its stage's critical path (the one that ended last, 关键路径)."""
    return _ranked(distribution(conn, "matter", by, filters, metrics=("approval_working_days", WHOLE_DAYS)), top)


def _ranked(rows: list[dict[str, Any]], top: int = 10) -> list[dict[str, Any]]:
    """The bottleneck ranking of distribution rows (``report`` reuses the department and matter rows)."""
    ranked = []
    for row in rows:
        d = row["approval_working_days"]
        total = None if d["mean"] is None else round(d["mean"] * row["count"], 4)
        ranked.append({"group": row["group"], "count": row["count"], "mean": d["mean"], "median": d["median"],
                       "p90": d["p90"], "max": d["max"], "total_working_days": total,
                       "whole_days": row.get(WHOLE_DAYS), "critical_path": row.get("critical_path")})
    ranked.sort(key=lambda r: (-(r["mean"] or 0.0), -(r["p90"] or 0.0), -(r["total_working_days"] or 0.0), str(r["group"])))
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
    return ranked[:top]


# -- rates --------------------------------------------------------------------------------------------------------
class _Tallies:
    """Every count the rates need at one level, from one walk of ``ix_subjects_facts`` (computed once per level
    and shared: a report asks for the matter counts five times)."""

    def __init__(self, conn: Connection, filters: Filters, *, now: datetime | None = None,
                 filing_matters: Collection[str] = (), threshold_minutes: float = 10.0) -> None:
        self.conn, self.filters = conn, filters
        self.now = now or datetime.now(timezone.utc)
        self.filing_matters, self.threshold_minutes = sorted(filing_matters), threshold_minutes
        self._levels: dict[str, dict[str, int]] = {}

    def __call__(self, level: Level) -> dict[str, int]:
        if level not in self._levels:
            self._levels[level] = self._count(level)
        return self._levels[level]

    def _count(self, level: Level) -> dict[str, int]:
        finished, started = _s.c.ended_at.is_not(None), _s.c.started_us.is_not(None)
        non_filing = _s.c.matter_id.not_in(self.filing_matters) if self.filing_matters else literal(True)

        def count(*conds: Any) -> Any:
            return func.sum(case((and_(*conds), 1), else_=0))

        cols = {
            "all": func.count(),
            "finished": count(finished),
            "overdue": count(finished, _s.c.overdue.is_(True)),
            "statutory_overdue": count(finished, _s.c.statutory_overdue.is_(True)),
            "silent_consent": count(finished, _s.c.outcome == "silent_consent"),
            "failed": count(finished, _s.c.outcome == "failed"),
            "started": count(started),
            "tolerance": count(started, _s.c.intake == "tolerance"),
            "parallel": count(started, _s.c.parallel_after < literal(self.now, t.UTCDateTime())),
            "non_filing": count(finished, non_filing),
            "fast": count(finished, non_filing, _s.c.span_natural_days < self.threshold_minutes / 1440.0),
        }
        query = select(*(col.label(name) for name, col in cols.items())).where(*conditions(self.filters, level))
        row = self.conn.execute(_indexed(query, "ix_subjects_facts")).mappings().one()
        return {name: int(row[name] or 0) for name in cols}


def overdue_rates(conn: Connection, filters: Filters = Filters()) -> dict[str, Any]:
    """办件逾期率 against the committed and the statutory limit, for matters, stages and the whole process."""
    return _overdue(_Tallies(conn, filters))


def _overdue(tally: _Tallies) -> dict[str, Any]:
    return {level: {"committed": _rate(tally(level)["overdue"], tally(level)["finished"]),
                    "statutory": _rate(tally(level)["statutory_overdue"], tally(level)["finished"])}
            for level in ("matter", "stage", "project")}


def silent_consent_rate(conn: Connection, filters: Filters = Filters()) -> dict[str, Any]:
    """超时默许率: finished matters deemed approved by silence, over finished matters."""
    counts = _Tallies(conn, filters)("matter")
    return _rate(counts["silent_consent"], counts["finished"])


#: ``parallel_after`` of a matter that overlaps a sibling whatever ``now`` is.
ALWAYS = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parallel_after(siblings: Collection[tuple[str, datetime, datetime | None]]) -> dict[str, datetime | None]:
    """For the started matters of one project stage, ``(key, start, end or None while running)``: the instant
    after which each counts as run in parallel (并联), ``ALWAYS``, or None (not as things stand).

    The definition of ``parallel_rate``, taken apart so it can be stored: ordered by (start, key), a matter
    overlaps a later sibling iff the next start is before its end, and an earlier one iff the latest end so far
    is after its start — where a running matter's end is ``now``. Each condition is then either settled
    (finished ends) or true exactly once ``now`` passes an instant (the next start; its own start when an
    earlier sibling is still running). The engine recomputes it whenever a matter of the stage starts or ends
    (``ApprovalService._flush_ledger``); migration 0005 computes the same in SQL for existing rows.
    """
    ordered = sorted(siblings, key=lambda s: (s[1], s[0]))
    out: dict[str, datetime | None] = {}
    latest_end: datetime | None = None  # among earlier finished siblings
    running_before = False
    for i, (key, start, end) in enumerate(ordered):
        candidates: list[datetime] = []
        if i + 1 < len(ordered):
            next_start = ordered[i + 1][1]
            if end is None:
                candidates.append(next_start)
            elif next_start < end:
                candidates.append(ALWAYS)
        if latest_end is not None and latest_end > start:
            candidates.append(ALWAYS)
        elif running_before:
            candidates.append(start)
        out[key] = min(candidates) if candidates else None
        if end is None:
            running_before = True
        elif latest_end is None or end > latest_end:
            latest_end = end
    return out


def last_to_finish(siblings: Iterable[tuple[str, str | None, datetime | None]]) -> str | None:
    """Of one project stage's matters, ``(key, matter_id, ended_at)``, the key of the finished one that ended last
    (ties: the greater matter id, then key) — the matter on the stage's critical path (关键路径), or None.

    The definition ``critical_path.critical_path_share`` and the bottleneck ranking count. The engine stores it as ``subjects.critical`` whenever a matter
    of the stage ends (``ApprovalService._flush_ledger``); migration 0007 computes the same for existing rows.
    """
    finished = [(ended, matter_id or "", key) for key, matter_id, ended in siblings if ended is not None]
    return max(finished)[2] if finished else None


def parallel_rate(conn: Connection, filters: Filters = Filters(), *, now: datetime | None = None) -> dict[str, Any]:
    """并联审批率: matters whose handling overlapped another matter of the same project and stage.

    Per (project, stage), ordered by start: a matter overlaps a later one iff the next start is before its end,
    and an earlier one iff the latest end so far is after its start (a running matter ends ``now``). Siblings
    are looked at before the department / matter / period filters apply, so a filtered matter still counts as
    parallel. The engine stores when that becomes true (``parallel_after``), so this is one count over an
    index instead of a window over every matter.
    """
    counts = _Tallies(conn, filters, now=now)("matter")
    return _rate(counts["parallel"], counts["started"])


def tolerance_and_commitment(conn: Connection, filters: Filters = Filters()) -> dict[str, Any]:
    """容缺受理 share, 告知承诺 share, and broken commitments (revoked permits), over accepted stages."""
    return _commitments(_Tallies(conn, filters))


def _commitments(tally: _Tallies) -> dict[str, Any]:
    stages, checks = tally("stage"), tally("check")
    # the stages with a signed commitment (告知承诺书): few, listed by a partial index (its condition is written as
    # a literal so SQLite can match it), then each stage found by its key
    signed = _indexed(select(t.events.c.project_id, t.events.c.stage).where(
        t.events.c.type == literal_column("'commitment_signed'")).distinct(), "ix_events_commitments",
        t.events).subquery()
    # a broken commitment revokes permits (撤销 is per permit, the stage keeps its result): the stages whose
    # follow-up revoked (one ``revocation_scope`` event each, few: found by the type index); ``revoked`` stage
    # outcomes are stages recorded before 撤销 was per permit
    broken = select(t.events.c.project_id, t.events.c.stage).where(
        t.events.c.type == "revocation_scope").distinct().subquery()
    committed, revoked = tally.conn.execute(_indexed(
        select(func.count(), func.sum(case((or_(broken.c.stage.is_not(None), _s.c.outcome == "revoked"), 1), else_=0)))
        .select_from(signed.join(_s, and_(_s.c.project_id == signed.c.project_id, _s.c.key == signed.c.stage))
                     .outerjoin(broken, and_(broken.c.project_id == signed.c.project_id, broken.c.stage == signed.c.stage)))
        .where(*conditions(tally.filters, "stage"), _s.c.started_us.is_not(None)), "ix_subjects_keyed")).one()
    return {
        "tolerance": _rate(stages["tolerance"], stages["started"]),
        "commitment": _rate(committed, stages["started"]),
        "broken_commitments": _rate(revoked, committed),
        "post_checks_failed": _rate(checks["failed"], checks["finished"]),
        # 核查 finished past its limit: the agency's lateness (红牌), never held against the owner's permit
        "post_checks_overdue": _rate(checks["overdue"], checks["finished"]),
    }


def joint_acceptance_rate(conn: Connection, filters: Filters = Filters(), *, stage: str = "S4") -> dict[str, Any]:
    """联合验收率: finished acceptance stages in which matters of two or more departments were accepted.

    Only the filtered stages are looked at, each counting its own matters' departments in a primary-key range:
    a stage's subjects are keyed ``<stage>/…`` ('0' sorts right after '/'); ``level || ''`` keeps SQLite from
    scanning every acceptance matter once per stage through a level index instead.
    """
    m = t.subjects.alias("m")
    # two or more departments ⟺ the least and the greatest differ (no per-stage DISTINCT set to build)
    several = (select(func.min(m.c.department) < func.max(m.c.department))
               .where(m.c.project_id == _s.c.project_id, m.c.key > f"{stage}/", m.c.key < f"{stage}0",
                      m.c.level.concat("") == "matter").scalar_subquery())
    conds = conditions(replace(filters, stage=stage, department=None, matter=None), "stage")
    query = select(func.count(), func.sum(case((several, 1), else_=0))).where(*conds, _s.c.ended_at.is_not(None))
    total, joint = conn.execute(_indexed(_indexed(query, "ix_subjects_facts"), "ix_subjects_keyed", m)).one()
    return _rate(joint, total)


def special_procedures(conn: Connection, filters: Filters = Filters()) -> dict[str, Any]:
    """特别程序: how many were run (per procedure), how long they took, and the share of matters that had one."""
    return _specials(_Tallies(conn, filters))


def _specials(tally: _Tallies) -> dict[str, Any]:
    conn, filters = tally.conn, tally.filters
    counts = {row[0]: {"started": int(row[1]), "finished": int(row[2] or 0)} for row in conn.execute(_specials_only(
        select(_s.c.procedure, func.count(), func.sum(case((_s.c.ended_at.is_not(None), 1), else_=0)))
        .where(*conditions(filters, "special")).group_by(_s.c.procedure).order_by(_s.c.procedure)))}
    durations = distribution(conn, "special", "procedure", filters, metrics=("span_natural_days", "span_working_days"))
    for row in durations:
        counts.setdefault(row["group"], {"started": 0, "finished": 0}).update(
            span_natural_days=row["span_natural_days"], span_working_days=row["span_working_days"])
    # the matters that had one: a special procedure is keyed ``<its matter's key>#special<n>`` (the ledger), so
    # each finds its matter by primary key; what a project and a stage share is filtered on both sides. The level
    # test is written ``level || '' = 'matter'`` so that no (level, …) index can be picked for that probe instead.
    sp = t.subjects.alias("sp")
    has_special = _specials_only(
        select(sp.c.project_id, _before_hash(conn, sp.c.key).label("matter_key"))
        .where(*conditions(replace(filters, department=None, matter=None, since=None, until=None), "special", sp))
        .distinct(), sp).subquery()
    m = t.subjects.alias("m")
    conds = [m.c.level.concat("") == "matter", *conditions(filters, "matter", m)[1:]]
    with_special = conn.execute(_indexed(
        select(func.count()).select_from(has_special.join(m, and_(
            m.c.project_id == has_special.c.project_id, m.c.key == has_special.c.matter_key)))
        .where(*conds), "ix_subjects_keyed", m)).scalar_one()
    return {"by_procedure": counts, "matters_with_special": _rate(with_special, tally("matter")["all"])}


def _specials_only(query: Any, table: Any = _s) -> Any:
    """Read special procedures from their own small partial index (its ``level = 'special'`` condition repeated
    literally, so SQLite can match it)."""
    return _indexed(query.where(table.c.level == literal_column("'special'")), "ix_subjects_specials", table)


def _before_hash(conn: Connection, key: Any) -> Any:
    """The part of a subject key before '#' (a special procedure's matter key), in the dialect's own words."""
    if conn.dialect.name == "postgresql":
        return func.split_part(key, "#", 1)
    return func.substr(key, 1, func.instr(key, "#") - 1)


def off_system_suspects(conn: Connection, filters: Filters = Filters(), *, filing_matters: Collection[str] = (),
                        threshold_minutes: float = 10.0, examples: int = 20) -> dict[str, Any]:
    """体外循环 / 秒办 suspects: finished non-filing matters that took less than ``threshold_minutes``.

    A real approval needs reading time; an approval typed in seconds after the fact was most likely done
    outside the system. Filings (备案) are legitimately instant, so their ids are passed in and excluded.
    """
    return _suspects(_Tallies(conn, filters, filing_matters=filing_matters, threshold_minutes=threshold_minutes),
                     examples)


def _suspects(tally: _Tallies, examples: int = 20) -> dict[str, Any]:
    counts = tally("matter")
    conds = conditions(tally.filters, "matter") + [_s.c.ended_at.is_not(None),
                                                    _s.c.span_natural_days < tally.threshold_minutes / 1440.0]
    if tally.filing_matters:
        conds.append(_s.c.matter_id.not_in(tally.filing_matters))
    by_department = {row[0]: int(row[1]) for row in tally.conn.execute(_indexed(
        select(_s.c.department, func.count()).where(*conds).group_by(_s.c.department)
        .order_by(func.count().desc(), _s.c.department), "ix_subjects_done_span"))}
    rows = tally.conn.execute(
        select(_s.c.project_id, _s.c.key, _s.c.matter_id, _s.c.department, _s.c.started_at, _s.c.ended_at,
               _s.c.span_natural_days).where(*conds)
        .order_by(_s.c.span_natural_days, _s.c.project_id, _s.c.key).limit(examples)).mappings()
    listed = [{"project_id": r["project_id"], "key": r["key"], "matter_id": r["matter_id"], "department": r["department"],
               "started_at": r["started_at"].isoformat(), "ended_at": r["ended_at"].isoformat(),
               "minutes": round(r["span_natural_days"] * 1440.0, 2)} for r in rows]
    return {"threshold_minutes": tally.threshold_minutes, **_rate(counts["fast"], counts["non_filing"]),
            "by_department": by_department, "examples": listed}


# -- by division ------------------------------------------------------------------------------------------------
def divisions_present(conn: Connection, filters: Filters = Filters()) -> list[str | None]:
    """The 行政区划代码 the filtered subjects carry, each exactly as filed (a city's own code apart from its
    counties'), sorted, and ``None`` last when some projects were filed without one: the groups of
    ``group_by=division``. Read from the filtered rows' facets (the analytics keys), not from the wide rows."""
    fc = t.subject_facets.c
    level: Level = "matter" if filters.department or filters.matter else "stage"
    query = (select(fc.division_code).select_from(_s.join(t.subject_facets, fc.id == _s.c.facet))
             .where(*conditions(filters, level), _s.c.started_us.is_not(None)).distinct())
    codes = {row[0] for row in conn.execute(query)}
    return sorted(c for c in codes if c is not None) + ([None] if None in codes else [])


def report_by_division(conn: Connection, filters: Filters = Filters(), **options: Any) -> dict[str, Any]:
    """Every measure of :func:`report`, once per division (:func:`divisions_present`): each group is the report
    for ``filters`` narrowed to that exact code (``division_exact``), so the groups are disjoint and together
    make up the ungrouped report's subjects."""
    groups = []
    for code in divisions_present(conn, filters):
        narrowed = replace(filters, division=code, division_exact=True)
        groups.append({"division": code, "report": report(conn, narrowed, **options)})
    return {"group_by": "division", "filters": filters.to_dict(), "groups": groups}


# -- everything ---------------------------------------------------------------------------------------------------
def report(conn: Connection, filters: Filters = Filters(), *, filing_matters: Collection[str] = (),
           threshold_minutes: float = 10.0, now: datetime | None = None, parallel: bool = False) -> dict[str, Any]:
    """All measures for one filter, as plain JSON-friendly data.

    ``parallel=True`` computes the department and matter distributions — the two longest index walks, about
    half the work — on a second connection of the same engine, in a thread, while this one does the rest: the
    database drivers release the GIL while a query runs, so a 2-core machine does both at once. The second
    connection reads its own snapshot, so on a database being written to the two halves may differ by the
    subjects that changed in between (milliseconds); both halves are each consistent. Off by default, and
    ignored for an in-memory SQLite database (a second connection would see another database).
    """
    def by_group(c: Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return department_durations(c, filters), matter_durations(c, filters)

    def on_second_connection() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with conn.engine.connect() as other:
            return by_group(other)

    in_memory = conn.engine.dialect.name == "sqlite" and conn.engine.url.database in (None, "", ":memory:")
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gongai-report") if parallel and not in_memory else None
    try:
        pending = pool.submit(on_second_connection) if pool else None
        tally = _Tallies(conn, filters, now=now, filing_matters=filing_matters, threshold_minutes=threshold_minutes)
        matter_counts = tally("matter")
        durations = {
            "filters": filters.to_dict(),
            "stages": stage_durations(conn, filters),
            "whole_process": process_durations(conn, filters),
            "whole_process_by_type": process_durations(conn, filters, by_project_type=True),
        }
        rates = {
            "overdue": _overdue(tally),
            "silent_consent": _rate(matter_counts["silent_consent"], matter_counts["finished"]),
            "parallel": _rate(matter_counts["parallel"], matter_counts["started"]),
            "commitments": _commitments(tally),
            "joint_acceptance": joint_acceptance_rate(conn, filters),
            "special_procedures": _specials(tally),
            "off_system_suspects": _suspects(tally),
        }
        departments, matters = pending.result() if pending else by_group(conn)
    finally:
        if pool:
            pool.shutdown(wait=True)
    return {
        **durations, "departments": departments, "matters": matters,
        # the same figures bottlenecks() would compute again: ranked from the rows above
        "bottlenecks": {"departments": _ranked(departments), "matters": _ranked(matters)},
        **rates,
    }
