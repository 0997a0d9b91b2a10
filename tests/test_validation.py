"""Each check of the validator on a small inline model, and the `gongai validate` command around it."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from engine.bpmn.parsing import parse_models
from engine.bpmn.problems import BpmnLoadError, Problem
from engine.bpmn.runner import RunInputs, run_process
from engine.bpmn.validation import validate_models, validate_paths
from engine.cli import app

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
FLOW_NODE = re.compile(r"<(startEvent|endEvent|intermediate\w+Event|boundaryEvent|\w*[tT]ask|callActivity|subProcess|"
                       r"\w+Gateway)\b[^>]*\bid=\"([^\"]+)\"")


def model(body: str, *, executable: bool = True, di: bool = True, process_id: str = "Process_1",
          extra: str = "") -> bytes:
    """A one-process model; ``di`` adds a BPMNShape for every flow node so that only intended warnings appear."""
    node_ids = dict.fromkeys(node_id for _, node_id in FLOW_NODE.findall(body))
    shapes = "".join(f'<bpmndi:BPMNShape id="{node_id}_di" bpmnElement="{node_id}"><dc:Bounds x="0" y="0" '
                     f'width="10" height="10"/></bpmndi:BPMNShape>' for node_id in node_ids)
    diagram = (f'<bpmndi:BPMNDiagram id="Diagram_1"><bpmndi:BPMNPlane id="Plane_1" bpmnElement="{process_id}">'
               f'{shapes}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>') if di else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{BPMN}" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="Definitions_1" targetNamespace="http://gongai.example/t">
  <process id="{process_id}" isExecutable="{'true' if executable else 'false'}">
{body}
  </process>
{extra}
{diagram}
</definitions>
""".encode()


LINEAR = """
    <startEvent id="StartEvent_1"/>
    <sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Task_Review"/>
    <userTask id="Task_Review" name="审查"/>
    <sequenceFlow id="Flow_2" sourceRef="Task_Review" targetRef="EndEvent_1"/>
    <endEvent id="EndEvent_1"/>
"""


def check(body: str, **options) -> tuple[list[Problem], list[Problem]]:
    report = validate_models([("m.bpmn", model(body, **options))])
    return report.errors, report.warnings


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def test_a_valid_model_validates_loads_and_runs() -> None:
    errors, warnings = check(LINEAR)
    assert errors == [] and warnings == []
    models = parse_models([("m.bpmn", model(LINEAR))])
    assert models.executable == ["Process_1"] and models.entry_points == ["Process_1"]
    assert run_process(models, inputs=RunInputs(tasks={"Task_Review": {"ok": True}})).status == "completed"


def test_duplicate_ids() -> None:
    errors, _ = check(LINEAR.replace('id="EndEvent_1"', 'id="Task_Review"').replace(
        'targetRef="EndEvent_1"', 'targetRef="Task_Review"'))
    (problem,) = [p for p in errors if p.code == "duplicate-id"]
    assert "id 'Task_Review' is used by 2 elements: user task (line 8), end event (line 10)" in problem.message
    assert problem.line == 10 and problem.element_id == "Task_Review"
    assert not any(p.code == "xsd" for p in errors), "the schema's xs:ID complaint is replaced by ours"


def test_dangling_sequence_flow_names_flow_and_missing_id_with_line() -> None:
    errors, _ = check(LINEAR + '<sequenceFlow id="Flow_3" sourceRef="Task_Review" targetRef="Task_9"/>')
    (problem,) = [p for p in errors if p.code == "dangling-flow"]
    assert str(problem) == "m.bpmn:11: error [dangling-flow] sequence flow 'Flow_3' targets missing element 'Task_9'"


def test_flow_without_target_and_flow_into_another_process() -> None:
    errors, _ = check(LINEAR.replace('targetRef="EndEvent_1"', ""))
    assert "sequence flow 'Flow_2' has no targetRef" in [p.message for p in errors if p.code == "dangling-flow"]


def test_unreachable_node() -> None:
    errors, _ = check(LINEAR + '<userTask id="Task_Orphan" name="孤立"/>'
                               '<sequenceFlow id="Flow_9" sourceRef="Task_Orphan" targetRef="EndEvent_1"/>')
    (problem,) = [p for p in errors if p.code == "unreachable"]
    assert problem.element_id == "Task_Orphan"
    assert "user task 'Task_Orphan' (孤立) has no incoming sequence flow and is not a start event" in problem.message


