"""Critical path of an approval stage (关键路径): which matter decides how long a stage takes.

Why a graph and not just "the slowest matter": the stage model is a sequence of steps (一窗受理 → the matters
→ 综合出件), and the matters are a multi-instance call that runs in parallel (并联审批) or, in a variant, one
after another. The graph built here from the deployed BPMN makes that difference explicit: a parallel call
expands into one node per matter side by side, a sequential one into a chain, and the longest path through
the graph weighted by observed durations is the stage's critical path. In a parallel stage it runs through
the slowest matter; in a serial one through all of them.

:func:`critical_path_share` is the measure analysts read from a database: per project and stage, the matter
that ended last is on the critical path (it held the stage open); across projects, how often each matter and
department is the one that did.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
from sqlalchemy import Connection, case, func, select

from engine.bpmn.safe_xml import parse_xml
from engine.persistence import tables as t

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_NS = {"bpmn": BPMN_NS}
_FLOW_NODES = ("startEvent", "endEvent", "task", "userTask", "scriptTask", "serviceTask", "callActivity",
               "subProcess", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "intermediateCatchEvent",
               "intermediateThrowEvent", "manualTask", "sendTask", "receiveTask", "businessRuleTask")


@dataclass(frozen=True)
class CriticalPath:
    """The longest path through a stage graph: its nodes in order and its length (working days)."""

    nodes: tuple[str, ...]
    length: float
    weights: Mapping[str, float]

    @property
    def critical_matter(self) -> str | None:
        """The heaviest matter node on the path (in a parallel stage, the only one)."""
        matters = [n for n in self.nodes if n.startswith("matter:")]
        if not matters:
            return None
        return max(matters, key=lambda n: (self.weights.get(n, 0.0), n)).removeprefix("matter:")

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "length": round(self.length, 4), "critical_matter": self.critical_matter}


def _parse(source: bytes | str | Path) -> Any:
    name = "model"
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("<")):
        name = str(source)
        source = Path(source).read_bytes()
    if isinstance(source, str):
        source = source.encode("utf-8")
    return parse_xml(source, source=name)  # the same hardened parser deploy uses


def stage_graph(bpmn: bytes | str | Path, matters: Mapping[str, float], *, process_id: str | None = None,
                weights: Mapping[str, float] | None = None, sequential: bool | None = None) -> nx.DiGraph:
    """The process graph of a stage model with its multi-instance call expanded into one node per matter.

    ``matters`` maps a matter id to its duration (the observed mean); ``weights`` gives durations of other
    flow nodes by BPMN id (intake, 综合出件), 0 otherwise. ``sequential`` overrides the model's
    ``isSequential`` (None: as modelled). Nodes carry a ``weight`` attribute; matter nodes are ``matter:<id>``.
    """
    root = _parse(bpmn)
    processes = root.findall("bpmn:process", _NS)
    if process_id is not None:
        processes = [p for p in processes if p.get("id") == process_id]
    if not processes:
        raise ValueError(f"no process {process_id or ''} in the model".replace("  ", " "))
    process = processes[0]
    weights = dict(weights or {})
    graph = nx.DiGraph()
    expanded: dict[str, tuple[list[str], list[str]]] = {}  # element id → (entry nodes, exit nodes)
    for tag in _FLOW_NODES:
        for el in process.findall(f"bpmn:{tag}", _NS):
            eid = el.get("id")
            loop = el.find("bpmn:multiInstanceLoopCharacteristics", _NS)
            if loop is None:
                graph.add_node(eid, weight=float(weights.get(eid, 0.0)), kind=tag, name=el.get("name"))
                expanded[eid] = ([eid], [eid])
                continue
            serial = loop.get("isSequential") == "true" if sequential is None else sequential
            ids = [f"matter:{m}" for m in matters]
            for node, (mid, w) in zip(ids, matters.items()):
                graph.add_node(node, weight=float(w), kind="matter", name=mid, of=eid)
            if not ids:  # no matters: the call is an empty step
                graph.add_node(eid, weight=0.0, kind=tag, name=el.get("name"))
                expanded[eid] = ([eid], [eid])
            elif serial:
                for a, b in zip(ids, ids[1:]):
                    graph.add_edge(a, b)
                expanded[eid] = ([ids[0]], [ids[-1]])
            else:
                expanded[eid] = (ids, ids)
    for flow in process.findall("bpmn:sequenceFlow", _NS):
        src, dst = flow.get("sourceRef"), flow.get("targetRef")
        if src not in expanded or dst not in expanded:
            continue
        for a in expanded[src][1]:
            for b in expanded[dst][0]:
                graph.add_edge(a, b)
    return graph


def longest_path(graph: nx.DiGraph) -> CriticalPath:
    """The path with the largest sum of node weights (the graph must be acyclic)."""
    if not nx.is_directed_acyclic_graph(graph):
        raise ValueError("the stage graph has a cycle; a critical path needs an acyclic graph")
    best: dict[str, tuple[float, str | None]] = {}
    for node in nx.topological_sort(graph):
        w = graph.nodes[node].get("weight", 0.0)
        preds = [(best[p][0], p) for p in graph.predecessors(node)]
        if preds:
            length, pred = max(preds, key=lambda x: (x[0], str(x[1])))
            best[node] = (length + w, pred)
        else:
            best[node] = (w, None)
    if not best:
        return CriticalPath((), 0.0, {})
    sinks = [n for n in best if graph.out_degree(n) == 0]  # weights are ≥ 0: a longest path can end at a sink
    end = max(sinks or list(best), key=lambda n: (best[n][0], n))
    path = [end]
    while best[path[-1]][1] is not None:
        path.append(best[path[-1]][1])  # type: ignore[arg-type]
    path.reverse()
    return CriticalPath(tuple(path), best[end][0], {n: graph.nodes[n].get("weight", 0.0) for n in path})


def observed_matter_means(conn: Connection, stage: str, *, project_type: str | None = None,
                          measure: str = "span_working_days") -> dict[str, float]:
    """Mean duration per matter id of the finished matters of ``stage`` (span: what holds a stage open)."""
    s = t.subjects
    q = select(s.c.matter_id, s.c[measure]).where(s.c.level == "matter", s.c.stage == stage,
                                                  s.c.ended_at.is_not(None), s.c[measure].is_not(None))
    if project_type:
        q = q.where(s.c.project_type == project_type)
    values: dict[str, list[float]] = defaultdict(list)
    for matter_id, value in conn.execute(q):
        values[matter_id].append(float(value))
    return {m: sum(v) / len(v) for m, v in sorted(values.items())}


def stage_critical_path(conn: Connection, bpmn: bytes | str | Path, stage: str, *, project_type: str | None = None,
                        process_id: str | None = None, sequential: bool | None = None) -> CriticalPath:
    """The critical path of ``stage`` in the model ``bpmn``, weighted by the database's observed matter means."""
    means = observed_matter_means(conn, stage, project_type=project_type)
    return longest_path(stage_graph(bpmn, means, process_id=process_id, sequential=sequential))


