"""Automatic DI layout: every element gets a shape or an edge, nothing overlaps, lanes hold their nodes,
the semantic model is untouched (SpiffWorkflow still parses it), and the output is deterministic.

The conformance models come from ``../shared/conformance`` next to the checkout; their own DI is stripped
first so the layout has to draw everything itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from lxml import etree
from SpiffWorkflow.bpmn.parser import BpmnParser
from typer.testing import CliRunner, Result

from engine.bpmn.layout import (
    BPMN_NS,
    BPMNDI_NS,
    DC_NS,
    DI_NS,
    EVENT_SIZE,
    GATEWAY_SIZE,
    TASK_SIZE,
    LayoutError,
    check_di,
    layout_definitions,
)
from engine.cli import app
from tests.corpus import CORPUS

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = CORPUS
NS = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS}

Rect = tuple[float, float, float, float]


# ------------------------------------------------------------------------------------------------- helpers

def model(body: str, *, extra_ns: str = "", di_ns: bool = True) -> bytes:
    """A definitions document around ``body`` (with or without the DI namespace declarations)."""
    di = ('xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
          'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
          'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" ') if di_ns else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" {di}{extra_ns}'
            f'id="Defs" targetNamespace="https://gongai.example/test">\n{body}\n</bpmn:definitions>\n'
            ).encode("utf-8")


def strip_di(xml: bytes) -> bytes:
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    for diagram in root.findall("bpmndi:BPMNDiagram", NS):
        root.remove(diagram)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))


def bounds(shape: etree._Element) -> Rect:
    b = shape.find("dc:Bounds", NS)
    return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def shapes(root: etree._Element, plane: etree._Element | None = None) -> dict[str, etree._Element]:
    where = root if plane is None else plane
    return {s.get("bpmnElement"): s for s in where.iter(f"{{{BPMNDI_NS}}}BPMNShape")}


def waypoints(root: etree._Element, flow_id: str) -> list[tuple[float, float]]:
    edge = root.find(f".//bpmndi:BPMNEdge[@bpmnElement='{flow_id}']", NS)
    assert edge is not None, flow_id
    return [(float(w.get("x")), float(w.get("y"))) for w in edge.findall("di:waypoint", NS)]


def by_id(root: etree._Element) -> dict[str, etree._Element]:
    return {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}


def contains(outer: Rect, inner: Rect) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1]
            and inner[0] + inner[2] <= outer[0] + outer[2] and inner[1] + inner[3] <= outer[1] + outer[3])


def overlapping_shapes(root: etree._Element) -> list[tuple[str, str]]:
    """Pairs of shapes in one plane that overlap, other than a container and what it contains (pool, lane,
    subprocess and its contents) and a boundary event and its host."""
    elements = by_id(root)
    ancestors: dict[str, set[str]] = {}
    for eid, el in elements.items():
        found = set()
        parent = el.getparent()
        while parent is not None:
            if parent.get("id"):
                found.add(parent.get("id"))
            parent = parent.getparent()
        if etree.QName(el).localname == "boundaryEvent":
            found.add(el.get("attachedToRef"))
        ancestors[eid] = found
    bad = []
    for plane in root.iter(f"{{{BPMNDI_NS}}}BPMNPlane"):
        items = [(eid, bounds(s)) for eid, s in shapes(root, plane).items()
                 if etree.QName(elements[eid]).localname not in ("participant", "lane")]
        for i, (a, ra) in enumerate(items):
            for b, rb in items[i + 1:]:
                if a in ancestors.get(b, ()) or b in ancestors.get(a, ()):
                    continue
                if ra[0] < rb[0] + rb[2] and rb[0] < ra[0] + ra[2] and ra[1] < rb[1] + rb[3] and rb[1] < ra[1] + ra[3]:
                    bad.append((a, b))
    return bad


def lanes_misplaced(root: etree._Element) -> list[str]:
    """Flow nodes whose shape is not inside the shape of the (deepest) lane that lists them."""
    all_shapes = shapes(root)
    bad = []
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        if lane.find("bpmn:childLaneSet/bpmn:lane", NS) is not None:
            continue
        band = bounds(all_shapes[lane.get("id")])
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            node = (ref.text or "").strip()
            if node in all_shapes and not contains(band, bounds(all_shapes[node])):
                bad.append(node)
    return bad


def assert_orthogonal(root: etree._Element) -> None:
    for edge in root.iter(f"{{{BPMNDI_NS}}}BPMNEdge"):
        element = by_id(root).get(edge.get("bpmnElement"))
        if element is None or etree.QName(element).localname != "sequenceFlow":
            continue
        points = [(float(w.get("x")), float(w.get("y"))) for w in edge.findall("di:waypoint", NS)]
        assert len(points) >= 2
        for (x1, y1), (x2, y2) in zip(points, points[1:]):
            assert x1 == x2 or y1 == y2, f"{edge.get('bpmnElement')} has a diagonal segment"


def assert_spiff_parses(xml: bytes, process_ids: list[str] | None = None) -> None:
    parser = BpmnParser()
    parser.add_bpmn_xml(parse(xml), filename="laid-out.bpmn")
    for pid in process_ids or parser.get_process_ids():
        assert parser.get_spec(pid) is not None


def assert_sound(out: bytes) -> etree._Element:
    """The properties every laid-out document must have."""
    assert check_di(out) == []
    root = parse(out)
    assert overlapping_shapes(root) == []
    assert lanes_misplaced(root) == []
    assert_orthogonal(root)
    assert layout_definitions(out) == out, "laying out a laid-out model must change nothing"
    return root


# -------------------------------------------------------------------------------------------------- models

SPLIT_JOIN_LOOP = model("""
  <bpmn:process id="review" name="审查" isExecutable="true">
    <bpmn:startEvent id="Start" name="申请">
      <bpmn:outgoing>F1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="Check" name="初审">
      <bpmn:incoming>F1</bpmn:incoming>
      <bpmn:incoming>F_Again</bpmn:incoming>
      <bpmn:outgoing>F2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="Split" name="是否齐全？" default="F_Yes">
      <bpmn:incoming>F2</bpmn:incoming>
      <bpmn:outgoing>F_Yes</bpmn:outgoing>
      <bpmn:outgoing>F_No</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:scriptTask id="Accept" name="受理">
      <bpmn:incoming>F_Yes</bpmn:incoming>
      <bpmn:outgoing>F3</bpmn:outgoing>
      <bpmn:script>accepted = True</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="Correct" name="补正">
      <bpmn:incoming>F_No</bpmn:incoming>
      <bpmn:outgoing>F4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="Retry" name="重新提交？" default="F_Give_Up">
      <bpmn:incoming>F4</bpmn:incoming>
      <bpmn:outgoing>F_Again</bpmn:outgoing>
      <bpmn:outgoing>F_Give_Up</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:exclusiveGateway id="Join">
      <bpmn:incoming>F3</bpmn:incoming>
      <bpmn:incoming>F_Give_Up</bpmn:incoming>
      <bpmn:outgoing>F5</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="End" name="办结">
      <bpmn:incoming>F5</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Check" />
    <bpmn:sequenceFlow id="F2" sourceRef="Check" targetRef="Split" />
    <bpmn:sequenceFlow id="F_Yes" name="齐全" sourceRef="Split" targetRef="Accept" />
    <bpmn:sequenceFlow id="F_No" name="不齐全" sourceRef="Split" targetRef="Correct">
      <bpmn:conditionExpression>complete == False</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="F3" sourceRef="Accept" targetRef="Join" />
    <bpmn:sequenceFlow id="F4" sourceRef="Correct" targetRef="Retry" />
    <bpmn:sequenceFlow id="F_Again" name="是" sourceRef="Retry" targetRef="Check">
      <bpmn:conditionExpression>again == True</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="F_Give_Up" name="否" sourceRef="Retry" targetRef="Join" />
    <bpmn:sequenceFlow id="F5" sourceRef="Join" targetRef="End" />
  </bpmn:process>
