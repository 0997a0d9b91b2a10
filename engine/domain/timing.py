"""Timing rules for one approval item (a matter or a stage): span, approval time, due dates, status.

These definitions are product requirements (see DOMAIN.md §4) and are implemented exactly:

- **跨度用时 (span)**: end − start, in natural days and in working days.
- **审批用时 (approval time)**: span minus the clock-stopped intervals — 补正 (correction) always, 特别程序
  (special procedure: 听证, 检验检测, 专家评审 …) only where the jurisdiction says so — in working days.
  Overlapping stops are merged so that no time is subtracted twice; stops are clipped to [start, end or now];
  an open stop counts as ending at ``now``.
- **due date** for N working days: 24:00 Asia/Shanghai of the N-th working day after the acceptance day
  (受理次日起算), pushed later by the stopped working time. Both 承诺时限 (committed) and 法定时限
  (statutory) are tracked.
- **remaining** working days: from ``now`` (or ``end``) to the committed due date. Because an open stop
  already pushes the due date up to ``now``, remaining time stays frozen while the clock is stopped.
- **status**: ``silent_consent`` (超时默许) when the caller says so; otherwise ``overdue`` (red) when finished
  after, or unfinished and now past, the committed due date; ``warning`` (yellow) when unfinished with at most
  ``warn_days`` committed working days left; else ``on_time``.

Everything here is pure: the calendar and ``now`` are passed in, nothing is read from the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from engine.domain.workcalendar import SHANGHAI, WorkCalendar

__all__ = ["ClockStop", "TimingRule", "Timing", "Status", "measure", "due_date", "merge_intervals"]

Status = Literal["on_time", "warning", "overdue", "silent_consent"]
StopKind = Literal["correction", "special", "precondition"]
_STOP_KINDS: frozenset[str] = frozenset({"correction", "special", "precondition"})


def _aware(instant: datetime, what: str) -> datetime:
    if not isinstance(instant, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} {instant.isoformat()} is naive; pass a timezone-aware datetime")
    return instant.astimezone(timezone.utc)


@dataclass(frozen=True)
class ClockStop:
    """An interval during which the clock does not run: 补正 (``correction``), 特别程序 (``special``), or
    the wait of a matter approved before its precondition was issued (``precondition``, where the profile
    excludes that wait from the matter's time).

    ``end`` is None while the stop is still open (e.g. waiting for the applicant's corrected documents).
    """

    start: datetime
    end: datetime | None
    kind: StopKind

    def __post_init__(self) -> None:
        _aware(self.start, "ClockStop.start")
        if self.end is not None and _aware(self.end, "ClockStop.end") < _aware(self.start, "ClockStop.start"):
            raise ValueError(f"ClockStop ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")
        if self.kind not in _STOP_KINDS:
            raise ValueError(f"ClockStop.kind must be one of {sorted(_STOP_KINDS)}, got {self.kind!r}")


@dataclass(frozen=True)
class TimingRule:
    """Per-jurisdiction timing configuration (the numbers live in configuration, never in code).

    ``special_stops_clock``: whether 特别程序 time is excluded from approval time (补正 always is).
    ``warn_days``: an unfinished item turns yellow when this many committed working days or fewer remain.
    """

    special_stops_clock: bool
    warn_days: float

    def __post_init__(self) -> None:
        if self.warn_days < 0:
            raise ValueError(f"warn_days must be >= 0, got {self.warn_days}")

    def stops_clock(self, stop: ClockStop) -> bool:
        return stop.kind in ("correction", "precondition") or (stop.kind == "special" and self.special_stops_clock)

    @classmethod
    def for_profile(cls, profile: Any) -> TimingRule:
        """The rule of a jurisdiction's profile — the one place the engine builds its timing rule.

        Whether a special procedure (特别程序) or an intermediary service (中介服务) stops a matter's clock is
        the profile's (``special_procedures_stop_clock`` / ``intermediary_stops_clock``), decided per
        procedure when the stop is recorded (``Catalogue.stops_clock``); a profile in which neither stops the
        clock measures special stops as running time.
        """
        return cls(special_stops_clock=bool(profile.special_procedures_stop_clock or profile.intermediary_stops_clock),
                   warn_days=float(profile.warning_days))


@dataclass(frozen=True)
class Timing:
    """The measured timing of one item. Instants are aware UTC; durations are days (natural or working)."""

    start: datetime
    end: datetime | None
    committed_limit_wd: int | None
    statutory_limit_wd: int | None
    committed_due: datetime | None
    statutory_due: datetime | None
    span_natural_days: float
    span_working_days: float
    stopped_working_days: float
    approval_working_days: float
    remaining_working_days: float | None
    status: Status
    statutory_overdue: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: instants as ISO 8601 UTC strings (``…Z``), durations rounded to 4 decimals."""

        def instant(value: datetime | None) -> str | None:
            if value is None:
                return None
            return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

        def days(value: float | None) -> float | None:
            # ``+ 0.0`` turns a rounded -0.0 into 0.0, which reads better in reports.
            return None if value is None else round(value, 4) + 0.0

        return {
            "start": instant(self.start),
            "end": instant(self.end),
            "committed_limit_wd": self.committed_limit_wd,
            "statutory_limit_wd": self.statutory_limit_wd,
            "committed_due": instant(self.committed_due),
            "statutory_due": instant(self.statutory_due),
            "span_natural_days": days(self.span_natural_days),
            "span_working_days": days(self.span_working_days),
            "stopped_working_days": days(self.stopped_working_days),
            "approval_working_days": days(self.approval_working_days),
            "remaining_working_days": days(self.remaining_working_days),
            "status": self.status,
            "statutory_overdue": self.statutory_overdue,
        }


def merge_intervals(intervals: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Union of intervals, sorted, so overlapping or touching clock stops are counted once."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def due_date(
    start: datetime, limit_wd: int, stopped_working_days: float, calendar: WorkCalendar
) -> datetime:
    """24:00 Asia/Shanghai of the ``limit_wd``-th working day after acceptance, pushed by the stopped time.

    受理次日起算: the acceptance day itself never counts, whatever the hour of acceptance. A limit of 0
    (即办件) is due at the end of the acceptance day.
    """
    if limit_wd < 0:
        raise ValueError(f"limit must be >= 0 working days, got {limit_wd}")
    accepted_on = _aware(start, "start").astimezone(SHANGHAI).date()
    last_day = calendar.add_working_days(accepted_on, limit_wd)
    end_of_last_day = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
    return calendar.add_working_time(end_of_last_day, stopped_working_days)


def measure(
    *,
    start: datetime,
    end: datetime | None,
    now: datetime,
    committed_limit_wd: int | None,
    statutory_limit_wd: int | None,
    stops: Sequence[ClockStop],
    rule: TimingRule,
    calendar: WorkCalendar,
    silent_consent: bool = False,
) -> Timing:
    """Measure one item from acceptance (``start``) to result (``end``), or up to ``now`` if unfinished."""
    start = _aware(start, "start")
    now = _aware(now, "now")
    end = None if end is None else _aware(end, "end")
    if end is not None and end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    horizon = end if end is not None else now
    if horizon < start:
        raise ValueError(f"now {now.isoformat()} is before start {start.isoformat()} of an unfinished item")

    clipped: list[tuple[datetime, datetime]] = []
    for stop in stops:
        if not rule.stops_clock(stop):
            continue
        lo = max(_aware(stop.start, "stop.start"), start)
        hi = min(now if stop.end is None else _aware(stop.end, "stop.end"), horizon)
        if hi > lo:
            clipped.append((lo, hi))
    stopped = sum(calendar.working_days(lo, hi) for lo, hi in merge_intervals(clipped))

    span_natural = calendar.natural_days(start, horizon)
    span_working = calendar.working_days(start, horizon)

    committed_due = (
        None if committed_limit_wd is None else due_date(start, committed_limit_wd, stopped, calendar)
    )
    statutory_due = (
        None if statutory_limit_wd is None else due_date(start, statutory_limit_wd, stopped, calendar)
    )
    remaining = None if committed_due is None else calendar.working_days(horizon, committed_due)

    status: Status
    if silent_consent:
        status = "silent_consent"
    elif committed_due is None or remaining is None:
        status = "on_time"
    elif horizon > committed_due:
        status = "overdue"
    elif end is None and remaining <= rule.warn_days:
        status = "warning"
    else:
        status = "on_time"

    return Timing(
        start=start,
        end=end,
        committed_limit_wd=committed_limit_wd,
        statutory_limit_wd=statutory_limit_wd,
        committed_due=committed_due,
        statutory_due=statutory_due,
        span_natural_days=span_natural,
        span_working_days=span_working,
        stopped_working_days=stopped,
        approval_working_days=span_working - stopped,
        remaining_working_days=remaining,
        status=status,
        statutory_overdue=statutory_due is not None and horizon > statutory_due,
    )
