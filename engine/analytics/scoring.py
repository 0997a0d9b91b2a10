"""The reform office's scoring sheet: each indicator as the sheet defines it, a ranking of divisions, an xlsx.

The sheet itself is data (``workflows/scoring/jiangxi-2023.yaml``: the Jiangxi 2023 「办理建筑许可」评分细则,
``policy-compilation.txt:2266–2314``): per indicator its line, points, unit, numerator, denominator, period and
scoring rule, and ``measure`` — the name of a computation below. An indicator the system cannot know yet
(electronic licences, satisfaction …) has ``measure: null`` and a ``reason``: the report says so (value null)
instead of guessing, and its score is left empty.

- :func:`sheet_values` — every indicator's value for one filter (a division and a period), with numerator and
  denominator: what ``GET /analytics/report`` and ``gongai measures`` show under ``scoring_sheet``.
- :func:`ranking` — the divisions the sheet ranks against each other (Jiangxi's 设区市, or a city's counties),
  each indicator scored by the sheet's rule (tiers by rank: the best four +, the worst four −; deductions per
  case; bands; …) and totalled over the indicators the system scores.
- :func:`write_xlsx` — the ranking as a spreadsheet (openpyxl): 评分 (scores), 指标值 (values, numerators and
  denominators), 口径 (each indicator's definition and the sheet's line).

Every computation is SQL over the ``subjects`` rows (filtered through ``measures.conditions``, so by division
too) and, for filings and commitments, the ``events`` log. Periods bound the subject's start (受理 in the
period), except the build cycle (报建周期), which counts projects whose construction-permit stage finished in it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, String, and_, case, cast, func, or_, select

from engine.analytics.measures import Filters, _Tallies, conditions, joint_acceptance_rate, stage_durations
from engine.domain.divisions import Divisions, levels, load_divisions
from engine.persistence import tables as t

__all__ = ["Rule", "Indicator", "Sheet", "load_sheet", "sheet_values", "peers", "ranking", "score", "write_xlsx"]

_s = t.subjects
#: Stages whose approval times add up to the build cycle (报建周期: 立项用地规划许可 → 施工许可).
BUILD_STAGES = ("S1", "S2", "S3", "S23")
PERMIT_STAGES = ("S3", "S23")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["tiers", "per_case", "per_step", "bands", "scaled", "manual"]
    base: float | None = None
    delta: float | None = None
    top: int = 4
    bottom: int = 4
    better: Literal["higher", "lower"] | None = None
    per_stage: bool = False
    per: float | None = None
    step: float | None = None
    cases: Literal["count", "missing"] = "count"
    bands: tuple[dict[str, float], ...] = ()
    of: float | None = None


class Indicator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    line: int
    category: str
    points: float
    unit: str
    numerator: str
    denominator: str
    measure: str | None
    reason: str | None = None
    note: str | None = None
    rule: Rule
    investment: Literal["government", "social"] | None = None
    project_types: tuple[str, ...] = ()
    matters: tuple[str, ...] = ()
    """The matters an indicator looks at (区域评估事项比例: those a regional assessment can cover)."""
    metric: str | None = None


class Sheet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    source: str
    province: str
    period: str
    indicators: tuple[Indicator, ...] = Field(min_length=1)

    def line(self, indicator: Indicator) -> str:
        return f"policy-compilation.txt:{indicator.line}"


@lru_cache(maxsize=4)
def load_sheet(path: Path | None = None) -> Sheet:
    """The scoring sheet (default: ``workflows/scoring/jiangxi-2023.yaml``), validated; every ``measure`` named
    must exist here and every null one must say why."""
    from engine.domain.catalogue import DEFAULT_ROOT

    path = path or DEFAULT_ROOT / "scoring" / "jiangxi-2023.yaml"
    sheet = Sheet.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    for ind in sheet.indicators:
        if ind.measure is not None and ind.measure not in MEASURES:
            raise ValueError(f"{path}: indicator {ind.id}: unknown measure {ind.measure!r} (known: {', '.join(MEASURES)})")
        if ind.measure is None and not ind.reason:
            raise ValueError(f"{path}: indicator {ind.id}: a quantity the system cannot compute needs a reason")
    return sheet


# -- the quantities -------------------------------------------------------------------------------------------------
def _ratio(num: Any, den: Any) -> dict[str, Any]:
    n, d = int(num or 0), int(den or 0)
    return {"value": round(n / d, 4) if d else None, "numerator": n, "denominator": d, **({} if d else
            {"reason": "no case in this period and division (denominator 0)"})}


def _stage_projects(conn: Connection, f: Filters) -> Any:
    """The projects with a stage accepted in the filter (period, division, type, profile): a subquery of ids."""
    return select(_s.c.project_id).where(*conditions(replace(f, stage=None), "stage"),
                                         _s.c.started_us.is_not(None)).distinct()


def _m_cases_per_project(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    matters = ctx["tally"]("matter")["started"]
    projects = conn.execute(select(func.count()).select_from(_stage_projects(conn, f).subquery())).scalar_one()
    out = _ratio(matters, projects)
    if out["value"] is not None:
        out["value"] = round(matters / projects, 2)
    return out


def _m_instant_cases(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    counts = ctx["tally"]("matter")
    return {**_ratio(counts["fast"], counts["non_filing"]), "cases": counts["fast"],
            "threshold_minutes": ctx["tally"].threshold_minutes}


def _types(catalogue: Any, ind: Indicator) -> list[str]:
    if ind.project_types:
        return list(ind.project_types)
    return [p.id for p in catalogue.project_types.values() if ind.investment in (None, p.investment)]


def _m_build_cycle(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    """Per project whose construction permit stage (S3, or S23 where merged) finished approved in the period: the
    sum of the approval times of its stages S1 … S3 (whole days too); the mean over those projects."""
    types = _types(ctx["catalogue"], ind)
    if f.project_type is not None:
        types = [p for p in types if p == f.project_type]
    permit = select(_s.c.project_id).where(
        *conditions(replace(f, project_type=None, stage=None, department=None, matter=None, since=None, until=None),
                    "stage"),
        _s.c.stage.in_(PERMIT_STAGES), _s.c.outcome.in_(("approved", "approved_with_tolerance")),
        _s.c.project_type.in_(types))
    if f.since is not None:
        permit = permit.where(_s.c.ended_at >= f.since)
    if f.until is not None:
        permit = permit.where(_s.c.ended_at < f.until)
    else:
        permit = permit.where(_s.c.ended_at.is_not(None))
    per_project = (select(_s.c.project_id, func.sum(_s.c.approval_working_days).label("wd"),
                          func.sum(_s.c.approval_days_used).label("days"))
                   .where(_s.c.level == "stage", _s.c.stage.in_(BUILD_STAGES), _s.c.ended_at.is_not(None),
                          _s.c.project_id.in_(permit))
                   .group_by(_s.c.project_id).subquery())
    n, total, days = conn.execute(select(func.count(), func.sum(per_project.c.wd),
                                         func.sum(per_project.c.days))).one()
    n = int(n or 0)
    return {"value": round(float(total) / n, 2) if n else None, "numerator": round(float(total or 0), 4),
            "denominator": n, "whole_days_mean": round(float(days) / n, 2) if n and days is not None else None,
            "project_types": types, **({} if n else {"reason": "no construction permit finished in this period"})}


def _m_whole_process_time(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    types = _types(ctx["catalogue"], ind)
    if f.project_type is not None:
        types = [p for p in types if p == f.project_type]
    n, total, days = conn.execute(select(func.count(), func.sum(_s.c.approval_working_days),
                                         func.sum(_s.c.approval_days_used)).where(
        *conditions(replace(f, project_type=None), "project"), _s.c.ended_at.is_not(None),
        _s.c.project_type.in_(types))).one()
    n = int(n or 0)
    return {"value": round(float(total) / n, 2) if n else None, "numerator": round(float(total or 0), 4),
            "denominator": n, "whole_days_mean": round(float(days) / n, 2) if n and days is not None else None,
            "project_types": types, **({} if n else {"reason": "no such project finished in this period"})}


def _m_stage_time(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    metric = ind.metric or "span_working_days"
    rows = ctx.setdefault("stages", stage_durations(conn, f))
    by_stage = {r["group"]: {"value": r[metric]["mean"], "denominator": r["count"],
                             "numerator": round((r[metric]["mean"] or 0) * r["count"], 4)} for r in rows}
    whole: dict[str, tuple[int, float]] = {}  # the approval time's whole working days (受理次日起算) beside it
    if metric == "approval_working_days":
        for r in rows:
            days = r.get("approval_days_used") or {}
            if r["group"] in by_stage and days.get("mean") is not None:
                by_stage[r["group"]]["whole_days_mean"] = days["mean"]
                whole[r["group"]] = (int(r["count"]), days["mean"])
    four = {s: v for s, v in by_stage.items() if s in ("S1", "S2", "S3", "S23", "S4")}
    n = sum(v["denominator"] for v in four.values())
    total = sum(v["numerator"] for v in four.values())
    known = [whole[s] for s in four if s in whole]
    whole_n = sum(k for k, _ in known)
    extra = {"whole_days_mean": round(sum(k * mean for k, mean in known) / whole_n, 2)} if whole_n else {}
    return {"value": round(total / n, 2) if n else None, "numerator": round(total, 4), "denominator": n,
            "by_stage": four, **extra, **({} if n else {"reason": "no stage finished in this period"})}


def _m_overdue_cases(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    counts = ctx["tally"]("matter")
    return {**_ratio(counts["overdue"], counts["finished"]), "cases": counts["overdue"]}


def _m_silent_consent(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    counts = ctx["tally"]("matter")
    return _ratio(counts["silent_consent"], counts["finished"])


def _m_planning_generation(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    n = conn.execute(select(func.count()).where(*conditions(replace(f, stage="S0"), "stage"),
                                                _s.c.started_us.is_not(None))).scalar_one()
    return {"value": int(n), "numerator": int(n), "denominator": None}


def _m_commitment_cases(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    """告知承诺 counted in cases (办件), as the sheet counts: matters of a stage whose owner signed a commitment."""
    signed = select(t.events.c.project_id, t.events.c.stage).where(t.events.c.type == "commitment_signed").distinct()
    signed = signed.subquery()
    committed = conn.execute(select(func.count()).select_from(_s.join(signed, and_(
        signed.c.project_id == _s.c.project_id, signed.c.stage == _s.c.stage))).where(
        *conditions(f, "matter"), _s.c.started_us.is_not(None))).scalar_one()
    return _ratio(committed, ctx["tally"]("matter")["started"])


def _m_parallel(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    counts = ctx["tally"]("matter")
    return _ratio(counts["parallel"], counts["started"])


def _m_joint_acceptance(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    rate = joint_acceptance_rate(conn, f)
    return {**_ratio(rate["count"], rate["of"]), "cases": rate["of"] - rate["count"]}


def _plans(conn: Connection, f: Filters) -> list[dict[str, Any]]:
    """The case plans (projects.plan: each matter selected or skipped, with its rule) of the filtered projects."""
    p = t.projects
    return [row[0] or {} for row in conn.execute(select(p.c.plan).where(p.c.id.in_(_stage_projects(conn, f))))]


def _waived_by_assessment(matter: dict[str, Any]) -> bool:
    """Skipped by a rule whose basis is a regional assessment (区域评估已完成…：免除单项…)."""
    return not matter.get("selected") and "区域评估" in str((matter.get("rule") or {}).get("text", ""))


def _m_regional_assessment_items(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    """Of the assessment matters a project's case needs (``ind.matters``: those a regional assessment can cover),
    the share a regional assessment waived (the plan's rule says 区域评估), over needed + waived."""
    plans = ctx.setdefault("plans", _plans(conn, f))
    wanted = set(ind.matters)
    needed = waived = 0
    for plan in plans:
        for matter in plan.get("matters") or ():
            if matter.get("matter_id") not in wanted:
                continue
            if _waived_by_assessment(matter):
                waived += 1
                needed += 1
            elif matter.get("selected"):
                needed += 1
    return _ratio(waived, needed)


def _m_regional_assessment(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    """Projects that applied a regional assessment: their case declares one that a matter's rule used (a matter
    waived), or a stage filing handed in its results (区域评估成果), over the filtered projects."""
    plans = ctx.setdefault("plans", _plans(conn, f))
    projects = _stage_projects(conn, f)
    e = t.events
    filed = {r[0] for r in conn.execute(select(e.c.project_id).where(
        e.c.type == "stage_submitted", e.c.project_id.in_(projects),
        cast(e.c.data, String).like('%:regional_assessment"%')).distinct())}
    ids = [r[0] for r in conn.execute(select(t.projects.c.id, t.projects.c.plan).where(t.projects.c.id.in_(projects)))
           if r[0] in filed or any(_waived_by_assessment(m) for m in ((r[1] or {}).get("matters") or ()))]
    return _ratio(len(ids), len(plans))


def _m_utilities(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    """市政公用报装 in the system over new building projects starting construction: projects with a utility
    connection matter (the 水电气信 track, stage SU) accepted, over projects whose construction permit stage
    (S3 / S23) finished approved — both in the period (acceptance of the connection, end of the permit stage)."""
    utility_stage = getattr(ctx["catalogue"], "utility_stage", None) or "SU"
    connected = conn.execute(select(func.count(_s.c.project_id.distinct())).where(
        *conditions(replace(f, stage=utility_stage), "matter"), _s.c.started_us.is_not(None))).scalar_one()
    permit = select(func.count(_s.c.project_id.distinct())).where(
        *conditions(replace(f, stage=None, department=None, matter=None, since=None, until=None), "stage"),
        _s.c.stage.in_(PERMIT_STAGES), _s.c.outcome.in_(("approved", "approved_with_tolerance")),
        _s.c.ended_at.is_not(None))
    if f.since is not None:
        permit = permit.where(_s.c.ended_at >= f.since)
    if f.until is not None:
        permit = permit.where(_s.c.ended_at < f.until)
    return _ratio(connected, conn.execute(permit).scalar_one())


def _m_online_filing(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    """Stage filings made by the owner or its agent (online, 网厅) over all stage filings of the filtered projects."""
    e, p, u = t.events, t.projects, t.users
    agents = select(u.c.name).where(u.c.role.in_(("owner", "agent")))
    query = (select(func.count(), func.sum(case((or_(e.c.actor == p.c.owner_id, e.c.actor.in_(agents)), 1), else_=0)))
        .select_from(e.join(p, p.c.id == e.c.project_id))
        .where(e.c.type == "stage_submitted", e.c.project_id.in_(_stage_projects(conn, f))))
    total, online = conn.execute(query).one()
    return _ratio(online, total)


def _m_intermediary(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    sp = t.subjects.alias("sp")
    with_one = conn.execute(select(func.count((sp.c.project_id + "|" + sp.c.stage + "|" + sp.c.matter_id).distinct()))
                            .where(*conditions(f, "special", sp), sp.c.procedure == "intermediary")).scalar_one()
    return _ratio(with_one, ctx["tally"]("matter")["started"])


FOUR_STAGES = ("S1", "S2", "S3", "S23", "S4")
#: The decisions an officer records in the system (user tasks of matter_approval).
REVIEW_TASKS = ("Task_Review", "Task_ReviewSilent")


def _m_main_matters_offline(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    """主要事项未在线上办理: the main matters of the four stages (``ind.matters``, else the catalogue's mandatory
    approval matters of S1–S4) that ended with a decision (准予 / 不予许可) although no officer decided them in the
    system — no review task of that matter completed by a person (the engine's own ``system`` actor does not
    count): their result was entered, not handled online. Over the main matters decided in the period.

    What the system can find: a matter handled wholly offline never reaches it (the sheet's inspectors find those)."""
    catalogue = ctx["catalogue"]
    main = list(ind.matters) or sorted(m.id for m in catalogue.matters.values()
                                       if m.mandatory and m.kind == "approval" and m.stage in FOUR_STAGES)
    tk = t.tasks.c
    handled = (select(tk.id).where(tk.project_id == _s.c.project_id, tk.matter_key == _s.c.key,
                                   tk.spec_id.in_(REVIEW_TASKS), tk.state == "done", tk.actor.is_not(None),
                                   tk.actor != "system").exists())
    decided = [*conditions(f, "matter"), _s.c.ended_at.is_not(None), _s.c.stage.in_(FOUR_STAGES),
               _s.c.matter_id.in_(main), _s.c.outcome.in_(("approved", "refused"))]
    total, offline = conn.execute(select(func.count(), func.sum(case((~handled, 1), else_=0))).where(*decided)).one()
    return {**_ratio(offline, total), "cases": int(offline or 0)}


def _m_electronic_licences(conn: Connection, f: Filters, ind: Indicator, ctx: dict[str, Any]) -> dict[str, Any]:
    """电子证照应用: how many certificate types (workflows/certificates.yaml) the system issued as electronic
    certificates in the period, for the filtered projects — every approving result is issued as one (a revoked or
    expired one was issued all the same). Certificates of types never issued do not count."""
    from engine.domain.divisions import prefix

    c, p = t.certificates.c, t.projects.c
    query = (select(func.count(c.type_id.distinct()), func.count())
             .select_from(t.certificates.join(t.projects, p.id == c.project_id)))
    if f.since is not None:
        query = query.where(c.issued_at >= f.since)
    if f.until is not None:
        query = query.where(c.issued_at < f.until)
    if f.project_type is not None:
        query = query.where(p.project_type == f.project_type)
    if f.jurisdiction is not None:
        query = query.where(p.profile == f.jurisdiction)
    if f.division is not None:
        query = query.where(c.division_code.like(prefix(f.division) + "%"))
    types, issued = conn.execute(query).one()
    return {"value": int(types), "numerator": int(types), "denominator": None, "certificates": int(issued)}


MEASURES: dict[str, Callable[[Connection, Filters, Indicator, dict[str, Any]], dict[str, Any]]] = {
    "cases_per_project": _m_cases_per_project, "instant_cases": _m_instant_cases, "build_cycle": _m_build_cycle,
    "whole_process_time": _m_whole_process_time, "stage_time": _m_stage_time, "overdue_cases": _m_overdue_cases,
    "silent_consent": _m_silent_consent, "planning_generation": _m_planning_generation,
    "commitment_cases": _m_commitment_cases, "parallel": _m_parallel, "joint_acceptance": _m_joint_acceptance,
    "regional_assessment_projects": _m_regional_assessment, "online_filing": _m_online_filing,
    "regional_assessment_items": _m_regional_assessment_items, "utilities": _m_utilities,
    "intermediary": _m_intermediary, "main_matters_offline": _m_main_matters_offline,
    "electronic_licences": _m_electronic_licences,
}


def sheet_values(conn: Connection, filters: Filters, *, catalogue: Any, sheet: Sheet | None = None,
                 filing_matters: list[str] | tuple[str, ...] = (), threshold_minutes: float = 10.0,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Every indicator of the sheet for one filter: its definition (line, unit, numerator, denominator, period)
    and value — or null with the reason the system cannot know it."""
    sheet = sheet or load_sheet()
    ctx: dict[str, Any] = {"catalogue": catalogue, "tally": _Tallies(conn, filters, now=now, filing_matters=filing_matters,
                                                                      threshold_minutes=threshold_minutes)}
    out = []
    for ind in sheet.indicators:
        entry: dict[str, Any] = {"id": ind.id, "name": ind.name, "line": sheet.line(ind), "category": ind.category,
                                 "points": ind.points, "unit": ind.unit, "numerator_definition": ind.numerator,
                                 "denominator_definition": ind.denominator, "period": sheet.period,
                                 "rule": ind.rule.model_dump(exclude_defaults=True)}
        if ind.note:
            entry["note"] = ind.note
        if ind.measure is None:
            entry.update(value=None, numerator=None, denominator=None, reason=ind.reason)
        else:
            entry.update(MEASURES[ind.measure](conn, filters, ind, ctx))
        out.append(entry)
    return out


# -- scoring and ranking -------------------------------------------------------------------------------------------
def _tier(rank: int | None, n: int, rule: Rule) -> float | None:
    """base + delta for the best ``top`` ranks, base − delta for the worst ``bottom``, else base."""
    assert rule.base is not None and rule.delta is not None
    if rank is None:
        return rule.base
    if rank <= rule.top:
        return rule.base + rule.delta
    if rank > n - rule.bottom:
        return rule.base - rule.delta
    return rule.base


def _ranks(values: dict[str, float | None], better: str | None) -> dict[str, int | None]:
    """Competition ranks (1, 2, 2, 4 …) of the known values, best first; divisions without a value: None."""
    known = sorted(((v, code) for code, v in values.items() if v is not None), reverse=(better == "higher"))
    ranks: dict[str, int | None] = {code: None for code in values}
    if len({v for v, _ in known}) <= 1:  # nothing tells them apart: every division keeps the base
        return ranks
    for i, (v, code) in enumerate(known):
        ranks[code] = i + 1 if i == 0 or v != known[i - 1][0] else ranks[known[i - 1][1]]
    return ranks


def score(entry: dict[str, Any], rule: Rule, *, rank: int | None = None, n: int = 0) -> float | None:
    """One indicator's points for one division by the sheet's rule (None: not computed by the system)."""
    value = entry.get("value")
    if rule.kind == "manual":
        return None
    if value is None and rule.kind != "tiers":
        return None
    if rule.kind == "tiers":  # a division without a case keeps the base
        return _tier(rank, n, rule)
    if rule.kind == "per_case":
        cases = entry.get("cases", 0)
        return max(0.0, round((rule.base or 0) - (rule.per or 0) * cases, 2))
    if rule.kind == "per_step":
        steps = int(value // (rule.step or 1)) if value else 0
        return max(0.0, round((rule.base or 0) - (rule.per or 0) * steps, 2))
    if rule.kind == "bands":
        points = 0.0
        for band in rule.bands:
            if value >= band["min"]:
                points = band["points"]
        return points
    if rule.kind == "scaled":
        return round(value / (rule.of or 1) * 10, 2)
    return None


def peers(division: str, divisions: Divisions | None = None) -> list[str]:
    """The divisions ranked against each other for ``division``: a province's 设区市; a city's listed counties
    (itself when none is listed); a county's sibling counties."""
    divisions = divisions or load_divisions()
    lv = levels(division)
    if lv.city is None:
        return divisions.cities(division)
    city = lv.city
    counties = [d.code for d in divisions.within(city) if d.code != city]
    return counties or [city]


def ranking(conn: Connection, *, catalogue: Any, division: str, since: datetime | None = None,
            until: datetime | None = None, project_type: str | None = None, jurisdiction: str | None = None,
            sheet: Sheet | None = None, filing_matters: list[str] | tuple[str, ...] = (),
            threshold_minutes: float = 10.0, now: datetime | None = None) -> dict[str, Any]:
    """Rank ``division``'s peers (:func:`peers`) on every indicator the system computes, scored by the sheet.

    Tiers rank the divisions with a value (best first, ties share a rank): the best ``top`` get base + delta,
    the worst ``bottom`` base − delta, the others — and a division without a case — the base. Per-stage tiers
    (四阶段跨度用时, 全流程审批用时: "分别按照四个阶段") rank each stage and average the stages' points.
    """
    sheet = sheet or load_sheet()
    divisions = load_divisions()
    codes = peers(division, divisions)
    values: dict[str, list[dict[str, Any]]] = {}
    for code in codes:
        f = Filters(project_type=project_type, jurisdiction=jurisdiction, since=since, until=until, division=code)
        values[code] = sheet_values(conn, f, catalogue=catalogue, sheet=sheet, filing_matters=filing_matters,
                                    threshold_minutes=threshold_minutes, now=now)
    scores: dict[str, dict[str, float | None]] = {code: {} for code in codes}
    ranks: dict[str, dict[str, int | None]] = {code: {} for code in codes}
    for i, ind in enumerate(sheet.indicators):
        rule = ind.rule
        if rule.kind == "tiers" and ind.measure is not None:
            if rule.per_stage:
                stage_points: dict[str, list[float]] = {code: [] for code in codes}
                stages = sorted({s for code in codes for s in (values[code][i].get("by_stage") or {})})
                for stage in stages:
                    by = {code: (values[code][i].get("by_stage") or {}).get(stage, {}).get("value") for code in codes}
                    r = _ranks(by, rule.better)
                    for code in codes:
                        stage_points[code].append(_tier(r[code], len(codes), rule) or 0.0)
                overall = _ranks({code: values[code][i]["value"] for code in codes}, rule.better)
                for code in codes:
                    pts = stage_points[code]
                    scores[code][ind.id] = round(sum(pts) / len(pts), 2) if pts else rule.base
                    ranks[code][ind.id] = overall[code]
            else:
                r = _ranks({code: values[code][i]["value"] for code in codes}, rule.better)
                for code in codes:
                    ranks[code][ind.id] = r[code]
                    scores[code][ind.id] = _tier(r[code], len(codes), rule)
        else:
            for code in codes:
                scores[code][ind.id] = None if ind.measure is None else score(values[code][i], rule)
                ranks[code][ind.id] = None
    rows = []
    for code in codes:
        computed = [v for v in scores[code].values() if v is not None]
        rows.append({"division": code, "name": divisions.name(code), "total": round(sum(computed), 2),
                     "scores": scores[code], "ranks": ranks[code],
                     "values": {v["id"]: v for v in values[code]}})
    rows.sort(key=lambda r: (-r["total"], r["division"]))
    for place, row in enumerate(rows, start=1):
        row["place"] = place
    computed_points = sum(ind.points for ind in sheet.indicators if ind.measure is not None)
    return {"sheet": {"id": sheet.id, "name": sheet.name, "source": sheet.source, "period": sheet.period},
            "division": division, "division_name": divisions.name(division), "peers": codes,
            "filters": {k: v for k, v in {"since": since.isoformat() if since else None,
                                           "until": until.isoformat() if until else None,
                                           "project_type": project_type, "jurisdiction": jurisdiction}.items() if v},
            "computed_points": computed_points,
            "not_computed": [{"id": ind.id, "name": ind.name, "points": ind.points, "reason": ind.reason}
                             for ind in sheet.indicators if ind.measure is None],
            "indicators": [{"id": ind.id, "name": ind.name, "line": sheet.line(ind), "points": ind.points,
                            "unit": ind.unit, "numerator": ind.numerator, "denominator": ind.denominator,
                            "rule": ind.rule.model_dump(exclude_defaults=True), "computed": ind.measure is not None,
                            "reason": ind.reason, "note": ind.note} for ind in sheet.indicators],
            "rows": rows}


# -- the spreadsheet -----------------------------------------------------------------------------------------------
def write_xlsx(result: dict[str, Any], out: io.BufferedIOBase | io.BytesIO | Path | str) -> None:
    """:func:`ranking`'s result as an xlsx workbook: 评分 (points per indicator and total, best first), 指标值
    (each value with its numerator and denominator), 口径 (each indicator's definition and the sheet's line)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    bold = Font(bold=True)
    grey = PatternFill("solid", fgColor="DDDDDD")
    indicators = result["indicators"]
    period = " – ".join(v for v in (result["filters"].get("since"), result["filters"].get("until")) if v) or "全部"

    ws = wb.active
    ws.title = "评分"
    ws.append([result["sheet"]["name"]])
    ws.append([f"{result['division_name']}（{result['division']}）所属单位排名；期间：{period}；"
               f"系统计分指标合计 {result['computed_points']:g} 分；来源 {result['sheet']['source']}"])
    ws.append([])
    header = ["名次", "行政区划代码", "单位", "系统计分合计"] + [f"{i['name']}（{i['points']:g}）" for i in indicators]
    ws.append(header)
    for cell in ws[4]:
        cell.font, cell.fill = bold, grey
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in result["rows"]:
        ws.append([row["place"], row["division"], row["name"], row["total"]]
                  + [row["scores"].get(i["id"]) if i["computed"] else "不由系统计分" for i in indicators])
    ws.freeze_panes = "E5"

    values = wb.create_sheet("指标值")
    values.append(["行政区划代码", "单位", "指标", "评分细则行", "单位口径", "值", "整工作日（受理次日起算）", "分子", "分母",
                   "名次", "得分", "说明"])
    for cell in values[1]:
        cell.font, cell.fill = bold, grey
    for row in result["rows"]:
        for i in indicators:
            v = row["values"][i["id"]]
            values.append([row["division"], row["name"], i["name"], i["line"], i["unit"], v.get("value"),
                           v.get("whole_days_mean"), v.get("numerator"), v.get("denominator"), row["ranks"].get(i["id"]),
                           row["scores"].get(i["id"]), v.get("reason") or v.get("note") or ""])
    values.freeze_panes = "D2"

    terms = wb.create_sheet("口径")
    terms.append(["指标", "分值", "评分细则行", "单位", "分子", "分母", "评分规则", "系统计算", "不能计算的原因 / 说明"])
    for cell in terms[1]:
        cell.font, cell.fill = bold, grey
    for i in indicators:
        terms.append([i["name"], i["points"], i["line"], i["unit"], i["numerator"], i["denominator"],
                      ", ".join(f"{k}={v}" for k, v in i["rule"].items()), "是" if i["computed"] else "否",
                      i["reason"] or i["note"] or ""])
    for sheet_ in (ws, values, terms):
        for col in range(1, sheet_.max_column + 1):
            sheet_.column_dimensions[get_column_letter(col)].width = 14 if sheet_ is not terms else 22
    target = out if not isinstance(out, (str, Path)) else None
    if target is None:
        wb.save(str(out))
    else:
        wb.save(target)
