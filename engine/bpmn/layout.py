"""Automatic BPMN diagram interchange (DI): give a semantically written model a clean, editable diagram.

Approval models are written by hand as XML (reviewable, diffable), but they are maintained afterwards in
Camunda Modeler / bpmn.io, which only show what has DI. :func:`layout_definitions` throws away any existing
``bpmndi:BPMNDiagram`` and draws a fresh one, so that the first time a model is opened in a modeller it
already looks like something a person would have drawn:

* flow runs left to right in layers (longest path over the graph with its loops removed, computed with
  networkx); nodes inside a layer are ordered by a barycenter heuristic to reduce crossings, then put on
  rows so that as many flows as possible run level: the main path is a straight line, branches hang below
  it, and long flows into the same node share one straight line;
* sequence flows are routed orthogonally (out of the right side, into the left side, elbows in the free
  channel between two columns, channels ordered to cross least); loops go back underneath the nodes they
  span; a boundary event sits on the bottom edge of its host and its flow leaves from the event's bottom;
* expanded subprocesses are laid out recursively and drawn around their contents; event subprocesses,
  data objects and text annotations go in a strip below the flow;
* a process with lanes is drawn as a pool with its lanes stacked in ``laneSet`` order; a pool needs a
  participant, so one is created (inside a new collaboration) when the document has none for the process;
* a long process without lanes is wrapped into strips stacked top to bottom (the flows that continue in
  the next strip run back left underneath their strip), so it is not a ribbon too thin to read when a
  modeller fits it to the screen: several variants (strip counts, where the line into a common end runs)
  are laid out and the one largest on a 16:9 screen, then with the fewest edge crossings, is kept;
* flow labels that would land on another label, a shape or another edge move beside their own flow.

:mod:`engine.bpmn.di_quality` measures the result (crossings, overlapping labels, extent); the bundled
models are held to thresholds by ``tests/test_layout_readability.py``.

Everything outside the diagram is kept as lxml parsed it (comments, extension elements, CDATA, namespace
prefixes); the other changes are re-indentation with two spaces, such a new collaboration, and declaring
the DI namespaces on the root when missing. The output depends only on the input, never on hash order or
the clock, so a model laid out twice is byte-identical and diffs stay quiet.

:func:`check_di` answers the complementary question "does every element have a shape / edge?", which is what
``gongai layout --check`` and the tests use.
"""

from __future__ import annotations

import itertools
import math
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import networkx as nx
from lxml import etree

__all__ = ["BPMN_NS", "BPMNDI_NS", "DC_NS", "DI_NS", "EVENT_SIZE", "GATEWAY_SIZE", "TASK_SIZE", "LayoutError",
           "check_di", "layout_definitions", "parse_definitions", "serialize_definitions"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"

_PREFERRED_PREFIX = {BPMNDI_NS: "bpmndi", DC_NS: "dc", DI_NS: "di"}

EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
                    "boundaryEvent", "implicitThrowEvent"})
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                      "complexGateway"})
SUBPROCESSES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
ACTIVITIES = frozenset({"task", "userTask", "serviceTask", "scriptTask", "manualTask", "businessRuleTask",
                        "sendTask", "receiveTask", "callActivity"}) | SUBPROCESSES
FLOW_NODES = EVENTS | GATEWAYS | ACTIVITIES
_ARTIFACT_SIZES = {"dataObjectReference": (36, 50), "dataStoreReference": (50, 50), "textAnnotation": (100, 30)}

# Standard sizes (bpmn-js defaults), so a modeller does not resize anything on first edit.
TASK_SIZE = (100, 80)
EVENT_SIZE = (36, 36)
GATEWAY_SIZE = (50, 50)

# Spacing, in diagram units (pixels at 100 %).
_ROW_GAP = 40            # vertical space between two rows of nodes
_MIN_GAP = 50            # minimum horizontal space between two columns
_CHANNEL_FIRST = 20      # first elbow x, measured from the right edge of a column
_CHANNEL_STEP = 14       # distance between two parallel elbow channels in the same gap
_TOP_PAD = 30            # above the first row of a band (room for flow labels, subprocess titles)
_BOTTOM_PAD = 30         # below the last row / loop of a band
_LOOP_CLEARANCE = 25     # a loop's return path runs this far below the lowest node it passes
_LOOP_STEP = 16          # between two stacked loop return paths
_BOUNDARY_SPACING = 46   # centre to centre of two boundary events on one host
_BOUNDARY_CHANNEL = 15   # a boundary flow that cannot go straight down turns this far below the event
_LANE_MIN_HEIGHT = 120
_POOL_HEADER = 30        # the vertical title strip of a pool, and of each nesting level of lanes
_MIN_POOL_WIDTH = 400
_POOL_GAP = 60           # between two pools of one collaboration (message flows run here)
_BLACK_BOX_HEIGHT = 60
_ORIGIN = (160, 80)      # top-left of a pool, or where an unpooled process' content starts
_LABEL_MAX_WIDTH = 90
_LABEL_LINE = 14
_SWEEPS = 4
_WRAP_ABOVE = 2400       # a process without lanes wider than this is also tried wrapped into strips
_MAX_STRIPS = 5
_HUB_SOURCES = 3         # a node with long flows from this many sources is a hub (its line may go top/bottom)
_SCREEN = (1920, 1080)   # what "fit to screen" fits to


class LayoutError(ValueError):
    """The input is not a BPMN document this tool can lay out (not XML, or no ``bpmn:definitions`` root)."""


# --------------------------------------------------------------------------------------------------- geometry

Point = tuple[int, int]


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in diagram coordinates (integers, so the XML stays free of float noise)."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def cy(self) -> int:
        return self.y + self.h // 2

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)

    def hits_segment(self, a: Point, b: Point) -> bool:
        """True if the axis-parallel segment a-b passes through the inside of this box."""
        x0, x1 = sorted((a[0], b[0]))
        y0, y1 = sorted((a[1], b[1]))
        return x0 < self.right and x1 > self.x and y0 < self.bottom and y1 > self.y


@dataclass
class Drawing:
    """Shapes, edge waypoints and label bounds of one container, keyed by semantic element id."""

    shapes: dict[str, Box] = field(default_factory=dict)
    edges: dict[str, list[Point]] = field(default_factory=dict)
    labels: dict[str, Box] = field(default_factory=dict)

    def add(self, other: Drawing, dx: int = 0, dy: int = 0) -> None:
        """Copy ``other`` into this drawing, moved by (dx, dy) (how a subprocess' body joins its parent)."""
        for key, box in other.shapes.items():
            self.shapes[key] = box.shifted(dx, dy)
        for key, points in other.edges.items():
            self.edges[key] = [(x + dx, y + dy) for x, y in points]
        for key, box in other.labels.items():
            self.labels[key] = box.shifted(dx, dy)


def _text_width(text: str) -> int:
    """Rough rendered width of ``text`` in bpmn-js' 11 px label font: CJK is about twice as wide as Latin."""
    return sum(11 if unicodedata.east_asian_width(ch) in "WF" else 6 for ch in text)


def _label_size(text: str, max_width: int = _LABEL_MAX_WIDTH) -> tuple[int, int]:
    """Width and height of an external label, wrapped at ``max_width`` (bpmn-js' default label width)."""
    lines = [line for line in text.splitlines() if line.strip()] or [text]
    count, width = 0, 0
    for line in lines:
        w = _text_width(line.strip())
        count += max(1, math.ceil(w / max_width))
        width = max(width, min(w, max_width))
    return max(width, 8), _LABEL_LINE * count


def _simplify(points: list[Point]) -> list[Point]:
    """Drop repeated points and the middle point of straight runs, so edges have only real elbows."""
    out: list[Point] = []
    for p in points:
        if out and out[-1] == p:
            continue
        if len(out) >= 2:
            a, b = out[-2], out[-1]
            if (a[0] == b[0] == p[0]) or (a[1] == b[1] == p[1]):
                out[-1] = p
                continue
        out.append(p)
    if len(out) == 1:
        out.append(out[0])
    return out


# ------------------------------------------------------------------------------------------------- XML helpers

def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _local(el: etree._Element) -> str | None:
    """Local name of a BPMN-namespace element, None for anything else (comments, extensions, DI)."""
    if not isinstance(el.tag, str):
        return None
    qn = etree.QName(el)
    return qn.localname if qn.namespace == BPMN_NS else None


def _bpmn_children(el: etree._Element, *tags: str) -> Iterator[etree._Element]:
    for child in el:
        name = _local(child)
        if name is not None and (not tags or name in tags):
            yield child


