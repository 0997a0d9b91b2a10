"""Per-subject figures the analytics read from columns, computed once when a subject changes.

The timing module reports approval time (审批用时) in working days only; analysts also want it in natural
days, so the stopped natural time is measured here on the same clipped, merged stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from engine.domain.timing import ClockStop, TimingRule, merge_intervals


def stopped_natural_days(start: datetime, end: datetime | None, now: datetime, stops: Sequence[ClockStop],
                         rule: TimingRule) -> float:
    """Natural days during which the clock was stopped, clipped to [start, end or now], overlaps counted once."""
    horizon = end if end is not None else now
    clipped: list[tuple[datetime, datetime]] = []
    for stop in stops:
        if not rule.stops_clock(stop):
            continue
        lo = max(stop.start, start)
        hi = min(stop.end if stop.end is not None else now, horizon)
        if hi > lo:
            clipped.append((lo, hi))
    return sum((hi - lo).total_seconds() for lo, hi in merge_intervals(clipped)) / 86400.0