def test_disconnected_boundary_event_is_named_as_such() -> None:
    errors, _ = check(LINEAR + '<intermediateCatchEvent id="Event_Lost"><messageEventDefinition/></intermediateCatchEvent>'
                               '<sequenceFlow id="Flow_9" sourceRef="Event_Lost" targetRef="EndEvent_1"/>')
    assert any("disconnected from its activity" in p.message for p in errors if p.code == "unreachable")


def test_node_that_cannot_reach_an_end() -> None:
    body = LINEAR.replace('targetRef="EndEvent_1"', 'targetRef="Task_Loop"') + """
    <userTask id="Task_Loop"/>
    <sequenceFlow id="Flow_3" sourceRef="Task_Loop" targetRef="Task_Again"/>
    <userTask id="Task_Again"/>
    <sequenceFlow id="Flow_4" sourceRef="Task_Again" targetRef="Task_Loop"/>
    """
    errors, _ = check(body)
    (problem,) = [p for p in errors if p.code == "dead-end"]
    assert "cannot reach an end event" in problem.message and "'Task_Loop', 'Task_Again'" in problem.message


def test_path_ending_without_end_event_is_a_warning() -> None:
    errors, warnings = check(LINEAR.replace('<sequenceFlow id="Flow_2" sourceRef="Task_Review" targetRef="EndEvent_1"/>', "")
                             .replace('<endEvent id="EndEvent_1"/>', ""))
    assert errors == [] and codes(warnings) == ["implicit-end"]


SPLIT = """
    <startEvent id="StartEvent_1"/>
    <sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Gateway_Split"/>
    <{split} id="Gateway_Split"{default}/>
    <sequenceFlow id="Flow_A" sourceRef="Gateway_Split" targetRef="Task_A">{cond_a}</sequenceFlow>
    <sequenceFlow id="Flow_B" sourceRef="Gateway_Split" targetRef="Task_B">{cond_b}</sequenceFlow>
    <userTask id="Task_A"/>
    <userTask id="Task_B"/>
    <sequenceFlow id="Flow_A2" sourceRef="Task_A" targetRef="{join_target}"/>
    <sequenceFlow id="Flow_B2" sourceRef="Task_B" targetRef="{join_target_b}"/>
    {join}
    <endEvent id="EndEvent_1"/>
    {second_end}
"""


def split(split: str = "parallelGateway", join: str | None = "parallelGateway", default: str = "",
          conditions: bool = False) -> str:
    cond = "<conditionExpression>amount &gt; 100</conditionExpression>"
    joined = join is not None
    return SPLIT.format(
        split=split, default=f' default="{default}"' if default else "",
        cond_a=cond if conditions else "", cond_b=cond if conditions and not default else "",
        join_target="Gateway_Join" if joined else "EndEvent_1", join_target_b="Gateway_Join" if joined else "EndEvent_2",
        join=(f'<{join} id="Gateway_Join"/><sequenceFlow id="Flow_J" sourceRef="Gateway_Join" targetRef="EndEvent_1"/>'
              if joined else ""),
        second_end="" if joined else '<endEvent id="EndEvent_2"/>')


def test_parallel_split_and_join_is_clean() -> None:
    assert check(split()) == ([], [])


def test_split_without_join_is_a_warning() -> None:
    errors, warnings = check(split(join=None))
    assert errors == []
    (problem,) = warnings
    assert problem.code == "split-without-join" and problem.element_id == "Gateway_Split"
    assert "splits into 2 branches that no parallel or inclusive gateway joins again" in problem.message


def test_exclusive_split_into_parallel_join_can_deadlock() -> None:
    errors, _ = check(split(split="exclusiveGateway", default="Flow_B", conditions=True))
    (problem,) = errors
    assert problem.code == "deadlock" and problem.element_id == "Gateway_Join"
    assert ("parallel gateway 'Gateway_Join' can deadlock: it waits for all of its incoming flows ('Flow_A2', "
            "'Flow_B2'), but exclusive gateway 'Gateway_Split' sends the token down only one of its branches"
            == problem.message)


def test_exclusive_split_into_exclusive_merge_does_not_deadlock() -> None:
    errors, warnings = check(split(split="exclusiveGateway", join="exclusiveGateway", default="Flow_B",
                                   conditions=True))
    assert errors == [] and warnings == []


