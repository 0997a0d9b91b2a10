"""``gongai export`` (XES / CSV event log for process mining) and ``gongai measures`` (the analysts' KPIs)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from engine.cli import app
from engine.domain.workcalendar import SHANGHAI


class ExportFormat(str, Enum):
    xes = "xes"
    csv = "csv"
    exchange = "exchange"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


#: The service's field names (the first word of an ``Invalid`` message) as ``gongai measures`` options.
_OPTIONS = {"project_type": "--project-type", "stage": "--stage", "department": "--department", "matter": "--matter",
            "jurisdiction": "--jurisdiction", "since": "--since", "until": "--until", "division": "--division",
            "group_by": "--by"}


def _connect(db: str | None):
    from engine.persistence.db import make_engine

    return make_engine(db)


@app.command()
def export(
    fmt: ExportFormat = typer.Option(ExportFormat.xes, "--format",
                                     help="xes (IEEE 1849), csv, or exchange (the national 工改 exchange tables)"),
    out: Path = typer.Option(..., "--out", help="file to write (exchange: a folder, one CSV per table)"),
    db: Optional[str] = typer.Option(None, "--db", help="database URL (default: GONGAI_DATABASE_URL or sqlite:///gongai.db)"),
    project: Optional[str] = typer.Option(None, "--project", help="only this project (one trace), e.g. P2026-000001"),
    since: Optional[str] = typer.Option(None, "--since", help="only events at or after (ISO date or date-time)"),
    until: Optional[str] = typer.Option(None, "--until", help="only events before (ISO date or date-time)"),
) -> None:
    """Export the event log for pm4py, ProM or Disco (one trace per project).

    --since/--until cut on the event instant (naive = Asia/Shanghai):
    a project running across the window's edge is exported in part.
    """
    from sqlalchemy import select

    from engine.analytics.export import write_csv, write_xes
    from engine.persistence import tables as t

    start, end = _instant(since, "--since"), _instant(until, "--until")
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter(f"{since} is not before --until {until}", param_hint="--since")
    engine = _connect(db)
    with engine.connect() as conn:
        if project is not None and conn.execute(select(t.projects.c.id).where(t.projects.c.id == project)).first() is None:
            raise typer.BadParameter(f"no project {project!r} in this database", param_hint="--project")
        if fmt is ExportFormat.exchange:  # the national tables (engine/analytics/exchange.py): whole projects
            if start is not None or end is not None:
                raise typer.BadParameter("the exchange tables hold whole projects; use --project", param_hint="--since")
            from engine.analytics.exchange import write_exchange
            from engine.domain.catalogue import load_catalogue

            counts = write_exchange(conn, out, catalogue=load_catalogue(), project_id=project)
            typer.echo(", ".join(f"{table}: {n} rows" for table, n in counts.items()) + f" written to {out}")
            return
        filters: dict[str, Any] = {"project_id": project, "since": start, "until": end}
        if fmt is ExportFormat.xes:
            with out.open("wb") as handle:
                count = write_xes(conn, handle, **filters)
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = write_csv(conn, handle, **filters)
    typer.echo(f"{count} events written to {out}")


def _instant(value: str | None, option: str) -> datetime | None:
    """A date or date-time; dates and naive times are read in Asia/Shanghai (the calendar's time zone)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date (2026-01-31) or date-time", param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


@app.command()
def measures(
    db: Optional[str] = typer.Option(None, "--db", help="database URL"),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json"),
    project_type: Optional[str] = typer.Option(None, "--project-type"),
    stage: Optional[str] = typer.Option(None, "--stage"),
    department: Optional[str] = typer.Option(None, "--department"),
    matter: Optional[str] = typer.Option(None, "--matter"),
    jurisdiction: Optional[str] = typer.Option(None, "--jurisdiction", help="the projects' profile, e.g. jiangxi"),
    since: Optional[str] = typer.Option(None, "--since", help="accepted on or after (ISO date)"),
    until: Optional[str] = typer.Option(None, "--until", help="accepted before (ISO date)"),
    division: Optional[str] = typer.Option(None, "--division", help="行政区划代码 (a city takes in its counties), e.g. 360700"),
    threshold_minutes: float = typer.Option(10.0, "--suspect-minutes", help="体外循环: non-filing matters faster than this"),
    by: Optional[str] = typer.Option(None, "--by", help="division: every measure once per 行政区划代码 the projects carry"),
) -> None:
    """Durations (span / approval time), overdue and KPI rates, bottlenecks — computed by the database.

    Running matters are measured at the wall clock's now (并联审批率).
    On a database driven by a virtual clock (a simulation, a scenario)
    GET /analytics/report, which uses the service's clock, may differ.
    """
    from datetime import timezone

    from engine.domain.catalogue import load_catalogue
    from engine.services.analytics import analytics_filters, kpi_report, profile_catalogue
    from engine.services.errors import Invalid

    start, end = _instant(since, "--since"), _instant(until, "--until")
    try:
        # the profile's own catalogue: its matters and filing list, as the projects filed under it were run
        catalogue = profile_catalogue(load_catalogue(), jurisdiction)
        filters = analytics_filters(catalogue, project_type=project_type, stage=stage, department=department,
                                    matter=matter, jurisdiction=jurisdiction, since=start, until=end,
                                    division=division)
    except Invalid as exc:  # a typo must not pass for "no such cases": exit code 2 naming the value
        field, _, rest = str(exc).partition(": ")
        option = _OPTIONS.get(field)
        raise typer.BadParameter(rest if option else str(exc), param_hint=option) from None
    try:
        data = kpi_report(_connect(db), catalogue, filters, threshold_minutes=threshold_minutes,
                          now=datetime.now(timezone.utc), group_by=by)
    except Invalid as exc:
        raise typer.BadParameter(str(exc).partition(": ")[2], param_hint="--by") from None
    if fmt is OutputFormat.json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    if by is None:
        _print_tables(data)
        return
    from rich.console import Console

    for group in data["groups"]:
        Console().rule(f"行政区划 {group['division'] or '—'} {group['name']}")
        _print_tables(group)


def _print_tables(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()

    def durations(title: str, rows: list[dict[str, Any]]) -> None:
        table = Table(title=title)
        for column in ("group", "n", "span nat. mean/med/p90/max", "span wd mean/med/p90/max",
                       "span whole wd (受理次日起算) mean/med/p90/max",
                       "approval wd mean/med/p90/max", "approval whole wd (受理次日起算) mean/med/p90/max"):
            table.add_column(column)
        for row in rows:
            cells = [" / ".join("-" if (row.get(m) or {}).get(s) is None else f"{row[m][s]:g}"
                                for s in ("mean", "median", "p90", "max"))
                     for m in ("span_natural_days", "span_working_days", "span_days_used", "approval_working_days",
                               "approval_days_used")]
            table.add_row(str(row["group"]), str(row["count"]), *cells)
        console.print(table)

    durations("四阶段跨度用时 (per stage)", data["stages"])
    durations("全流程审批用时 (whole process)", data["whole_process"] + data["whole_process_by_type"])
    durations("per department", data["departments"])
    ranking = Table(title="bottlenecks (departments, by mean approval working days)")
    for column in ("rank", "department", "n", "mean", "p90", "whole wd mean / p90 (受理次日起算)", "total",
                   "critical path (关键路径)"):
        ranking.add_column(column)
    for row in data["bottlenecks"]["departments"]:
        critical = row.get("critical_path") or {}
        on_path = f"{critical['count']}/{critical['of']} ({critical['rate']:.0%})" if critical.get("rate") is not None else "-"
        whole = row.get("whole_days") or {}
        ranking.add_row(str(row["rank"]), str(row["group"]), str(row["count"]), str(row["mean"]), str(row["p90"]),
                        " / ".join("-" if whole.get(s) is None else f"{whole[s]:g}" for s in ("mean", "p90")),
                        str(row["total_working_days"]), on_path)
    console.print(ranking)
    rates = Table(title="rates")
    rates.add_column("measure")
    rates.add_column("count / of")
    rates.add_column("rate")

    def rate(name: str, r: dict[str, Any]) -> None:
        rates.add_row(name, f"{r['count']} / {r['of']}", "-" if r["rate"] is None else f"{r['rate']:.2%}")

    for level, label in (("matter", "matters"), ("stage", "stages"), ("project", "whole process")):
        rate(f"办件逾期率 {label} (committed)", data["overdue"][level]["committed"])
        rate(f"办件逾期率 {label} (statutory)", data["overdue"][level]["statutory"])
    rate("超时默许率", data["silent_consent"])
    rate("并联审批率", data["parallel"])
    rate("容缺受理 share", data["commitments"]["tolerance"])
    rate("告知承诺 share", data["commitments"]["commitment"])
    rate("broken commitments (撤销)", data["commitments"]["broken_commitments"])
    rate("post-checks failed (核查不通过)", data["commitments"]["post_checks_failed"])
    rate("post-checks overdue (核查逾期)", data["commitments"]["post_checks_overdue"])
    rate("联合验收率", data["joint_acceptance"])
    rate("matters with a 特别程序", data["special_procedures"]["matters_with_special"])
    rate(f"体外循环 suspects (< {data['off_system_suspects']['threshold_minutes']:g} min)", data["off_system_suspects"])
    console.print(rates)
    special = Table(title="特别程序")
    for column in ("procedure", "started", "finished", "span wd mean/med/p90/max"):
        special.add_column(column)
    for proc, row in data["special_procedures"]["by_procedure"].items():
        d = row.get("span_working_days") or {}
        special.add_row(str(proc), str(row["started"]), str(row["finished"]),
                        " / ".join("-" if d.get(s) is None else f"{d[s]:g}" for s in ("mean", "median", "p90", "max")))
    console.print(special)
    if data.get("scoring_sheet"):
        sheet = Table(title="scoring sheet indicators (评分细则, policy-compilation.txt:2266–2314)")
        for column in ("indicator", "line", "value", "numerator / denominator", "unit / why not computed"):
            sheet.add_column(column)
        for item in data["scoring_sheet"]:
            value = "—" if item["value"] is None else f"{item['value']:g}"
            ratio = "" if item.get("numerator") is None else f"{item['numerator']:g} / {item.get('denominator') if item.get('denominator') is not None else '—'}"
            sheet.add_row(item["name"], item["line"].rpartition(":")[2], value, ratio,
                          item.get("reason") or item["unit"])
        console.print(sheet)


@app.command()
def scoring(
    db: Optional[str] = typer.Option(None, "--db", help="database URL"),
    division: str = typer.Option("360000", "--division",
                                 help="行政区划代码 whose peers are ranked: a province its cities, a city its counties"),
    since: Optional[str] = typer.Option(None, "--since", help="accepted on or after (ISO date), e.g. 2026-01-01"),
    until: Optional[str] = typer.Option(None, "--until", help="accepted before (ISO date), e.g. 2027-01-01"),
    jurisdiction: Optional[str] = typer.Option(None, "--jurisdiction", help="the projects' profile, e.g. jiangxi"),
    xlsx: Optional[Path] = typer.Option(None, "--xlsx", help="also write the scoring sheet as a spreadsheet"),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json"),
) -> None:
    """The scoring sheet (Jiangxi 2023 评分细则): the division's peers ranked on every indicator the system can
    compute, each scored by the sheet's rule; the indicators it cannot compute are listed with the reason."""
    from datetime import timezone

    from engine.domain.catalogue import load_catalogue
    from engine.services.analytics import scoring_ranking, scoring_xlsx
    from engine.services.errors import Invalid

    start, end = _instant(since, "--since"), _instant(until, "--until")
    try:
        result = scoring_ranking(_connect(db), load_catalogue(), division=division, since=start, until=end,
                                 jurisdiction=jurisdiction, now=datetime.now(timezone.utc))
    except Invalid as exc:
        field, _, rest = str(exc).partition(": ")
        option = _OPTIONS.get(field)
        raise typer.BadParameter(rest if option else str(exc), param_hint=option) from None
    if xlsx is not None:
        xlsx.write_bytes(scoring_xlsx(result))
        typer.echo(f"scoring sheet written to {xlsx}", err=True)
    if fmt is OutputFormat.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    print_ranking(result)


def write_scoring_files(engine: Any, folder: Path, catalogue: Any, *, division: str = "360000",
                        now: datetime | None = None) -> list[Path]:
    """``scoring.xlsx`` and ``scoring.json``: the scoring sheet's ranking of ``division``'s peers, all periods."""
    from datetime import timezone

    from rich.console import Console

    from engine.services.analytics import scoring_ranking, scoring_xlsx

    result = scoring_ranking(engine, catalogue, division=division, now=now or datetime.now(timezone.utc))
    paths = [folder / "scoring.xlsx", folder / "scoring.json"]
    paths[0].write_bytes(scoring_xlsx(result))
    paths[1].write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    Console(stderr=True).print(f"wrote the scoring sheet ({len(result['rows'])} divisions ranked) to {paths[0]} and "
                               f"{paths[1].name}", highlight=False)
    return paths


def print_ranking(result: dict[str, Any]) -> None:
    """The ranking as a terminal table (place, division, total, the indicators it gained and lost points on);
    every indicator's points are in the xlsx and the JSON."""
    from rich.console import Console
    from rich.table import Table

    computed = {i["id"]: i for i in result["indicators"] if i["computed"]}
    table = Table(title=f"{result['sheet']['name']} — {result['division_name']}（{result['division']}）")
    for column in ("名次", "代码", "单位", f"合计（{result['computed_points']:g} 分中）", "加分", "减分"):
        table.add_column(column)
    for row in result["rows"]:
        gained, lost = [], []
        for ind_id, points in row["scores"].items():
            rule = computed.get(ind_id, {}).get("rule") or {}
            if points is None or rule.get("kind") != "tiers":
                if points is not None and points < computed[ind_id]["points"] and rule.get("kind") != "tiers":
                    lost.append(computed[ind_id]["name"])
                continue
            if points > rule["base"]:
                gained.append(computed[ind_id]["name"])
            elif points < rule["base"]:
                lost.append(computed[ind_id]["name"])
        table.add_row(str(row["place"]), row["division"], row["name"], f"{row['total']:g}", "、".join(gained),
                      "、".join(lost))
    console = Console()
    console.print(table)
    for item in result["not_computed"]:
        console.print(f"[dim]{item['name']}（{item['points']:g} 分）：{item['reason']}[/dim]", highlight=False)
