"""Model expressions and scripts run in the sandbox: what they may do, what they may not, and how they fail."""

from __future__ import annotations

from typing import Any

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import sandbox
from engine.bpmn.parsing import parse_models
from engine.bpmn.sandbox import (
    SAFE_BUILTINS,
    BudgetExceeded,
    ExpressionRejected,
    SandboxEnvironment,
    check_expression,
    compile_expression,
    make_script_engine,
)


@pytest.fixture
def env() -> SandboxEnvironment:
    return SandboxEnvironment({"working_days_after": lambda instant, days: f"{instant}+{days}wd"},
                              max_operations=20_000)


# -- refused by the static check ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "mode", "reason"), [
    ("import os", "exec", "import of os is not allowed"),
    ("from os import path", "exec", "import from os is not allowed"),
    ("__import__('os').system('true')", "eval", "name '__import__' is not allowed"),
    ("().__class__.__bases__[0].__subclasses__()", "eval", "attribute '__subclasses__' is not allowed"),
    ("x.__dict__", "eval", "attribute '__dict__' is not allowed"),
    ("open('/etc/passwd').read()", "eval", "'open' is not allowed"),
    ("eval('1')", "eval", "'eval' is not allowed"),
    ("exec('x = 1')", "exec", "'exec' is not allowed"),
    ("getattr(x, 'y')", "eval", "'getattr' is not allowed"),
    ("globals()", "eval", "'globals' is not allowed"),
    ("vars()", "eval", "'vars' is not allowed"),
    ("compile('1', 'f', 'eval')", "eval", "'compile' is not allowed"),
    ("breakpoint()", "eval", "'breakpoint' is not allowed"),
    ("'{0.__class__}'.format(1)", "eval", "attribute 'format' is not allowed (use an f-string)"),
    ("(y for y in []).gi_frame.f_back.f_globals", "eval", "attribute 'f_globals' is not allowed"),
    ("class A:\n    pass", "exec", "class definition 'A' is not allowed"),
    ("try:\n    x = 1\nfinally:\n    x = 2", "exec", "'try ... finally' is not allowed"),
    ("try:\n    x = 1\nexcept:\n    x = 2", "exec", "bare 'except:' is not allowed"),
    ("with x:\n    pass", "exec", "'with' statements are not allowed"),
    ("f'{x:>{width}}'", "eval", "computed f-string format specifications are not allowed"),
    ("priority = 'urgent'", "eval", "not a valid Python expression"),
    ("x = (1,", "exec", "not a valid Python script"),
    ("", "eval", "expression is empty"),
])
def test_static_check_refuses(text: str, mode: str, reason: str) -> None:
    message = check_expression(text, mode)  # type: ignore[arg-type]
    assert message is not None and reason in message


def test_static_check_gives_the_line_of_a_script() -> None:
    assert check_expression("x = 1\ny = 2\nimport os", "exec") == \
        "line 3: import of os is not allowed: models cannot import modules"


def test_calls_to_unknown_functions_are_refused_but_own_and_engine_functions_are_not() -> None:
    assert "calls 'custom_function'" in (check_expression("custom_function(1)", functions=()) or "")
    assert check_expression("working_days_after(start, 5)", functions={"working_days_after"}) is None
    assert check_expression("def double(v):\n    return 2 * v\ny = double(3)", "exec", functions=()) is None
    assert check_expression("(lambda f: f(1))(abs)", functions=()) is None
    assert check_expression("sorted(items, key=len)[0]", functions=()) is None


@pytest.mark.parametrize("text", [
    "amount > 100 and approved",
    "len([m for m in matters if m['status'] == 'done']) == len(matters)",
    "f'{name:>10}'",
    "datetime(2026, 10, 1) + timedelta(days=3)",
    "[_ for _ in range(3)]",
    '"P5D"',
])
def test_ordinary_expressions_pass(text: str) -> None:
    assert check_expression(text, functions=()) is None


# -- run time ---------------------------------------------------------------------------------------------------

def test_evaluate_reads_task_data_and_safe_builtins(env: SandboxEnvironment) -> None:
    data = {"scores": [3, 9, 4], "name": "立项"}
    assert env.evaluate("max(scores) - min(scores) + len(name)", data) == 8
    assert env.evaluate("sorted(scores, reverse=True)[0]", data) == 9
    assert env.evaluate("(datetime(2026, 9, 30) + timedelta(days=1)).month", {}) == 10