def test_boundary_path_into_parallel_join_can_deadlock() -> None:
    body = """
    <startEvent id="StartEvent_1"/>
    <sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Task_Work"/>
    <userTask id="Task_Work"/>
    <boundaryEvent id="Timer_Slow" attachedToRef="Task_Work" cancelActivity="false">
      <timerEventDefinition><timeDuration>"P5D"</timeDuration></timerEventDefinition>
    </boundaryEvent>
    <sequenceFlow id="Flow_2" sourceRef="Task_Work" targetRef="Gateway_Join"/>
    <sequenceFlow id="Flow_3" sourceRef="Timer_Slow" targetRef="Task_Remind"/>
    <userTask id="Task_Remind"/>
    <sequenceFlow id="Flow_4" sourceRef="Task_Remind" targetRef="Gateway_Join"/>
    <parallelGateway id="Gateway_Join"/>
    <sequenceFlow id="Flow_5" sourceRef="Gateway_Join" targetRef="EndEvent_1"/>
    <endEvent id="EndEvent_1"/>
    """
    errors, _ = check(body)
    assert codes(errors) == ["deadlock"] and "boundary event of user task 'Task_Work'" in errors[0].message


def test_exclusive_gateway_without_default_is_a_warning() -> None:
    errors, warnings = check(split(split="exclusiveGateway", join="exclusiveGateway", conditions=True))
    assert errors == []
    (problem,) = warnings
    assert problem.code == "no-default-flow" and "exclusive gateway 'Gateway_Split' has no default flow" in problem.message


def test_exclusive_flow_without_condition_or_default_is_an_error() -> None:
    errors, _ = check(split(split="exclusiveGateway", join="exclusiveGateway"))
    assert codes(errors) == ["missing-condition", "missing-condition"]
    assert "sequence flow 'Flow_A' leaves exclusive gateway 'Gateway_Split' without a condition" in errors[0].message


def test_task_with_two_outgoing_flows_needs_a_gateway() -> None:
    body = LINEAR + '<sequenceFlow id="Flow_3" sourceRef="Task_Review" targetRef="EndEvent_2"/><endEvent id="EndEvent_2"/>'
    errors, _ = check(body)
    assert codes(errors) == ["multiple-outgoing"]
    assert "user task 'Task_Review' (审查) has 2 outgoing sequence flows ('Flow_2', 'Flow_3')" in errors[0].message


@pytest.mark.parametrize("reserved", ["Start", "End", "Root", "StartEventSplit", "Task_1.BoundaryEventSplit"])
def test_ids_that_collide_with_engine_internals(reserved: str) -> None:
    errors, _ = check(LINEAR.replace("StartEvent_1", reserved))
    (problem,) = errors
    assert problem.code == "reserved-id" and problem.element_id == reserved
    assert f"the id '{reserved}' collides with the engine's internal task" in problem.message


def test_call_activity_whose_process_is_missing() -> None:
    body = LINEAR.replace('<userTask id="Task_Review" name="审查"/>',
                          '<callActivity id="Call_Matter" calledElement="matter_approval"/>').replace("Task_Review",
                                                                                                   "Call_Matter")
    errors, _ = check(body)
    (problem,) = errors
    assert problem.code == "missing-called-process"
    assert "call activity 'Call_Matter' calls process 'matter_approval', which is not in the deployed files" in \
        problem.message
    called = model(LINEAR, process_id="matter_approval").replace(b'id="Definitions_1"', b'id="Definitions_2"')
    report = validate_models([("main.bpmn", model(body)), ("matter.bpmn", called)])
    assert report.ok, [str(p) for p in report.problems]


def test_recursive_call_activity() -> None:
    body = LINEAR.replace('<userTask id="Task_Review" name="审查"/>',
                          '<callActivity id="Call_Self" calledElement="Process_1"/>').replace("Task_Review", "Call_Self")
    errors, _ = check(body)
    assert codes(errors) == ["recursive-call"] and "(Process_1 -> Process_1)" in errors[0].message


@pytest.mark.parametrize(("element", "what"), [
    ('<complexGateway id="Gateway_Complex"/>', "complex gateways are not executed by the engine"),
    ('<businessRuleTask id="Task_Rules"/>', "business rule tasks (DMN decisions) are not executed"),
    ('<serviceTask id="Task_Call"/>', "service tasks are not executed by the engine"),
    ('<adHocSubProcess id="Sub_AdHoc"><task id="Task_X"/></adHocSubProcess>', "ad-hoc sub-processes are not executed"),
    ('<intermediateThrowEvent id="Event_Comp"><compensateEventDefinition/></intermediateThrowEvent>',
     "compensation events are not executed"),
    ('<intermediateThrowEvent id="Event_Link"><linkEventDefinition name="L"/></intermediateThrowEvent>',
     "link events are not executed"),
])
def test_unsupported_elements_are_named_with_their_id(element: str, what: str) -> None:
    element_id = re.search(r'id="([^"]+)"', element).group(1)  # type: ignore[union-attr]
    body = LINEAR.replace('<userTask id="Task_Review" name="审查"/>', element).replace("Task_Review", element_id)
    errors, _ = check(body)
    problems = [p for p in errors if p.code == "unsupported-element"]
    assert problems and problems[0].element_id == element_id and what in problems[0].message
    assert f"'{element_id}'" in problems[0].message


