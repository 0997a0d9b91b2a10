"""Timer expressions are bounded: refused at validation / deploy when constant, and named when they fail at
run time (no hang in SpiffWorkflow's month-by-month walk, no OverflowError 500)."""

from __future__ import annotations

import pytest

from engine.bpmn.parsing import parse_models
from engine.bpmn.runner import RunInputs, run_process
from engine.bpmn.timers import MAX_TIMER_DURATION, TimerOutOfRange, check_timer_value, parse_duration
from tests.test_api_support import make_harness
from tests.test_validation import LINEAR, check, codes, model


def _timer_body(timer: str) -> str:
    return LINEAR.replace('<userTask id="Task_Review" name="审查"/>',
                          f'<intermediateCatchEvent id="Timer_Wait" name="等待"><timerEventDefinition>{timer}'
                          f'</timerEventDefinition></intermediateCatchEvent>').replace("Task_Review", "Timer_Wait")


@pytest.mark.parametrize(("timer", "text"), [
    ('<timeDuration>"P99999999999Y"</timeDuration>', "'P99999999999Y' is longer than the maximum of 10 years"),
    ('<timeDuration>"P100000Y"</timeDuration>', "'P100000Y' is longer than the maximum"),
    ('<timeDuration>"PT99999999999H"</timeDuration>', "is longer than the maximum"),
    ('<timeCycle>"R1/P99999999999M"</timeCycle>', "is longer than the maximum"),
    ('<timeCycle>"R5000/PT1H"</timeCycle>', "repeats 5,000 times"),
    ('<timeCycle>"R/PT0S"</timeCycle>', "the shortest interval is"),
    (f'<timeDuration>"P{"1" * 200}D"</timeDuration>', "over the limit of 100"),
])
def test_constant_timers_out_of_range_are_refused_naming_the_element(timer: str, text: str) -> None:
    errors, _ = check(_timer_body(timer))
    assert codes(errors) == ["bad-timer"], errors
    assert text in errors[0].message and "Timer_Wait" in errors[0].message


@pytest.mark.parametrize("value", ["P10Y", "P120M", "P3650D", "PT87600H", "P1Y6M"])
def test_durations_up_to_the_maximum_are_accepted(value: str) -> None:
    check_timer_value("timeDuration", value)
    assert not check(_timer_body(f'<timeDuration>"{value}"</timeDuration>'))[0]


def test_the_bound_is_checked_before_any_calendar_walk() -> None:
    with pytest.raises(TimerOutOfRange, match="longer than the maximum"):
        parse_duration("P99999999999Y")
    assert MAX_TIMER_DURATION.days >= 3650


def test_a_computed_timer_out_of_range_fails_at_run_time_naming_the_timer() -> None:
    body = _timer_body('<timeDuration>"P" + span + "Y"</timeDuration>')
    assert check(body)[0] == []  # not a constant: the validator cannot know its value
    models = parse_models([("m.bpmn", model(body))])
    outcome = run_process(models, inputs=RunInputs(data={"span": "99999999999"}))
    assert outcome.status != "completed"
    assert "Timer_Wait" in outcome.detail and "longer than the maximum" in outcome.detail


@pytest.mark.parametrize("value", ["P99999999999Y", "P100000Y"])
def test_deploying_a_model_with_an_unbounded_timer_is_a_422(tmp_path, value: str) -> None:
    hz = make_harness(tmp_path)
    xml = model(_timer_body(f'<timeDuration>"{value}"</timeDuration>')).decode()
    r = hz.client.post("/admin/definitions", json={"files": {"m.bpmn": xml}, "process_id": "Process_1"},
                       headers=hz.h("admin"))
    assert r.status_code == 422, r.text
    assert "Timer_Wait" in r.json()["detail"] and value in r.json()["detail"]
