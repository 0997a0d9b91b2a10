"""Stage and whole-process timing statistics from the ``subjects`` table (跨度用时 / 审批用时 / 逾期率).

The figures are those the engine stored when each stage or project closed, so the report is the same
whether it is read right after a simulation or months later from a production database. Only finished
subjects enter the duration statistics; open ones are counted separately. Output is deterministic
(no timestamps), so two runs of the same seed give identical reports.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from engine.domain.catalogue import Catalogue
from engine.domain.ledger import PROJECT_RESULT_LABELS
from engine.persistence import tables as t
from engine.persistence.uow import UnitOfWork
from engine.analytics.integrity import route_integrity

STAGE_ORDER = ("S0", "S1", "S2", "S3", "S23", "S4", "S5")
ALL = "all"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (like numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "p90": None}
    return {
        "mean": round(sum(values) / len(values), 2),
        "median": round(percentile(values, 0.5) or 0.0, 2),
        "p90": round(percentile(values, 0.9) or 0.0, 2),
    }


def _group(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rows = list(rows)
    done = [r for r in rows if r["ended_at"] is not None and r["span_working_days"] is not None]
    overdue = sum(1 for r in done if r["overdue"])
    return {
        "count": len(done),
        "open": sum(1 for r in rows if r["ended_at"] is None),  # a filing 视为撤回 ended untimed: not open
        "span_working_days": _summary([r["span_working_days"] for r in done]),
        "approval_working_days": _summary([r["approval_working_days"] for r in done]),
        "span_natural_days": _summary([r["span_natural_days"] for r in done]),
        "overdue": overdue,
        "overdue_rate": round(overdue / len(done), 4) if done else None,
        "outcomes": dict(sorted(Counter(r["outcome"] or "open" for r in rows).items())),
    }


def build_report(db: Engine, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The timing report of every project in the database."""
    with UnitOfWork(db) as uow:
        stage_rows = uow.subjects.query(level="stage")
        project_rows = uow.subjects.query(level="project")
        matter_rows = uow.subjects.query(level="matter")
        special_rows = uow.subjects.query(level="special")
        check_rows = uow.subjects.query(level="check")
        filing_rows = [r for r in uow.subjects.query(level="filing") if r["started_at"] is not None]
        credit_count = uow.conn.execute(select(func.count()).select_from(t.credit_records)).scalar_one()
        revoked_events = uow.conn.execute(select(func.count()).select_from(t.events).where(
            t.events.c.type == "permit_revoked")).scalar_one()
        projects = []
        while True:  # the repository pages by 100
            page = uow.projects.list(limit=1000, offset=len(projects))
            projects += page
            if len(page) < 1000:
                break

    def stage_name(stage: str) -> str:
        if catalogue is not None:
            try:
                return catalogue.stage(stage).name
            except KeyError:
                pass
        return stage

    def type_name(ptype: str) -> str:
        if catalogue is not None and ptype in catalogue.project_types:
            return catalogue.project_type(ptype).name
        return ptype

    by_stage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in stage_rows:
        by_stage[row["stage"] or row["key"]].append(row)
    stages = [{"stage": s, "name": stage_name(s), **_group(by_stage[s])}
              for s in sorted(by_stage, key=lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER else 99, s))]

    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in project_rows:
        by_type[row["project_type"]].append(row)
    whole = [{"project_type": ALL, "name": "全部项目", **_group(project_rows)}]
    whole += [{"project_type": t, "name": type_name(t), **_group(by_type[t])} for t in sorted(by_type)]

    matters_done = [r for r in matter_rows if r["ended_at"] is not None]
    silent = sum(1 for r in matters_done if r["outcome"] == "silent_consent")
    overdue_matters = sum(1 for r in matters_done if r["overdue"])
    status = Counter(p["status"] for p in projects)
    results = Counter(p["result"] or "running" for p in projects)
    return {
        "projects": {"total": len(projects), "by_status": dict(sorted(status.items())),
                     "by_result": dict(sorted(results.items())),
                     "by_type": dict(sorted(Counter(p["project_type"] for p in projects).items()))},
        "stages": stages,
        "whole_process": whole,
        # 受理用时: submission to the window's decision; the owner's 补正 stopped the clock (the window's own time)
        "filings": {**_group(filing_rows), "outcomes": dict(sorted(Counter(r["outcome"] or "open"
                                                                          for r in filing_rows).items()))},
        "matters": {
            "count": len(matters_done),
            "open": len(matter_rows) - len(matters_done),
            "overdue": overdue_matters,
            "overdue_rate": round(overdue_matters / len(matters_done), 4) if matters_done else None,
            "silent_consent": silent,
            "silent_consent_rate": round(silent / len(matters_done), 4) if matters_done else None,
            "outcomes": dict(sorted(Counter(r["outcome"] or "open" for r in matter_rows).items())),
        },
        # the case model and legal order, checked on what actually ran (0 is a checked figure)
        "route_integrity": route_integrity(matter_rows, catalogue) if catalogue is not None else None,
        "commitments": commitment_figures(matter_rows, check_rows, credit_count, revoked_events),
        "certificates": certificate_figures(db),
        "special_procedures": {
            "count": len(special_rows),
            "by_procedure": dict(sorted(Counter((r["state"].get("attrs") or {}).get("procedure", "?")
                                                for r in special_rows).items())),
        },
    }