def test_injected_engine_functions_can_be_called(env: SandboxEnvironment) -> None:
    assert env.evaluate("working_days_after(accepted, 5)", {"accepted": "2026-10-09"}) == "2026-10-09+5wd"


def test_execute_updates_task_data_and_removes_functions_and_builtins(env: SandboxEnvironment) -> None:
    data: dict[str, Any] = {"a": 2}
    env.execute("def triple(v):\n    return 3 * v\nb = triple(a)\ndue = working_days_after('d', a)\nf = lambda v: v",
                data)
    assert data == {"a": 2, "b": 6, "due": "d+2wd"}


def test_task_data_may_not_hide_an_engine_function(env: SandboxEnvironment) -> None:
    with pytest.raises(ValueError, match="working_days_after"):
        env.execute("x = 1", {"working_days_after": "oops"})


@pytest.mark.parametrize("text", ["__import__('os')", "().__class__", "open('/etc/passwd')"])
def test_refused_code_never_runs(env: SandboxEnvironment, text: str) -> None:
    with pytest.raises(ExpressionRejected):
        env.evaluate(text, {})


def test_builtins_outside_the_safe_set_do_not_exist(env: SandboxEnvironment) -> None:
    with pytest.raises(NameError, match="'type'|'hasattr'"):
        env.evaluate("hasattr(1, 'real')", {})
    assert "__import__" not in SAFE_BUILTINS and "open" not in SAFE_BUILTINS


def test_task_data_cannot_smuggle_in_builtins(env: SandboxEnvironment) -> None:
    import builtins

    with pytest.raises(NameError, match="hasattr"):
        env.evaluate("hasattr(1, 'real')", {"__builtins__": builtins})


def test_an_endless_loop_is_stopped(env: SandboxEnvironment) -> None:
    with pytest.raises(BudgetExceeded, match="budget of 20,000 operations"):
        env.execute("while True:\n    pass", {})


def test_a_script_cannot_catch_the_stop(env: SandboxEnvironment) -> None:
    script = "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass"
    with pytest.raises(BudgetExceeded):
        env.execute(script, {})


def test_the_default_budget_stops_an_endless_loop_too() -> None:
    with pytest.raises(BudgetExceeded):
        SandboxEnvironment().execute("n = 0\nwhile True:\n    n += 1", {})


def test_time_inside_engine_functions_has_its_own_budget_and_the_models_own_time_is_counted(monkeypatch) -> None:
    """A fake clock that moves one second each time it is read, and an engine function that takes an hour."""
    now = [0.0]

    def monotonic() -> float:
        now[0] += 1.0
        return now[0]

    def slow_engine_function() -> str:
        now[0] += 3600.0
        return "written"

    monkeypatch.setattr(sandbox.time, "monotonic", monotonic)
    env = SandboxEnvironment({"slow_engine_function": slow_engine_function}, time_limit=2.0,
                             engine_time_limit=7200.0)
    assert env.evaluate("slow_engine_function()", {}) == "written"
    strict = SandboxEnvironment({"slow_engine_function": slow_engine_function}, time_limit=2.0)
    with pytest.raises(BudgetExceeded, match="inside engine functions"):
        strict.evaluate("slow_engine_function()", {})
    with pytest.raises(BudgetExceeded, match="longer than its limit of 2 s"):
        env.execute("n = 0\nwhile True:\n    n += 1", {})


def test_recursion_is_bounded(env: SandboxEnvironment) -> None:
    with pytest.raises((RecursionError, BudgetExceeded)):
        env.execute("def f(n):\n    return f(n + 1)\nf(0)", {})


@pytest.mark.parametrize("text", ["'x' * 10 ** 9", "[0] * 10 ** 8", "2 ** 10 ** 8", "1 << 10 ** 9",
                                  "list(range(10 ** 9))"])
def test_values_too_large_to_build_are_refused(env: SandboxEnvironment, text: str) -> None:
    with pytest.raises(BudgetExceeded):
        env.evaluate(text, {})


