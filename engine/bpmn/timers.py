"""Bounds on timer expressions, enforced the same way at validation and when a timer starts.

SpiffWorkflow turns a duration into a ``timedelta`` by walking it month by month (``get_timedelta_from_start``)
outside any sandbox: ``"P99999999999Y"`` loops about 10¹² times while the caller holds the database's write
lock, and ``"P100000Y"`` overflows ``timedelta`` (a 500). Approval deadlines are counted in working days and
rarely exceed a year, so a timer longer than :data:`MAX_TIMER_DURATION` is a modelling mistake: it is
refused by ``gongai validate`` / deploy when the expression is a constant, and by the running engine (a
:class:`TimerOutOfRange` naming the timer) when it is computed.

:func:`install` replaces SpiffWorkflow's duration parser with :func:`parse_duration` (the runtime adapter
calls it on import), so every path through SpiffWorkflow — duration timers, cycles, ``timeDate``
expressions that evaluate to a duration — is bounded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException

__all__ = ["MAX_CYCLES", "MAX_EXPRESSION_LENGTH", "MAX_TIMER_DURATION", "MAX_TIMER_YEARS", "MIN_CYCLE_INTERVAL", "TimerOutOfRange",
           "check_timer_value", "install", "parse_duration"]

MAX_TIMER_YEARS = 10
MAX_TIMER_DURATION = timedelta(days=MAX_TIMER_YEARS * 12 * 31)
"""Longest duration a timer may wait or repeat after: ten years, counting every month as 31 days (so
``"P120M"`` and ``"P10Y"`` are both allowed) — no approval deadline comes near it."""
MAX_CYCLES = 1000
"""Most repetitions a ``timeCycle`` may ask for (``R1000/…``); unbounded ``R/…`` is allowed."""
MIN_CYCLE_INTERVAL = timedelta(minutes=1)
"""Shortest interval of a ``timeCycle`` (``R/PT0S`` would fire on every engine step)."""
MAX_EXPRESSION_LENGTH = 100
"""Longest ISO 8601 text a timer may evaluate to (the longest sensible one has about 40 characters)."""

_UPPER_DAYS = {"years": 366, "months": 31, "weeks": 7, "days": 1, "hours": 1 / 24, "minutes": 1 / 1440,
               "seconds": 1 / 86400}
_spiff_parse_duration = TimerEventDefinition.parse_iso_duration
_spiff_parse_cycle = TimerEventDefinition.parse_iso_recurring_interval


class TimerOutOfRange(ValueError):
    """A timer expression outside the engine's bounds (too long, too many cycles, too short a cycle)."""


def _describe_limit() -> str:
    return f"{MAX_TIMER_YEARS} years ({MAX_TIMER_DURATION.days} days)"


def _check_length(expression: Any) -> None:
    if isinstance(expression, str) and len(expression) > MAX_EXPRESSION_LENGTH:
        raise TimerOutOfRange(f"timer value of {len(expression)} characters is over the limit of "
                              f"{MAX_EXPRESSION_LENGTH}")


def parse_duration(expression: str) -> dict[str, float]:
    """SpiffWorkflow's ISO 8601 duration parser, refusing durations over :data:`MAX_TIMER_DURATION`.

    The bound is checked on the parsed parts (each month counted as 31 days, each year as 366) before any
    calendar arithmetic, so no input can make the caller loop or overflow.
    """
    _check_length(expression)
    parsed = _spiff_parse_duration(expression)
    upper_days = sum(float(value) * _UPPER_DAYS.get(part, 1) for part, value in parsed.items())
    if upper_days > MAX_TIMER_DURATION.days:
        raise TimerOutOfRange(f"timer duration {expression!r} is longer than the maximum of {_describe_limit()}")
    return parsed


def parse_cycle(expression: str) -> tuple[int, datetime, timedelta]:
    """SpiffWorkflow's recurring-interval parser, bounded in cycles, interval length and interval shortness."""
    _check_length(expression)
    cycles, start, duration = _spiff_parse_cycle(expression)
    if cycles > MAX_CYCLES:
        raise TimerOutOfRange(f"timer cycle {expression!r} repeats {cycles:,} times; at most {MAX_CYCLES:,} "
                              f"(or R/… for no limit)")
    if duration < MIN_CYCLE_INTERVAL:
        raise TimerOutOfRange(f"timer cycle {expression!r} repeats every {duration}; the shortest interval is "
                              f"{MIN_CYCLE_INTERVAL}")
    return cycles, start, duration


def check_timer_value(kind: str, value: str) -> None:
    """Parse a timer's ISO 8601 ``value`` as SpiffWorkflow will for ``kind`` (timeDate, timeDuration,
    timeCycle) and raise ``ValueError`` (a :class:`TimerOutOfRange` for bounds) when it would be refused."""
    _check_length(value)
    if kind == "timeDuration":
        parse_duration(value)
    elif kind == "timeCycle":
        parse_cycle(value)
    elif kind == "timeDate":
        result = TimerEventDefinition.parse_time_or_duration(value)
        if isinstance(result, dict):
            raise ValueError("a duration, not a date")
    else:
        raise ValueError(f"unknown timer kind {kind!r}")


def _naming_the_timer(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a timer's ``has_fired``/``cycle_complete`` so that a bad value names the timer element.

    SpiffWorkflow lets a timer's parse error escape bare (no task, no element); a
    ``WorkflowTaskException`` carries the task, which the service layer turns into a problem naming it.
    """
    if getattr(method, "_gongai_named", False):
        return method

    @functools.wraps(method)
    def wrapper(self: TimerEventDefinition, my_task: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, my_task, *args, **kwargs)
        except SpiffWorkflowException:
            raise
        except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises bare Exception for bad values
            spec = my_task.task_spec
            label = f"{getattr(spec, 'bpmn_id', None) or spec.name!r}"
            if getattr(spec, "bpmn_name", None):
                label += f" ({spec.bpmn_name})"
            raise WorkflowTaskException(f"timer {label}: {type(exc).__name__}: {exc}", task=my_task,
                                        exception=exc) from exc

    wrapper._gongai_named = True  # type: ignore[attr-defined]
    return wrapper


def install() -> None:
    """Route SpiffWorkflow's timer parsing through the bounded parsers, naming the timer on failure (idempotent)."""
    TimerEventDefinition.parse_iso_duration = staticmethod(parse_duration)  # type: ignore[method-assign]
    TimerEventDefinition.parse_iso_recurring_interval = staticmethod(parse_cycle)  # type: ignore[method-assign]
    for cls in (TimeDateEventDefinition, DurationTimerEventDefinition):
        cls.has_fired = _naming_the_timer(cls.has_fired)  # type: ignore[method-assign]
    CycleTimerEventDefinition.cycle_complete = _naming_the_timer(  # type: ignore[method-assign]
        CycleTimerEventDefinition.cycle_complete)