""", di_ns=False)

LANES = model("""
  <!-- 并联审批：窗口受理，部门审查，牵头部门出件 -->
  <bpmn:process id="parallel" name="并联审批" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_Window" name="综合窗口">
        <bpmn:flowNodeRef>Start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Receive</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Fork</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_Agency" name="审批部门">
        <bpmn:flowNodeRef>ReviewA</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>ReviewB</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_Lead" name="牵头部门">
        <bpmn:flowNodeRef>Merge</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Issue</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>End</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="Start" name="申报"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Receive" name="一窗受理"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="Fork"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing><bpmn:outgoing>F4</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="ReviewA" name="规划审查"><bpmn:incoming>F3</bpmn:incoming><bpmn:outgoing>F5</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="ReviewB" name="消防审查"><bpmn:incoming>F4</bpmn:incoming><bpmn:outgoing>F6</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="Merge"><bpmn:incoming>F5</bpmn:incoming><bpmn:incoming>F6</bpmn:incoming><bpmn:outgoing>F7</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="Issue" name="出件"><bpmn:incoming>F7</bpmn:incoming><bpmn:outgoing>F8</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="End" name="办结"><bpmn:incoming>F8</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Receive" />
    <bpmn:sequenceFlow id="F2" sourceRef="Receive" targetRef="Fork" />
    <bpmn:sequenceFlow id="F3" sourceRef="Fork" targetRef="ReviewA" />
    <bpmn:sequenceFlow id="F4" sourceRef="Fork" targetRef="ReviewB" />
    <bpmn:sequenceFlow id="F5" sourceRef="ReviewA" targetRef="Merge" />
    <bpmn:sequenceFlow id="F6" sourceRef="ReviewB" targetRef="Merge" />
    <bpmn:sequenceFlow id="F7" sourceRef="Merge" targetRef="Issue" />
    <bpmn:sequenceFlow id="F8" sourceRef="Issue" targetRef="End" />
  </bpmn:process>
