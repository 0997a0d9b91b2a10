"""The Chinese working-day calendar (工作日历).

Approval limits (承诺时限, 法定时限) are counted in working days (工作日): weekends and statutory holidays
(法定节假日) do not count, and around holidays the State Council moves weekend days into working days
(调休). The schedule for a year is only known when the State Council's notice is published (around
November/December of the year before), so the calendar must be *data the operator can update*:

1. ``workflows/holidays/<year>.yaml`` files (one per year, validated on load) take precedence for their year;
2. otherwise the ``chinesecalendar`` package (covers 2004–2026 in version 1.11);
3. otherwise a stated fallback rule (:data:`FALLBACK_RULE`) with one loud :class:`CalendarDataMissing`
   warning per year, because a wrong-but-announced answer beats a crash on every case that crosses
   New Year.

All day classification happens in Asia/Shanghai; instants must be timezone-aware and are returned in UTC
(see :mod:`engine.clock`). A "working-day duration" is elapsed time with non-working calendar days removed,
24 hours per working day, as a decimal.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.assets import bundled_dir

__all__ = [
    "SHANGHAI",
    "FALLBACK_RULE",
    "HOLIDAYS_DIR_ENV",
    "REPO_HOLIDAYS_DIR",
    "CalendarDataMissing",
    "HolidayDataError",
    "DayInfo",
    "HolidayYear",
    "WorkCalendar",
    "load_holiday_file",
]

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Every calendar day in gongai is a day in Beijing time, whatever the server's zone."""

HOLIDAYS_DIR_ENV = "GONGAI_HOLIDAYS_DIR"
"""Environment variable naming extra holiday directories (os.pathsep-separated); they override the repo's."""

REPO_HOLIDAYS_DIR = bundled_dir("workflows") / "holidays"  # installed package or checkout (engine/assets.py)
"""The holiday data shipped with the repository."""

FALLBACK_RULE = (
    "Monday–Friday are working days, Saturday and Sunday are rest days, and the fixed-date statutory "
    "holidays 1 Jan (元旦), 1–2 May (劳动节) and 1–3 Oct (国庆节) are rest days; no 调休 (no weekend "
    "working days) and no lunar holidays (春节, 清明节, 端午节, 中秋节) are applied"
)
"""What the calendar assumes for a year it has no data for. Deliberately simple and stated, not guessed."""

_FALLBACK_HOLIDAYS: dict[tuple[int, int], str] = {
    (1, 1): "元旦 (fallback)",
    (5, 1): "劳动节 (fallback)",
    (5, 2): "劳动节 (fallback)",
    (10, 1): "国庆节 (fallback)",
    (10, 2): "国庆节 (fallback)",
    (10, 3): "国庆节 (fallback)",
}

# Field names "date" would shadow the type inside the pydantic models; annotate with this alias instead.
_Date = date

_YEAR_FILE = re.compile(r"^(\d{4})\.ya?ml$")
_SECONDS_PER_DAY = 86_400.0


class CalendarDataMissing(UserWarning):
    """A date fell in a year with no holiday data; the fallback rule was used instead."""


class HolidayDataError(ValueError):
    """A holiday YAML file is malformed; the message names the file and the offending field."""


# --------------------------------------------------------------------------------------------------------------
# Holiday data files
# --------------------------------------------------------------------------------------------------------------


def _strict_date(value: Any) -> Any:
    """Accept a YAML date or an ISO ``YYYY-MM-DD`` string only.

    Pydantic's lax mode would also take integers as Unix timestamps and datetimes truncated to a date,
    which would turn a typo like ``date: 20271001`` into a silently wrong day.
    """
    if isinstance(value, datetime):
        raise ValueError("expected a date (YYYY-MM-DD), got a date-time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}") from None
    raise ValueError(f"expected a date as YYYY-MM-DD, got {type(value).__name__} {value!r}")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)

    @field_validator("date", "start", "end", mode="before", check_fields=False)
    @classmethod
    def _dates_are_dates(cls, value: Any) -> Any:
        return None if value is None else _strict_date(value)


class HolidayEntry(_Entry):
    """A rest period (放假): one ``date``, or an inclusive ``start``/``end`` range."""

    date: _Date | None = None
    start: _Date | None = None
    end: _Date | None = None

    @model_validator(mode="after")
    def _one_form(self) -> HolidayEntry:
        if self.date is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either 'date' or 'start'/'end', not both")
        if self.date is None and (self.start is None or self.end is None):
            raise ValueError("give either 'date' or both 'start' and 'end'")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"'end' {self.end} is before 'start' {self.start}")
        return self

    def days(self) -> list[_Date]:
        if self.date is not None:
            return [self.date]
        assert self.start is not None and self.end is not None
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