def test_unsupported_elements_in_a_descriptive_process_are_not_errors() -> None:
    body = LINEAR.replace('<userTask id="Task_Review" name="审查"/>', '<complexGateway id="Gateway_C"/>').replace(
        "Task_Review", "Gateway_C")
    errors, warnings = check(body, executable=False)
    assert errors == [] and codes(warnings) == ["not-executable"]


def test_missing_diagram_interchange_is_a_warning() -> None:
    errors, warnings = check(LINEAR, di=False)
    assert errors == [] and codes(warnings) == ["missing-di"]
    assert "no diagram interchange" in warnings[0].message
    report = validate_models([("m.bpmn", model(LINEAR).replace(b'bpmnElement="Task_Review"', b'bpmnElement="Gone"'))])
    assert sorted(codes(report.warnings)) == ["di-dangling", "missing-di"]
    assert any("user task 'Task_Review' (审查) has no diagram shape" in p.message for p in report.warnings)
    assert any("BPMNShape 'Task_Review_di' draws 'Gone', which is not an element" in p.message
               for p in report.warnings)


def test_schema_errors_carry_line_numbers() -> None:
    errors, _ = check(LINEAR.replace('<userTask id="Task_Review" name="审查"/>',
                                     '<userTask id="Task_Review" name="审查"><bogus/></userTask>'))
    (problem,) = [p for p in errors if p.code == "xsd"]
    assert problem.line == 8 and "bpmn:bogus" in problem.message and "inside bpmn:userTask" in problem.message


def test_not_bpmn_and_fragments_are_refused() -> None:
    report = validate_models([("a.xml", b'<definitions xmlns="urn:x"/>'),
                              ("b.bpmn", f'<process xmlns="{BPMN}" id="P"/>'.encode())])
    assert codes(report.errors) == ["not-bpmn", "not-bpmn"]
    assert "fragment whose root element is <bpmn:process>" in report.errors[1].message


@pytest.mark.parametrize(("holder", "code", "text"), [
    ('<sequenceFlow id="Flow_2" sourceRef="Task_Review" targetRef="EndEvent_1"><conditionExpression>amount ='
     ' 1</conditionExpression></sequenceFlow>', "ignored-condition", None),
    ('<scriptTask id="Script_1"><script>import os</script></scriptTask>', "bad-script", "import of os is not allowed"),
    ('<scriptTask id="Script_1" scriptFormat="javascript"><script>x = 1;</script></scriptTask>', "script-language",
     "written in 'javascript'"),
])
def test_expressions_are_checked_where_they_are(holder: str, code: str, text: str | None) -> None:
    if holder.startswith("<sequenceFlow"):
        body = LINEAR.replace('<sequenceFlow id="Flow_2" sourceRef="Task_Review" targetRef="EndEvent_1"/>', holder)
        errors, warnings = check(body)
        assert code in codes(warnings) and any(p.code == "bad-condition" for p in errors)
        assert "(use '==' to compare; '=' assigns)" in [p for p in errors if p.code == "bad-condition"][0].message
        return
    body = LINEAR.replace('<userTask id="Task_Review" name="审查"/>', holder).replace("Task_Review", "Script_1")
    errors, _ = check(body)
    assert [p.code for p in errors] == [code] and text in errors[0].message


@pytest.mark.parametrize(("timer", "text"), [
    ("<timeDuration>PT5M</timeDuration>", "'PT5M' must be a quoted Python string, e.g. \"PT5M\""),
    ("<timeDuration>\"P5X\"</timeDuration>", "'P5X' is not a valid ISO 8601 duration"),
    ("<timeDate>2026-10-01</timeDate>", "'2026-10-01' must be a quoted Python string"),
    ("<timeDate>\"soon\"</timeDate>", "'soon' is not a valid ISO 8601 date-time"),
    ("<timeCycle>\"R3/PT1H\"</timeCycle>", None),
    ("<timeDate>working_days_after(accepted_at, 5)</timeDate>", None),
    ("<timeDate>deadline(accepted_at)</timeDate>", "calls 'deadline', which is neither a safe builtin"),
    ("", "has a timer without timeDate, timeDuration or timeCycle"),
])
def test_timer_expressions_are_checked(timer: str, text: str | None) -> None:
    body = LINEAR.replace('<userTask id="Task_Review" name="审查"/>',
                          f'<intermediateCatchEvent id="Timer_1"><timerEventDefinition>{timer}</timerEventDefinition>'
                          f'</intermediateCatchEvent>').replace("Task_Review", "Timer_1")
    errors, _ = check(body)
    if text is None:
        assert errors == []
    else:
        assert codes(errors) == ["bad-timer"] and text in errors[0].message


