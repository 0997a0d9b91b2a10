"""``python -m bench http``: whole projects through the real server, against raw SpiffWorkflow in the same run.

Issue 14 states gongai's throughput as a ratio to raw SpiffWorkflow's in-memory rate on a small 4-task approval
model, measured in the same run on the same machine, so the figure survives a busier or faster box. This bench

1. prepares a database (SQLite in a temp dir, or a throwaway PostgreSQL server with ``--postgres``): migrates it,
   deploys the bundled models and creates the users — one owner per client, a window officer, an officer per
   department and an analyst;
2. starts ``gongai serve`` in one or more subprocesses on that database (``--processes``), exactly as deployed;
3. at each client level (1, 8, 50) drives whole projects over HTTP: file a project with its typical 情形
   (``engine.simulation.cases.typical_case``), list its ready tasks, complete each as the role it belongs to
   (owner, window, the matter's department), until the project ends; every client drives its own projects;
4. measures raw SpiffWorkflow completing the 4-task model in memory (no persistence, no HTTP) in the same run, and
   raw SpiffWorkflow driving the clients' own project on the bundled models in memory (the ceiling of any
   engine on SpiffWorkflow for these models: a completion there runs several nested processes' engine steps);
5. counts SQL statements per completion in-process (the same app under a test client, a SQLAlchemy
   ``before_cursor_execute`` listener), since a listener cannot reach into the server subprocesses.

It prints, per level, completions/s, the ratios to both raw rates, latency percentiles (p50/p95/p99 of the
completion requests), errors, the servers' CPU per completion and their peak RSS (from ``/proc``); for more than one process, the throughput and CPU-per-completion ratios to one
process (contention shows as CPU per completion growing); and writes it
all to ``bench/results/http-<when>.json`` (gitignored: figures belong to the machine that measured them; the
docs quote them with the machine). Nothing asserts on time: ``--quick`` is small enough for a smoke test.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PROJECT_TYPE = "social_small"

#: A 4-task approval (申报 → 受理 → 审查 → 出件) with one exclusive gateway on the review decision: the floor
#: a BPMN engine cannot beat, whatever it persists.
RAW_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs_bench" targetNamespace="bench">
  <bpmn:process id="small_approval" isExecutable="true">
    <bpmn:startEvent id="Begin"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Begin" targetRef="Submit"/>
    <bpmn:userTask id="Submit" name="申报"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Submit" targetRef="Intake"/>
    <bpmn:userTask id="Intake" name="受理"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Intake" targetRef="Review"/>
    <bpmn:userTask id="Review" name="审查"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="Review" targetRef="Decision"/>
    <bpmn:exclusiveGateway id="Decision" default="f6">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing><bpmn:outgoing>f6</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f5" sourceRef="Decision" targetRef="Refused">
      <bpmn:conditionExpression>decision == "refuse"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f6" sourceRef="Decision" targetRef="Issue"/>
    <bpmn:userTask id="Issue" name="出件"><bpmn:incoming>f6</bpmn:incoming><bpmn:outgoing>f7</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="f7" sourceRef="Issue" targetRef="Issued"/>
    <bpmn:endEvent id="Refused"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="Issued"><bpmn:incoming>f7</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


# -- raw SpiffWorkflow ------------------------------------------------------------------------------------------
def _rates(one: Any, seconds: float, repeat: int) -> list[float]:
    """Completions per second of ``one()`` (which returns how many it did), ``repeat`` times over ``seconds``."""
    one()  # warm-up
    rates = []
    for _ in range(repeat):
        began, done = time.perf_counter(), 0
        while time.perf_counter() - began < seconds:
            done += one()
        rates.append(done / (time.perf_counter() - began))
    return rates


def raw_rate(seconds: float = 1.0, repeat: int = 3) -> dict[str, Any]:
    """Completed tasks per second of raw SpiffWorkflow on :data:`RAW_MODEL`, in memory (median of ``repeat``)."""
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_str(RAW_MODEL.encode("utf-8"))
    spec = parser.get_spec("small_approval")

    def one() -> int:
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        done = 0
        while not workflow.is_completed():
            task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
            task.data["decision"] = "approve"
            task.run()
            workflow.do_engine_steps()
            done += 1
        return done

    rates = _rates(one, seconds, repeat)
    return {"model": "small_approval (4 user tasks, 1 gateway)", "tasks_per_s": round(statistics.median(rates), 1),
            "runs": [round(r, 1) for r in rates]}


def raw_project_rate(seconds: float = 1.0, repeat: int = 3) -> dict[str, Any]:
    """Completions per second of raw SpiffWorkflow driving the clients' own project (the bundled models,
    :data:`PROJECT_TYPE`, every step approved) in memory: no persistence, no history, no timing, no HTTP.

    This is the ceiling of any engine built on SpiffWorkflow for these models; the small model's rate is not
    (one of our completions runs the gateways, scripts and multi-instance steps of four nested processes).
    """
    from bench.engine_bench import Plan, RawSpiff
    from engine.domain.catalogue import load_catalogue
    from engine.simulation.cases import typical_case

    catalogue = load_catalogue()
    raw = RawSpiff(catalogue)
    filing = {"project_type": PROJECT_TYPE, "case": typical_case(PROJECT_TYPE), "include_planning": False,
              "unit_works": [{"id": "U1", "name": "1号楼"}]}

    def one() -> int:  # every step approved, as the clients decide (no correction, no 容缺)
        plan = Plan(catalogue, PROJECT_TYPE, corrected=True)
        plan.tolerance = None
        return raw.run_project(filing, plan)

    rates = _rates(one, seconds, repeat)
    return {"model": f"the bundled models, one {PROJECT_TYPE} project", "completions_per_s": round(statistics.median(rates), 1),
            "runs": [round(r, 1) for r in rates]}


# -- the participants -------------------------------------------------------------------------------------------
def payload(task: dict[str, Any]) -> dict[str, Any]:
    """Every step approved: the intake complete, every matter approved, post-checks passed."""
    spec = task["spec_id"]
    if spec == "Task_Intake":
        return {"outcome": "complete"}
    if spec in ("Task_Review", "Task_ReviewSilent"):
        return {"decision": "approve"}
    if spec == "Task_PostCheck":
        return {"passed": True}
    if spec == "Task_SupplyDocuments":
        return {"documents": ["补齐材料"]}
    if spec == "Task_SignCommitment":
        return {"signatory": "张三", "accepted_terms": True}
    if spec in ("Task_CorrectFiling", "Task_MatterCorrection"):
        return {"supplied": ["补正材料"]}
    return {}


@dataclass
class Tally:
    """What the clients of one level saw (appended from several threads: list.append is atomic)."""

    completions: int = 0
    projects: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # completion requests
    other_ms: list[float] = field(default_factory=list)  # filings, inbox reads, status reads
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message[:300])


def who_for(task: dict[str, Any], owner: str) -> str:
    if task["role"] == "owner":
        return owner
    if task["role"] == "window":
        return "bench-window"
    if task["role"] == "lead":  # 综合出件 and the other lead-lane tasks need a lead-department officer
        return f"bench-lead-{task['department']}"
    return f"bench-officer-{task['department']}"


def drive_project(client: Any, tokens: dict[str, str], owner: str, tally: Tally, *, project_type: str = PROJECT_TYPE,
                  max_steps: int = 500) -> None:
    """File one project as ``owner`` and complete every task it asks for, as its role, until it ends.

    ``client`` is an ``httpx.Client`` (or FastAPI's TestClient, which is one) with a base URL.
    """
    from engine.simulation.cases import typical_case

    def call(method: str, url: str, who: str, body: Any = None, *, timed: list[float]) -> Any:
        began = time.perf_counter()
        response = client.request(method, url, json=body, headers={"Authorization": f"Bearer {tokens[who]}"})
        timed.append((time.perf_counter() - began) * 1000)
        if response.status_code >= 300:
            tally.error(f"{method} {url}: {response.status_code} {response.text}")
            return None
        return response.json()

    filing = {"name": f"基准项目-{owner}", "project_type": project_type, "case": typical_case(project_type),
              "unit_works": [{"id": "U1", "name": "1号楼"}]}
    created = call("POST", "/projects", owner, filing, timed=tally.other_ms)
    if created is None:
        return
    pid = created["id"]
    idle = 0
    for _ in range(max_steps):
        ready = call("GET", f"/tasks?project_id={pid}", "bench-analyst", timed=tally.other_ms)
        if ready is None:
            return
        if not ready:
            project = _project_status(client, tokens, pid, tally)
            if project != "running":
                with tally.lock:
                    tally.projects += 1
                return
            idle += 1
            if idle > 50:
                tally.error(f"project {pid} has no ready task and is still running")
                return
            time.sleep(0.05)
            continue
        idle = 0
        for task in ready:
            done = call("POST", f"/tasks/{task['id']}/complete", who_for(task, owner), payload(task),
                        timed=tally.latencies_ms)
            if done is not None:
                with tally.lock:
                    tally.completions += 1
    tally.error(f"project {pid} did not end within {max_steps} rounds")


def _project_status(client: Any, tokens: dict[str, str], pid: str, tally: Tally) -> str | None:
    began = time.perf_counter()
    response = client.get(f"/projects/{pid}", headers={"Authorization": f"Bearer {tokens['bench-analyst']}"})
    tally.other_ms.append((time.perf_counter() - began) * 1000)
    if response.status_code != 200:
        tally.error(f"GET /projects/{pid}: {response.status_code} {response.text}")
        return None
    return response.json()["status"]


# -- the database and the servers -------------------------------------------------------------------------------
def prepare(url: str, owners: int) -> dict[str, str]:
    """Migrate, deploy the bundled models, create the bench's users; returns their tokens by name."""
    from engine.domain.catalogue import load_catalogue
    from engine.persistence.db import make_engine, migrate
    from engine.services.approval import ApprovalService
    from engine.services.users import UserStore

    db = make_engine(url)
    migrate(db)
    catalogue = load_catalogue()
    ApprovalService(db, catalogue=catalogue).deploy_bundled()
    store = UserStore(db, departments=catalogue.departments)
    tokens = {}
    for name, role in (("bench-analyst", "analyst"), ("bench-window", "window")):
        tokens[name] = store.add(name, role)[1]
    for dept in catalogue.departments:
        tokens[f"bench-officer-{dept}"] = store.add(f"bench-officer-{dept}", "agency", department=dept)[1]
        tokens[f"bench-lead-{dept}"] = store.add(f"bench-lead-{dept}", "lead", department=dept)[1]
    for i in range(owners):
        tokens[f"bench-owner-{i}"] = store.add(f"bench-owner-{i}", "owner")[1]
    db.dispose()
    return tokens


def prepare_with(code: Path | None, url: str, owners: int) -> dict[str, str]:
    """:func:`prepare` by this checkout, or by the checkout ``code`` (its own migrations) in a subprocess."""
    if code is None:
        return prepare(url, owners)
    import inspect

    script = inspect.getsource(prepare) + f"\nimport json\nprint(json.dumps(prepare({url!r}, {owners})))\n"
    script = "from __future__ import annotations\nfrom typing import Any\n" + script
    done = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=str(code)), cwd=str(code),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (``/proc/<pid>/stat``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")


def start_servers(url: str, processes: int, directory: Path, code: Path | None = None) -> list[Server]:
    """``gongai serve`` × ``processes`` on ``url``; only the first runs the timer worker (as the docs advise).

    ``code``: run the servers from another checkout of gongai (a before/after comparison in one run, on the
    same machine state); the database is prepared by this checkout, so both must share the schema's head or
    the servers migrate it.
    """
    import httpx

    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    servers = []
    for i in range(processes):
        port = _free_port()
        log = directory / f"server-{i}.log"
        command = [sys.executable, "-c", "from engine.cli import main; main()", "serve", "--db", url,
                   "--port", str(port), "--timers" if i == 0 else "--no-timers"]
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                       cwd=str(code) if code is not None else None)
        servers.append(Server(process, port, log))
    deadline = time.monotonic() + 120
    for server in servers:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"gongai serve exited: {server.log.read_text()[-2000:]}")
            try:
                if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gongai serve did not answer within 120 s: {server.log.read_text()[-2000:]}")
            time.sleep(0.1)
    return servers