class WorkdayEntry(_Entry):
    """A 调休 working weekend day (上班): always a Saturday or Sunday."""

    date: _Date

    @field_validator("date")
    @classmethod
    def _is_weekend(cls, value: _Date) -> _Date:
        # A weekday listed here changes nothing, so it is almost certainly a mistyped date.
        if value.weekday() < 5:
            raise ValueError(f"{value} is a {value.strftime('%A')}; 调休 working days are Saturdays or Sundays")
        return value


class HolidayYear(BaseModel):
    """One year's schedule as published in the State Council notice (国务院办公厅关于…节假日安排的通知)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int = Field(ge=1949, le=9999)
    source: str = Field(min_length=1, description="the State Council notice: title, number, date, URL")
    holidays: list[HolidayEntry] = Field(default_factory=list)
    workdays: list[WorkdayEntry] = Field(default_factory=list)

    @field_validator("source")
    @classmethod
    def _not_the_example(cls, value: str) -> str:
        # The shipped sample says EXAMPLE in its source; renaming it to <year>.yaml must not make it official.
        if "EXAMPLE" in value.upper():
            raise ValueError("source still says EXAMPLE: copy the real State Council notice into this file")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HolidayYear:
        problems: list[str] = []
        holiday_days: dict[date, str] = {}
        for i, entry in enumerate(self.holidays):
            for day in entry.days():
                if day.year != self.year:
                    problems.append(f"holidays[{i}] ({entry.name}): {day} is outside year {self.year}")
                holiday_days[day] = entry.name
        for i, work in enumerate(self.workdays):
            if work.date.year != self.year:
                problems.append(f"workdays[{i}] ({work.name}): {work.date} is outside year {self.year}")
            if work.date in holiday_days:
                problems.append(
                    f"workdays[{i}] ({work.name}): {work.date} is also a holiday ({holiday_days[work.date]})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def holiday_map(self) -> dict[date, str]:
        return {day: entry.name for entry in self.holidays for day in entry.days()}

    def workday_map(self) -> dict[date, str]:
        return {entry.date: entry.name for entry in self.workdays}


def load_holiday_file(path: Path) -> HolidayYear:
    """Read and validate one ``<year>.yaml``; every error names the file (and the field, when there is one)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise HolidayDataError(f"{path}: cannot read holiday data: {exc}") from exc
    if not isinstance(raw, dict):
        raise HolidayDataError(f"{path}: expected a mapping with 'year', 'source', 'holidays', 'workdays'")
    try:
        data = HolidayYear.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise HolidayDataError(f"{path}: invalid holiday data: {details}") from exc
    match = _YEAR_FILE.match(path.name)
    if match and int(match.group(1)) != data.year:
        raise HolidayDataError(f"{path}: year: file is named for {match.group(1)} but says year {data.year}")
    return data


# --------------------------------------------------------------------------------------------------------------
# The calendar
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayInfo:
    """How one calendar day was classified, and on whose authority (so a due date can be explained)."""

    day: date
    working: bool
    name: str | None
    source: Literal["yaml", "chinesecalendar", "fallback"]


def _require_aware(instant: datetime, what: str = "instant") -> datetime:
    if not isinstance(instant, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} {instant.isoformat()} is naive; pass a timezone-aware datetime")
    return instant


def _as_day(day: date) -> date:
    """A ``date`` as given; an aware ``datetime`` as its Asia/Shanghai calendar day; naive datetimes refused."""
    if isinstance(day, datetime):
        return _require_aware(day, "day").astimezone(SHANGHAI).date()
    if not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    return day