""")

BOUNDARY_AND_SUBPROCESS = model("""
  <bpmn:process id="timed" name="限时办理" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="Sub" name="部门审查">
      <bpmn:incoming>F1</bpmn:incoming>
      <bpmn:outgoing>F2</bpmn:outgoing>
      <bpmn:startEvent id="SubStart"><bpmn:outgoing>S1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="SubReview" name="审查"><bpmn:incoming>S1</bpmn:incoming><bpmn:outgoing>S2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="SubEnd"><bpmn:incoming>S2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="S1" sourceRef="SubStart" targetRef="SubReview" />
      <bpmn:sequenceFlow id="S2" sourceRef="SubReview" targetRef="SubEnd" />
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="Timer" name="时限届满" attachedToRef="Sub">
      <bpmn:outgoing>F3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"PT20D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="Approve" name="出件"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F4</bpmn:outgoing></bpmn:userTask>
    <bpmn:scriptTask id="Overdue" name="超时默许"><bpmn:incoming>F3</bpmn:incoming><bpmn:outgoing>F5</bpmn:outgoing>
      <bpmn:script>silent = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="End"><bpmn:incoming>F4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="EndOverdue"><bpmn:incoming>F5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Sub" />
    <bpmn:sequenceFlow id="F2" sourceRef="Sub" targetRef="Approve" />
    <bpmn:sequenceFlow id="F3" sourceRef="Timer" targetRef="Overdue" />
    <bpmn:sequenceFlow id="F4" sourceRef="Approve" targetRef="End" />
    <bpmn:sequenceFlow id="F5" sourceRef="Overdue" targetRef="EndOverdue" />
  </bpmn:process>