def commitment_figures(matter_rows: Sequence[dict[str, Any]], check_rows: Sequence[dict[str, Any]],
                       credit_records: int, revoked_events: int) -> dict[str, Any]:
    """告知承诺制 and 容缺 follow-ups of the batch: committed matters, 核查 passed / failed, revoked permits."""
    def mode(row: dict[str, Any]) -> str | None:
        return ((row.get("state") or {}).get("attrs") or {}).get("mode")

    committed = [r for r in matter_rows if mode(r) == "commitment"]
    checks = Counter(r["outcome"] or "open" for r in check_rows)
    return {
        "projects": len({r["project_id"] for r in committed}),
        "matters": len(committed),
        "post_checks": len(check_rows),
        "post_checks_by_outcome": dict(sorted(checks.items())),
        "post_checks_failed": checks.get("failed", 0),
        # 核查 past its limit (红牌): the agency's lateness, which never revokes the owner's permit
        "post_checks_overdue": sum(1 for r in check_rows if r.get("overdue")),
        "revoked_permits": sum(1 for r in matter_rows if r["outcome"] == "revoked"),
        "revoked_committed": sum(1 for r in committed if r["outcome"] == "revoked"),
        "permit_revoked_events": revoked_events,
        "credit_records": credit_records,
    }


def certificate_figures(db: Engine) -> dict[str, Any]:
    """电子证照 in the run: certificates issued (by status and type) and the materials filings took from them
    (免于提交), counted from the certificate records and the ``stage_submitted`` events."""
    from sqlalchemy import func, select

    from engine.persistence import tables as t

    c, e = t.certificates.c, t.events.c
    with db.connect() as conn:
        by_status = {status: int(n) for status, n in conn.execute(select(c.status, func.count()).group_by(c.status))}
        by_type = {name: int(n) for name, n in conn.execute(select(c.type_name, func.count()).group_by(c.type_name)
                                                           .order_by(func.count().desc(), c.type_name))}
        exempted, filings, used = 0, 0, set()
        for (data,) in conn.execute(select(e.data).where(e.type == "stage_submitted")):
            items = (data or {}).get("exempted") or []
            if items:
                filings += 1
                exempted += len(items)
                used.update(item["certificate"] for item in items)
    issued = sum(by_status.values())
    return {"issued": issued, "by_status": dict(sorted(by_status.items())), "revoked": by_status.get("revoked", 0),
            "expired": by_status.get("expired", 0), "by_type": by_type,
            "exempted_materials": exempted, "filings_with_exemptions": filings, "certificates_reused": len(used)}


# -- rendering ------------------------------------------------------------------------------------------------
CSV_COLUMNS = ("scope", "key", "name", "count", "open", "span_mean", "span_median", "span_p90", "approval_mean",
               "approval_median", "approval_p90", "overdue_rate")


