"""The runtime's shortcuts (issue 14) do what SpiffWorkflow does, only cheaper.

- ``do_engine_steps`` skips the tree walks that cannot run anything: it must run the same tasks in the same
  order as SpiffWorkflow's own ``BpmnWorkflow.do_engine_steps``, and ``ready_tasks`` must find the same ready
  user tasks as ``get_tasks``, on a model with parallel branches and a call activity;
- a step's dump reuses finished tasks' serialised form: every dump of a whole project must equal SpiffWorkflow's
  own conversion;
- ``PackedJSON`` stores workflow parts compressed and still reads the rows written before migration 0050.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import runtime as rt
from engine.persistence.tables import PackedJSON

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs_speed" targetNamespace="speed">
  <bpmn:process id="outer" isExecutable="true">
    <bpmn:startEvent id="Begin"><bpmn:outgoing>o1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="o1" sourceRef="Begin" targetRef="Split"/>
    <bpmn:parallelGateway id="Split"><bpmn:incoming>o1</bpmn:incoming>
      <bpmn:outgoing>o2</bpmn:outgoing><bpmn:outgoing>o3</bpmn:outgoing><bpmn:outgoing>o4</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:sequenceFlow id="o2" sourceRef="Split" targetRef="ScriptA"/>
    <bpmn:sequenceFlow id="o3" sourceRef="Split" targetRef="CallInner"/>
    <bpmn:sequenceFlow id="o4" sourceRef="Split" targetRef="UserOuter"/>
    <bpmn:scriptTask id="ScriptA"><bpmn:incoming>o2</bpmn:incoming><bpmn:outgoing>o5</bpmn:outgoing>
      <bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:callActivity id="CallInner" calledElement="inner"><bpmn:incoming>o3</bpmn:incoming><bpmn:outgoing>o6</bpmn:outgoing></bpmn:callActivity>
    <bpmn:userTask id="UserOuter"><bpmn:incoming>o4</bpmn:incoming><bpmn:outgoing>o7</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="o5" sourceRef="ScriptA" targetRef="Join"/>
    <bpmn:sequenceFlow id="o6" sourceRef="CallInner" targetRef="Join"/>
    <bpmn:sequenceFlow id="o7" sourceRef="UserOuter" targetRef="Join"/>
    <bpmn:parallelGateway id="Join"><bpmn:incoming>o5</bpmn:incoming><bpmn:incoming>o6</bpmn:incoming>
      <bpmn:incoming>o7</bpmn:incoming><bpmn:outgoing>o8</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:sequenceFlow id="o8" sourceRef="Join" targetRef="ScriptB"/>
    <bpmn:scriptTask id="ScriptB"><bpmn:incoming>o8</bpmn:incoming><bpmn:outgoing>o9</bpmn:outgoing>
      <bpmn:script>b = 2</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="o9" sourceRef="ScriptB" targetRef="UserFinal"/>
    <bpmn:userTask id="UserFinal"><bpmn:incoming>o9</bpmn:incoming><bpmn:outgoing>o10</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="o10" sourceRef="UserFinal" targetRef="Finish"/>
    <bpmn:endEvent id="Finish"><bpmn:incoming>o10</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
  <bpmn:process id="inner" isExecutable="true">
    <bpmn:startEvent id="InnerStart"><bpmn:outgoing>i1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="i1" sourceRef="InnerStart" targetRef="ScriptX"/>
    <bpmn:scriptTask id="ScriptX"><bpmn:incoming>i1</bpmn:incoming><bpmn:outgoing>i2</bpmn:outgoing>
      <bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="i2" sourceRef="ScriptX" targetRef="InnerSplit"/>
    <bpmn:parallelGateway id="InnerSplit"><bpmn:incoming>i2</bpmn:incoming>
      <bpmn:outgoing>i3</bpmn:outgoing><bpmn:outgoing>i4</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:sequenceFlow id="i3" sourceRef="InnerSplit" targetRef="ScriptY"/>
    <bpmn:sequenceFlow id="i4" sourceRef="InnerSplit" targetRef="UserInner"/>
    <bpmn:scriptTask id="ScriptY"><bpmn:incoming>i3</bpmn:incoming><bpmn:outgoing>i5</bpmn:outgoing>
      <bpmn:script>y = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="UserInner"><bpmn:incoming>i4</bpmn:incoming><bpmn:outgoing>i6</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="i5" sourceRef="ScriptY" targetRef="InnerJoin"/>
    <bpmn:sequenceFlow id="i6" sourceRef="UserInner" targetRef="InnerJoin"/>
    <bpmn:parallelGateway id="InnerJoin"><bpmn:incoming>i5</bpmn:incoming><bpmn:incoming>i6</bpmn:incoming>
      <bpmn:outgoing>i7</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:sequenceFlow id="i7" sourceRef="InnerJoin" targetRef="InnerEnd"/>
    <bpmn:endEvent id="InnerEnd"><bpmn:incoming>i7</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow() -> BpmnWorkflow:
    parser = BpmnParser()
    parser.add_bpmn_str(MODEL.encode("utf-8"))
    return BpmnWorkflow(parser.get_spec("outer"), parser.get_subprocess_specs("outer"))


def _drive(engine_steps) -> tuple[list[str], list[list[str]]]:
    """Run the model to its end with ``engine_steps``; returns the engine tasks run, in order, and the ready
    user tasks seen before each completion (completed in name order, so both drivers take the same path)."""
    workflow = _workflow()
    ran: list[str] = []
    seen: list[list[str]] = []

    def note(task) -> None:
        ran.append(task.task_spec.name)

    engine_steps(workflow, note)
    while not workflow.is_completed():
        walked = sorted(t.task_spec.name for t in workflow.get_tasks(state=TaskState.READY, manual=True))
        flat = sorted(t.task_spec.name for t in rt.ready_tasks(workflow, manual=True))
        assert flat == walked
        seen.append(walked)
        task = min(workflow.get_tasks(state=TaskState.READY, manual=True), key=lambda t: t.task_spec.name)
        task.run()
        engine_steps(workflow, note)
    return ran, seen


def test_engine_steps_run_what_spiffworkflow_runs_in_the_same_order() -> None:
    ours = _drive(lambda wf, note: rt.do_engine_steps(wf, did_complete_task=note))
    theirs = _drive(lambda wf, note: wf.do_engine_steps(did_complete_task=note))
    assert ours == theirs
    ran, seen = ours
    assert {"ScriptA", "ScriptB", "ScriptX", "ScriptY"} <= set(ran)  # the call activity's scripts ran too
    assert seen[0] == ["UserInner", "UserOuter"]


def test_every_dump_of_a_whole_project_equals_spiffworkflows_conversion(monkeypatch) -> None:
    from bench import engine_bench as eb
    from engine.domain.catalogue import load_catalogue

    registry = rt._registry()
    original = rt.ProcessRuntime.dump
    dumps = {"count": 0, "reused": 0}

    def checked(self, workflow):
        top, parts = original(self, workflow)
        assert top["tasks"] == {str(k): registry.convert(v) for k, v in workflow.tasks.items()}
        for key, part in parts.items():
            sub = next(s for i, s in workflow.subprocesses.items() if str(i) == key)
            assert part == registry.convert(sub)
        dumps["count"] += 1
        dumps["reused"] += len(workflow.__dict__.get("_gongai_task_dicts", {}))
        return top, parts

    monkeypatch.setattr(rt.ProcessRuntime, "dump", checked)
    catalogue = load_catalogue()
    with tempfile.TemporaryDirectory() as tmp:
        engine = eb.Engine(catalogue, Path(tmp))
        filing = eb.filing_for(2)  # social_small, with a 补正 and a 容缺受理
        engine.run_project(filing, eb.Plan(catalogue, filing["project_type"]))
        engine.db.dispose()
    assert dumps["count"] > 10 and dumps["reused"] > 0


def test_packed_json_is_compressed_and_reads_rows_from_before_migration_0050() -> None:
    packed = PackedJSON()
    value = {"tasks": {f"task-{i}": {"state": 64, "children": [], "data": {"名称": "审查"}} for i in range(50)}}
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        stored = packed.process_bind_param(value, dialect)
        assert isinstance(stored, bytes) and len(stored) * 4 < len(json.dumps(value))
        assert packed.process_result_value(stored, dialect) == value
    # SQLite kept the JSON text of parts written before 0050; PostgreSQL turned it into its bytes
    assert packed.process_result_value(json.dumps(value), sqlite.dialect()) == value
    assert packed.process_result_value(json.dumps(value).encode(), postgresql.dialect()) == value
    assert packed.process_result_value(memoryview(json.dumps(value).encode()), postgresql.dialect()) == value
    assert packed.process_bind_param(None, sqlite.dialect()) is None


def test_engine_steps_run_what_spiffworkflow_runs_on_the_bundled_project_models() -> None:
    """The shortcut that runs a lone ready engine task without walking the tree must not change which tasks run
    or their order on the real models (parallel matters, multi-instance call activities, boundary timers)."""
    from bench import engine_bench as eb
    from engine.domain.catalogue import load_catalogue

    catalogue = load_catalogue()
    raw = eb.RawSpiff(catalogue)

    def drive(index: int, engine_steps) -> list[str]:
        ran: list[str] = []
        original = BpmnWorkflow.do_engine_steps

        def steps(self, *args, **kwargs):  # the raw driver calls workflow.do_engine_steps(): route it
            engine_steps(self, lambda task: ran.append(f"{task.workflow.spec.name}:{task.task_spec.name}"))

        BpmnWorkflow.do_engine_steps = steps
        try:
            raw.run_project(eb.filing_for(index), eb.Plan(catalogue, eb.filing_for(index)["project_type"], intake_rounds=1))
        finally:
            BpmnWorkflow.do_engine_steps = original
        return ran

    for index in range(len(eb.MIX)):
        ours = drive(index, lambda wf, note: rt.do_engine_steps(wf, did_complete_task=note))
        theirs = drive(index, lambda wf, note: original_steps(wf, did_complete_task=note))
        assert ours == theirs, eb.MIX[index]
        assert len(ours) > 100  # a whole project ran


original_steps = BpmnWorkflow.do_engine_steps
