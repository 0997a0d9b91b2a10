"""How readable a drawn diagram is: measured from its BPMN DI, the way a person looking at it would judge.

``gongai layout`` generates the diagrams of the bundled models; this module measures what makes a diagram
hard to read when a modeller shows it fit to the screen, so tests can hold every model to thresholds:

* the extent (width × height of everything drawn) and its aspect ratio: a 6000 × 1400 diagram fit to a
  16:9 screen is shrunk to a third and its 11 px labels become unreadable;
* edge crossings: pairs of edges whose segments cross at a point inside both (edges that touch or run
  together, as converging flows do, are not crossings);
* labels that overlap another label or a shape, and edges that run through a label;
* shapes that overlap (other than containers and what they contain, and boundary events on their host);
* edges that pass through a flow node they do not start or end at.

Only DI is read (shapes, labels, waypoints), per diagram plane; it works on any modeller's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.bpmn.layout import BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, parse_definitions

__all__ = ["PlaneQuality", "measure_di"]

Rect = tuple[float, float, float, float]        # x, y, width, height
Segment = tuple[tuple[float, float], tuple[float, float]]

_CONTAINERS = frozenset({"participant", "lane"})


@dataclass
class PlaneQuality:
    """Readability measures of one diagram plane (the ids are the BPMN elements involved)."""

    plane: str
    width: float = 0.0
    height: float = 0.0
    crossings: list[tuple[str, str]] = field(default_factory=list)
    label_overlaps: list[tuple[str, str]] = field(default_factory=list)   # (label of, label of / shape)
    labels_crossed: list[tuple[str, str]] = field(default_factory=list)   # (label of, edge)
    shape_overlaps: list[tuple[str, str]] = field(default_factory=list)
    edges_through_shapes: list[tuple[str, str]] = field(default_factory=list)  # (edge, shape)

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.height else 0.0

    def summary(self) -> str:
        return (f"{self.plane}: {self.width:.0f}x{self.height:.0f} (aspect {self.aspect:.2f}), "
                f"{len(self.crossings)} crossing edge pairs, {len(self.label_overlaps)} overlapping labels, "
                f"{len(self.labels_crossed)} labels crossed by edges, {len(self.shape_overlaps)} overlapping "
                f"shapes, {len(self.edges_through_shapes)} edges through shapes")


def _bounds(el: etree._Element | None) -> Rect | None:
    b = el.find(f"{{{DC_NS}}}Bounds") if el is not None else None
    if b is None:
        return None
    return (float(b.get("x", 0)), float(b.get("y", 0)), float(b.get("width", 0)), float(b.get("height", 0)))


def _overlap(a: Rect, b: Rect) -> bool:
    """Rectangles share some area (touching edges do not count)."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _contains(outer: Rect, inner: Rect) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


def _segments(points: list[tuple[float, float]]) -> list[Segment]:
    return [(a, b) for a, b in zip(points, points[1:]) if a != b]


def _cross(s: Segment, t: Segment) -> bool:
    """Two segments cross at a single point strictly inside both (T-junctions and shared runs do not)."""
    (p1, p2), (q1, q2) = s, t
    d = (p2[0] - p1[0]) * (q2[1] - q1[1]) - (p2[1] - p1[1]) * (q2[0] - q1[0])
    if d == 0:
        return False   # parallel or collinear: running together is merging, not crossing
    u = ((q1[0] - p1[0]) * (q2[1] - q1[1]) - (q1[1] - p1[1]) * (q2[0] - q1[0])) / d
    v = ((q1[0] - p1[0]) * (p2[1] - p1[1]) - (q1[1] - p1[1]) * (p2[0] - p1[0])) / d
    eps = 1e-9
    return eps < u < 1 - eps and eps < v < 1 - eps


def _through(seg: Segment, box: Rect, margin: float = 0.0) -> bool:
    """The segment passes through the inside of the box (shrunk by ``margin`` on every side)."""
    (x1, y1), (x2, y2) = seg
    bx0, by0 = box[0] + margin, box[1] + margin
    bx1, by1 = box[0] + box[2] - margin, box[1] + box[3] - margin
    if bx0 >= bx1 or by0 >= by1:
        return False
    # Liang-Barsky clipping: does any part of the segment lie strictly inside?
    t0, t1 = 0.0, 1.0
    dx, dy = x2 - x1, y2 - y1
    for p, q in ((-dx, x1 - bx0), (dx, bx1 - x1), (-dy, y1 - by0), (dy, by1 - y1)):
        if p == 0:
            if q <= 0:
                return False
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 >= t1:
            return False
    return True


