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
- **whole days** (the clerk's count): ``approval_days_used`` is the number of working days from the day after
  acceptance to the day of the result (or today), less the working days a stop covered — a stop from day S to
  day R covers the working days after S up to and including R (the stop's day still counts as worked; counting
  resumes the day after the documents arrive, 次日起算). So an item finished by its due date has used at most
  its limit, which the decimal ``approval_working_days`` (counted by the hour from the acceptance instant)
  does not promise: 3.04 wd on a 3-wd limit is on time. ``span_days_used`` is the same without the stops.
- **stop push** (``TimingRule.stop_push``, a profile setting): a stop pushes the due date by those whole
  working days (``days``, the default: the Administrative Licensing Law counts days) or by the stopped
  working time to the hour (``hours``: a stop of Tue 10:00 → Wed 15:00 moves 24:00 Fri to 05:00 Mon).
- **status**: ``silent_consent`` (超时默许) when the caller says so; otherwise ``overdue`` (red) when finished
  after, or unfinished and now past, the committed due date; ``warning`` (yellow) when unfinished with at most
  ``warn_days`` committed working days left; else ``on_time``.

Everything here is pure: the calendar and ``now`` are passed in, nothing is read from the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

from engine.domain.workcalendar import SHANGHAI, WorkCalendar

__all__ = ["ClockStop", "TimingRule", "Timing", "Status", "StopPush", "measure", "due_date", "merge_intervals",
           "days_used", "stopped_days"]

Status = Literal["on_time", "warning", "overdue", "silent_consent"]
StopPush = Literal["days", "hours"]
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
    stop_push: StopPush = "days"
    """How a clock stop pushes a due date: by the whole working days it covered (``days``) or by the stopped
    working time (``hours``). The profile's ``stop_push``."""

    def __post_init__(self) -> None:
        if self.warn_days < 0:
            raise ValueError(f"warn_days must be >= 0, got {self.warn_days}")
        if self.stop_push not in ("days", "hours"):
            raise ValueError(f"stop_push must be 'days' or 'hours', got {self.stop_push!r}")

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
                   warn_days=float(profile.warning_days), stop_push=getattr(profile, "stop_push", "days"))


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
    span_days_used: int = 0
    """Whole working days from the day after acceptance to the day of the end (or of now), the clerk's count."""
    approval_days_used: int = 0
    """``span_days_used`` less the whole working days clock stops covered (受理次日起算, as a clerk counts)."""

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
            "span_days_used": self.span_days_used,
            "approval_days_used": self.approval_days_used,
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
    start: datetime, limit_wd: int, stopped_working_days: float, calendar: WorkCalendar, *, stopped_days: int = 0
) -> datetime:
    """24:00 Asia/Shanghai of the ``limit_wd``-th working day after acceptance, pushed by the stopped time
    (``stopped_working_days``, to the hour) or by whole stopped working days (``stopped_days``).

    受理次日起算: the acceptance day itself never counts, whatever the hour of acceptance. A limit of 0
    (即办件) is due at the end of the acceptance day.
    """
    if limit_wd < 0:
        raise ValueError(f"limit must be >= 0 working days, got {limit_wd}")
    accepted_on = _aware(start, "start").astimezone(SHANGHAI).date()
    last_day = calendar.add_working_days(accepted_on, limit_wd + stopped_days)
    end_of_last_day = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
    return calendar.add_working_time(end_of_last_day, stopped_working_days)


def _local_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def _last_day(end: datetime) -> date:
    """The day an end instant closes: an end in the first second of a day is 24:00 of the day before. Deadline
    timers fire at 24:00 of the due day (the engine's timers a microsecond after it); 超时默许, 视为受理 and the
    other ends at a limit used that day, not the next."""
    local = end.astimezone(SHANGHAI)
    return local.date() - timedelta(days=1) if local.time() < time(0, 0, 1) else local.date()


def days_used(start: datetime, end: datetime, calendar: WorkCalendar) -> int:
    """Working days after the day of ``start`` up to and including the day of ``end`` (受理次日起算)."""
    first, last = _local_day(start), max(_local_day(start), _last_day(end))
    return sum(1 for n in range((last - first).days) if calendar.is_working_day(first + timedelta(days=n + 1)))


def stopped_days(intervals: Sequence[tuple[datetime, datetime]], calendar: WorkCalendar) -> int:
    """The whole working days clock stops covered: for a stop from day S to day R, the working days after S up
    to and including R (the day it stopped counts as worked; counting resumes the day after it resumed).
    Days covered by several stops count once."""
    covered: set[date] = set()
    for lo, hi in intervals:
        first, last = _local_day(lo), _local_day(hi)
        covered.update(d for d in (first + timedelta(days=n + 1) for n in range((last - first).days))
                       if calendar.is_working_day(d))
    return len(covered)


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
    merged = merge_intervals(clipped)
    stopped = sum(calendar.working_days(lo, hi) for lo, hi in merged)
    whole_stopped = stopped_days(merged, calendar)

    span_natural = calendar.natural_days(start, horizon)
    span_working = calendar.working_days(start, horizon)
    span_used = days_used(start, horizon, calendar)
    push = {"stopped_working_days": 0.0, "stopped_days": whole_stopped} if rule.stop_push == "days" else \
        {"stopped_working_days": stopped, "stopped_days": 0}

    committed_due = (
        None if committed_limit_wd is None else due_date(start, committed_limit_wd, calendar=calendar, **push)
    )
    statutory_due = (
        None if statutory_limit_wd is None else due_date(start, statutory_limit_wd, calendar=calendar, **push)
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
        span_days_used=span_used,
        approval_days_used=span_used - whole_stopped,
    )
