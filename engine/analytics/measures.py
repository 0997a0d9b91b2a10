"""The analysts' measures (工改办 / 营商办 KPIs), computed by the database.

Every measure is one or a few SQL aggregations over the ``subjects`` table (one row per timed stage, matter,
special procedure, post-check and whole process, with its figures already in columns) and, for the commitment
share, the ``events`` log. Nothing loads the log into Python: 100,000 projects must report in seconds.

Definitions (docs/analytics.md has the long form):

- **Distributions** (跨度用时 / 审批用时): over *finished* subjects; count, mean, median, p90, max of the span and
  of the approval time, each in natural and working days. The median is the mean of the two middle values for
  an even count; p90 is the nearest-rank value (the ⌈0.9·n⌉-th smallest). SQLite has no percentile function:
  unfiltered, the values are read at their rank from partial indexes that keep them sorted per group
  (migration 0004); filtered, one ``ROW_NUMBER`` pass keeps the wanted ranks. The same SQL runs on PostgreSQL.
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
special procedures, post-checks); ``since``/``until`` to the subject's start (受理 in the period).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    ColumnElement,
    and_,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
)

from engine.persistence import tables as t

__all__ = [
    "Filters", "METRICS", "ALWAYS", "parallel_after", "distribution", "stage_durations", "process_durations", "department_durations",
    "matter_durations", "bottlenecks", "overdue_rates", "silent_consent_rate", "parallel_rate",
    "tolerance_and_commitment", "joint_acceptance_rate", "special_procedures", "off_system_suspects",
    "report",
]

Level = Literal["project", "stage", "matter", "special", "check"]
GroupBy = Literal["stage", "department", "matter_id", "project_type", "procedure"] | None

#: The duration columns every distribution reports.
METRICS: tuple[str, ...] = ("span_natural_days", "span_working_days", "approval_natural_days", "approval_working_days")

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

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items() if v is not None}


def _conditions(f: Filters, level: Level, table: Any = _s) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = [table.c.level == level] if "level" in table.c else []
    if f.project_type:
        c.append(table.c.project_type == f.project_type)
    if f.stage and level != "project":
        c.append(table.c.stage == f.stage)
    if level in ("matter", "special", "check"):
        if f.department:
            c.append(table.c.department == f.department)
        if f.matter:
            c.append(table.c.matter_id == f.matter)
    if f.jurisdiction:
        c.append(table.c.project_id.in_(select(t.projects.c.id).where(t.projects.c.profile == f.jurisdiction)))
    if f.since is not None:
        c.append(table.c.started_at >= f.since)
    if f.until is not None:
        c.append(table.c.started_at < f.until)
    return c


def _rate(numerator: Any, denominator: Any) -> dict[str, Any]:
    num, den = int(numerator or 0), int(denominator or 0)
    return {"count": num, "of": den, "rate": round(num / den, 4) if den else None}


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


# -- distributions ------------------------------------------------------------------------------------------------
#: (level, group column) pairs with a partial index per metric giving the finished subjects' values sorted per
#: group (``ix_subjects_done_*``, migration 0004): their percentiles are read at an offset, without a sort.
_INDEX_ORDERED: dict[tuple[str, str], str] = {("matter", "department"): "department", ("matter", "matter_id"): "matter",
                                              ("stage", "stage"): "stage"}


def _index_ordered(level: Level, by: GroupBy, filters: Filters) -> bool:
    """True when nothing but the level and the group column restricts the rows, so the index order is the answer."""
    own = _INDEX_ORDERED.get((level, by or ""))
    return own is not None and all(v is None for k, v in asdict(filters).items() if k != own)


def _ranks(n: int) -> tuple[int, int, int]:
    """1-based ranks of the two middle values and of the nearest-rank p90 (the ⌈0.9·n⌉-th smallest)."""
    return (n + 1) // 2, (n + 2) // 2, (n * 9 + 9) // 10


def distribution(conn: Connection, level: Level, by: GroupBy, filters: Filters = Filters(),
                 metrics: tuple[str, ...] = METRICS) -> list[dict[str, Any]]:
    """count / mean / median / p90 / max of each metric over finished subjects of ``level``, per group.

    Two queries' worth of work per metric at most. First one grouped aggregate gives every group's count, mean
    and max (and so the ranks wanted). Then the order statistics: unfiltered (or filtered on the group column
    only) they are read from the partial index that keeps each group's values sorted — ``ORDER BY v LIMIT 2
    OFFSET k`` for the middle pair and the same from the top for p90, a short index walk and no sort; with
    other filters one ``ROW_NUMBER`` pass over the (smaller) filtered rows keeps only the wanted ranks. Both
    give exactly the definitions above, on SQLite and PostgreSQL.
    """
    group: Any = _s.c[by] if by else literal("all")
    base = [*_conditions(filters, level), _s.c.ended_at.is_not(None)]
    indexed = _index_ordered(level, by, filters)
    if indexed:
        source: Any = _s
        g: Any = group
        where: list[Any] = base
    else:
        # The filtered rows, read once through the index that suits the filters and kept (MATERIALIZED): left to
        # itself the planner may walk a group-ordered index to save the GROUP BY sort and fetch every finished
        # row of the level from the table instead (seconds at 100,000 projects for a few thousand rows).
        source = select(*([group.label("g")] if by else []), *(_s.c[m] for m in metrics)).where(*base).cte("filtered")
        if conn.dialect.name in ("sqlite", "postgresql"):
            source = source.prefix_with("MATERIALIZED")
        g, where = (source.c.g if by else group), []
    cols: list[Any] = [g.label("g"), func.count().label("count")]
    for m in metrics:
        cols += [func.count(source.c[m]).label(f"{m}__n"), func.avg(source.c[m]).label(f"{m}__mean"),
                 func.max(source.c[m]).label(f"{m}__max")]
    query = select(*cols).select_from(source).where(*where)
    if by:
        query = query.group_by(g).order_by(g)
    groups = [dict(row) for row in conn.execute(query).mappings() if row["count"]]
    order: dict[tuple[Any, str], dict[int, float]] = {}  # (group, metric) → {rank: value}
    if groups and indexed:
        for row in groups:
            for m in metrics:
                n = int(row[f"{m}__n"])
                if not n:
                    continue
                lo, hi, p90 = _ranks(n)
                col = _s.c[m]
                conds = [*base, col.is_not(None), group == row["g"]]
                middle = list(conn.execute(select(col).where(*conds).order_by(col).limit(hi - lo + 1)
                                           .offset(lo - 1)).scalars())
                top = conn.execute(select(col).where(*conds).order_by(col.desc()).limit(1).offset(n - p90)).scalar()
                order[(row["g"], m)] = {lo: middle[0], hi: middle[-1], p90: top}
    elif groups:
        wanted = sorted({r for row in groups for m in metrics for r in _ranks(int(row[f"{m}__n"])) if row[f"{m}__n"]})
        partition = [g] if by else None
        inner_cols: list[Any] = [g.label("g")]
        for m in metrics:
            col = source.c[m]
            inner_cols += [col.label(m), func.row_number().over(partition_by=partition,
                                                                order_by=col.asc().nulls_last()).label(f"rn_{m}")]
        inner = select(*inner_cols).select_from(source).subquery()
        query = select(inner).where(or_(*(inner.c[f"rn_{m}"].in_(wanted) for m in metrics)))
        for row in conn.execute(query).mappings():
            for m in metrics:
                order.setdefault((row["g"], m), {})[int(row[f"rn_{m}"])] = row[m]
    out: list[dict[str, Any]] = []
    for row in groups:
        item: dict[str, Any] = {"group": row["g"], "count": int(row["count"])}
        for m in metrics:
            n = int(row[f"{m}__n"])
            stats: dict[str, Any] = {"mean": _round(row[f"{m}__mean"]), "median": None, "p90": None,
                                     "max": _round(row[f"{m}__max"])}
            if n:
                lo, hi, p90 = _ranks(n)
                values = order[(row["g"], m)]
                stats["median"] = _round((values[lo] + values[hi]) / 2)
                stats["p90"] = _round(values[p90])
            item[m] = stats
        out.append(item)
    return out


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
    """Who holds projects longest: groups ranked by mean approval working days, then p90, then total held."""
    return _ranked(distribution(conn, "matter", by, filters, metrics=("approval_working_days",)), top)


def _ranked(rows: list[dict[str, Any]], top: int = 10) -> list[dict[str, Any]]:
    """The bottleneck ranking of distribution rows (``report`` reuses the department and matter rows)."""
    ranked = []
    for row in rows:
        d = row["approval_working_days"]
        total = None if d["mean"] is None else round(d["mean"] * row["count"], 4)
        ranked.append({"group": row["group"], "count": row["count"], "mean": d["mean"], "median": d["median"],
                       "p90": d["p90"], "max": d["max"], "total_working_days": total})
    ranked.sort(key=lambda r: (-(r["mean"] or 0.0), -(r["p90"] or 0.0), -(r["total_working_days"] or 0.0), str(r["group"])))
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
    return ranked[:top]


# -- rates --------------------------------------------------------------------------------------------------------
def overdue_rates(conn: Connection, filters: Filters = Filters()) -> dict[str, Any]:
    """办件逾期率 against the committed and the statutory limit, for matters, stages and the whole process."""
    out: dict[str, Any] = {}
    for level in ("matter", "stage", "project"):
        query = select(
            func.count(),
            func.sum(case((_s.c.overdue.is_(True), 1), else_=0)),
            func.sum(case((_s.c.statutory_overdue.is_(True), 1), else_=0)),
        ).where(*_conditions(filters, level), _s.c.ended_at.is_not(None))
        total, committed, statutory = conn.execute(query).one()
        out[level] = {"committed": _rate(committed, total), "statutory": _rate(statutory, total)}
    return out


def silent_consent_rate(conn: Connection, filters: Filters = Filters()) -> dict[str, Any]:
    """超时默许率: finished matters deemed approved by silence, over finished matters."""
    query = select(func.count(), func.sum(case((_s.c.outcome == "silent_consent", 1), else_=0))).where(
        *_conditions(filters, "matter"), _s.c.ended_at.is_not(None))
    total, silent = conn.execute(query).one()
    return _rate(silent, total)


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


def parallel_rate(conn: Connection, filters: Filters = Filters(), *, now: datetime | None = None) -> dict[str, Any]:
    """并联审批率: matters whose handling overlapped another matter of the same project and stage.

    Per (project, stage), ordered by start: a matter overlaps a later one iff the next start is before its end,
    and an earlier one iff the latest end so far is after its start (a running matter ends ``now``). Siblings
    are looked at before the department / matter / period filters apply, so a filtered matter still counts as
    parallel. The engine stores when that becomes true (``parallel_after``), so this is one count over an
    index instead of a window over every matter.
    """
    now = now or datetime.now(timezone.utc)
    parallel = _s.c.parallel_after < literal(now, t.UTCDateTime())
    query = select(func.count(), func.sum(case((parallel, 1), else_=0))).where(
        *_conditions(filters, "matter"), _s.c.started_at.is_not(None))
    total, count = conn.execute(query).one()
    return _rate(count, total)


def tolerance_and_commitment(conn: Connection, filters: Filters = Filters()) -> dict[str, Any]:
    """容缺受理 share, 告知承诺 share, and broken commitments (revoked permits), over accepted stages."""
    base = _conditions(filters, "stage") + [_s.c.started_at.is_not(None)]
    total, tolerance = conn.execute(
        select(func.count(), func.sum(case((_s.c.intake == "tolerance", 1), else_=0))).where(*base)).one()
    signed = select(t.events.c.project_id, t.events.c.stage).where(
        t.events.c.type == "commitment_signed").distinct().subquery()
    committed, revoked = conn.execute(
        select(func.count(), func.sum(case((_s.c.outcome == "revoked", 1), else_=0)))
        .select_from(_s.join(signed, and_(signed.c.project_id == _s.c.project_id, signed.c.stage == _s.c.key)))
        .where(*base)).one()
    checks_total, checks_failed = conn.execute(
        select(func.count(), func.sum(case((_s.c.outcome == "failed", 1), else_=0)))
        .where(*_conditions(filters, "check"), _s.c.ended_at.is_not(None))).one()
    return {
        "tolerance": _rate(tolerance, total),
        "commitment": _rate(committed, total),
        "broken_commitments": _rate(revoked, committed),
        "post_checks_failed": _rate(checks_failed, checks_total),
    }


def joint_acceptance_rate(conn: Connection, filters: Filters = Filters(), *, stage: str = "S4") -> dict[str, Any]:
    """联合验收率: finished acceptance stages in which matters of two or more departments were accepted."""
    m = t.subjects.alias("m")
    departments = (select(m.c.project_id, func.count(distinct(m.c.department)).label("d"))
                   .where(m.c.level == "matter", m.c.stage == stage).group_by(m.c.project_id).subquery())
    conds = _conditions(Filters(project_type=filters.project_type, jurisdiction=filters.jurisdiction,
                                since=filters.since, until=filters.until), "stage")
    query = (select(func.count(), func.sum(case((departments.c.d >= 2, 1), else_=0)))
             .select_from(_s.outerjoin(departments, departments.c.project_id == _s.c.project_id))
             .where(*conds, _s.c.stage == stage, _s.c.ended_at.is_not(None)))
    total, joint = conn.execute(query).one()
    return _rate(joint, total)


def special_procedures(conn: Connection, filters: Filters = Filters()) -> dict[str, Any]:
    """特别程序: how many were run (per procedure), how long they took, and the share of matters that had one."""
    counts = {row[0]: {"started": int(row[1]), "finished": int(row[2] or 0)} for row in conn.execute(
        select(_s.c.procedure, func.count(), func.sum(case((_s.c.ended_at.is_not(None), 1), else_=0)))
        .where(*_conditions(filters, "special")).group_by(_s.c.procedure).order_by(_s.c.procedure))}
    durations = distribution(conn, "special", "procedure", filters, metrics=("span_natural_days", "span_working_days"))
    for row in durations:
        counts.setdefault(row["group"], {"started": 0, "finished": 0}).update(
            span_natural_days=row["span_natural_days"], span_working_days=row["span_working_days"])
    # the project stages' matters that had one; what a project and a stage share is filtered on both sides
    sp = t.subjects.alias("sp")
    has_special = (select(sp.c.project_id, sp.c.stage, sp.c.matter_id)
                   .where(*_conditions(Filters(project_type=filters.project_type, stage=filters.stage,
                                               jurisdiction=filters.jurisdiction), "special", sp))
                   .distinct().subquery())
    matters_total = conn.execute(select(func.count()).where(*_conditions(filters, "matter"))).scalar_one()
    # Each special finds its matters through the primary key (project_id first). The level test is written
    # ``level || '' = 'matter'`` so that no (level, …) index can be picked for that probe instead: a planner
    # that did would scan every matter of the stage once per special procedure (quadratic at scale).
    m = t.subjects.alias("m")
    conds = [m.c.level.concat("") == "matter", *_conditions(filters, "matter", m)[1:]]
    with_special = conn.execute(
        select(func.count()).select_from(has_special.join(m, and_(
            m.c.project_id == has_special.c.project_id, m.c.stage == has_special.c.stage,
            m.c.matter_id == has_special.c.matter_id)))
        .where(*conds)).scalar_one()
    return {"by_procedure": counts, "matters_with_special": _rate(with_special, matters_total)}


def off_system_suspects(conn: Connection, filters: Filters = Filters(), *, filing_matters: Collection[str] = (),
                        threshold_minutes: float = 10.0, examples: int = 20) -> dict[str, Any]:
    """体外循环 / 秒办 suspects: finished non-filing matters that took less than ``threshold_minutes``.

    A real approval needs reading time; an approval typed in seconds after the fact was most likely done
    outside the system. Filings (备案) are legitimately instant, so their ids are passed in and excluded.
    """
    conds = _conditions(filters, "matter") + [_s.c.ended_at.is_not(None)]
    if filing_matters:
        conds.append(_s.c.matter_id.not_in(sorted(filing_matters)))
    fast = _s.c.span_natural_days < threshold_minutes / 1440.0
    total, suspects = conn.execute(select(func.count(), func.sum(case((fast, 1), else_=0))).where(*conds)).one()
    by_department = {row[0]: int(row[1]) for row in conn.execute(
        select(_s.c.department, func.count()).where(*conds, fast).group_by(_s.c.department)
        .order_by(func.count().desc(), _s.c.department))}
    rows = conn.execute(
        select(_s.c.project_id, _s.c.key, _s.c.matter_id, _s.c.department, _s.c.started_at, _s.c.ended_at,
               _s.c.span_natural_days).where(*conds, fast)
        .order_by(_s.c.span_natural_days, _s.c.project_id, _s.c.key).limit(examples)).mappings()
    listed = [{"project_id": r["project_id"], "key": r["key"], "matter_id": r["matter_id"], "department": r["department"],
               "started_at": r["started_at"].isoformat(), "ended_at": r["ended_at"].isoformat(),
               "minutes": round(r["span_natural_days"] * 1440.0, 2)} for r in rows]
    return {"threshold_minutes": threshold_minutes, **_rate(suspects, total), "by_department": by_department,
            "examples": listed}


# -- everything ---------------------------------------------------------------------------------------------------
def report(conn: Connection, filters: Filters = Filters(), *, filing_matters: Collection[str] = (),
           threshold_minutes: float = 10.0, now: datetime | None = None) -> dict[str, Any]:
    """All measures for one filter, as plain JSON-friendly data."""
    departments, matters = department_durations(conn, filters), matter_durations(conn, filters)
    return {
        "filters": filters.to_dict(),
        "stages": stage_durations(conn, filters),
        "whole_process": process_durations(conn, filters),
        "whole_process_by_type": process_durations(conn, filters, by_project_type=True),
        "departments": departments,
        "matters": matters,
        # the same figures bottlenecks() would compute again: ranked from the rows above
        "bottlenecks": {"departments": _ranked(departments), "matters": _ranked(matters)},
        "overdue": overdue_rates(conn, filters),
        "silent_consent": silent_consent_rate(conn, filters),
        "parallel": parallel_rate(conn, filters, now=now),
        "commitments": tolerance_and_commitment(conn, filters),
        "joint_acceptance": joint_acceptance_rate(conn, filters),
        "special_procedures": special_procedures(conn, filters),
        "off_system_suspects": off_system_suspects(conn, filters, filing_matters=filing_matters,
                                                   threshold_minutes=threshold_minutes),
    }