def critical_path_share(conn: Connection, filters: Any = None) -> list[dict[str, Any]]:
    """How often each matter is on its stage's critical path: per project and stage, the matter that ended last.

    One row per (stage, matter, department): ``stages`` (project-stages where the matter finished), ``critical``
    (times it ended last) and ``share``. A stage with a single matter counts too (that matter is trivially
    critical). ``filters`` is a :class:`engine.analytics.measures.Filters`; the last matter is chosen among all
    of the stage's matters before the department / matter filters apply. Counted by the database from the
    stored flag (``subjects.critical``, defined by :func:`engine.analytics.measures.last_to_finish`).
    """
    from engine.analytics.measures import Filters, conditions

    s = t.subjects
    query = (select(s.c.stage, s.c.matter_id, s.c.department, func.count().label("stages"),
                    func.sum(case((s.c.critical.is_(True), 1), else_=0)).label("critical"))
             .where(*conditions(filters or Filters(), "matter"), s.c.ended_at.is_not(None))
             .group_by(s.c.stage, s.c.matter_id, s.c.department).order_by(s.c.stage, s.c.matter_id, s.c.department))
    return [{"stage": r.stage, "matter_id": r.matter_id, "department": r.department or "", "stages": int(r.stages),
             "critical": int(r.critical or 0), "share": round(int(r.critical or 0) / int(r.stages), 4)}
            for r in conn.execute(query)]


def department_critical_share(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Roll :func:`critical_path_share` rows up to departments: critical count over appearances."""
    seen: Counter[str] = Counter()
    crit: Counter[str] = Counter()
    for r in rows:
        seen[r["department"]] += r["stages"]
        crit[r["department"]] += r["critical"]
    return {d: round(crit[d] / seen[d], 4) for d in sorted(seen)}
