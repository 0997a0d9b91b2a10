"""``gongai simulate``: measure a reform before it is made (the same seeded workload under two configurations).

See docs/simulate.md. Errors in a reform file or profile print one line and exit 1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from engine.cli import app

console = Console()
if not console.is_terminal:
    console = Console(width=160)
err = Console(stderr=True)

MEASURE_NAMES = {"span_working_days": "跨度", "approval_working_days": "审批"}


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def simulate(
    variant: str = typer.Option(..., "--variant", help="Reform YAML file (workflows/reforms/*.yaml) or a profile id."),
    baseline: str = typer.Option("default", "--baseline", help="Profile id or reform YAML file to compare against."),
    projects: int = typer.Option(60, "--projects", min=1, help="Projects in the seeded batch (the same in both runs)."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the workload and of the bootstrap."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the comparison as JSON ('-' for stdout)."),
    fit_from: Optional[str] = typer.Option(None, "--fit-from", help="Database (URL or SQLite file) whose finished "
                                           "matters give per-department response times (lognormal)."),
    start: str = typer.Option("2026-09-01", "--start", help="First day (Asia/Shanghai) projects arrive."),
    jobs: int = typer.Option(2, "--jobs", min=1, max=2, help="Run the two configurations in 1 or 2 processes."),
) -> None:
    """Run a seeded synthetic workload under a baseline and a variant and print the difference in durations."""
    from engine.domain.catalogue import CatalogueError
    from engine.simulation.scenario import ScenarioError, parse_instant
    from engine.simulation.whatif import ReformError, build_catalogue, fit_response_times, load_reform, whatif

    try:
        first = parse_instant(start if "T" in start else f"{start}T09:00:00", "--start")
    except ScenarioError as exc:
        _fail(str(exc))
    try:
        base_reform, var_reform = load_reform(baseline), load_reform(variant)
        build_catalogue(base_reform), build_catalogue(var_reform)
    except (ReformError, CatalogueError, KeyError, OSError) as exc:
        _fail(" ".join(str(exc).split()))
    fit = None
    if fit_from:
        url = fit_from if "://" in fit_from else f"sqlite:///{fit_from}"
        if "://" not in fit_from and not Path(fit_from).is_file():
            _fail(f"--fit-from: {fit_from}: no such database file")
        try:
            fit = fit_response_times(url)
        except Exception as exc:  # a database that is not ours: one line, no traceback
            _fail(f"--fit-from {fit_from}: {' '.join(str(exc).split())[:300]}")
        if not fit:
            _fail(f"--fit-from {fit_from}: no finished matters to fit response times from")
    wall = time.perf_counter()
    with console.status(f"simulating {projects} projects × 2 configurations …"):
        try:
            doc = whatif(base_reform, var_reform, projects=projects, seed=seed, start=first, response_fit=fit, jobs=jobs)
        except (ReformError, CatalogueError) as exc:
            _fail(" ".join(str(exc).split()))
    doc["wall_seconds"] = round(time.perf_counter() - wall, 2)
    if json_out is not None:
        text = json.dumps(doc, ensure_ascii=False, indent=2)
        if str(json_out) == "-":
            typer.echo(text)
            return
        json_out.write_text(text + "\n", encoding="utf-8")
    for table in render(doc):
        console.print(table)
    if not (doc["baseline"]["run"].get("calendar_covered") and doc["variant"]["run"].get("calendar_covered")):
        err.print("[yellow]note:[/yellow] the batch ran past the holiday data (see workflows/holidays/README.md); "
                  "those dates use the stated fallback calendar", highlight=False)
    tail = f" Wrote {json_out}." if json_out is not None else ""
    console.print(f"{projects} projects, seed {seed}: baseline {doc['baseline']['run']['tasks_completed']} and variant "
                  f"{doc['variant']['run']['tasks_completed']} task completions in {doc['wall_seconds']:.1f} s.{tail}",
                  highlight=False)


def render(doc: dict[str, Any]) -> list[Any]:
    """The comparison table, the critical-path table and, with --fit-from, the fitted response times."""
    from rich.table import Table

    from engine.simulation.whatif import WHOLE

    b_name, v_name = doc["baseline"]["reform"]["name"], doc["variant"]["reform"]["name"]

    def num(v: Any) -> str:
        return "–" if v is None else f"{v:.2f}"

    t = Table(title=f"改革效果模拟：{b_name} → {v_name}（工作日，配对项目均值，95% 自助法置信区间）",
              title_justify="left", header_style="bold")
    for col, justify in (("范围", "left"), ("口径", "left"), ("配对", "right"), ("基线", "right"), ("变体", "right"),
                         ("差值", "right"), ("95% CI", "right"), ("显著", "center")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in doc["comparisons"]:
        scope = "全流程" if c["scope"] == WHOLE else c["scope"]
        ci = "–" if c["ci95"] is None else f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]"
        diff = "–" if c["difference"] is None else f"{c['difference']:+.2f}"
        mark = "[bold]是[/bold]" if c["excludes_zero"] else "否"
        t.add_row(scope, MEASURE_NAMES.get(c["measure"], c["measure"]), str(c["pairs"]), num(c["baseline_mean"]),
                  num(c["variant_mean"]), diff, ci, mark)
    cp = Table(title="各阶段关键路径（按观测均值加权的流程图最长路径；\"最常最后办结\"为逐项目统计）",
               title_justify="left", header_style="bold")
    for col in ("阶段", "基线 关键事项", "基线 长度", "基线 最常最后办结", "变体 关键事项", "变体 长度", "变体 最常最后办结"):
        cp.add_column(col)
    base_cp, var_cp = doc["baseline"]["critical_path"], doc["variant"]["critical_path"]

    def last(e: dict[str, Any] | None) -> str:
        if not e or not e.get("most_often_last"):
            return "–"
        return f"{e['most_often_last']} ({e['most_often_last_share'] * 100:.0f}%)"

    for stage in list(dict.fromkeys([*base_cp, *var_cp])):
        b, v = base_cp.get(stage), var_cp.get(stage)
        cp.add_row(stage + (" (串联)" if v and v.get("serial") else ""),
                   (b or {}).get("critical_matter") or "–", num((b or {}).get("length")), last(b),
                   (v or {}).get("critical_matter") or "–", num((v or {}).get("length")), last(v))
    tables = [t, cp]
    if doc.get("response_fit"):
        import math

        fit = Table(title="拟合的部门响应时间（对数正态，审批工作日）", title_justify="left", header_style="bold")
        for col in ("部门", "μ(log)", "σ(log)", "中位数"):
            fit.add_column(col)
        for dept, (mu, sd) in doc["response_fit"].items():
            fit.add_row(dept, f"{mu:.3f}", f"{sd:.3f}", f"{math.exp(mu):.2f}")
        tables.append(fit)
    return tables