def measure_di(xml: bytes) -> list[PlaneQuality]:
    """Readability measures of every diagram plane of a BPMN document, in document order."""
    root = parse_definitions(xml)
    elements = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}

    def kind(eid: str) -> str:
        el = elements.get(eid)
        return etree.QName(el).localname if el is not None and etree.QName(el).namespace == BPMN_NS else ""

    def ends(eid: str) -> set[str]:
        el = elements.get(eid)
        if el is None:
            return set()
        found = {el.get("sourceRef", ""), el.get("targetRef", "")}
        for tag in ("sourceRef", "targetRef"):
            for ref in el.iterfind(f"{{{BPMN_NS}}}{tag}"):
                found.add((ref.text or "").strip())
        if kind(eid) in ("dataInputAssociation", "dataOutputAssociation") and el.getparent() is not None:
            found.add(el.getparent().get("id", ""))
        for end in list(found):  # a flow out of a boundary event also touches the event's host
            host = elements.get(end)
            if host is not None and host.get("attachedToRef"):
                found.add(host.get("attachedToRef", ""))
        return found - {""}

    def ancestors(eid: str) -> set[str]:
        found: set[str] = set()
        el = elements.get(eid)
        if el is None:
            return found
        if el.get("attachedToRef"):
            found.add(el.get("attachedToRef", ""))
        parent = el.getparent()
        while parent is not None:
            if parent.get("id"):
                found.add(parent.get("id"))
            parent = parent.getparent()
        return found

    results: list[PlaneQuality] = []
    for plane in root.iter(f"{{{BPMNDI_NS}}}BPMNPlane"):
        quality = PlaneQuality(plane.get("bpmnElement", ""))
        shapes: dict[str, Rect] = {}
        expanded: set[str] = set()
        labels: dict[str, Rect] = {}
        edges: dict[str, list[Segment]] = {}
        for shape in plane.iter(f"{{{BPMNDI_NS}}}BPMNShape"):
            eid = shape.get("bpmnElement", "")
            box = _bounds(shape)
            if box is None:
                continue
            shapes[eid] = box
            if shape.get("isExpanded") == "true" or kind(eid) in _CONTAINERS:
                expanded.add(eid)
            label = _bounds(shape.find(f"{{{BPMNDI_NS}}}BPMNLabel"))
            if label is not None:
                labels[eid] = label
        for edge in plane.iter(f"{{{BPMNDI_NS}}}BPMNEdge"):
            eid = edge.get("bpmnElement", "")
            points = [(float(w.get("x", 0)), float(w.get("y", 0))) for w in edge.iterfind(f"{{{DI_NS}}}waypoint")]
            edges[eid] = _segments(points)
            label = _bounds(edge.find(f"{{{BPMNDI_NS}}}BPMNLabel"))
            if label is not None:
                labels[eid] = label

        boxes = list(shapes.values()) + list(labels.values())
        xs = [b[0] for b in boxes] + [b[0] + b[2] for b in boxes]
        ys = [b[1] for b in boxes] + [b[1] + b[3] for b in boxes]
        for segs in edges.values():
            for (a, b) in segs:
                xs += [a[0], b[0]]
                ys += [a[1], b[1]]
        if xs:
            quality.width, quality.height = max(xs) - min(xs), max(ys) - min(ys)

        edge_ids = sorted(edges)
        for i, a in enumerate(edge_ids):
            for b in edge_ids[i + 1:]:
                if any(_cross(s, t) for s in edges[a] for t in edges[b]):
                    quality.crossings.append((a, b))

        label_ids = sorted(labels)
        for i, a in enumerate(label_ids):
            for b in label_ids[i + 1:]:
                if _overlap(labels[a], labels[b]):
                    quality.label_overlaps.append((a, b))
            for sid, box in shapes.items():
                if sid in expanded or sid in ancestors(a):
                    continue
                if _overlap(labels[a], box):
                    quality.label_overlaps.append((a, sid))
            for eid, segs in edges.items():
                if eid != a and any(_through(s, labels[a], 1.0) for s in segs):
                    quality.labels_crossed.append((a, eid))

        plain = sorted(s for s in shapes if s not in expanded)
        for i, a in enumerate(plain):
            for b in plain[i + 1:]:
                if a in ancestors(b) or b in ancestors(a):
                    continue
                if _overlap(shapes[a], shapes[b]) and not (_contains(shapes[a], shapes[b])
                                                           and kind(a) in ("subProcess", "transaction")):
                    quality.shape_overlaps.append((a, b))
        for eid, segs in edges.items():
            touching = ends(eid)
            for sid in plain:
                if sid in touching or kind(sid) == "boundaryEvent" and elements[sid].get("attachedToRef") in touching:
                    continue
                if any(_through(s, shapes[sid], 1.0) for s in segs):
                    quality.edges_through_shapes.append((eid, sid))
        results.append(quality)
    return results
