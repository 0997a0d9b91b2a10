"""``gongai demo``, ``run-scenario``, ``deploy`` and ``worker``: running the engine from a terminal.

Every command migrates its database first. Errors the rules produce (a bad scenario, an invalid model)
print one line and exit 1 — never a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from engine.cli import app
from engine.cli.report_cmd import open_db
from engine.domain.workcalendar import CalendarDataMissing

console = Console()
if not console.is_terminal:  # pipes and files: wide enough for the timing tables
    console = Console(width=200)
err = Console(stderr=True)

DB_HELP = "Database URL (default: $GONGAI_DATABASE_URL or sqlite:///gongai.db)."


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _service(db: Any, profile: str, clock: Any):
    from engine.domain.catalogue import load_catalogue
    from engine.domain.workcalendar import WorkCalendar
    from engine.services.approval import ApprovalService

    catalogue = load_catalogue(profile)
    return ApprovalService(db, catalogue=catalogue, calendar=WorkCalendar.default(), clock=clock)


@app.command()
def demo(
    projects: int = typer.Option(200, "--projects", min=1, help="How many synthetic projects."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed gives the same report."),
    out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder (gongai.db and report.json)."),
    profile: str = typer.Option("default", "--profile", help="Catalogue profile (jurisdiction)."),
    start: str = typer.Option("2026-09-01", "--start", help="First day (Asia/Shanghai) projects arrive."),
    jobs: int = typer.Option(0, "--jobs", min=0, help="Processes to simulate in (default: up to 2 CPUs); same figures."),
) -> None:
    """Simulate a seeded batch of mixed projects on a virtual clock and print the stage timing report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.clock import VirtualClock
    from engine.persistence.db import make_engine, migrate
    from engine.simulation.driver import simulate_parallel
    from engine.simulation.report import build_report, render_tables, to_json
    from engine.simulation.scenario import ScenarioError, parse_instant

    try:
        first = parse_instant(start if "T" in start else f"{start}T09:00:00", "--start")
    except ScenarioError as exc:
        _fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "gongai.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db = make_engine(f"sqlite:///{db_path}")
    migrate(db)
    try:
        service = _service(db, profile, VirtualClock(first))
    except (KeyError, ValueError, OSError) as exc:
        _fail(f"profile {profile!r}: {' '.join(str(exc).split())}")
    service.deploy_bundled()
    db.dispose()
    jobs = jobs or min(2, os.cpu_count() or 1)
    wall = time.perf_counter()
    with Progress(
        TextColumn("[bold]simulating[/bold]"), BarColumn(), MofNCompleteColumn(), TextColumn("projects"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as progress:
        bar = progress.add_task("projects", total=projects)
        try:
            with warnings.catch_warnings():  # the note after the report says it once, for every worker process
                warnings.simplefilter("ignore", CalendarDataMissing)
                run = simulate_parallel(str(db_path), profile=profile, seed=seed, start=first, count=projects,
                                        jobs=jobs, workdir=str(out), progress=lambda n: progress.advance(bar, n))
        except RuntimeError as exc:
            _fail(f"simulation stopped: {exc}")
        progress.update(bar, completed=projects)
    elapsed = time.perf_counter() - wall
    report = build_report(db, service.catalogue)
    for table in render_tables(report):
        console.print(table)
    if run.get("virtual_end") and not service.calendar.covers(datetime.fromisoformat(run["virtual_end"]).date()):
        year = datetime.fromisoformat(run["virtual_end"]).year
        err.print(f"[yellow]note:[/yellow] the batch ran into {year}, which has no holiday data: its working days "
                  f"use the fallback rule (weekends and fixed-date holidays). Add workflows/holidays/{year}.yaml "
                  "(see workflows/holidays/README.md).", highlight=False)
    document = {"run": {"seed": seed, "profile": profile, "start": first.isoformat(), **run,
                        "wall_seconds": round(elapsed, 2)}, **report}
    (out / "report.json").write_text(to_json(document) + "\n", encoding="utf-8")
    from engine.cli.report_cmd import write_chart_files

    write_chart_files(db, out, service.catalogue,  # open bars of the Gantt end at the virtual 'now'
                      now=datetime.fromisoformat(run["virtual_end"]) if run.get("virtual_end") else None)
    from engine.cli.analytics_cmd import write_scoring_files

    write_scoring_files(db, out, service.catalogue,  # the scoring sheet: ranking of the divisions the demo drew
                        now=datetime.fromisoformat(run["virtual_end"]) if run.get("virtual_end") else None)
    integrity = report.get("route_integrity") or {}
    if integrity:
        console.print(f"route integrity: {integrity['projects']} projects, "
                      f"{integrity['exclusive']['count']} ran mutually exclusive matters (审批/核准/备案), "
                      f"{integrity['order']['count']} permits issued before their precondition (依法出证)",
                      highlight=False)
    commitments = report.get("commitments") or {}
    if commitments:
        console.print(f"告知承诺制: {commitments['projects']} projects filed {commitments['matters']} matters on a "
                      f"commitment; 核查 {commitments['post_checks']} ({commitments['post_checks_failed']} failed); "
                      f"{commitments['revoked_permits']} permits revoked ({commitments['revoked_committed']} decided on a "
                      f"commitment, the rest tolerated or built on them); {commitments['credit_records']} 失信 records",
                      highlight=False)
    console.print(f"{projects} projects, {run['tasks_completed']} task completions, {run['timers_fired']} timer firings "
                  f"in {elapsed:.1f} s ({jobs} process{'es' if jobs > 1 else ''}); virtual time {first:%Y-%m-%d} → "
                  f"{(run.get('virtual_end') or '')[:10]}. Wrote {out / 'report.json'} and {db_path}.", highlight=False)


@app.command("run-scenario")
def run_scenario(
    file: Path = typer.Argument(..., help="Scenario YAML file (see docs/cli.md)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the timings as JSON to this file ('-' for stdout)."),
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: a throwaway database, so replays are exact)."),
) -> None:
    """Replay a scenario of timestamped actions on a virtual clock and show every matter's and stage's timing."""
    from engine.clock import VirtualClock
    from engine.persistence.db import make_engine, migrate
    from engine.simulation.scenario import ScenarioError, load_scenario, replay

    try:
        scenario = load_scenario(file)
    except ScenarioError as exc:
        _fail(str(exc))
    with tempfile.TemporaryDirectory(prefix="gongai-scenario-") as tmp:
        engine = make_engine(db or f"sqlite:///{Path(tmp) / 'scenario.db'}")
        try:
            migrate(engine)
            clock = VirtualClock(scenario.start)
            try:
                service = _service(engine, scenario.profile, clock)
            except (KeyError, ValueError, OSError) as exc:
                _fail(f"profile {scenario.profile!r}: {' '.join(str(exc).split())}")
            service.deploy_bundled()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CalendarDataMissing)
                try:
                    result = replay(scenario, service, clock)
                except ScenarioError as exc:
                    _fail(str(exc))
        finally:
            engine.dispose()
    data = result.to_dict()
    if json_out is not None:
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if str(json_out) == "-":
            typer.echo(text)
        else:
            json_out.write_text(text + "\n", encoding="utf-8")
            console.print(f"wrote {json_out}", highlight=False)
        return
    for project in data["projects"]:
        for table in _timing_tables(project):
            console.print(table)