""")


# --------------------------------------------------------------------------------------------------- tests

def test_split_join_and_loop() -> None:
    assert check_di(SPLIT_JOIN_LOOP)[:2] == ["Start", "Check"]  # nothing drawn yet
    out = layout_definitions(SPLIT_JOIN_LOOP)
    root = assert_sound(out)
    assert_spiff_parses(out, ["review"])
    assert out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert layout_definitions(SPLIT_JOIN_LOOP) == out

    # The DI namespaces were missing and are now declared, with their usual prefixes, on the root.
    assert {"bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS}.items() <= root.nsmap.items()
    diagram = root.find("bpmndi:BPMNDiagram", NS)
    assert diagram.get("id") == "Diagram_review"
    assert diagram.find("bpmndi:BPMNPlane", NS).get("bpmnElement") == "review"

    s = shapes(root)
    assert bounds(s["Check"])[2:] == TASK_SIZE
    assert bounds(s["Start"])[2:] == EVENT_SIZE
    assert bounds(s["Split"])[2:] == GATEWAY_SIZE
    assert s["Split"].get("isMarkerVisible") == "true"
    for named in ("Start", "Split", "Retry", "End"):
        assert s[named].find("bpmndi:BPMNLabel/dc:Bounds", NS) is not None, named
    assert s["Join"].find("bpmndi:BPMNLabel", NS) is None  # unnamed: no label

    x = {eid: bounds(shape)[0] for eid, shape in s.items()}
    assert x["Start"] < x["Check"] < x["Split"] < x["Accept"] < x["Join"] < x["End"]
    assert x["Split"] < x["Correct"] < x["Retry"] < x["Join"]

    # Forward flows leave the right side of their source and enter the left side of their target.
    for flow, src, tgt in (("F2", "Check", "Split"), ("F_No", "Split", "Correct"), ("F5", "Join", "End")):
        sx, sy, sw, sh = bounds(s[src])
        tx, ty, tw, th = bounds(s[tgt])
        points = waypoints(root, flow)
        assert points[0] == (sx + sw, sy + sh // 2)
        assert points[-1] == (tx, ty + th // 2)
    assert len(waypoints(root, "F_No")) == 4  # one elbow: the branch hangs below the main path

    # The loop goes back underneath everything between Check and Retry.
    loop = waypoints(root, "F_Again")
    lowest = max(bounds(s[n])[1] + bounds(s[n])[3] for n in ("Check", "Split", "Accept", "Correct", "Retry"))
    assert max(y for _, y in loop) > lowest
    assert loop[-1] == (bounds(s["Check"])[0], bounds(s["Check"])[1] + 40)

    # Flow labels sit next to the start of the flow.
    label = root.find(".//bpmndi:BPMNEdge[@bpmnElement='F_Yes']/bpmndi:BPMNLabel/dc:Bounds", NS)
    start = waypoints(root, "F_Yes")[0]
    assert abs(float(label.get("x")) - start[0]) < 120 and abs(float(label.get("y")) - start[1]) < 40


def test_lanes_without_collaboration_get_a_pool() -> None:
    out = layout_definitions(LANES)
    root = assert_sound(out)
    assert_spiff_parses(out, ["parallel"])

    children = [c for c in root if isinstance(c.tag, str)]
    collaboration = children[0]
    assert etree.QName(collaboration).localname == "collaboration"
    assert collaboration.get("id") == "Collaboration_parallel"
    participant = collaboration.find("bpmn:participant", NS)
    assert participant.attrib == {"id": "Participant_parallel", "name": "并联审批", "processRef": "parallel"}
    # The comment describing the process still sits right in front of it.
    process = root.find("bpmn:process", NS)
    assert isinstance(process.getprevious(), etree._Comment)

    plane = root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert root.find("bpmndi:BPMNDiagram", NS).get("id") == "Diagram_parallel"
    # bpmn-js only renders a plane whose element is a process or a collaboration (never a participant).
    assert plane.get("bpmnElement") == "Collaboration_parallel"

    s = shapes(root)
    pool = bounds(s["Participant_parallel"])
    assert s["Participant_parallel"].get("isHorizontal") == "true"
    lanes = [bounds(s[lane]) for lane in ("Lane_Window", "Lane_Agency", "Lane_Lead")]
    for lane_id in ("Lane_Window", "Lane_Agency", "Lane_Lead"):
        assert s[lane_id].get("isHorizontal") == "true"
    # Stacked in laneSet order, edge to edge, filling the pool right of its title strip.
    assert lanes[0][1] == pool[1]
    assert lanes[0][1] + lanes[0][3] == lanes[1][1] and lanes[1][1] + lanes[1][3] == lanes[2][1]
    assert lanes[2][1] + lanes[2][3] == pool[1] + pool[3]
    for lane in lanes:
        assert contains(pool, lane) and lane[0] > pool[0]
    # A lane is as tall as what it holds (two reviews stacked need more room than one row of nodes).
    assert lanes[1][3] > lanes[0][3]
    for lane_id in ("Lane_Window", "Lane_Agency", "Lane_Lead"):
        refs = [r.text for r in root.findall(f".//bpmn:lane[@id='{lane_id}']/bpmn:flowNodeRef", NS)]
        top = min(bounds(s[r])[1] for r in refs)
        bottom = max(bounds(s[r])[1] + bounds(s[r])[3] for r in refs)
        assert bounds(s[lane_id])[3] <= bottom - top + 150


def test_boundary_timer_and_expanded_subprocess() -> None:
    out = layout_definitions(BOUNDARY_AND_SUBPROCESS)
    root = assert_sound(out)
    assert_spiff_parses(out, ["timed"])
    s = shapes(root)

    sub = bounds(s["Sub"])
    assert s["Sub"].get("isExpanded") == "true"
    for child in ("SubStart", "SubReview", "SubEnd"):
        assert contains(sub, bounds(s[child]))
    for flow in ("S1", "S2"):
        for px, py in waypoints(root, flow):
            assert sub[0] <= px <= sub[0] + sub[2] and sub[1] <= py <= sub[1] + sub[3]

    # The timer sits on the bottom edge of its host, and its branch hangs below the main path.
    timer = bounds(s["Timer"])
    assert timer[1] + timer[3] / 2 == sub[1] + sub[3]
    assert sub[0] <= timer[0] and timer[0] + timer[2] <= sub[0] + sub[2]
    assert bounds(s["Overdue"])[1] > bounds(s["Approve"])[1] + bounds(s["Approve"])[3]
    first = waypoints(root, "F3")[0]
    assert first == (timer[0] + timer[2] / 2, timer[1] + timer[3])  # leaves from the event's bottom
    assert s["Timer"].find("bpmndi:BPMNLabel/dc:Bounds", NS) is not None


def test_existing_diagram_is_replaced_and_everything_else_kept() -> None:
    body = """
  <!-- header comment -->
  <bpmn:process id="p" isExecutable="true">
    <bpmn:extensionElements><gongai:meta xmlns:gongai="https://gongai.example/ext" owner="窗口">x</gongai:meta></bpmn:extensionElements>
    <bpmn:startEvent id="S"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="T"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>
      <bpmn:script><![CDATA[if a < b and c > d: ok = True]]></bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="E"><bpmn:incoming>F2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="T" />
    <bpmn:sequenceFlow id="F2" sourceRef="T" targetRef="E" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Old"><bpmndi:BPMNPlane id="OldPlane" bpmnElement="p">
    <bpmndi:BPMNShape id="S_old" bpmnElement="S"><dc:Bounds x="1" y="1" width="1" height="1" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"""
    xml = model(body)
    assert check_di(xml) == ["T", "E", "F1", "F2"]
    out = layout_definitions(xml)
    root = assert_sound(out)
    assert root.find("bpmndi:BPMNDiagram[@id='Old']", NS) is None
    assert len(root.findall("bpmndi:BPMNDiagram", NS)) == 1
    assert b"<!-- header comment -->" in out
    assert b"<![CDATA[if a < b and c > d: ok = True]]>" in out
    assert b'<gongai:meta xmlns:gongai="https://gongai.example/ext" owner="\xe7\xaa\x97\xe5\x8f\xa3">x</gongai:meta>' in out
    # Two-space indentation.
    assert b"\n  <bpmn:process" in out and b"\n    <bpmn:startEvent" in out
    # The semantic part is unchanged apart from whitespace.
    assert _semantics(xml) == _semantics(out)


def _semantics(xml: bytes, drop: frozenset[str] = frozenset()) -> bytes:
    """Canonical form of everything but the diagram (and the elements with ids in ``drop``)."""
    root = parse(strip_di(xml))
    for el in list(root):
        if el.get("id") in drop:
            root.remove(el)
    for el in root.iter():
        if len(el) and (el.text or "").strip() == "":
            el.text = None
        if (el.tail or "").strip() == "":
            el.tail = None
    return etree.tostring(root, method="c14n")


def test_several_processes_get_one_diagram_each() -> None:
    xml = model("""
  <bpmn:process id="main" isExecutable="true">
    <bpmn:startEvent id="S1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="Call" calledElement="sub"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>3</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>
    </bpmn:callActivity>
    <bpmn:endEvent id="E1"><bpmn:incoming>F2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="S1" targetRef="Call" />
    <bpmn:sequenceFlow id="F2" sourceRef="Call" targetRef="E1" />
  </bpmn:process>
  <bpmn:process id="sub" isExecutable="true">
    <bpmn:startEvent id="S2"><bpmn:outgoing>G1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="E2"><bpmn:incoming>G1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="G1" sourceRef="S2" targetRef="E2" />
  </bpmn:process>""")
    out = layout_definitions(xml)
    root = assert_sound(out)
    assert_spiff_parses(out, ["main", "sub"])
    diagrams = root.findall("bpmndi:BPMNDiagram", NS)
    assert [d.get("id") for d in diagrams] == ["Diagram_main", "Diagram_sub"]
    assert [d.find("bpmndi:BPMNPlane", NS).get("bpmnElement") for d in diagrams] == ["main", "sub"]
    assert set(shapes(root, diagrams[1])) == {"S2", "E2"}
    assert root.find("bpmn:collaboration", NS) is None  # no lanes, no pool


def test_not_bpmn_is_refused() -> None:
    with pytest.raises(LayoutError):
        layout_definitions(b"<html/>")
    with pytest.raises(LayoutError):
        layout_definitions(b"<bpmn:definitions")
    with pytest.raises(LayoutError):
        check_di(b"not xml")


def test_doctype_is_refused_and_entities_never_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = model('<bpmn:process id="p"><bpmn:task id="T"><bpmn:documentation>&x;</bpmn:documentation>'
                 '</bpmn:task></bpmn:process>').split(b"\n", 1)[1]
    for doctype in ('<!DOCTYPE d [<!ENTITY x "EXPANDED">]>', f'<!DOCTYPE d [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'):
        xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype.encode() + b"\n" + body
        with pytest.raises(LayoutError) as caught:
            layout_definitions(xml)
        assert "TOP-SECRET" not in str(caught.value)
        with pytest.raises(LayoutError):
            check_di(xml)


# ----------------------------------------------------------------------------------------- conformance

CONFORMANCE_MODELS = [
    "miwg/A.1.0.bpmn",         # tasks and events in a row
    "miwg/A.2.0.bpmn",         # gateways
    "miwg/A.3.0.bpmn",         # boundary events, subprocess
    "miwg/A.4.0.bpmn",         # pool with lanes and expanded subprocesses
    "miwg/A.4.1.bpmn",         # two pools, default namespace, message flows
    "miwg/C.2.0.bpmn",         # four pools, nested lanes, message flows
    "spiffworkflow/lanes.bpmn",
    "spiffworkflow/boundary.bpmn",
    "spiffworkflow/transaction.bpmn",
    "spiffworkflow/event-subprocess.bpmn",
    "spiffworkflow/collaboration.bpmn",
    "spiffworkflow/gateway_loop_input.bpmn",
    "spiffworkflow/parallel_multiinstance_cardinality.bpmn",
]


@pytest.mark.conformance
@pytest.mark.parametrize("name", CONFORMANCE_MODELS)
def test_conformance_models(name: str) -> None:
    path = CONFORMANCE / name
    assert path.exists(), (f"conformance corpus not found at {CONFORMANCE}: the tests read ../shared/conformance "
                           "next to the repository checkout (see its README)")
    original = path.read_bytes()
    xml = strip_di(original)
    assert check_di(xml), "stripping the DI should leave elements without shapes"
    out = layout_definitions(xml)
    assert_sound(out)
    assert layout_definitions(xml) == out
    assert layout_definitions(original) == out  # old DI is thrown away, not reused
    assert_spiff_parses(out)
    # Nothing semantic changes, except a collaboration added for a laned process that had no pool.
    added = frozenset(by_id(parse(out))) - frozenset(by_id(parse(xml)))
    created = frozenset(i for i in added if i.startswith("Collaboration_"))
    assert all(i.startswith(("Collaboration_", "Participant_", "Diagram_", "BPMNPlane_")) or i.endswith("_di")
               for i in added)
    assert _semantics(xml) == _semantics(out, created)


# ------------------------------------------------------------------------------------------------- CLI

def _invoke(*args: str) -> Result:
    # With a single registered command typer runs it directly; with several it is a group.
    command = typer.main.get_command(app)
    argv = ["layout", *args] if hasattr(command, "commands") else list(args)
    return CliRunner().invoke(app, argv)


def test_cli_lays_out_in_place_and_checks(tmp_path: Path) -> None:
    first, second = tmp_path / "a.bpmn", tmp_path / "b.bpmn"
    first.write_bytes(SPLIT_JOIN_LOOP)
    second.write_bytes(LANES)

    result = _invoke("--check", str(first), str(second))
    assert result.exit_code == 1
    assert "a.bpmn" in result.output and "b.bpmn" in result.output and "Start" in result.output

    result = _invoke(str(first), str(second))
    assert result.exit_code == 0, result.output
    assert first.read_bytes() == layout_definitions(SPLIT_JOIN_LOOP)
    assert second.read_bytes() == layout_definitions(LANES)

    result = _invoke("--check", str(first), str(second))
    assert result.exit_code == 0, result.output
    result = _invoke(str(first))
    assert "unchanged" in result.output


def test_cli_reports_files_that_are_not_bpmn(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes(b"<html/>")
    result = _invoke(str(bad))
    assert result.exit_code == 2
    assert bad.read_bytes() == b"<html/>"
