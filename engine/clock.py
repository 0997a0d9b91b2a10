"""Injected time.

Every use of "now" in gongai goes through a :class:`Clock`, so that tests and simulations can run months
of approvals in seconds on a :class:`VirtualClock`, and production runs on :class:`SystemClock`.
All instants are timezone-aware and in UTC; calendars are computed in Asia/Shanghai elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Source of the current instant (aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class VirtualClock:
    """A clock that only moves when told to: for simulations, scenarios and tests."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        """Move to ``instant``; a virtual clock never goes backwards."""
        instant = ensure_utc(instant)
        if instant < self._now:
            raise ValueError(f"virtual clock cannot go back from {self._now.isoformat()} to {instant.isoformat()}")
        self._now = instant

    def advance(self, delta: timedelta) -> datetime:
        self.set(self._now + delta)
        return self._now


def ensure_utc(instant: datetime) -> datetime:
    """Return ``instant`` as an aware UTC datetime; naive datetimes are refused (ambiguous)."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant.isoformat()} has no time zone")
    return instant.astimezone(timezone.utc)