def _timing_tables(project: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    timing = project["timing"]

    def local(value: str | None) -> str:
        if not value:
            return "–"
        from zoneinfo import ZoneInfo

        return datetime.fromisoformat(value).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")

    def days(value: Any) -> str:
        return "–" if value is None else f"{value:.4g}"

    def table(title: str, first: str) -> Table:
        t = Table(title=title, title_justify="left", header_style="bold")
        t.add_column(first)
        t.add_column("名称", max_width=16)
        for col in ("开始", "结束", "跨度自然日", "跨度工作日", "停表", "审批工作日", "承诺到期", "状态", "结果"):
            t.add_column(col, justify="right" if col.endswith("日") or col == "停表" else "left")
        return t

    def add(t: Table, e: dict[str, Any], key: str) -> None:
        t.add_row(key, e.get("name") or "", local(e.get("start")), local(e.get("end")), days(e.get("span_natural_days")),
                  days(e.get("span_working_days")), days(e.get("stopped_working_days")),
                  days(e.get("approval_working_days")), local(e.get("committed_due")), e.get("status") or "",
                  e.get("result_label") or e.get("outcome") or "")

    head = f"{project['id']} {project.get('name', '')} — {project.get('project_type')} — {project.get('status')}"
    stages = table(f"{head}：阶段", "阶段")
    for e in timing["stages"]:
        add(stages, e, e["key"])
    if timing.get("project"):
        add(stages, {**timing["project"], "name": "全流程"}, "全流程")
    matters = table(f"{project['id']}：事项", "事项")
    for e in timing["matters"] + timing.get("special_procedures", []) + timing.get("post_checks", []):
        add(matters, e, e["key"])
    return [stages, matters]


@app.command()
def deploy(
    files: Optional[list[Path]] = typer.Argument(None, help="BPMN files to deploy together (default: the bundled models)."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    process: str = typer.Option("project_approval", "--process", help="Main process id of the given files."),
) -> None:
    """Deploy the bundled approval models, or the given BPMN files, as a new definition version."""
    from engine.clock import SystemClock
    from engine.services.errors import ServiceError

    engine = open_db(db)
    service = _service(engine, "default", SystemClock())
    try:
        if files:
            contents = {}
            for path in files:
                try:
                    contents[path.name] = path.read_bytes()
                except OSError as exc:
                    _fail(f"{path}: {exc.strerror or exc}")
            result = service.deploy(contents, process_id=process, by="cli")
        else:
            result = service.deploy_bundled()
    except ServiceError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    state = "deployed" if result["created"] else "already deployed"
    console.print(f"{result['process_id']} version {result['version']} (definition {result['id']}) {state}", highlight=False)


def _open_when_reachable(db: Optional[str], *, max_backoff: float, retry: bool) -> Any:
    """The migrated database; a worker started while the database is down waits for it instead of exiting."""
    import logging

    from engine.persistence.incidents import is_outage

    delay = 1.0
    while True:
        try:
            return open_db(db)
        except Exception as exc:  # noqa: BLE001 - only outages are waited out
            if not retry or not is_outage(exc):
                raise
            logging.getLogger("gongai.timers").warning(
                "database unavailable at start (%s); retrying in %.1f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(max(max_backoff, 1.0), delay * 2)


@app.command()
def worker(
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    interval: float = typer.Option(30.0, "--interval", min=0.0, envvar="GONGAI_TIMER_INTERVAL", help="Seconds between timer sweeps."),
    once: bool = typer.Option(False, "--once", help="Fire the due timers once and exit (for tests and cron)."),
    profile: str = typer.Option("default", "--profile", envvar="GONGAI_PROFILE", help="Catalogue profile (jurisdiction)."),
    max_backoff: float = typer.Option(60.0, "--max-backoff", min=0.0,
                                      help="Longest wait between rounds while the database is unavailable."),
) -> None:
    """Fire due timers (warnings, overdue marks, 超时默许, commitment deadlines) on the real clock, in a loop."""
    from engine.clock import SystemClock
    from engine.ops.logs import configure_logging
    from engine.services.timer_loop import TimerLoop

    if not once:
        configure_logging()  # JSON lines on stderr (GONGAI_LOG_FORMAT=text for a terminal)
    engine = _open_when_reachable(db, max_backoff=max_backoff, retry=not once)
    service = _service(engine, profile, SystemClock())

    def report(fired: int) -> None:
        if fired or once:
            console.print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M:%S} fired timers of {fired} project(s)",
                          highlight=False)

    loop = TimerLoop(service, interval=interval, max_backoff=max_backoff, on_round=report)
    if once:
        try:
            report(service.fire_timers())
        except Exception as exc:  # noqa: BLE001 - one line, exit 1 (cron sees the failure)
            _fail(f"timer round failed: {type(exc).__name__}: {exc}")
        return
    try:
        loop.run()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        return