def _flat(scope: str, key: str, entry: dict[str, Any]) -> dict[str, Any]:
    span, appr = entry["span_working_days"], entry["approval_working_days"]
    return {"scope": scope, "key": key, "name": entry["name"], "count": entry["count"], "open": entry["open"],
            "span_mean": span["mean"], "span_median": span["median"], "span_p90": span["p90"],
            "approval_mean": appr["mean"], "approval_median": appr["median"], "approval_p90": appr["p90"],
            "overdue_rate": entry["overdue_rate"]}


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [_flat("stage", s["stage"], s) for s in report["stages"]]
    rows += [_flat("whole_process", w["project_type"], w) for w in report["whole_process"]]
    return rows


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2)


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report_rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def result_label(result: str) -> str:
    """A project result as the report shows it (办结（部分许可已撤销） …); ``running``: still 办理中."""
    return "办理中" if result == "running" else PROJECT_RESULT_LABELS.get(result, result)


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    if pct:
        return f"{value * 100:.1f}%"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def render_tables(report: dict[str, Any]) -> list[Any]:
    """Rich tables: one row per stage, one per project type for the whole process, and a summary."""
    from rich.table import Table

    def table(title: str, first: str) -> Table:
        t = Table(title=title, title_justify="left", header_style="bold")
        t.add_column(first)
        t.add_column("名称")
        for col in ("办结数", "在办", "跨度 均值", "跨度 中位", "跨度 P90", "审批 均值", "审批 中位", "审批 P90", "逾期率"):
            t.add_column(col, justify="right")
        return t

    def add(t: Table, key: str, e: dict[str, Any]) -> None:
        s, a = e["span_working_days"], e["approval_working_days"]
        t.add_row(key, e["name"], str(e["count"]), str(e["open"]), _fmt(s["mean"]), _fmt(s["median"]), _fmt(s["p90"]),
                  _fmt(a["mean"]), _fmt(a["median"]), _fmt(a["p90"]), _fmt(e["overdue_rate"], pct=True))

    stages = table("各阶段用时（工作日）", "阶段")
    for s in report["stages"]:
        add(stages, s["stage"], s)
    whole = table("全流程用时（工作日，立项至竣工验收）", "项目类型")
    for w in report["whole_process"]:
        add(whole, w["project_type"], w)
    summary = Table(title="概况", title_justify="left", show_header=False)
    m, p = report["matters"], report["projects"]
    summary.add_row("项目", f"{p['total']}（{'，'.join(f'{result_label(k)} {v}' for k, v in p['by_result'].items())}）")
    f = report.get("filings") or {}
    if f.get("count"):
        a, n = f["approval_working_days"], f["span_natural_days"]
        outcomes = f.get("outcomes") or {}
        summary.add_row("受理用时", f"{f['count']} 次申报：窗口用时均值 {_fmt(a['mean'])}、P90 {_fmt(a['p90'])} 个工作日，"
                                    f"超过受理时限 {_fmt(f['overdue_rate'], pct=True)}；申报至受理均值 {_fmt(n['mean'])} 个自然日"
                                    f"（视为受理 {outcomes.get('deemed', 0)}，视为撤回 {outcomes.get('withdrawn', 0)}）")
    summary.add_row("事项办结", f"{m['count']}，逾期率 {_fmt(m['overdue_rate'], pct=True)}")
    summary.add_row("超时默许", f"{m['silent_consent']}（{_fmt(m['silent_consent_rate'], pct=True)}）")
    summary.add_row("特别程序", f"{report['special_procedures']['count']}")
    c = report.get("commitments") or {}
    if c.get("post_checks"):
        summary.add_row("告知承诺核查", f"{c['post_checks']}（不通过 {c['post_checks_failed']}，逾期 {c.get('post_checks_overdue', 0)}）；"
                                      f"撤销许可 {c['revoked_permits']}，失信记录 {c['credit_records']}")
    certs = report.get("certificates") or {}
    if certs:
        summary.add_row("电子证照", f"签发 {certs['issued']}（撤销 {certs['revoked']}，过期 {certs['expired']}）；"
                                    f"免于提交材料 {certs['exempted_materials']} 项（{certs['filings_with_exemptions']} 次申报，"
                                    f"复用证照 {certs['certificates_reused']} 份）")
    return [stages, whole, summary]