def test_descriptive_model_loads_with_a_reason() -> None:
    errors, warnings = check(LINEAR, executable=False)
    assert errors == [] and codes(warnings) == ["not-executable"]
    assert parse_models([("m.bpmn", model(LINEAR, executable=False))]).entry_points == []


def test_parse_models_raises_with_problems_not_tracebacks() -> None:
    with pytest.raises(BpmnLoadError) as caught:
        parse_models([("m.bpmn", model(LINEAR.replace("<startEvent id=\"StartEvent_1\"/>", "")))])
    assert caught.value.problem.code == "no-start-event" and caught.value.problem.line == 4


def test_validate_never_raises_on_garbage() -> None:
    report = validate_models([("a.bpmn", b"\x00\x01\x02"), ("b.bpmn", b"<definitions"), ("c.bpmn", b"")])
    assert codes(report.errors) == ["xml-binary", "xml-malformed", "xml-empty"]


def test_validate_paths_reports_unreadable_files(tmp_path) -> None:
    good = tmp_path / "ok.bpmn"
    good.write_bytes(model(LINEAR))
    report = validate_paths([good, tmp_path / "missing.bpmn", tmp_path])
    assert codes(report.errors) == ["unreadable", "unreadable"]


# -- gongai validate ------------------------------------------------------------------------------------------

def test_cli_prints_problems_and_a_summary_and_exits_1_on_errors(tmp_path) -> None:
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes(model(LINEAR + '<sequenceFlow id="Flow_3" sourceRef="Task_Review" targetRef="Task_9"/>'))
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"{bad}:11: error [dangling-flow] sequence flow 'Flow_3' targets missing element 'Task_9'"
    assert lines[-1] == "1 file: 1 error, 0 warnings; refused"


def test_cli_strict_makes_warnings_fail_and_json_is_parseable(tmp_path) -> None:
    plain = tmp_path / "plain.bpmn"
    plain.write_bytes(model(LINEAR, di=False))
    assert CliRunner().invoke(app, ["validate", str(plain)]).exit_code == 0
    strict = CliRunner().invoke(app, ["validate", "--strict", str(plain)])
    assert strict.exit_code == 1 and ": error [missing-di]" in strict.output
    as_json = CliRunner().invoke(app, ["validate", "--format", "json", str(plain)])
    document = json.loads(as_json.output)
    assert as_json.exit_code == 0 and document["ok"] is True and document["problems"][0]["code"] == "missing-di"


def test_cli_never_shows_a_traceback_for_hostile_input(tmp_path) -> None:
    evil = tmp_path / "evil.bpmn"
    evil.write_bytes(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    result = CliRunner().invoke(app, ["validate", str(evil), str(tmp_path / "nope.bpmn")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "[xml-doctype]" in result.output and "[unreadable]" in result.output


def test_undeclared_data_object_in_a_subprocess_is_refused_before_spiffworkflow_loops_on_it() -> None:
    """SpiffWorkflow 3.2 never returns from resolving this reference; parse_models checks it first."""
    body = """
    <startEvent id="StartEvent_1"/>
    <sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Sub_1"/>
    <subProcess id="Sub_1">
      <startEvent id="StartEvent_2"/>
      <sequenceFlow id="Flow_2" sourceRef="StartEvent_2" targetRef="Task_Write"/>
      <task id="Task_Write"><dataOutputAssociation id="Assoc_1"><targetRef>Ref_1</targetRef></dataOutputAssociation></task>
      <sequenceFlow id="Flow_3" sourceRef="Task_Write" targetRef="EndEvent_2"/>
      <endEvent id="EndEvent_2"/>
      <dataObjectReference id="Ref_1" dataObjectRef="Nowhere"/>
    </subProcess>
    <sequenceFlow id="Flow_4" sourceRef="Sub_1" targetRef="EndEvent_1"/>
    <endEvent id="EndEvent_1"/>
    """
    errors, _ = check(body)
    assert codes(errors) == ["unresolved-data-reference"] and "'Nowhere' is not declared" in errors[0].message
    with pytest.raises(BpmnLoadError) as caught:
        parse_models([("m.bpmn", model(body))])
    assert caught.value.problem.code == "unresolved-data-reference" and caught.value.problem.element_id == "Ref_1"