def stop_servers(servers: Sequence[Server]) -> None:
    for server in servers:
        server.process.terminate()
    for server in servers:
        try:
            server.process.wait(15)
        except subprocess.TimeoutExpired:
            server.process.kill()


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


def run_level(servers: Sequence[Server], tokens: dict[str, str], clients: int, projects_per_client: int,
              raw: float) -> dict[str, Any]:
    """``clients`` threads, each with its own connection (to the servers in turn), driving its own projects."""
    import httpx

    tally = Tally()
    barrier = threading.Barrier(clients + 1)

    def client_main(index: int) -> None:
        server = servers[index % len(servers)]
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            barrier.wait()
            for _ in range(projects_per_client):
                try:
                    drive_project(client, tokens, f"bench-owner-{index}", tally)
                except httpx.HTTPError as exc:
                    tally.error(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client_main, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = sum(s.cpu_seconds() for s in servers)
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    cpu = sum(s.cpu_seconds() for s in servers) - cpu_before
    rate = tally.completions / wall if wall else 0.0
    return {
        "clients": clients, "processes": len(servers), "projects": tally.projects, "completions": tally.completions,
        "wall_s": round(wall, 2), "completions_per_s": round(rate, 1),
        "ratio_to_raw": round(rate / raw, 4) if raw else None,
        "latency_ms": percentiles(tally.latencies_ms), "other_requests_latency_ms": percentiles(tally.other_ms),
        "requests": len(tally.latencies_ms) + len(tally.other_ms),
        "errors": len(tally.errors), "error_samples": tally.errors[:5],
        "server_cpu_ms_per_completion": round(cpu * 1000 / tally.completions, 1) if tally.completions else None,
        "server_peak_rss_mb": [s.peak_rss_mb() for s in servers],
    }


# -- statements per completion (in-process) ---------------------------------------------------------------------
def statements_per_completion(directory: Path, projects: int = 1) -> dict[str, Any]:
    """Drive ``projects`` whole projects through the app in-process and count the SQL statements per completion.

    The listener counts each ``execute`` (an executemany is one statement, one round trip), only while a
    completion request is being served; the other requests are counted apart.
    """
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from api.app import create_app

    url = f"sqlite:///{directory / 'statements.db'}"
    tokens = prepare(url, 1)
    app = create_app(database_url=url)
    db = app.state.service.db
    counter = {"n": 0}

    @event.listens_for(db, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        counter["n"] += 1

    class Counting(TestClient):
        """Attributes the statements of each request to completions or to everything else."""

        completion_statements = 0
        other_statements = 0

        def request(self, method: str, url: str, **kwargs: Any) -> Any:  # type: ignore[override]
            before = counter["n"]
            response = super().request(method, url, **kwargs)
            spent = counter["n"] - before
            if url.endswith("/complete"):
                Counting.completion_statements += spent
            else:
                Counting.other_statements += spent
            return response

    tally = Tally()
    with Counting(app) as client:
        for _ in range(projects):
            drive_project(client, tokens, "bench-owner-0", tally)
    db.dispose()
    done = tally.completions or 1
    return {"completions": tally.completions, "errors": len(tally.errors), "error_samples": tally.errors[:3],
            "statements_per_completion": round(Counting.completion_statements / done, 1),
            "other_statements": Counting.other_statements}


# -- the whole bench --------------------------------------------------------------------------------------------
def default_projects(clients: int) -> int:
    """Projects each client drives: 4 alone, 2 of 8, 1 of 50 (a level completes a few hundred tasks)."""
    return max(1, min(4, 16 // clients))


def run(*, levels: Sequence[int] = (1, 8, 50), projects: dict[int, int] | None = None, postgres: bool = False,
        sqlite: bool = True, processes: Sequence[int] = (1,), raw_seconds: float = 1.0, out: Path | None = None,
        quiet: bool = False, code: Path | None = None) -> dict[str, Any]:
    """Run every (database, processes, clients) combination; returns (and writes) the results."""
    projects = projects or {}
    say = (lambda *_: None) if quiet else (lambda text: print(text, flush=True))
    started = datetime.now(timezone.utc)
    raw = raw_rate(raw_seconds)
    say(f"raw SpiffWorkflow, in memory, {raw['model']}: {raw['tasks_per_s']:.0f} tasks/s")
    ceiling = raw_project_rate(raw_seconds)
    say(f"raw SpiffWorkflow, in memory, {ceiling['model']}: {ceiling['completions_per_s']:.0f} completions/s "
        f"(×{ceiling['completions_per_s'] / raw['tasks_per_s']:.3f} of the small model: the ceiling on these models)")
    results: dict[str, Any] = {"started_at": started.isoformat(), "machine": _machine(), "project_type": PROJECT_TYPE,
                               "server_code": str(code) if code else "this checkout", "raw_spiffworkflow": raw,
                               "raw_spiffworkflow_project": ceiling,
                               "runs": []}
    with tempfile.TemporaryDirectory(prefix="gongai-http-bench-") as tmp:
        directory = Path(tmp)
        statements = statements_per_completion(directory)
        results["statements"] = statements
        say(f"SQL statements per completion (in-process): {statements['statements_per_completion']}")
        databases: list[tuple[str, Any]] = [("sqlite", None)] if sqlite else []
        pg = None
        if postgres:
            from tests.pg_server import start_server

            pg = start_server("-c shared_buffers=256MB -c max_connections=200")
            databases.append(("postgresql", pg))
        try:
            for name, server in databases:
                for count in processes:
                    url = (server.create_database() if server is not None
                           else f"sqlite:///{directory / f'bench-{count}.db'}")
                    tokens = prepare_with(code, url, max(levels))
                    servers = start_servers(url, count, directory, code)
                    try:
                        # warm-up, not counted: imports, parsed models, compiled expressions of every process
                        run_level(servers, tokens, len(servers), 1, raw["tasks_per_s"])
                        for clients in levels:
                            per_client = projects.get(clients) or default_projects(clients)
                            # the machine's speed drifts (shared boxes): raw SpiffWorkflow is measured again right
                            # before and after each level, and the level's ratio uses their mean
                            before = raw_rate(raw_seconds / 3)["tasks_per_s"], raw_project_rate(raw_seconds / 3, 1)
                            level = run_level(servers, tokens, clients, per_client, 1.0)
                            after = raw_rate(raw_seconds / 3)["tasks_per_s"], raw_project_rate(raw_seconds / 3, 1)
                            level["raw_tasks_per_s"] = round((before[0] + after[0]) / 2, 1)
                            level["ratio_to_raw"] = round(level["completions_per_s"] / level["raw_tasks_per_s"], 4)
                            level["raw_project_completions_per_s"] = round(
                                (before[1]["completions_per_s"] + after[1]["completions_per_s"]) / 2, 1)
                            level["ratio_to_raw_project"] = round(level["completions_per_s"]
                                                                  / level["raw_project_completions_per_s"], 3)
                            level["database"] = name
                            results["runs"].append(level)
                            say(_line(level))
                    finally:
                        stop_servers(servers)
        finally:
            if pg is not None:
                pg.stop()
    results["scaling"] = scaling(results["runs"])
    for line in _scaling_lines(results["scaling"]):
        say(line)
    results["finished_at"] = datetime.now(timezone.utc).isoformat()
    target = out or RESULTS_DIR / f"http-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    results["path"] = str(target)
    say(f"written to {target}")
    return results


def scaling(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per database and client level, each process count against one process: the throughput ratio, and the
    ratio of server CPU per completion (1.0 = adding a process adds no contention: the work per completion
    is the same, so throughput grows with the cores the servers get)."""
    out = []
    for one in (r for r in runs if r["processes"] == 1):
        for more in (r for r in runs if r["processes"] > 1 and r["database"] == one["database"]
                     and r["clients"] == one["clients"]):
            out.append({"database": one["database"], "clients": one["clients"], "processes": more["processes"],
                        "throughput_ratio": round(more["completions_per_s"] / one["completions_per_s"], 2),
                        "cpu_per_completion_ratio": round(more["server_cpu_ms_per_completion"]
                                                          / one["server_cpu_ms_per_completion"], 2),
                        "cpus": os.cpu_count()})
    return out


def _scaling_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [f"{r['database']:<10} {r['processes']} proc vs 1 at {r['clients']} clients: throughput ×{r['throughput_ratio']}, "
            f"CPU per completion ×{r['cpu_per_completion_ratio']} (clients, servers and database share {r['cpus']} CPUs)"
            for r in rows]


def _line(level: dict[str, Any]) -> str:
    lat = level["latency_ms"]
    return (f"{level['database']:<10} {level['processes']} proc {level['clients']:>3} clients: "
            f"{level['completions']:>5} completions in {level['wall_s']:>6.1f} s = {level['completions_per_s']:>6.1f}/s "
            f"(×{level['ratio_to_raw']} of raw {level.get('raw_tasks_per_s', 0):.0f}/s, "
            f"×{level.get('ratio_to_raw_project', float('nan'))} of raw on the same models)  p50/p95/p99 {lat['p50']}/{lat['p95']}/{lat['p99']} ms  "
            f"errors {level['errors']}  CPU {level['server_cpu_ms_per_completion']} ms/completion  "
            f"peak RSS {level['server_peak_rss_mb']} MB")


def _machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in load], "python": sys.version.split()[0],
            "platform": sys.platform}
