"""Timing rules: span, approval time, due dates (受理次日起算), clock stops, remaining time and status.

Calendar facts (chinesecalendar 1.11, see test_workcalendar.py): March 2026 has no holidays
(Mon 2, 9, 16 Mar are Mondays); around National Day 2026: Wed 30 Sep working, Thu 1 – Wed 7 Oct rest,
Thu 8, Fri 9, **Sat 10 Oct (调休)** working, Sun 11 Oct rest, Mon 12 Oct working.
All expected values are counted by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.domain.timing import ClockStop, Timing, TimingRule, due_date, measure, merge_intervals
from engine.domain.workcalendar import SHANGHAI, CalendarDataMissing, WorkCalendar

CAL = WorkCalendar()  # chinesecalendar only, independent of operator files
PLAIN = TimingRule(special_stops_clock=False, warn_days=1, stop_push="hours")  # the hour mechanics
WITH_SPECIAL = TimingRule(special_stops_clock=True, warn_days=1, stop_push="hours")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def run(**kwargs: object) -> Timing:
    defaults: dict[str, object] = {
        "end": None,
        "committed_limit_wd": None,
        "statutory_limit_wd": None,
        "stops": (),
        "rule": PLAIN,
        "calendar": CAL,
    }
    defaults.update(kwargs)
    return measure(**defaults)  # type: ignore[arg-type]


# -- due dates -----------------------------------------------------------------------------------------------


def test_due_date_counts_from_the_day_after_acceptance() -> None:
    # Accepted Mon 2 Mar 16:59: Tue 3 (1), Wed 4 (2), Thu 5 (3) → due Thu 24:00 = Fri 6 Mar 00:00.
    assert due_date(sh(2026, 3, 2, 16, 59), 3, 0.0, CAL) == sh(2026, 3, 6)
    # Accepted on a Saturday: Mon 9 (1) → due Tue 10 Mar 00:00.
    assert due_date(sh(2026, 3, 7, 10), 1, 0.0, CAL) == sh(2026, 3, 10)
    # 即办件: a limit of 0 is due at the end of the acceptance day.
    assert due_date(sh(2026, 3, 2, 9), 0, 0.0, CAL) == sh(2026, 3, 3)


def test_due_date_across_national_day_counts_the_tiaoxiu_saturday() -> None:
    # Accepted Tue 29 Sep: Sep 30 (1), Oct 8 (2), Oct 9 (3), Sat Oct 10 (4), Mon Oct 12 (5).
    timing = run(start=sh(2026, 9, 29, 10), now=sh(2026, 9, 29, 11), committed_limit_wd=5)
    assert timing.committed_due == sh(2026, 10, 13)  # 24:00 on Mon 12 Oct
    assert timing.committed_due.tzinfo == timezone.utc


def test_due_date_with_tiaoxiu_sunday_before_mid_autumn() -> None:
    # Accepted Fri 18 Sep: Sun 20 Sep (1, 调休), Mon 21 (2) → due Tue 22 Sep 00:00.
    assert due_date(sh(2026, 9, 18, 15), 2, 0.0, CAL) == sh(2026, 9, 22)


def test_committed_and_statutory_due_pushed_by_correction_over_national_day() -> None:
    # 补正 from Wed 30 Sep 00:00 to Thu 8 Oct 12:00 = Sep 30 (1.0) + Oct 1–7 (0) + half of Oct 8 = 1.5 wd.
    stop = ClockStop(sh(2026, 9, 30), sh(2026, 10, 8, 12), "correction")
    timing = run(
        start=sh(2026, 9, 29, 10),
        end=sh(2026, 10, 14, 10),
        now=sh(2026, 10, 20),
        committed_limit_wd=5,
        statutory_limit_wd=20,
        stops=[stop],
    )
    assert timing.stopped_working_days == pytest.approx(1.5)
    # Unpushed committed due Tue 13 Oct 00:00; + Tue 13 (1.0) + half of Wed 14 → Wed 14 Oct 12:00.
    assert timing.committed_due == sh(2026, 10, 14, 12)
    # Statutory: Sep 30, Oct 8, 9, 10, 12–16, 19–23, 26–30, Nov 2 is the 20th → Nov 3 00:00, + 1.5 → Nov 4 12:00.
    assert timing.statutory_due == sh(2026, 11, 4, 12)
    # Span Tue 29 Sep 10:00 → Wed 14 Oct 10:00: 14/24 + Sep 30 + Oct 8, 9, 10, 12, 13 + 10/24 = 7.0.
    assert timing.span_natural_days == pytest.approx(15.0)
    assert timing.span_working_days == pytest.approx(7.0)
    assert timing.approval_working_days == pytest.approx(5.5)
    assert timing.remaining_working_days == pytest.approx(2 / 24)  # finished 2 h before the due time
    assert timing.status == "on_time"
    assert not timing.statutory_overdue


def test_without_the_correction_the_same_finish_is_overdue() -> None:
    timing = run(
        start=sh(2026, 9, 29, 10), end=sh(2026, 10, 14, 10), now=sh(2026, 10, 20), committed_limit_wd=5
    )
    assert timing.committed_due == sh(2026, 10, 13)
    assert timing.remaining_working_days == pytest.approx(-(1 + 10 / 24))  # all of Tue 13 + 10 h of Wed 14
    assert timing.status == "overdue"


# -- clock stops ---------------------------------------------------------------------------------------------

SPECIAL = ClockStop(sh(2026, 3, 3, 9), sh(2026, 3, 5, 9), "special")  # 特别程序: exactly 2.0 wd


@pytest.mark.parametrize(
    ("rule", "stopped", "approval", "due", "status"),
    [
        # Counted: due Fri 6 Mar 00:00 + 2.0 wd (Fri 6, Mon 9) → Tue 10 Mar 00:00.
        (WITH_SPECIAL, 2.0, 2.0, sh(2026, 3, 10), "on_time"),
        # Not counted: due stays Fri 6 Mar 00:00 and finishing Fri 09:00 is late.
        (PLAIN, 0.0, 4.0, sh(2026, 3, 6), "overdue"),
    ],
)
def test_special_procedure_stops_clock_only_when_configured(
    rule: TimingRule, stopped: float, approval: float, due: datetime, status: str
) -> None:
    # Span Mon 2 Mar 09:00 → Fri 6 Mar 09:00 = 15/24 + Tue, Wed, Thu + 9/24 = 4.0 wd.
    timing = run(
        start=sh(2026, 3, 2, 9), end=sh(2026, 3, 6, 9), now=sh(2026, 3, 6, 9),
        committed_limit_wd=3, stops=[SPECIAL], rule=rule,
    )
    assert timing.span_working_days == pytest.approx(4.0)
    assert timing.stopped_working_days == pytest.approx(stopped)
    assert timing.approval_working_days == pytest.approx(approval)
    assert timing.committed_due == due
    assert timing.status == status


def test_overlapping_stops_are_not_subtracted_twice() -> None:
    stops = [
        ClockStop(sh(2026, 3, 3), sh(2026, 3, 5), "correction"),  # Tue–Wed
        ClockStop(sh(2026, 3, 4), sh(2026, 3, 6), "special"),  # Wed–Thu, overlaps
        ClockStop(sh(2026, 3, 4, 12), sh(2026, 3, 4, 18), "correction"),  # nested
    ]
    # Union: Tue 3 Mar 00:00 → Fri 6 Mar 00:00 = 3.0 wd (not 2 + 2 + 0.25).
    timing = run(start=sh(2026, 3, 2), now=sh(2026, 3, 10), committed_limit_wd=5, stops=stops, rule=WITH_SPECIAL)
    assert timing.stopped_working_days == pytest.approx(3.0)
    # Span Mon 2 → Tue 10 Mar 00:00: Mon–Fri + Mon 9 = 6.0; approval 3.0.
    assert timing.approval_working_days == pytest.approx(3.0)
    # Due Mar 3, 4, 5, 6, 9 → Tue 10 Mar 00:00, + 3.0 (Tue, Wed, Thu) → Fri 13 Mar 00:00.
    assert timing.committed_due == sh(2026, 3, 13)
    # With the special stop ignored, only the correction part counts: Tue 3 → Thu 5 Mar = 2.0.
    assert run(start=sh(2026, 3, 2), now=sh(2026, 3, 10), stops=stops).stopped_working_days == pytest.approx(2.0)


def test_stops_are_clipped_to_the_measured_span() -> None:
    stops = [
        ClockStop(sh(2026, 2, 27, 9), sh(2026, 3, 2, 12), "correction"),  # begins before acceptance
        ClockStop(sh(2026, 3, 5, 12), sh(2026, 3, 20), "correction"),  # runs past the end
    ]
    # Clipped: Mon 2 Mar 09:00–12:00 (3/24) and Thu 5 Mar 12:00 → Fri 6 Mar 12:00 (end) = 1.0.
    timing = run(start=sh(2026, 3, 2, 9), end=sh(2026, 3, 6, 12), now=sh(2026, 3, 30), stops=stops)
    assert timing.stopped_working_days == pytest.approx(1.0 + 3 / 24)


def test_merge_intervals() -> None:
    a, b, c, d = sh(2026, 3, 2), sh(2026, 3, 3), sh(2026, 3, 4), sh(2026, 3, 5)
    assert merge_intervals([(c, d), (a, b), (b, c)]) == [(a, d)]
    assert merge_intervals([(a, b), (c, d)]) == [(a, b), (c, d)]


# -- remaining time and status ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "remaining", "status"),
    [
        (sh(2026, 3, 6, 12), 1.5, "on_time"),  # half of Fri + Mon
        (sh(2026, 3, 7, 12), 1.0, "warning"),  # Saturday: only Mon left, == warn_days
        (sh(2026, 3, 9, 8), 16 / 24, "warning"),
        (sh(2026, 3, 10), 0.0, "warning"),  # exactly 24:00 of the last day: not yet late
        (sh(2026, 3, 10, 6), -0.25, "overdue"),
    ],
)
def test_remaining_and_status_of_an_open_item(now: datetime, remaining: float, status: str) -> None:
    # Accepted Mon 2 Mar 09:00, 5 wd: Mar 3, 4, 5, 6, 9 → due Tue 10 Mar 00:00.
    timing = run(start=sh(2026, 3, 2, 9), now=now, committed_limit_wd=5)
    assert timing.committed_due == sh(2026, 3, 10)
    assert timing.remaining_working_days == pytest.approx(remaining)
    assert timing.status == status
    assert timing.end is None


def test_open_stop_freezes_remaining_time() -> None:
    # 补正 open since Thu 5 Mar 12:00; at that moment 0.5 (Thu) + Fri + Mon = 2.5 wd remained.
    before = run(start=sh(2026, 3, 2, 9), now=sh(2026, 3, 5, 12), committed_limit_wd=5)
    assert before.remaining_working_days == pytest.approx(2.5)
    stop = ClockStop(sh(2026, 3, 5, 12), None, "correction")
    later = run(start=sh(2026, 3, 2, 9), now=sh(2026, 3, 9, 12), committed_limit_wd=5, stops=[stop])
    # Stopped so far: 0.5 (Thu) + 1 (Fri) + 0.5 (Mon) = 2.0 → due Tue 10 00:00 + 2.0 = Thu 12 Mar 00:00.
    assert later.stopped_working_days == pytest.approx(2.0)
    assert later.committed_due == sh(2026, 3, 12)
    assert later.remaining_working_days == pytest.approx(2.5)
    assert later.status == "on_time"


def test_finished_items_are_on_time_or_overdue_never_warning() -> None:
    # Finished Mon 9 Mar 20:00 with 4 h left: on time, even though remaining <= warn_days.
    timing = run(start=sh(2026, 3, 2, 9), end=sh(2026, 3, 9, 20), now=sh(2026, 3, 30), committed_limit_wd=5)
    assert timing.remaining_working_days == pytest.approx(4 / 24)
    assert timing.status == "on_time"
    # Span and remaining are measured at `end`, not at `now`.
    assert timing.span_natural_days == pytest.approx(7 + 11 / 24)


def test_statutory_overdue_is_tracked_separately() -> None:
    # No committed limit; statutory 2 wd → due Thu 5 Mar 00:00; finished Thu 10:00.
    timing = run(start=sh(2026, 3, 2, 9), end=sh(2026, 3, 5, 10), now=sh(2026, 3, 5, 10), statutory_limit_wd=2)
    assert timing.committed_due is None and timing.remaining_working_days is None
    assert timing.statutory_due == sh(2026, 3, 5)
    assert timing.statutory_overdue
    assert timing.status == "on_time"


def test_silent_consent() -> None:
    timing = run(
        start=sh(2026, 3, 2, 9), now=sh(2026, 3, 20), committed_limit_wd=5, statutory_limit_wd=20,
        silent_consent=True,
    )
    assert timing.status == "silent_consent"


def test_due_date_in_an_uncovered_year_warns_but_works() -> None:
    # Accepted Wed 30 Dec 2026, 3 wd: Thu 31 Dec (1); 2027 fallback: Fri 1 Jan 元旦, weekend, Mon 4 (2), Tue 5 (3).
    with pytest.warns(CalendarDataMissing, match="2027"):
        timing = run(start=sh(2026, 12, 30, 10), now=sh(2026, 12, 30, 11), committed_limit_wd=3,
                     calendar=WorkCalendar())
    assert timing.committed_due == sh(2027, 1, 6)


# -- validation and serialisation ------------------------------------------------------------------------------


def test_naive_and_inconsistent_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        run(start=datetime(2026, 3, 2, 9), now=sh(2026, 3, 3))
    with pytest.raises(ValueError, match="naive"):
        ClockStop(datetime(2026, 3, 2), None, "correction")
    with pytest.raises(ValueError, match="before it starts"):
        ClockStop(sh(2026, 3, 3), sh(2026, 3, 2), "correction")
    with pytest.raises(ValueError, match="kind"):
        ClockStop(sh(2026, 3, 2), None, "pause")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="before start"):
        run(start=sh(2026, 3, 2, 9), end=sh(2026, 3, 1), now=sh(2026, 3, 3))


def test_to_dict_is_json_friendly() -> None:
    timing = run(start=sh(2026, 3, 2, 9), now=sh(2026, 3, 5, 17), committed_limit_wd=5, statutory_limit_wd=20)
    data = timing.to_dict()
    assert data["start"] == "2026-03-02T01:00:00Z"
    assert data["end"] is None
    assert data["committed_due"] == "2026-03-09T16:00:00Z"  # Tue 10 Mar 00:00 in Beijing
    # Span Mon 09:00 → Thu 17:00: 15/24 + Tue + Wed + 17/24 = 3.3333.
    assert data["span_working_days"] == 3.3333
    assert data["remaining_working_days"] == round(7 / 24 + 2, 4)
    assert data["status"] == "on_time"
    assert data["statutory_overdue"] is False
    import json

    assert json.loads(json.dumps(data)) == data


def test_measure_is_pure_and_repeatable() -> None:
    kwargs = {"start": sh(2026, 3, 2, 9), "now": sh(2026, 3, 9, 8), "committed_limit_wd": 5}
    assert run(**kwargs) == run(**kwargs)
    assert run(**kwargs).start == sh(2026, 3, 2, 9).astimezone(timezone.utc)
    assert run(**kwargs).span_natural_days == pytest.approx((timedelta(days=6, hours=23)) / timedelta(days=1))


# -- whole days (the clerk's count) and the profile's stop push ------------------------------------------------------
BY_DAYS = TimingRule(special_stops_clock=False, warn_days=1)  # stop_push="days", the default


def test_default_stop_push_is_whole_days() -> None:
    assert BY_DAYS.stop_push == "days"
    with pytest.raises(ValueError, match="stop_push"):
        TimingRule(special_stops_clock=False, warn_days=1, stop_push="minutes")  # type: ignore[arg-type]


def test_on_time_within_the_limit_reads_as_within_the_limit_in_whole_days() -> None:
    """Accepted Mon 10:00, finished Thu 11:00 on a 3-wd limit: 3.04 wd by the hour, 3 of 3 days as a clerk counts."""
    timing = measure(start=sh(2026, 3, 2, 10), end=sh(2026, 3, 5, 11), now=sh(2026, 3, 5, 11), committed_limit_wd=3,
                     statutory_limit_wd=3, stops=[], rule=BY_DAYS, calendar=CAL)
    assert timing.approval_working_days == pytest.approx(3 + 1 / 24)
    assert (timing.span_days_used, timing.approval_days_used) == (3, 3)
    assert timing.status == "on_time" and timing.committed_due == sh(2026, 3, 6)


@pytest.mark.parametrize("after", [timedelta(0), timedelta(microseconds=1)])
def test_an_end_at_24_00_of_the_due_day_used_that_day_not_the_next(after: timedelta) -> None:
    """超时默许 / 视为受理 fire at 24:00 of the due day (the engine's timers a microsecond after it): accepted Mon
    10:00 on a 3-wd limit, ended by the timer at 24:00 Thu — 3 of 3 days, not 4 (Fri is not used)."""
    due = sh(2026, 3, 6)  # 00:00 Fri = 24:00 Thu
    timing = measure(start=sh(2026, 3, 2, 10), end=due + after, now=due + after, committed_limit_wd=3,
                     statutory_limit_wd=3, stops=[], rule=BY_DAYS, calendar=CAL)
    assert timing.committed_due == due
    assert (timing.span_days_used, timing.approval_days_used) == (3, 3)


def test_a_stop_pushes_the_due_date_by_whole_days_or_by_the_hour() -> None:
    """补正 Tue 10:00 → Wed 15:00 on a 3-wd matter accepted Mon 9:00: due 24:00 Thu unpushed.

    Whole days: the stop covered Wed (after Tue, up to and including Wed) → 24:00 Fri; by the hour it stopped
    29 working hours → Sat is a rest day, so 05:00 Mon.
    """
    stop = ClockStop(sh(2026, 3, 3, 10), sh(2026, 3, 4, 15), "correction")
    common = dict(start=sh(2026, 3, 2, 9), end=None, now=sh(2026, 3, 5, 9), committed_limit_wd=3, statutory_limit_wd=3,
                  stops=[stop], calendar=CAL)
    by_days = measure(**common, rule=BY_DAYS)
    by_hours = measure(**common, rule=TimingRule(special_stops_clock=False, warn_days=1, stop_push="hours"))
    assert by_days.committed_due == sh(2026, 3, 7)  # 24:00 Fri 6 Mar
    assert by_hours.committed_due == sh(2026, 3, 9, 5)
    # both counts beside each other: Tue, Wed, Thu used so far, less Wed (stopped)
    assert (by_days.span_days_used, by_days.approval_days_used) == (3, 2)
    assert by_days.approval_working_days == pytest.approx(3 - 29 / 24)
    assert by_days.to_dict()["approval_days_used"] == 2


def test_an_open_stop_pushes_by_the_days_it_has_covered_so_far() -> None:
    stop = ClockStop(sh(2026, 3, 3, 10), None, "correction")
    timing = measure(start=sh(2026, 3, 2, 9), end=None, now=sh(2026, 3, 9, 9), committed_limit_wd=3,
                     statutory_limit_wd=3, stops=[stop], rule=BY_DAYS, calendar=CAL)
    # covered so far: Wed 4, Thu 5, Fri 6, Mon 9 Mar → due 24:00 Thu 5 Mar + 4 wd = 24:00 Wed 11 Mar
    assert timing.committed_due == sh(2026, 3, 12)
    assert timing.approval_days_used == 1 and timing.status != "overdue"