def _local_midnight(day: date) -> datetime:
    """00:00 Asia/Shanghai of ``day``, as an aware UTC instant."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


class WorkCalendar:
    """Working days in mainland China: YAML data, then ``chinesecalendar``, then the stated fallback rule."""

    def __init__(self, data_dirs: Iterable[Path | str] = (), *, use_chinesecalendar: bool = True) -> None:
        """Load every ``<year>.yaml`` in ``data_dirs``; a later directory overrides an earlier one's year.

        ``use_chinesecalendar=False`` makes the calendar rely only on the YAML files and the fallback rule,
        which is how one checks that a year's file is complete on its own.
        """
        self._years: dict[int, HolidayYear] = {}
        self._year_files: dict[int, Path] = {}
        for directory in data_dirs:
            self._load_dir(Path(directory))
        self._holidays: dict[date, str] = {}
        self._workdays: dict[date, str] = {}
        for data in self._years.values():
            self._holidays.update(data.holiday_map())
            self._workdays.update(data.workday_map())
        if use_chinesecalendar:
            first = min(chinese_calendar.holidays).year
            last = max(chinese_calendar.holidays).year
            self._package_years = frozenset(range(first, last + 1))
        else:
            self._package_years = frozenset()
        self._cache: dict[date, DayInfo] = {}
        self._warned_years: set[int] = set()
        self._warn_lock = threading.Lock()

    def _load_dir(self, directory: Path) -> None:
        if not directory.is_dir():
            raise HolidayDataError(f"{directory}: holiday data directory does not exist")
        seen_here: dict[int, Path] = {}
        for path in sorted(directory.iterdir()):
            if not _YEAR_FILE.match(path.name):
                continue  # README.md, *.sample and anything else is documentation, not data
            data = load_holiday_file(path)
            if data.year in seen_here:
                raise HolidayDataError(f"{path}: year {data.year} is already defined by {seen_here[data.year]}")
            seen_here[data.year] = path
            if data.year in self._years:
                log.info("holiday data for %s from %s overrides %s", data.year, path, self._year_files[data.year])
            self._years[data.year] = data
            self._year_files[data.year] = path

    @classmethod
    def default(cls) -> WorkCalendar:
        """The repo's ``workflows/holidays`` plus any directories in ``$GONGAI_HOLIDAYS_DIR`` (which win).

        Build it once per process and share it: it caches day classification and warns once per
        uncovered year. A new holiday file is picked up by building a new calendar (e.g. on restart).
        """
        dirs: list[Path] = []
        if REPO_HOLIDAYS_DIR.is_dir():
            dirs.append(REPO_HOLIDAYS_DIR)
        else:
            log.warning("bundled holiday directory %s not found; using chinesecalendar only", REPO_HOLIDAYS_DIR)
        extra = os.environ.get(HOLIDAYS_DIR_ENV, "")
        dirs.extend(Path(part) for part in extra.split(os.pathsep) if part.strip())
        return cls(dirs)

    # -- coverage -------------------------------------------------------------------------------------------

    def covered_years(self) -> tuple[int, ...]:
        """Years with real holiday data (YAML files or ``chinesecalendar``), ascending."""
        return tuple(sorted(self._package_years | self._years.keys()))

    def covers(self, day: date) -> bool:
        """Whether ``day`` is classified from real data rather than the fallback rule. Never warns."""
        year = _as_day(day).year
        return year in self._years or year in self._package_years

    def data_file(self, year: int) -> Path | None:
        """The YAML file that defines ``year``, if any (for diagnostics)."""
        return self._year_files.get(year)

    # -- day classification ---------------------------------------------------------------------------------

    def day_info(self, day: date) -> DayInfo:
        """Classify one Asia/Shanghai calendar day (cached: long spans classify the same days again and again)."""
        day = _as_day(day)
        info = self._cache.get(day)
        if info is None:
            info = self._classify(day)
            self._cache[day] = info
        return info

    def _classify(self, day: date) -> DayInfo:
        weekend = day.weekday() >= 5
        if day.year in self._years:
            if day in self._workdays:
                return DayInfo(day, True, self._workdays[day], "yaml")
            if day in self._holidays:
                return DayInfo(day, False, self._holidays[day], "yaml")
            return DayInfo(day, not weekend, None, "yaml")
        if day.year in self._package_years:
            _, name = chinese_calendar.get_holiday_detail(day)
            return DayInfo(day, bool(chinese_calendar.is_workday(day)), name, "chinesecalendar")
        self._warn_uncovered(day.year)
        name = _FALLBACK_HOLIDAYS.get((day.month, day.day))
        return DayInfo(day, not weekend and name is None, name, "fallback")

    def _warn_uncovered(self, year: int) -> None:
        with self._warn_lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
        message = (
            f"No holiday data for {year} (covered years: {_describe_years(self.covered_years())}); "
            f"working days in {year} use the fallback rule: {FALLBACK_RULE}. Due dates in {year} may be wrong "
            f"around 春节 and other holidays. To fix, add workflows/holidays/{year}.yaml from the State Council "
            f"notice on the {year} holiday schedule (see workflows/holidays/README.md)."
        )
        # once per process and year, on one channel where a person sees it: the log when logging is set up (the
        # server), else the warning (the command line: logging's last-resort handler would print it twice)
        if logging.getLogger().handlers:
            log.warning(message)
        warnings.warn(message, CalendarDataMissing, stacklevel=5)  # the caller of is_working_day()

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (an Asia/Shanghai calendar day) is a working day, 调休 weekends included."""
        return self.day_info(day).working

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self.add_working_days(day, 1)

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (``day`` itself is never counted; ``n=0`` returns ``day``).

        This is 受理次日起算: with acceptance on ``day``, the limit's last day is ``add_working_days(day, n)``.
        """
        day = _as_day(day)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        current = day
        remaining = n
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    # -- durations --------------------------------------------------------------------------------------------

    @staticmethod
    def natural_days(start: datetime, end: datetime) -> float:
        """Elapsed calendar time in days (seconds / 86400); negative if ``end`` is before ``start``."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        return (end - start).total_seconds() / _SECONDS_PER_DAY

    def working_days(self, start: datetime, end: datetime) -> float:
        """Working-day duration from ``start`` to ``end``: elapsed time minus non-working days, 24 h per day.

        Iterates calendar days (not hours), so a span of years costs a few hundred cached lookups per year.
        Fri 12:00 → Mon 12:00 over an ordinary weekend is 1.0. Negative if ``end`` is before ``start``.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end < start:
            return -self.working_days(end, start)
        start_utc = start.astimezone(timezone.utc)
        end_utc = end.astimezone(timezone.utc)
        first = start.astimezone(SHANGHAI).date()
        last = end.astimezone(SHANGHAI).date()
        if first == last:
            return (end_utc - start_utc).total_seconds() / _SECONDS_PER_DAY if self.is_working_day(first) else 0.0
        seconds = 0.0
        if self.is_working_day(first):
            seconds += (_local_midnight(first + timedelta(days=1)) - start_utc).total_seconds()
        # An end at exactly 00:00 (e.g. a due date "24:00 on 31 Dec") contributes nothing from its own day,
        # so that day is not classified: no spurious CalendarDataMissing for the following year.
        into_last = (end_utc - _local_midnight(last)).total_seconds()
        if into_last and self.is_working_day(last):
            seconds += into_last
        whole = 0
        day = first + timedelta(days=1)
        while day < last:
            if self.is_working_day(day):
                whole += 1
            day += timedelta(days=1)
        return whole + seconds / _SECONDS_PER_DAY

    def add_working_time(self, instant: datetime, working_days: float) -> datetime:
        """Move ``instant`` forward by ``working_days`` of working time, skipping non-working days.

        The inverse of :meth:`working_days`: ``working_days(t, add_working_time(t, x)) == x``. Used to push a
        due date later by the time the clock was stopped. An amount that exactly uses up a working day lands
        on 24:00 of that day (00:00 of the next), never on the following working day's start. Returns UTC.
        """
        _require_aware(instant, "instant")
        if working_days < 0:
            raise ValueError(f"working_days must be >= 0, got {working_days}")
        current = instant.astimezone(timezone.utc)
        remaining = timedelta(seconds=working_days * _SECONDS_PER_DAY)
        if not remaining:
            return current
        day = current.astimezone(SHANGHAI).date()
        while True:
            next_midnight = _local_midnight(day + timedelta(days=1))
            if self.is_working_day(day):
                available = next_midnight - current
                if remaining <= available:
                    return current + remaining
                remaining -= available
            current = next_midnight
            day += timedelta(days=1)


    def subtract_working_time(self, instant: datetime, working_days: float) -> datetime:
        """Move ``instant`` back by ``working_days`` of working time (the mirror of :meth:`add_working_time`).

        Used for the yellow warning: the instant at which only ``warn_days`` working days remain before a due
        date. Non-working days are skipped; returns UTC.
        """
        _require_aware(instant, "instant")
        if working_days < 0:
            raise ValueError(f"working_days must be >= 0, got {working_days}")
        current = instant.astimezone(timezone.utc)
        remaining = timedelta(seconds=working_days * _SECONDS_PER_DAY)
        if not remaining:
            return current
        local = current.astimezone(SHANGHAI)
        day = local.date()
        if local.time() == local.time().min:  # exactly midnight: the time before it belongs to the previous day
            day -= timedelta(days=1)
        while True:
            midnight = _local_midnight(day)
            if self.is_working_day(day):
                available = current - midnight
                if remaining <= available:
                    return current - remaining
                remaining -= available
            current = midnight
            day -= timedelta(days=1)

def _describe_years(years: Sequence[int]) -> str:
    """Compress ``2004, 2005, …, 2026`` into ``2004–2026`` so the warning stays readable."""
    runs: list[list[int]] = []
    for year in sorted(years):
        if runs and year == runs[-1][1] + 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(str(lo) if lo == hi else f"{lo}–{hi}" for lo, hi in runs) or "none"