def _parser() -> etree.XMLParser:
    """A parser that neither resolves entities nor touches the network, and keeps CDATA and comments."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, strip_cdata=False,
                           remove_comments=False, remove_pis=False, huge_tree=False)


def _parse(xml: bytes) -> etree._Element:
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise LayoutError(f"not well-formed XML: {exc}") from exc
    if root is None or _local(root) != "definitions":
        raise LayoutError("not a BPMN 2.0 document: the root element is not bpmn:definitions")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        # No modeller writes one; it can only declare entities, which lxml would not write back intact.
        raise LayoutError("document type declarations (<!DOCTYPE>) are not supported in BPMN models")
    return root


def _is_event_subprocess(el: etree._Element) -> bool:
    return _local(el) in SUBPROCESSES and el.get("triggeredByEvent", "false").strip() == "true"


# ------------------------------------------------------------------------------------------- container layout

@dataclass
class _Node:
    """A flow node (or a dummy standing in for a long edge in an intermediate layer) being placed."""

    id: str
    kind: str                     # BPMN local name, or "" for a dummy
    w: int
    h: int
    band: int
    doc: int                      # document order, the tie-breaker that keeps everything deterministic
    name: str = ""
    body: _Body | None = None     # laid-out contents of an expanded subprocess
    boundaries: list[str] = field(default_factory=list)
    layer: int = 0
    row: int = 0

    @property
    def dummy(self) -> bool:
        return not self.kind


@dataclass
class _Flow:
    """A sequence flow as the layout sees it: between two placed nodes, possibly out of a boundary event."""

    id: str
    src: str                      # the node the flow leaves (the host, for a boundary event)
    tgt: str
    boundary: str | None
    name: str
    back: bool = False
    chain: list[str] = field(default_factory=list)   # src, dummies..., tgt (forward flows)


@dataclass
class _Body:
    """A laid-out container: drawing in local coordinates, with (0, 0) the top-left of its area."""

    drawing: Drawing
    width: int
    height: int
    band_tops: list[int]
    band_heights: list[int]


def _std_size(kind: str) -> tuple[int, int]:
    if kind in EVENTS:
        return EVENT_SIZE
    if kind in GATEWAYS:
        return GATEWAY_SIZE
    return TASK_SIZE


class _ContainerLayout:
    """Lays out the direct contents of one process or subprocess (its subprocesses recursively).

    ``band_of`` maps node ids to a band (a leaf lane) for a laned process; everything else uses one band.
    """

    def __init__(self, container: etree._Element, doc_order: dict[str, int], bands: int = 1,
                 band_of: dict[str, int] | None = None, min_band_height: int = 0, strips: int = 1,
                 hub_side: str = "", layer_widths: list[int] | None = None,
                 line_rows: dict[tuple[str, int], str] | None = None, cut_cost: float = 0.15) -> None:
        self.container = container
        self.doc_order = doc_order
        self.band_count = max(1, bands)
        self.wanted_strips = strips if self.band_count == 1 else 1
        self.hub_side = hub_side if self.band_count == 1 else ""
        self.layer_widths = layer_widths
        self.cut_cost = cut_cost   # imbalance (in strip widths) a line crossing a strip cut is worth avoiding
        self.line_rows = line_rows or {}     # (target, band) of long flows -> "top" / "bottom" of the band
        self.line_groups: list[tuple[str, int]] = []
        self.strip_starts = [0]
        self.band_of = band_of or {}
        self.min_band_height = min_band_height
        self.nodes: dict[str, _Node] = {}
        self.host_of: dict[str, str] = {}          # boundary event -> host
        self.boundary_el: dict[str, etree._Element] = {}
        self.strip: list[tuple[str, str, int, int, int]] = []   # (id, kind, w, h, band) below the flow
        self.strip_bodies: dict[str, _Body] = {}
        self.flows: list[_Flow] = []
        self.associations: list[tuple[str, str]] = []   # (from element, to element): artifacts' anchors

    # -- scanning --------------------------------------------------------------------------------------------

    def _order(self, el: etree._Element) -> int:
        return self.doc_order.get(el.get("id", ""), 0)

    def _scan(self) -> None:
        flows_els = list(_bpmn_children(self.container, "sequenceFlow"))
        connected: set[str] = set()
        for f in flows_els:
            connected.add(f.get("sourceRef", ""))
            connected.add(f.get("targetRef", ""))
        boundaries: list[etree._Element] = []
        for el in _bpmn_children(self.container):
            kind = _local(el) or ""
            eid = el.get("id")
            if not eid:
                continue
            if kind == "boundaryEvent":
                boundaries.append(el)
            elif kind in FLOW_NODES:
                body = None
                if kind in SUBPROCESSES:
                    body = _ContainerLayout(el, self.doc_order).run()
                    w, h = max(body.width, TASK_SIZE[0]), max(body.height, TASK_SIZE[1])
                else:
                    w, h = _std_size(kind)
                band = self._band(eid)
                if _is_event_subprocess(el) and eid not in connected:
                    assert body is not None
                    self.strip.append((eid, kind, w, h, band))
                    self.strip_bodies[eid] = body
                    continue
                self.nodes[eid] = _Node(eid, kind, w, h, band, self._order(el), el.get("name", "").strip(), body)
            elif kind in _ARTIFACT_SIZES:
                w, h = _ARTIFACT_SIZES[kind]
                self.strip.append((eid, kind, w, h, -1))
            elif kind == "association":
                self.associations.append((el.get("sourceRef", ""), el.get("targetRef", "")))
        for el in boundaries:
            eid = el.get("id", "")
            host = el.get("attachedToRef", "")
            if host in self.nodes:
                self.host_of[eid] = host
                self.boundary_el[eid] = el
                self.nodes[host].boundaries.append(eid)
            else:  # an unattached boundary event is invalid, but it still gets a shape: as a plain event
                self.nodes[eid] = _Node(eid, "boundaryEvent", *EVENT_SIZE, self._band(eid), self._order(el),
                                        el.get("name", "").strip())
        for node in self.nodes.values():
            if node.boundaries:  # wide enough to seat its boundary events side by side
                node.w = max(node.w, _BOUNDARY_SPACING * len(node.boundaries) + 10)
        # Data associations hang off flow nodes; they place data objects near the node that uses them.
        for el in _bpmn_children(self.container):
            if el.get("id") in self.nodes:
                for a, b in _data_associations(el):
                    self.associations.append((a, b))
        for f in flows_els:
            fid = f.get("id")
            src, tgt = f.get("sourceRef", ""), f.get("targetRef", "")
            boundary = None
            if src in self.host_of:
                boundary, src = src, self.host_of[src]
            if fid and src in self.nodes and tgt in self.nodes:
                self.flows.append(_Flow(fid, src, tgt, boundary, f.get("name", "").strip()))

    def _band(self, eid: str) -> int:
        return min(self.band_of.get(eid, 0), self.band_count - 1)

    # -- layering --------------------------------------------------------------------------------------------

    def _find_back_edges(self) -> None:
        """Mark as back edges the flows that close a cycle in a DFS from the start events.

        The host's own flows are followed before its boundary events' flows, so the normal path wins.
        """
        succ: dict[str, list[_Flow]] = {n: [] for n in self.nodes}
        for f in self.flows:
            if f.boundary is None:
                succ[f.src].append(f)
        for f in self.flows:
            if f.boundary is not None:
                succ[f.src].append(f)
        has_incoming = {f.tgt for f in self.flows if f.tgt != f.src}
        roots = [n for n, node in self.nodes.items() if node.kind == "startEvent"]
        roots += [n for n in self.nodes if n not in has_incoming]
        roots += list(self.nodes)
        state: dict[str, int] = {}
        self.dfs_rank: dict[str, int] = {}
        for root in roots:
            if root in state:
                continue
            state[root] = 1
            self.dfs_rank[root] = len(self.dfs_rank)
            stack: list[tuple[str, Iterator[_Flow]]] = [(root, iter(succ[root]))]
            while stack:
                node, it = stack[-1]
                for f in it:
                    seen = state.get(f.tgt, 0)
                    if seen == 1:
                        f.back = True
                    elif seen == 0:
                        state[f.tgt] = 1
                        self.dfs_rank[f.tgt] = len(self.dfs_rank)
                        stack.append((f.tgt, iter(succ[f.tgt])))
                        break
                else:
                    state[node] = 2
                    stack.pop()

    def _assign_layers(self) -> None:
        """Longest-path layering of the DAG left after removing back edges (networkx topological order)."""
        dag = nx.DiGraph()
        dag.add_nodes_from(self.nodes)
        dag.add_edges_from((f.src, f.tgt) for f in self.flows if not f.back)
        for n in nx.lexicographical_topological_sort(dag, key=lambda n: self.nodes[n].doc):
            self.nodes[n].layer = max((self.nodes[p].layer + 1 for p in dag.predecessors(n)), default=0)
        self.layer_count = max((node.layer for node in self.nodes.values()), default=-1) + 1

    def _choose_strips(self) -> None:
        """Cut the layers into ``wanted_strips`` strips drawn one below the other (a long model wrapped into
        rows, so it is not a 6000-px-wide ribbon at fit-to-screen); each strip becomes a band.

        A cut goes where the fewest lines cross it (long flows into one node count once, as they share a
        line), near the balanced position; never across a loop, a boundary event's flow or a named flow's
        first stretch (their routing stays inside a strip). Fewer strips than wanted if no cut qualifies.
        """
        if self.wanted_strips <= 1 or self.layer_count < 2 * self.wanted_strips:
            return
        if self.layer_widths is not None and len(self.layer_widths) == self.layer_count:
            width = list(self.layer_widths)   # measured in the unwrapped layout: channels and labels included
        else:
            width = [0] * self.layer_count
            for node in self.nodes.values():
                width[node.layer] = max(width[node.layer], node.w)
            width = [w + _MIN_GAP + _CHANNEL_FIRST for w in width]
        total = sum(width)
        spans: list[tuple[int, int, str]] = []
        blocked: set[int] = set()
        for f in self.flows:
            lo, hi = sorted((self.nodes[f.src].layer, self.nodes[f.tgt].layer))
            if f.back:
                blocked.update(range(lo, hi))
                continue
            if f.boundary is not None or f.name:
                blocked.add(self.nodes[f.src].layer)
            spans.append((lo, hi, f.tgt))
        cum = list(itertools.accumulate(width))
        cuts: list[int] = []
        per_strip = total / self.wanted_strips
        for i in range(1, self.wanted_strips):
            ideal = i * per_strip
            best: tuple[float, int] | None = None
            for layer in range((cuts[-1] + 1) if cuts else 0, self.layer_count - 1):
                if layer in blocked or abs(cum[layer] - ideal) > 0.45 * per_strip:
                    continue
                crossing = len({t for lo, hi, t in spans if lo <= layer < hi})
                # each line crossing the cut costs ``cut_cost`` of a strip's width of imbalance: a cut between
                # two phases (one line, plus the line to a common end) beats one through a fork
                key = (crossing * self.cut_cost * per_strip + abs(cum[layer] - ideal), layer)
                if best is None or key < best:
                    best = key
            if best is not None:
                cuts.append(best[1])
        if not cuts:
            return
        self.strip_starts = [0] + [c + 1 for c in cuts]
        self.band_count = len(self.strip_starts)
        for node in self.nodes.values():
            node.band = self._strip_of(node.layer)

    def _strip_of(self, layer: int) -> int:
        return sum(1 for start in self.strip_starts[1:] if start <= layer)

    def _find_wraps(self) -> None:
        """List the flow stretches that wrap from one strip's right end into the next strip's left end
        (stacked below the strip: the one from the highest row runs lowest, so they do not cross)."""
        self.wraps: dict[int, list[tuple[str, str]]] = {}
        if len(self.strip_starts) == 1:
            return
        seen: set[tuple[str, str]] = set()
        for f in self.flows:
            for a, b in zip(f.chain, f.chain[1:]):
                if self.nodes[a].band != self.nodes[b].band and (a, b) not in seen:
                    seen.add((a, b))
                    self.wraps.setdefault(self.nodes[a].band, []).append((a, b))
        for band, pairs in self.wraps.items():
            pairs.sort(key=lambda ab: (-self.nodes[ab[0]].row, -self.nodes[ab[1]].row, ab))

    def _is_wrap(self, a: str, b: str) -> bool:
        return self.nodes[a].band != self.nodes[b].band and len(self.strip_starts) > 1

    def _wrap_level(self, a: str, b: str) -> float:
        """Like :meth:`_level`, for the return track of a wrapping flow below its strip."""
        band = self.nodes[a].band
        return band * 10000 + 5000 + self.wraps[band].index((a, b))

    def _make_chains(self) -> None:
        """Split forward flows spanning several layers with dummy nodes, one per intermediate layer.

        Dummies belong to the flow's target and are shared by all long flows into it, so flows converging
        on one node (every "refused" branch into one end event, say) join a single line instead of running
        side by side across the diagram.
        """
        self.dummy_target: dict[str, str] = {}
        for f in self.flows:
            if f.back:
                continue
            src, tgt = self.nodes[f.src], self.nodes[f.tgt]
            f.chain = [f.src]
            for layer in range(src.layer + 1, tgt.layer):
                did = f"\0{f.tgt}\0{layer}"
                if did not in self.nodes:
                    band = self._strip_of(layer) if len(self.strip_starts) > 1 else tgt.band
                    self.nodes[did] = _Node(did, "", 0, 0, band, tgt.doc, layer=layer)
                    self.dfs_rank[did] = self.dfs_rank.get(f.src, 0)
                    self.dummy_target[did] = f.tgt
                f.chain.append(did)
            f.chain.append(f.tgt)
        self.preds: dict[str, list[tuple[str, float]]] = {n: [] for n in self.nodes}
        self.succs: dict[str, list[tuple[str, float]]] = {n: [] for n in self.nodes}
        seen: set[tuple[str, str]] = set()
        for f in self.flows:
            for k in range(len(f.chain) - 1):
                a, b = f.chain[k], f.chain[k + 1]
                if self.nodes[a].dummy and (a, b) in seen:
                    continue  # a shared stretch counts once
                seen.add((a, b))
                # A boundary flow leaves from below its host: weigh its source half a place lower.
                offset = 0.5 if (f.boundary is not None and k == 0) else 0.0
                self.preds[b].append((a, offset))
                self.succs[a].append((b, offset))

    def _order_layers(self) -> None:
        """Order nodes inside each layer with barycenter sweeps, keeping the order with fewest crossings."""
        layers: list[list[str]] = [[] for _ in range(self.layer_count)]
        for n, node in self.nodes.items():
            layers[node.layer].append(n)
        for layer in layers:
            layer.sort(key=lambda n: (self.nodes[n].band, self.dfs_rank.get(n, 0), self.nodes[n].dummy, n))

        def positions(ls: list[list[str]]) -> dict[str, int]:
            return {n: i for layer in ls for i, n in enumerate(layer)}

        def crossings(ls: list[list[str]]) -> int:
            pos = positions(ls)
            total = 0
            for layer in ls:
                segs = sorted((pos[a] + off, pos[b]) for a in layer for b, off in self.succs[a])
                for i, (a1, b1) in enumerate(segs):
                    for a2, b2 in segs[i + 1:]:
                        if a2 > a1 and b2 < b1:
                            total += 1
            return total

        best = [list(layer) for layer in layers]
        best_cross = crossings(best)
        current = [list(layer) for layer in layers]
        for sweep in range(2 * _SWEEPS):
            down = sweep % 2 == 0
            indices = range(1, self.layer_count) if down else range(self.layer_count - 2, -1, -1)
            for li in indices:
                pos = positions(current)
                def bary(n: str) -> float:
                    refs = ([pos[p] + off for p, off in self.preds[n]] if down
                            else [pos[s] - off for s, off in self.succs[n]])
                    return sum(refs) / len(refs) if refs else float(pos[n])
                current[li].sort(key=lambda n: (self.nodes[n].band, bary(n), pos[n]))
            count = crossings(current)
            if count < best_cross:
                best, best_cross = [list(layer) for layer in current], count
        self.layers = best

    def _assign_rows(self) -> None:
        """Put each node on the row of its highest predecessor in the band, or the next free row below.

        That keeps the first path through the model straight and hangs alternatives beneath it; a boundary
        event's branch starts one row below its host. :meth:`_straighten` then improves on the greedy pass.
        """
        for layer in self.layers:
            last: dict[int, int] = {}
            for n in layer:
                node = self.nodes[n]
                wanted = [self.nodes[p].row + (1 if off else 0) for p, off in self.preds[n]
                          if self.nodes[p].band == node.band]
                desired = min(wanted, default=0)
                node.row = max(desired, last.get(node.band, -1) + 1)
                last[node.band] = node.row
        self._straighten()
        self._align_long_flows()
        self._straighten()

    def _wanted_rows(self, n: str) -> dict[int, int]:
        """Rows at which ``n`` would be level with a neighbour (one row below a host, for boundary flows),
        each with how much being level there is worth: a long flow's dummies stay level with each other
        first, because a kink in a long line is what the eye notices."""
        node = self.nodes[n]
        wanted: dict[int, int] = {}
        for other, off, sign in ([(p, off, 1) for p, off in self.preds[n]] +
                                 [(q, off, -1) for q, off in self.succs[n]]):
            neighbour = self.nodes[other]
            if neighbour.band != node.band:
                continue
            row = neighbour.row + sign * (1 if off else 0)
            wanted[row] = wanted.get(row, 0) + (4 if node.dummy and neighbour.dummy else 1)
        return wanted

    def _align_long_flows(self) -> None:
        """Put the dummies of the long flows into one node on a single row: the target's row if free along
        the way, else a source's row, else just below everything they pass. The line then runs straight."""
        occupied: dict[tuple[int, int], set[int]] = {}
        for node in self.nodes.values():
            occupied.setdefault((node.band, node.layer), set()).add(node.row)
        by_target: dict[tuple[str, int], list[_Node]] = {}
        for did, tgt in self.dummy_target.items():
            by_target.setdefault((tgt, self.nodes[did].band), []).append(self.nodes[did])
        for (tgt_id, band), dummies in by_target.items():  # per band: a wrapped layout's strips are bands
            target = self.nodes[tgt_id]
            for d in dummies:
                occupied[(band, d.layer)].discard(d.row)
            scores: dict[int, int] = {target.row: 3} if target.band == band else {}
            for f in self.flows:
                if f.tgt == tgt_id and len(f.chain) > 2 and self.nodes[f.src].band == band:
                    row = self.nodes[f.src].row + (1 if f.boundary else 0)
                    scores[row] = scores.get(row, 0) + 1
            free = [r for r in scores if all(r not in occupied[(band, d.layer)] for d in dummies)]
            sources = {f.src for f in self.flows if f.tgt == tgt_id and len(f.chain) > 2}
            self.line_groups.append((tgt_id, band))
            side = self.line_rows.get((tgt_id, band), "")
            if not side and self.hub_side and len(sources) >= _HUB_SOURCES:
                side = self.hub_side
            if side:
                # The line runs along the top or the bottom of the band instead, where the caller found it
                # crosses less (a node many long flows lead into: the one "project stopped" end).
                rows = [n.row for n in self.nodes.values() if n.band == band and n.id not in self.dummy_target]
                row = (min(rows, default=0) - 1) if side == "top" else (max(rows, default=-1) + 1)
                if target.band == band and not target.boundaries and not any(
                        f.src == tgt_id for f in self.flows):  # an end: it sits on its line, the line's end
                    occupied[(band, target.layer)].discard(target.row)
                    target.row = row
                    occupied[(band, target.layer)].add(row)
            elif free:
                row = max(free, key=lambda r: (scores[r], -r))
            else:
                row = max((max(occupied[(band, d.layer)], default=-1) for d in dummies), default=-1) + 1
            for d in dummies:
                d.row = row
                occupied[(band, d.layer)].add(row)
        for layer in self.layers:
            layer.sort(key=lambda n: (self.nodes[n].band, self.nodes[n].row))

    def _straighten(self) -> None:
        """Move nodes up or down (never past a neighbour in their layer) where more of their flows run level.

        The greedy pass pushes a node down when the layer after it is crowded (a host's boundary branches
        take the rows under it), leaving the node's own path with a needless step; this repairs that.
        Finally empty rows are squeezed out.
        """
        for sweep in range(2 * _SWEEPS):
            changed = False
            layers = self.layers if sweep % 2 else list(reversed(self.layers))
            for layer in layers:
                for band in range(self.band_count):
                    members = [n for n in layer if self.nodes[n].band == band]
                    indices = range(len(members)) if sweep % 2 else range(len(members) - 1, -1, -1)
                    for i in indices:
                        node = self.nodes[members[i]]
                        lo = self.nodes[members[i - 1]].row + 1 if i > 0 else 0
                        hi = self.nodes[members[i + 1]].row - 1 if i + 1 < len(members) else 1 << 30
                        wanted = self._wanted_rows(node.id)
                        best, score = node.row, wanted.get(node.row, 0)
                        for row in sorted(wanted):
                            if lo <= row <= hi and wanted[row] > score:
                                best, score = row, wanted[row]
                        if best != node.row:
                            node.row, changed = best, True
            if not changed:
                break
        for band in range(self.band_count):
            used = sorted({n.row for n in self.nodes.values() if n.band == band})
            renumber = {row: i for i, row in enumerate(used)}
            for n in self.nodes.values():
                if n.band == band:
                    n.row = renumber[n.row]

    def _place_boundaries(self) -> None:
        """Order each host's boundary events and decide how their flows leave.

        The event whose branch lies lowest goes leftmost, so the branches' vertical lines do not cross. A flow
        drops straight down from its event when no other node of the host's column is in the way; otherwise
        it turns right just under the event into an elbow channel.
        """
        first_target: dict[str, tuple[int, int]] = {}
        for f in self.flows:
            if f.boundary is not None and not f.back:
                nxt = self.nodes[f.chain[1]]
                first_target[f.boundary] = max(first_target.get(f.boundary, (-1, -1)), (nxt.band, nxt.row))
        for node in self.nodes.values():
            node.boundaries.sort(key=lambda b: (first_target.get(b, (-1, -1)), -self.doc_order.get(b, 0)),
                                 reverse=True)
        column: dict[int, list[_Node]] = {}
        for node in self.nodes.values():
            if not node.dummy:
                column.setdefault(node.layer, []).append(node)
        self.straight: set[str] = set()
        for f in self.flows:
            if f.boundary is None:
                continue
            host = self.nodes[f.src]
            here = (host.band, host.row)
            if f.back:
                band = max(host.band, self.nodes[f.tgt].band)
                blocked = any(here < (n.band, n.row) and n.band <= band for n in column[host.layer])
            else:
                nxt = self.nodes[f.chain[1]]
                there = (nxt.band, nxt.row)
                blocked = there <= here or any(here < (n.band, n.row) <= there for n in column[host.layer])
            if not blocked:
                self.straight.add(f.id)

    # -- vertical and horizontal coordinates -----------------------------------------------------------------

    def _boundary_label(self, host: _Node, index: int) -> tuple[int, int] | None:
        """Size of the label of the host's ``index``-th boundary event, None if it has no name.

        Labels sit beside the event's flow line: left of the first event, right of the others. A label
        between two events is wrapped to the space between their lines, so no line runs through it.
        """
        name = self.boundary_el[host.boundaries[index]].get("name", "").strip()
        if not name:
            return None
        between = 0 < index < len(host.boundaries) - 1
        return _label_size(name, _BOUNDARY_SPACING - 8) if between else _label_size(name)

    def _boundary_turn(self, host: _Node) -> int:
        """How far below its boundary events a host's boundary flows turn right (clear of the labels)."""
        sizes = [self._boundary_label(host, i) for i in range(len(host.boundaries))]
        label_h = max((size[1] for size in sizes if size is not None), default=0)
        return max(_BOUNDARY_CHANNEL, label_h + 6)

    def _extent_below(self, node: _Node) -> int:
        """How far below its centre line a node reaches, including external labels and boundary events."""
        if node.dummy:
            return 8
        below = node.h // 2
        if node.name and (node.kind in EVENTS or node.kind in GATEWAYS):
            below += 5 + _label_size(node.name)[1]
        if node.boundaries:
            turn = self._boundary_turn(node) + _CHANNEL_STEP // 2 * (len(node.boundaries) - 1)
            below = max(below, node.h // 2 + EVENT_SIZE[1] // 2 + turn + 6)
        return below

    def _transition_key(self, f: _Flow, k: int) -> tuple[str, ...]:
        """Which elbow channel the vertical part of chain segment k of ``f`` uses in its gap.

        Flows fanning out of one node share a channel (a trunk), as do flows merging into one node.
        """
        if k == 0 and f.boundary is not None:
            return ("b", f.boundary)
        if k == 0 and self.out_degree[f.src] > 1:
            return ("src", f.src)
        if k == len(f.chain) - 2 and self.in_degree[f.tgt] > 1:
            return ("tgt", f.tgt)
        if self.nodes[f.chain[k]].dummy:
            return ("d", f.chain[k])
        return ("e", f.id, str(k))

    def _back_keys(self, f: _Flow) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if f.boundary is not None:
            out = ("b", f.boundary)
        elif self.out_degree[f.src] > 1:
            out = ("src", f.src)
        else:
            out = ("back", f.id)
        into = ("tgt", f.tgt) if self.in_degree[f.tgt] > 1 else ("backin", f.id)
        return out, into

    def _level(self, n: str, below: float = 0.0) -> float:
        """A number that orders heights like y does, before y is known: band, then row."""
        node = self.nodes[n]
        return node.band * 10000 + node.row + below

    def _columns(self) -> None:
        """Column widths and x positions; gaps grow with the elbow channels and flow labels they hold."""
        self.out_degree = {n: 0 for n in self.nodes}
        self.in_degree = {n: 0 for n in self.nodes}
        for f in self.flows:
            self.out_degree[f.src] += 1
            self.in_degree[f.tgt] += 1
        # Per gap and channel: the levels of horizontal segments arriving from the left / leaving right.
        sides: dict[int, dict[tuple[str, ...], tuple[list[float], list[float]]]] = {
            g: {} for g in range(-len(self.strip_starts), self.layer_count)}
        label_room: dict[int, int] = {}

        def need(gap: int, key: tuple[str, ...], left: Iterable[float], right: Iterable[float]) -> None:
            entry = sides[gap].setdefault(key, ([], []))
            entry[0].extend(left)
            entry[1].extend(right)

        for f in self.flows:
            src, tgt = self.nodes[f.src], self.nodes[f.tgt]
            if f.back:
                out, into = self._back_keys(f)
                loop = max(src.band, tgt.band) * 10000 + 5000
                if f.id not in self.straight:
                    need(src.layer, out, [self._level(f.src, 0.5 if f.boundary else 0.0), loop], [])
                need(self._gap_before(tgt.layer), into, [], [loop, self._level(f.tgt)])
                continue
            for k in range(len(f.chain) - 1):
                a, b = f.chain[k], f.chain[k + 1]
                if self._is_wrap(a, b):
                    track = self._wrap_level(a, b)
                    need(self.nodes[a].layer, ("wrap-out", a, b), [self._level(a), track], [])
                    need(self._gap_before(self.nodes[b].layer), ("wrap-in", a, b), [], [track, self._level(b)])
                elif k == 0 and f.boundary is not None:
                    if f.id not in self.straight:
                        need(src.layer, self._transition_key(f, 0), [self._level(a, 0.5)], [self._level(b)])
                elif self._level(a) != self._level(b):
                    need(self.nodes[a].layer, self._transition_key(f, k), [self._level(a)], [self._level(b)])
            if f.name:
                label_room[src.layer] = max(label_room.get(src.layer, 0), _label_size(f.name)[0])
        self.gap_keys = {gap: _order_channels(channels) for gap, channels in sides.items()}
        self.col_w = [0] * self.layer_count
        for node in self.nodes.values():
            self.col_w[node.layer] = max(self.col_w[node.layer], node.w)
        self.gap_w: dict[int, int] = {}
        self.channels_end: dict[int, int] = {}
        for gap, keys in self.gap_keys.items():
            end = _CHANNEL_FIRST + _CHANNEL_STEP * (len(keys) - 1) if keys else 0
            self.channels_end[gap] = end
            room = label_room.get(gap, 0)
            width = (end + 6 + room + 12) if room else end + _CHANNEL_FIRST
            self.gap_w[gap] = max(_MIN_GAP if gap >= 0 else 30, width)
        self.col_x = [0] * self.layer_count
        self.content_right = self.gap_w[-1]
        for strip, start in enumerate(self.strip_starts):  # each strip starts again at the left
            end = self.strip_starts[strip + 1] if strip + 1 < len(self.strip_starts) else self.layer_count
            x = self.gap_w[-1 - strip]
            for layer in range(start, end):
                self.col_x[layer] = x
                x += self.col_w[layer] + self.gap_w[layer]
            self.content_right = max(self.content_right, x)

    def _gap_before(self, layer: int) -> int:
        """The gap left of column ``layer``: the previous column's, or at a strip's start its own left gap
        (numbered -1, -2, ... for strips 0, 1, ...)."""
        if layer in self.strip_starts:
            return -1 - self.strip_starts.index(layer)
        return layer - 1

    def _gap_left(self, gap: int) -> int:
        """x of the left edge of a gap (the right edge of column ``gap``; 0 for the gap before column 0)."""
        return 0 if gap < 0 else self.col_x[gap] + self.col_w[gap]

    def _channel_x(self, gap: int, key: tuple[str, ...]) -> int:
        return self._gap_left(gap) + _CHANNEL_FIRST + _CHANNEL_STEP * self.gap_keys[gap].index(key)

    def _rows(self) -> None:
        """Row centre lines per band (band-relative), then loop return paths, then band heights."""
        self.row_center: dict[int, list[int]] = {}
        self.row_bottom: dict[int, list[int]] = {}
        for band in range(self.band_count):
            members = [n for n in self.nodes.values() if n.band == band]
            count = max((n.row for n in members), default=-1) + 1
            above, below = [0] * count, [0] * count
            for n in members:
                above[n.row] = max(above[n.row], 8 if n.dummy else n.h // 2)
                below[n.row] = max(below[n.row], self._extent_below(n))
            centers, bottoms, y = [], [], _TOP_PAD
            for r in range(count):
                centers.append(y + above[r])
                bottoms.append(y + above[r] + below[r])
                y = bottoms[-1] + _ROW_GAP
            self.row_center[band], self.row_bottom[band] = centers, bottoms
        # Loop return paths: below everything in the columns they span, stacked when they overlap.
        self.loop_y: dict[str, int] = {}
        tracks: dict[int, list[tuple[int, int, int]]] = {b: [] for b in range(self.band_count)}
        back = [f for f in self.flows if f.back]
        back.sort(key=lambda f: (self.nodes[f.src].layer - self.nodes[f.tgt].layer, self.doc_order.get(f.id, 0)))
        for f in back:
            src, tgt = self.nodes[f.src], self.nodes[f.tgt]
            band = max(src.band, tgt.band)
            lo, hi = tgt.layer, src.layer
            lowest = max((self.row_bottom[band][n.row] for n in self.nodes.values()
                          if n.band == band and lo <= n.layer <= hi), default=_TOP_PAD)
            y = lowest + _LOOP_CLEARANCE + (_label_size(f.name)[1] if f.name else 0)
            while any(a <= hi and lo - 1 <= b and abs(ty - y) < _LOOP_STEP for a, b, ty in tracks[band]):
                y += _LOOP_STEP
            tracks[band].append((lo - 1, hi, y))
            self.loop_y[f.id] = y
        # Wrapping flows run back left below everything in their strip, the one from the lowest row highest.
        self.wrap_y: dict[tuple[str, str], int] = {}
        for band, pairs in self.wraps.items():
            y = max([self.row_bottom[band][-1]] + [ty for _, _, ty in tracks[band]]) + _LOOP_CLEARANCE
            for pair in pairs:
                self.wrap_y[pair] = y
                tracks[band].append((-1, self.layer_count, y))
                y += _LOOP_STEP
        self.band_content: list[int] = []
        for band in range(self.band_count):
            bottom = self.row_bottom[band][-1] if self.row_bottom[band] else _TOP_PAD
            bottom = max([bottom] + [y + 10 for _, _, y in tracks[band]])
            self.band_content.append(bottom)

    # -- placement and routing -------------------------------------------------------------------------------

    def _place(self) -> Drawing:
        drawing = Drawing()
        # Strip items (event subprocesses, data objects, annotations) go below the flow of their band.
        strip_by_band: dict[int, list[tuple[str, str, int, int]]] = {}
        anchor: dict[str, str] = {}
        for a, b in self.associations:
            if a in self.nodes and b not in self.nodes:
                anchor.setdefault(b, a)
            elif b in self.nodes and a not in self.nodes:
                anchor.setdefault(a, b)
        wrapped = len(self.strip_starts) > 1
        for eid, kind, w, h, band in self.strip:
            if band < 0 or wrapped:
                # in a wrapped layout, items not anchored to a node go below the last strip, clear of the
                # flows that wrap from one strip to the next
                last = self.band_count - 1 if wrapped else 0
                band = self.nodes[anchor[eid]].band if eid in anchor else last
            strip_by_band.setdefault(band, []).append((eid, kind, w, h))
        band_tops, band_heights, strip_boxes = [], [], {}
        top = 0
        right = self.content_right
        for band in range(self.band_count):
            bottom = self.band_content[band]
            items = strip_by_band.get(band, [])
            if items:
                strip_top = bottom + 40
                placed = []
                for eid, kind, w, h in items:
                    want = _CHANNEL_FIRST + 10
                    if eid in anchor:
                        host = self.nodes[anchor[eid]]
                        want = self.col_x[host.layer] + (self.col_w[host.layer] - w) // 2
                    placed.append((want, self.doc_order.get(eid, 0), eid, w, h))
                placed.sort()
                cursor = 0
                for want, _, eid, w, h in placed:
                    x = max(want, cursor)
                    strip_boxes[eid] = Box(x, top + strip_top, w, h)
                    cursor = x + w + 30
                    right = max(right, x + w + 30)
                    bottom = max(bottom, strip_top + h)
            height = max(bottom + _BOTTOM_PAD, self.min_band_height)
            band_tops.append(top)
            band_heights.append(height)
            top += height
        self.band_tops = band_tops
        boxes: dict[str, Box] = {}
        for n, node in self.nodes.items():
            cy = band_tops[node.band] + self.row_center[node.band][node.row]
            x = self.col_x[node.layer] + (self.col_w[node.layer] - node.w) // 2
            boxes[n] = Box(x, cy - node.h // 2, node.w, node.h)
        self.boxes = boxes
        self.turn_y: dict[str, int] = {}
        for n, node in self.nodes.items():
            if node.dummy:
                continue
            box = boxes[n]
            drawing.shapes[n] = box
            if node.body is not None:
                drawing.add(node.body.drawing, box.x, box.y)
            if node.name and (node.kind in EVENTS or node.kind in GATEWAYS):
                lw, lh = _label_size(node.name)
                drawing.labels[n] = Box(box.cx - lw // 2, box.bottom + 5, lw, lh)
            turn = self._boundary_turn(node) if node.boundaries else 0
            for i, b in enumerate(node.boundaries):
                offset = (2 * i - (len(node.boundaries) - 1)) * _BOUNDARY_SPACING // 2
                bx = box.cx + offset - EVENT_SIZE[0] // 2
                bbox = Box(bx, box.bottom - EVENT_SIZE[1] // 2, *EVENT_SIZE)
                drawing.shapes[b] = bbox
                # The leftmost event's flow goes lowest, so its turn is lowest: turns never cross lines.
                self.turn_y[b] = bbox.bottom + turn + _CHANNEL_STEP // 2 * (len(node.boundaries) - 1 - i)
                size = self._boundary_label(node, i)
                if size is not None:
                    lw, lh = size
                    lx = bbox.cx - 4 - lw if i == 0 else bbox.cx + 4
                    drawing.labels[b] = Box(lx, bbox.bottom + 2, lw, lh)
        for eid, box in strip_boxes.items():
            drawing.shapes[eid] = box
            if eid in self.strip_bodies:
                drawing.add(self.strip_bodies[eid].drawing, box.x, box.y)
        for f in self.flows:
            points, label = self._route_back(f, drawing) if f.back else self._route_forward(f, drawing)
            drawing.edges[f.id] = _simplify(points)
            if label is not None:
                drawing.labels[f.id] = label
        _settle_flow_labels(drawing, [f.id for f in self.flows if f.id in drawing.labels])
        self.width = max(right, self.content_right)
        self.height = top
        self.band_heights = band_heights
        return drawing

    def _y(self, n: str) -> int:
        return self.boxes[n].cy

    def _route_forward(self, f: _Flow, drawing: Drawing) -> tuple[list[Point], Box | None]:
        src_layer = self.nodes[f.src].layer
        next_y = self._y(f.chain[1])
        points: list[Point]
        if f.boundary is not None:
            bb = drawing.shapes[f.boundary]
            points = [(bb.cx, bb.bottom)]
            if f.id in self.straight:
                points.append((bb.cx, next_y))
            else:
                turn = self.turn_y[f.boundary]
                x = self._channel_x(src_layer, self._transition_key(f, 0))
                points += [(bb.cx, turn), (x, turn), (x, next_y)]
        else:
            box = self.boxes[f.src]
            points = [(box.right, box.cy)]
            if self._is_wrap(f.chain[0], f.chain[1]):
                points += self._wrap_points(f.chain[0], f.chain[1])
            elif next_y != box.cy:
                x = self._channel_x(src_layer, self._transition_key(f, 0))
                points += [(x, box.cy), (x, next_y)]
        y = next_y
        for k in range(1, len(f.chain) - 1):
            node = self.nodes[f.chain[k]]
            following = self._y(f.chain[k + 1])
            if self._is_wrap(f.chain[k], f.chain[k + 1]):
                points += self._wrap_points(f.chain[k], f.chain[k + 1])
                y = following
            elif following != y:
                x = self._channel_x(node.layer, self._transition_key(f, k))
                points += [(x, y), (x, following)]
                y = following
        tbox = self.boxes[f.tgt]
        points.append((tbox.x, tbox.cy))
        label = None
        if f.name:
            lw, lh = _label_size(f.name)
            end = self.channels_end[src_layer]
            lx = self._gap_left(src_layer) + (end + 6 if end else 6)
            label = Box(lx, next_y - lh - 2, lw, lh)
        return points, label

    def _wrap_points(self, a: str, b: str) -> list[Point]:
        """From ``a`` at the right end of a strip: right, down to the flow's track under the strip, left to
        before the next strip's first column, down to ``b``'s row (the caller goes on right into ``b``)."""
        track = self.band_tops[self.nodes[a].band] + self.wrap_y[(a, b)]
        out_x = self._channel_x(self.nodes[a].layer, ("wrap-out", a, b))
        in_x = self._channel_x(self._gap_before(self.nodes[b].layer), ("wrap-in", a, b))
        return [(out_x, self._y(a)), (out_x, track), (in_x, track), (in_x, self._y(b))]

    def _route_back(self, f: _Flow, drawing: Drawing) -> tuple[list[Point], Box | None]:
        src, tgt = self.nodes[f.src], self.nodes[f.tgt]
        band = max(src.band, tgt.band)
        yb = self.band_tops[band] + self.loop_y[f.id]
        out_key, in_key = self._back_keys(f)
        out_x = self._channel_x(src.layer, out_key) if out_key in self.gap_keys[src.layer] else 0
        in_x = self._channel_x(self._gap_before(tgt.layer), in_key)
        points: list[Point]
        if f.boundary is not None:
            bb = drawing.shapes[f.boundary]
            if f.id in self.straight:
                points = [(bb.cx, bb.bottom), (bb.cx, yb)]
            else:
                turn = self.turn_y[f.boundary]
                points = [(bb.cx, bb.bottom), (bb.cx, turn), (out_x, turn), (out_x, yb)]
        else:
            box = self.boxes[f.src]
            points = [(box.right, box.cy), (out_x, box.cy), (out_x, yb)]
        tbox = self.boxes[f.tgt]
        points += [(in_x, yb), (in_x, tbox.cy), (tbox.x, tbox.cy)]
        label = None
        if f.name:  # just above the return path, left of where it comes down
            lw, lh = _label_size(f.name)
            label = Box(points[-4][0] - 6 - lw, yb - lh - 2, lw, lh)
        return points, label

    def run(self) -> _Body:
        self._scan()
        self._find_back_edges()
        self._assign_layers()
        self._choose_strips()
        self._make_chains()
        self._order_layers()
        self._assign_rows()
        self._place_boundaries()
        self._find_wraps()
        self._columns()
        self._rows()
        drawing = self._place()
        return _Body(drawing, self.width, self.height, self.band_tops, self.band_heights)


def _settle_flow_labels(drawing: Drawing, flows: list[str]) -> None:
    """Move flow labels that would sit on another label, a shape or another edge to a free spot beside
    their own flow (labels of flows leaving one column for one line can otherwise stack on each other).

    Each label keeps its usual place if that is free; otherwise the first free place along its flow from
    the source wins (beside each segment, at either end, either side); if none is free, the place with the
    fewest conflicts. Labels are settled in flow order, each against those settled before it.
    """
    flow_set = set(flows)
    fixed = [box for key, box in drawing.labels.items() if key not in flow_set]
    shapes = list(drawing.shapes.values())
    placed: list[Box] = []

    def conflicts(box: Box, own: str) -> int:
        count = sum(1 for other in fixed + placed + shapes if _boxes_overlap(box, other))
        inner = Box(box.x + 1, box.y + 1, box.w - 2, box.h - 2)
        for key, points in drawing.edges.items():
            if key != own and any(inner.hits_segment(a, b) for a, b in zip(points, points[1:])):
                count += 1
        return count

    for fid in flows:
        label = drawing.labels[fid]
        best, best_count = label, conflicts(label, fid)
        if best_count:
            w, h = label.w, label.h
            for a, b in zip(drawing.edges[fid], drawing.edges[fid][1:]):
                if a == b:
                    continue
                if a[1] == b[1]:
                    x0, x1, y = min(a[0], b[0]), max(a[0], b[0]), a[1]
                    spots = [(x0 + 6, y - h - 2), (x0 + 6, y + 2), (x1 - w - 6, y - h - 2), (x1 - w - 6, y + 2)]
                else:
                    x, y0, y1 = a[0], min(a[1], b[1]), max(a[1], b[1])
                    spots = [(x + 4, y0 + 4), (x + 4, y1 - h - 4), (x - w - 4, y0 + 4), (x - w - 4, y1 - h - 4)]
                for sx, sy in spots:
                    box = Box(sx, sy, w, h)
                    count = conflicts(box, fid)
                    if count < best_count:
                        best, best_count = box, count
                    if not count:
                        break
                if not best_count:
                    break
        drawing.labels[fid] = best
        placed.append(best)


def _boxes_overlap(a: Box, b: Box) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


def _order_channels(channels: dict[tuple[str, ...], tuple[list[float], list[float]]]) -> list[tuple[str, ...]]:
    """Order the elbow channels of one gap (left to right) so that their segments cross least.

    A channel's vertical line spans all its levels; a horizontal arriving from the left at another channel
    crosses it when it arrives strictly inside that span and the channel lies further left, and likewise
    for horizontals leaving to the right. Small gaps are solved exactly, larger ones by insertion.
    """
    keys = list(channels)
    if len(keys) <= 1:
        return keys
    span = {k: (min(left + right), max(left + right)) for k, (left, right) in channels.items()}

    def cost(a: tuple[str, ...], b: tuple[str, ...]) -> int:  # cost of a left of b
        lo, hi = span[a]
        total = sum(1 for y in channels[b][0] if lo < y < hi)
        lo, hi = span[b]
        return total + sum(1 for y in channels[a][1] if lo < y < hi)

    pair = {(a, b): cost(a, b) for a in keys for b in keys if a != b}

    def total(order: tuple[tuple[str, ...], ...] | list[tuple[str, ...]]) -> int:
        return sum(pair[order[i], order[j]] for i in range(len(order)) for j in range(i + 1, len(order)))

    if len(keys) <= 6:
        return list(min(itertools.permutations(keys), key=total))
    order: list[tuple[str, ...]] = []
    for key in keys:
        candidates = [order[:i] + [key] + order[i:] for i in range(len(order) + 1)]
        order = min(candidates, key=total)
    return order


def _straight(a: Box, b: Box) -> list[Point]:
    """An association: a straight line between facing sides of two boxes (as modellers draw them)."""
    if a.bottom <= b.y:
        return [(a.cx, a.bottom), (b.cx, b.y)]
    if b.bottom <= a.y:
        return [(a.cx, a.y), (b.cx, b.bottom)]
    if a.right <= b.x:
        return [(a.right, a.cy), (b.x, b.cy)]
    return [(a.x, a.cy), (b.right, b.cy)]


# ------------------------------------------------------------------------------------------------ lanes, pools

@dataclass
class _Lane:
    el: etree._Element
    depth: int
    leaves: list[int]             # indices of the leaf bands this lane covers


def _lanes(process: etree._Element) -> tuple[list[_Lane], int, dict[str, int]]:
    """Lanes of ``process`` in drawing order, the number of leaf bands, and each flow node's band.

    A node belongs to the deepest lane that lists it; nested lanes are drawn inside their parent.
    """
    lanes: list[_Lane] = []
    leaf_count = 0
    band_of: dict[str, int] = {}

    def visit(lane_set: etree._Element, depth: int) -> list[int]:
        nonlocal leaf_count
        covered: list[int] = []
        for lane in _bpmn_children(lane_set, "lane"):
            entry = _Lane(lane, depth, [])
            lanes.append(entry)
            children: list[int] = []
            for child_set in _bpmn_children(lane, "childLaneSet"):
                children += visit(child_set, depth + 1)
            if not children:
                children = [leaf_count]
                leaf_count += 1
            entry.leaves = children
            for ref in _bpmn_children(lane, "flowNodeRef"):
                band_of.setdefault((ref.text or "").strip(), children[0])
            covered += children
        return covered

    # visit() assigns a lane's children before the lane itself, and setdefault keeps the first
    # assignment, so a node listed by both a parent lane and one of its child lanes lands in the child.
    for lane_set in _bpmn_children(process, "laneSet"):
        visit(lane_set, 1)
    return lanes, leaf_count, band_of


@dataclass
class _Pool:
    participant: etree._Element | None
    process: etree._Element | None
    body: _Body | None
    lanes: list[_Lane]
    header: int


def _layout_pool_contents(process: etree._Element, doc_order: dict[str, int],
                          participant: etree._Element | None) -> _Pool:
    lanes, leaf_count, band_of = _lanes(process)
    if leaf_count:
        body = _best_body(process, doc_order, leaf_count, band_of, _LANE_MIN_HEIGHT)
    else:
        body = _best_body(process, doc_order)
    depth = max((lane.depth for lane in lanes), default=0)
    return _Pool(participant, process, body, lanes, _POOL_HEADER * (1 + depth))


# --------------------------------------------------------------------------------------------- DI generation

@dataclass
class _Diagram:
    """One BPMNDiagram to write: its plane element and the drawing, plus flags per shape."""

    diagram_id: str
    plane_element: str
    drawing: Drawing
    order: list[str]              # element ids in the order their DI is written
    horizontal: set[str]


def _missing_namespaces(root: etree._Element) -> dict[str, str]:
    """Prefix -> URI for the DI namespaces the root does not declare, with the usual prefixes if free."""
    present = set(root.nsmap.values())
    used_prefixes = set(root.nsmap)
    top: dict[str, str] = {}
    for ns in (BPMNDI_NS, DC_NS, DI_NS):
        if ns in present:
            continue
        prefix, n = _PREFERRED_PREFIX[ns], 1
        while prefix in used_prefixes:
            prefix, n = f"{_PREFERRED_PREFIX[ns]}{n}", n + 1
        used_prefixes.add(prefix)
        top[prefix] = ns
    return top


def _declare_on_root(root: etree._Element, missing: dict[str, str]) -> None:
    """Declare the namespaces the new diagram uses on the root, as modellers do.

    lxml declares an unknown namespace (as ns0, ns1, ...) on each new element that uses it; cleanup with
    ``top_nsmap`` moves them to the root under the chosen prefixes. Every existing prefix is kept, even
    if no element uses it, because QName-valued attributes (``xsi:type="bpmn:tFormalExpression"``,
    ``typeRef="xsd:string"``) refer to prefixes lxml cannot see.
    """
    if not missing:
        return
    keep = sorted({p for el in root.iter() if isinstance(el.tag, str) for p in el.nsmap if p})
    top = {k: v for k, v in root.nsmap.items() if k}
    etree.cleanup_namespaces(root, top_nsmap={**top, **missing}, keep_ns_prefixes=keep)


class _Ids:
    """Hands out element ids that do not clash with any id already in the document."""

    def __init__(self, root: etree._Element) -> None:
        self.taken = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}

    def new(self, wanted: str) -> str:
        candidate, n = wanted, 2
        while candidate in self.taken:
            candidate, n = f"{wanted}_{n}", n + 1
        self.taken.add(candidate)
        return candidate


def _insert_collaborations(root: etree._Element, collaborations: list[etree._Element]) -> None:
    """Insert new collaborations, in order, before the first root element (after imports and extensions).

    Comments directly in front of that root element stay attached to it, so they keep describing it.
    """
    children = list(root)
    index = len(children)
    for i, child in enumerate(children):
        if isinstance(child.tag, str) and _local(child) not in ("import", "extension", "documentation"):
            index = i
            break
    while index > 0 and not isinstance(children[index - 1].tag, str):
        index -= 1
    for offset, collaboration in enumerate(collaborations):
        root.insert(index + offset, collaboration)


def _name(el: etree._Element | None) -> str:
    return (el.get("name", "") if el is not None else "").strip()


def _message_flows(collaboration: etree._Element, drawing: Drawing, pool_of: dict[str, Box],
                   participants: set[str]) -> None:
    """Route message flows vertically between pools, elbowing in the gap below/above the source pool."""
    for mf in _bpmn_children(collaboration, "messageFlow"):
        mid, s, t = mf.get("id"), mf.get("sourceRef", ""), mf.get("targetRef", "")
        sb, tb = drawing.shapes.get(s), drawing.shapes.get(t)
        if not mid or sb is None or tb is None:
            continue
        down = sb.cy <= tb.cy
        y1, y2 = (sb.bottom, tb.y) if down else (sb.y, tb.bottom)
        xs = min(max(tb.cx, sb.x + 40), sb.right - 10) if s in participants else sb.cx
        xt = min(max(xs, tb.x + 40), tb.right - 10) if t in participants else tb.cx
        if xs == xt:
            points = [(xs, y1), (xt, y2)]
        else:
            pool = pool_of.get(s, sb)
            turn = pool.bottom + _POOL_GAP // 2 if down else pool.y - _POOL_GAP // 2
            points = [(xs, y1), (xs, turn), (xt, turn), (xt, y2)]
        drawing.edges[mid] = _simplify(points)
        name = _name(mf)
        if name:
            lw, lh = _label_size(name)
            drawing.labels[mid] = Box(xs + 5, (y1 + 5) if down else (y1 - 5 - lh), lw, lh)


def _collaboration_diagram(collaboration: etree._Element, processes: dict[str, etree._Element],
                           doc_order: dict[str, int], ids: _Ids) -> _Diagram:
    """One diagram for a whole collaboration: its pools stacked top to bottom, all as wide as the widest.

    The plane refers to the collaboration, not a participant: bpmn-js (Camunda Modeler) only renders a
    plane whose element is a process, a subprocess or a collaboration. The diagram is named after the
    process when the collaboration is a single pool (the usual case), else after the collaboration.
    """
    pools: list[_Pool] = []
    for participant in _bpmn_children(collaboration, "participant"):
        process = processes.get(participant.get("processRef", ""))
        if process is not None:
            pools.append(_layout_pool_contents(process, doc_order, participant))
        else:
            pools.append(_Pool(participant, None, None, [], _POOL_HEADER))
    width = max([_MIN_POOL_WIDTH] + [p.header + p.body.width for p in pools if p.body is not None])
    drawing = Drawing()
    order: list[str] = []
    horizontal: set[str] = set()
    pool_of: dict[str, Box] = {}
    participants: set[str] = set()
    x0, y = _ORIGIN
    for pool in pools:
        assert pool.participant is not None
        pid = pool.participant.get("id", "")
        height = pool.body.height if pool.body is not None else _BLACK_BOX_HEIGHT
        pbox = Box(x0, y, width, height)
        drawing.shapes[pid] = pbox
        order.append(pid)
        horizontal.add(pid)
        participants.add(pid)
        pool_of[pid] = pbox
        if pool.body is not None and pool.process is not None:
            for lane in pool.lanes:
                lane_id = lane.el.get("id")
                if not lane_id:
                    continue
                indent = _POOL_HEADER * lane.depth
                top = pool.body.band_tops[lane.leaves[0]]
                height = sum(pool.body.band_heights[i] for i in lane.leaves)
                drawing.shapes[lane_id] = Box(x0 + indent, y + top, width - indent, height)
                order.append(lane_id)
                horizontal.add(lane_id)
            drawing.add(pool.body.drawing, x0 + pool.header, y)
            for key in pool.body.drawing.shapes:
                pool_of[key] = pbox
            order += _document_ids(pool.process)
        y += pbox.h + _POOL_GAP
    _message_flows(collaboration, drawing, pool_of, participants)
    order += [mf.get("id", "") for mf in _bpmn_children(collaboration, "messageFlow")]
    with_process = [p for p in pools if p.process is not None]
    owner = with_process[0].process.get("id", "") if len(pools) == 1 and with_process else collaboration.get("id", "")
    return _Diagram(ids.new(f"Diagram_{owner}"), collaboration.get("id", ""), drawing, order, horizontal)


def _best_body(process: etree._Element, doc_order: dict[str, int], bands: int = 1,
               band_of: dict[str, int] | None = None, min_band_height: int = 0) -> _Body:
    """Lay out a top-level process, choosing among variants the one that reads best at fit-to-screen.

    1. A process without lanes wider than :data:`_WRAP_ABOVE` is also laid out wrapped into 2 …
       :data:`_MAX_STRIPS` strips, with the line into its hub end (if any) along the top or the bottom of
       each strip; the variant a modeller shows largest on a 16:9 screen wins, then the one with fewer edge
       crossings. Laned processes are not wrapped: their lanes must run the whole width.
    2. Then, one group of long flows at a time, their shared line is moved to the top or the bottom of its
       band (strip or lane) where that crosses fewer edges without shrinking the diagram on screen.

    Every variant is deterministic, so the chosen one is too (a laid-out model laid out again is unchanged).
    """
    def make(**kwargs: object) -> _ContainerLayout:
        return _ContainerLayout(process, doc_order, bands, band_of, min_band_height, **kwargs)  # type: ignore[arg-type]

    def scale(b: _Body) -> float:
        return min(_SCREEN[0] / max(b.width, 1), _SCREEN[1] / max(b.height, 1))

    def score(b: _Body) -> tuple[float, int]:
        return (round(scale(b), 2), -_crossings(b.drawing))

    base = make()
    best = base.run()
    args: dict[str, object] = {}
    if bands == 1 and best.width > _WRAP_ABOVE:
        widths = [base.col_w[layer] + base.gap_w[layer] for layer in range(base.layer_count)]
        best_score = score(best)
        for strips in range(1, _MAX_STRIPS + 1):
            for cut_cost in (0.15, 0.05):
                trial_args = {"strips": strips, "hub_side": "top", "layer_widths": widths, "cut_cost": cut_cost}
                candidate = make(**trial_args).run()
                if score(candidate) > best_score:
                    best, best_score, args = candidate, score(candidate), trial_args
    probe = make(**args)
    probe.run()
    crossings = _crossings(best.drawing)
    if not crossings:
        return best
    choice: dict[tuple[str, int], str] = {}
    for group in probe.line_groups:
        for side in ("top", "bottom"):
            trial = {**choice, group: side}
            candidate = make(line_rows=trial, **args).run()
            count = _crossings(candidate.drawing)
            if count < crossings and scale(candidate) >= 0.97 * scale(best):
                best, crossings, choice = candidate, count, trial
    return best


def _crossings(drawing: Drawing) -> int:
    """Pairs of edges that cross (orthogonal segments meeting strictly inside both)."""
    segments: dict[str, list[tuple[Point, Point]]] = {
        key: [(a, b) for a, b in zip(points, points[1:]) if a != b] for key, points in drawing.edges.items()}
    horizontal = {k: [s for s in segs if s[0][1] == s[1][1]] for k, segs in segments.items()}
    vertical = {k: [s for s in segs if s[0][0] == s[1][0]] for k, segs in segments.items()}

    def cross(h: tuple[Point, Point], v: tuple[Point, Point]) -> bool:
        (hx0, hy), (hx1, _) = h
        (vx, vy0), (_, vy1) = v
        return min(hx0, hx1) < vx < max(hx0, hx1) and min(vy0, vy1) < hy < max(vy0, vy1)

    keys = sorted(segments)
    total = 0
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if any(cross(h, v) for h in horizontal[a] for v in vertical[b]) or \
                    any(cross(h, v) for h in horizontal[b] for v in vertical[a]):
                total += 1
    return total


def _process_diagram(process: etree._Element, doc_order: dict[str, int], ids: _Ids) -> _Diagram:
    body = _best_body(process, doc_order)
    drawing = Drawing()
    drawing.add(body.drawing, _ORIGIN[0] - 30, _ORIGIN[1] - _TOP_PAD)
    pid = process.get("id", "")
    return _Diagram(ids.new(f"Diagram_{pid}"), pid, drawing, _document_ids(process), set())


def _document_ids(el: etree._Element) -> list[str]:
    return [d.get("id", "") for d in el.iter() if isinstance(d.tag, str) and d.get("id")]


def _write_diagram(root: etree._Element, diagram: _Diagram, kinds: dict[str, str], ids: _Ids,
                   index: int) -> None:
    dia = etree.Element(_q(BPMNDI_NS, "BPMNDiagram"), id=diagram.diagram_id)
    plane = etree.SubElement(dia, _q(BPMNDI_NS, "BPMNPlane"), id=ids.new(f"BPMNPlane_{diagram.plane_element}"),
                             bpmnElement=diagram.plane_element)
    drawing = diagram.drawing
    seen: set[str] = set()
    order = [i for i in diagram.order if i in drawing.shapes or i in drawing.edges]
    order += list(drawing.shapes) + list(drawing.edges)  # anything not in the semantic walk, e.g. lanes
    for eid in order:
        if eid in seen:
            continue
        seen.add(eid)
        kind = kinds.get(eid, "")
        if eid in drawing.shapes:
            box = drawing.shapes[eid]
            shape = etree.SubElement(plane, _q(BPMNDI_NS, "BPMNShape"), id=ids.new(f"{eid}_di"), bpmnElement=eid)
            if eid in diagram.horizontal:
                shape.set("isHorizontal", "true")
            if kind in SUBPROCESSES:
                shape.set("isExpanded", "true")
            if kind == "exclusiveGateway":
                shape.set("isMarkerVisible", "true")
            _bounds(shape, box)
            if eid in drawing.labels:
                _bounds(etree.SubElement(shape, _q(BPMNDI_NS, "BPMNLabel")), drawing.labels[eid])
        elif eid in drawing.edges:
            edge = etree.SubElement(plane, _q(BPMNDI_NS, "BPMNEdge"), id=ids.new(f"{eid}_di"), bpmnElement=eid)
            for x, y in drawing.edges[eid]:
                etree.SubElement(edge, _q(DI_NS, "waypoint"), x=str(x), y=str(y))
            if eid in drawing.labels:
                _bounds(etree.SubElement(edge, _q(BPMNDI_NS, "BPMNLabel")), drawing.labels[eid])
    root.insert(index, dia)


def _bounds(parent: etree._Element, box: Box) -> None:
    etree.SubElement(parent, _q(DC_NS, "Bounds"), x=str(box.x), y=str(box.y), width=str(box.w),
                     height=str(box.h))


def _data_associations(node: etree._Element) -> Iterator[tuple[str, str]]:
    """(source, target) of the data associations of a flow node: data object/store <-> the node."""
    nid = node.get("id", "")
    for assoc in _bpmn_children(node, "dataInputAssociation"):
        for ref in _bpmn_children(assoc, "sourceRef"):
            yield (ref.text or "").strip(), nid
    for assoc in _bpmn_children(node, "dataOutputAssociation"):
        for ref in _bpmn_children(assoc, "targetRef"):
            yield nid, (ref.text or "").strip()


def _finish_edges(process: etree._Element, drawing: Drawing) -> None:
    """Edges the container layouts did not draw: associations, and flows they could not place.

    Associations run straight between their ends, as modellers draw them. A sequence flow is left over only
    in an invalid model (say, between a subprocess and a node outside it); it still gets an edge, because a
    modeller can only show, and let someone fix, what has DI.
    """
    for el in process.iter(_q(BPMN_NS, "association"), _q(BPMN_NS, "dataInputAssociation"),
                           _q(BPMN_NS, "dataOutputAssociation")):
        eid = el.get("id")
        if not eid or eid in drawing.edges:
            continue
        if _local(el) == "association":
            src, tgt = el.get("sourceRef", ""), el.get("targetRef", "")
        else:  # the data object is named inside; the flow node is the parent
            incoming = _local(el) == "dataInputAssociation"
            ref = next(_bpmn_children(el, "sourceRef" if incoming else "targetRef"), None)
            data = (ref.text or "").strip() if ref is not None else ""
            node = el.getparent().get("id", "")
            src, tgt = (data, node) if incoming else (node, data)
        a, b = drawing.shapes.get(src), drawing.shapes.get(tgt)
        if a is not None and b is not None:
            drawing.edges[eid] = _straight(a, b)
    for f in process.iter(_q(BPMN_NS, "sequenceFlow")):
        fid = f.get("id")
        if not fid or fid in drawing.edges:
            continue
        a, b = drawing.shapes.get(f.get("sourceRef", "")), drawing.shapes.get(f.get("targetRef", ""))
        if a is None or b is None:
            continue
        mx = (a.right + b.x) // 2
        drawing.edges[fid] = _simplify([(a.right, a.cy), (mx, a.cy), (mx, b.cy), (b.x, b.cy)])


def layout_definitions(xml: bytes) -> bytes:
    """Return ``xml`` with every ``bpmndi:BPMNDiagram`` replaced by a freshly laid-out one per process.

    Processes that are participants of a collaboration are drawn in that collaboration's diagram (one pool
    per participant, message flows between them); a process with lanes and no participant gets a new
    ``Collaboration_<processId>`` / ``Participant_<processId>``; any other process is drawn on a plain plane.
    Raises :class:`LayoutError` if ``xml`` is not a BPMN document.
    """
    root = _parse(xml)
    for old in root.findall(_q(BPMNDI_NS, "BPMNDiagram")):
        root.remove(old)
    missing_namespaces = _missing_namespaces(root)
    ids = _Ids(root)
    doc_order = {el.get("id", ""): i for i, el in enumerate(e for e in root.iter() if isinstance(e.tag, str))
                 if el.get("id")}
    kinds = {el.get("id", ""): _local(el) or "" for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    processes = {p.get("id", ""): p for p in _bpmn_children(root, "process")}
    collaborations = list(_bpmn_children(root, "collaboration"))
    in_pool = {part.get("processRef", "") for c in collaborations for part in _bpmn_children(c, "participant")}

    # Existing collaborations come first (a modeller opens the first diagram, and a collaboration is the
    # overview), then processes in document order.
    units: list[tuple[int, etree._Element, str]] = []    # (position, element, "collab" | "process")
    created: list[etree._Element] = []
    for c in collaborations:
        if list(_bpmn_children(c, "participant")):
            units.append((doc_order.get(c.get("id", ""), 0) - len(doc_order), c, "collab"))
    for pid, process in processes.items():
        if pid in in_pool:
            continue
        if _lanes(process)[1]:
            collab = etree.Element(_q(BPMN_NS, "collaboration"), id=ids.new(f"Collaboration_{pid}"))
            participant = etree.SubElement(collab, _q(BPMN_NS, "participant"), id=ids.new(f"Participant_{pid}"))
            if _name(process):
                participant.set("name", process.get("name", ""))
            participant.set("processRef", pid)
            created.append(collab)
            kinds[collab.get("id", "")] = "collaboration"
            kinds[participant.get("id", "")] = "participant"
            units.append((doc_order.get(pid, 0), collab, "collab"))
        else:
            units.append((doc_order.get(pid, 0), process, "process"))
    _insert_collaborations(root, created)
    units.sort(key=lambda u: u[0])

    diagrams: list[_Diagram] = []
    for _, element, kind in units:
        if kind == "collab":
            diagram = _collaboration_diagram(element, processes, doc_order, ids)
            for part in _bpmn_children(element, "participant"):
                process = processes.get(part.get("processRef", ""))
                if process is not None:
                    _finish_edges(process, diagram.drawing)
        else:
            diagram = _process_diagram(element, doc_order, ids)
            _finish_edges(element, diagram.drawing)
        diagrams.append(diagram)

    index = len(root)
    for i, child in enumerate(root):
        if _local(child) == "relationship":
            index = i
            break
    for offset, diagram in enumerate(diagrams):
        _write_diagram(root, diagram, kinds, ids, index + offset)
    _declare_on_root(root, missing_namespaces)
    return _serialize(root)


def _serialize(root: etree._Element) -> bytes:
    """UTF-8 with a double-quoted XML declaration, two-space indentation and a final newline."""
    etree.indent(root, space="  ")
    tree = root.getroottree()
    body = etree.tostring(tree, encoding="UTF-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.strip() + b"\n"


# The parser and serialiser other model rewriters share (engine.bpmn.modeller), so every tool that rewrites a
# model in place writes it the same way and diffs stay quiet.
parse_definitions = _parse
serialize_definitions = _serialize


# ------------------------------------------------------------------------------------------------------ check

def _flow_elements(root: etree._Element) -> Iterable[etree._Element]:
    """Flow nodes and sequence flows of every process, including those inside subprocesses."""
    def walk(container: etree._Element) -> Iterator[etree._Element]:
        for child in _bpmn_children(container):
            kind = _local(child)
            if kind in FLOW_NODES or kind == "sequenceFlow":
                yield child
            if kind in SUBPROCESSES:
                yield from walk(child)
    for process in _bpmn_children(root, "process"):
        yield from walk(process)
        for lane in process.iter(_q(BPMN_NS, "lane")):
            yield lane
    for collaboration in _bpmn_children(root, "collaboration"):
        yield from _bpmn_children(collaboration, "participant")


def check_di(xml: bytes) -> list[str]:
    """Ids of flow nodes, sequence flows, lanes and participants that have no usable DI, in document order.

    A shape counts only with ``dc:Bounds`` and an edge only with at least two waypoints, because that is what
    a modeller needs to draw them. Raises :class:`LayoutError` if ``xml`` is not a BPMN document.
    """
    root = _parse(xml)
    shaped: set[str] = set()
    for shape in root.iter(_q(BPMNDI_NS, "BPMNShape")):
        if shape.find(_q(DC_NS, "Bounds")) is not None:
            shaped.add(shape.get("bpmnElement", ""))
    for edge in root.iter(_q(BPMNDI_NS, "BPMNEdge")):
        if len(edge.findall(_q(DI_NS, "waypoint"))) >= 2:
            shaped.add(edge.get("bpmnElement", ""))
    missing: list[str] = []
    for el in _flow_elements(root):
        eid = el.get("id")
        if eid and eid not in shaped and eid not in missing:
            missing.append(eid)
    return missing