def test_augmented_assignments_are_guarded_too(env: SandboxEnvironment) -> None:
    with pytest.raises(BudgetExceeded):
        env.execute("s = 'x'\nfor _ in range(40):\n    s *= 2", {})


def test_sizes_that_are_reasonable_still_work(env: SandboxEnvironment) -> None:
    assert env.evaluate("len('ab' * 1000) + 2 ** 10 + (1 << 4)", {}) == 2000 + 1024 + 16


def test_compiled_code_is_cached_per_text() -> None:
    assert compile_expression("a + 1") is compile_expression("a + 1")
    assert compile_expression("  a + 1\n") is compile_expression("a + 1")


def test_registered_functions_are_offered_to_models(monkeypatch) -> None:
    monkeypatch.setattr(sandbox, "_registered", {})
    sandbox.register_function("double_it", lambda v: 2 * v)
    assert check_expression("double_it(2)") is None
    assert make_script_engine().environment.evaluate("double_it(21)", {}) == 42
    with pytest.raises(ValueError):
        sandbox.register_function("len", len)


def test_the_engine_function_table_is_known_to_the_validator() -> None:
    names = set(sandbox.registered_functions())
    assert {"working_days_after", "matter_due_at", "stage_matters"} <= names


# -- through SpiffWorkflow -------------------------------------------------------------------------------------

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def workflow(script: str, condition: str = "total > 10") -> BpmnWorkflow:
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{BPMN}" id="d" targetNamespace="t">
  <process id="P" isExecutable="true">
    <startEvent id="StartEvent_1"/>
    <sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Script_Sum"/>
    <scriptTask id="Script_Sum" name="合计"><script>{script}</script></scriptTask>
    <sequenceFlow id="F2" sourceRef="Script_Sum" targetRef="Gateway_Big"/>
    <exclusiveGateway id="Gateway_Big" default="F4"/>
    <sequenceFlow id="F3" sourceRef="Gateway_Big" targetRef="End_Big"><conditionExpression>{condition}</conditionExpression></sequenceFlow>
    <sequenceFlow id="F4" sourceRef="Gateway_Big" targetRef="End_Small"/>
    <endEvent id="End_Big"/>
    <endEvent id="End_Small"/>
  </process>
</definitions>"""
    models = parse_models([("sum.bpmn", xml.encode())])
    wf = BpmnWorkflow(models.specs["P"], models.subprocess_specs("P"),
                      script_engine=make_script_engine({"bonus": lambda: 5}))
    return wf


def ended_at(wf: BpmnWorkflow) -> list[str]:
    return [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id in
            ("End_Big", "End_Small")]


def test_a_script_task_and_a_condition_run_through_the_sandbox() -> None:
    wf = workflow("amounts = [3, 4]\ntotal = sum(amounts) + bonus()")
    wf.do_engine_steps()
    assert wf.is_completed() and ended_at(wf) == ["End_Big"]
    assert wf.get_tasks(spec_name="End")[0].data["total"] == 12


def test_a_forbidden_script_fails_as_a_workflow_task_exception_naming_task_and_line() -> None:
    wf = workflow("total = 1\nimport os")
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    text = str(caught.value)
    assert "Script_Sum" in text and "import of os is not allowed" in text
    assert "line 2: 'import os'" in text and "restricted environment" in text
    assert caught.value.task.task_spec.bpmn_id == "Script_Sum"


def test_a_failing_script_names_the_exception_and_line() -> None:
    wf = workflow("total = 1\ntotal = total / 0")
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    assert "ZeroDivisionError: division by zero" in str(caught.value)
    assert caught.value.line_number == 2 and "line 2: 'total = total / 0'" in str(caught.value)


def test_an_endless_script_fails_instead_of_hanging() -> None:
    wf = workflow("total = 0\nwhile True:\n    total += 1")
    with pytest.raises(WorkflowTaskException, match="budget of 1,000,000 operations"):
        wf.do_engine_steps()


def test_a_failing_condition_says_which_expression_and_why() -> None:
    wf = workflow("total = 12", condition="totl > 10")
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    text = str(caught.value)
    assert "'totl > 10'" in text and "NameError" in text and "Gateway_Big" in text
    assert "Did you mean" in text
