"""WorkCalendar: 2026 holidays with 调休, durations, the 2027 fallback, and operator YAML data.

The 2026 facts used here were read from chinesecalendar 1.11 (get_holiday_detail, Sep 18 – Oct 13 2026):
Sat 19 Sep rest; **Sun 20 Sep working (调休, labelled National Day)**; Mon 21 – Thu 24 Sep working;
Fri 25 – Sun 27 Sep 中秋节; Mon 28 – Wed 30 Sep working; Thu 1 – Wed 7 Oct 国庆节;
Thu 8, Fri 9 and **Sat 10 Oct working (调休)**; Sun 11 Oct rest; Mon 12 Oct working.
Every expected value below is counted by hand from that list.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import chinese_calendar
import pytest

from engine.domain.workcalendar import (
    FALLBACK_RULE,
    HOLIDAYS_DIR_ENV,
    SHANGHAI,
    CalendarDataMissing,
    HolidayDataError,
    WorkCalendar,
)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()  # chinesecalendar only: independent of files an operator may add to the repo


# -- day classification ------------------------------------------------------------------------------------------


def test_chinesecalendar_2026_autumn_matches_what_the_tests_assume() -> None:
    """Guard: if a chinesecalendar upgrade changes 2026, these tests must be re-derived, not silently pass."""
    rest = {date(2026, 9, 19), *(date(2026, 9, d) for d in (25, 26, 27)), *(date(2026, 10, d) for d in range(1, 8))}
    rest.add(date(2026, 10, 11))
    for offset in range(25):
        day = date(2026, 9, 18) + timedelta(days=offset)
        assert chinese_calendar.is_workday(day) == (day not in rest), day


def test_ordinary_weekend(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2026, 3, 6))  # Fri
    assert not cal.is_working_day(date(2026, 3, 7))  # Sat
    assert not cal.is_working_day(date(2026, 3, 8))  # Sun
    assert cal.next_working_day(date(2026, 3, 6)) == date(2026, 3, 9)


def test_2026_mid_autumn_and_national_day(cal: WorkCalendar) -> None:
    assert not cal.is_working_day(date(2026, 9, 25))  # 中秋节, Friday
    assert cal.day_info(date(2026, 9, 25)).name == "Mid-autumn Festival"
    assert not cal.is_working_day(date(2026, 10, 5))  # 国庆节, Monday
    assert cal.is_working_day(date(2026, 9, 20))  # 调休 Sunday
    assert cal.is_working_day(date(2026, 10, 10))  # 调休 Saturday
    assert not cal.is_working_day(date(2026, 10, 11))  # plain Sunday


def test_add_working_days_counts_tiaoxiu_weekends(cal: WorkCalendar) -> None:
    assert cal.next_working_day(date(2026, 9, 18)) == date(2026, 9, 20)  # Fri → 调休 Sun, not Mon
    assert cal.next_working_day(date(2026, 9, 24)) == date(2026, 9, 28)  # over 中秋节
    # From Wed 30 Sep: Oct 8 (1), Oct 9 (2), Sat Oct 10 (3), Mon Oct 12 (4).
    assert cal.add_working_days(date(2026, 9, 30), 4) == date(2026, 10, 12)
    assert cal.add_working_days(date(2026, 9, 30), 0) == date(2026, 9, 30)
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 9, 30), -1)


def test_aware_datetime_is_classified_in_shanghai(cal: WorkCalendar) -> None:
    # 2026-09-30 17:00 UTC is already Thu 1 Oct 01:00 in Beijing: a holiday.
    assert not cal.is_working_day(datetime(2026, 9, 30, 17, tzinfo=timezone.utc))
    with pytest.raises(ValueError, match="naive"):
        cal.is_working_day(datetime(2026, 9, 30, 17))


# -- durations --------------------------------------------------------------------------------------------------


def test_working_days_over_a_weekend(cal: WorkCalendar) -> None:
    assert cal.working_days(sh(2026, 3, 6, 12), sh(2026, 3, 9, 12)) == pytest.approx(1.0)
    assert cal.working_days(sh(2026, 3, 7, 10), sh(2026, 3, 9, 10)) == pytest.approx(10 / 24)  # from a Saturday
    assert cal.working_days(sh(2026, 3, 9, 12), sh(2026, 3, 6, 12)) == pytest.approx(-1.0)
    assert cal.working_days(sh(2026, 3, 9, 9), sh(2026, 3, 9, 15)) == pytest.approx(0.25)
    assert cal.natural_days(sh(2026, 3, 6, 12), sh(2026, 3, 9, 12)) == pytest.approx(3.0)


def test_working_days_across_national_day(cal: WorkCalendar) -> None:
    # Wed 30 Sep 12:00 → Thu 8 Oct 12:00: half of Sep 30 + half of Oct 8, Oct 1–7 are holidays.
    assert cal.working_days(sh(2026, 9, 30, 12), sh(2026, 10, 8, 12)) == pytest.approx(1.0)
    assert cal.natural_days(sh(2026, 9, 30, 12), sh(2026, 10, 8, 12)) == pytest.approx(8.0)
    # Fri 18 Sep → Mon 12 Oct (00:00): Sep 18, 20, 21, 22, 23, 24, 28, 29, 30, Oct 8, 9, 10 = 12.
    assert cal.working_days(sh(2026, 9, 18), sh(2026, 10, 12)) == pytest.approx(12.0)


def test_working_days_whole_year_2026(cal: WorkCalendar) -> None:
    # 261 weekdays; 19 of them are holidays (元旦 2, 春节 6, 清明 1, 劳动 3, 端午 1, 中秋 1, 国庆 5);
    # 6 调休 weekend days (Jan 4, Feb 14, Feb 28, May 9, Sep 20, Oct 10): 261 − 19 + 6 = 248.
    # Ends at 00:00 on 1 Jan 2027, so no 2027 day is classified and nothing warns.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalendarDataMissing)
        assert cal.working_days(sh(2026, 1, 1), sh(2027, 1, 1)) == pytest.approx(248.0)


def test_working_days_over_decades_agrees_with_chinesecalendar(cal: WorkCalendar) -> None:
    expected = len(chinese_calendar.get_workdays(date(2004, 1, 1), date(2026, 12, 31)))
    assert cal.working_days(sh(2004, 1, 1), sh(2027, 1, 1)) == pytest.approx(expected)


def test_add_working_time_across_a_weekend(cal: WorkCalendar) -> None:
    # Fri 18:00 + 0.5: 6 h left on Friday (0.25), then 6 h of Monday.
    assert cal.add_working_time(sh(2026, 3, 6, 18), 0.5) == sh(2026, 3, 9, 6)
    # Exactly using up Friday lands on Friday 24:00, not on Monday morning.
    assert cal.add_working_time(sh(2026, 3, 6, 12), 0.5) == sh(2026, 3, 7, 0)
    # Starting on a Saturday: the weekend is skipped first.
    assert cal.add_working_time(sh(2026, 3, 7, 15), 0.25) == sh(2026, 3, 9, 6)
    assert cal.add_working_time(sh(2026, 3, 7, 15), 0) == sh(2026, 3, 7, 15)
    assert cal.add_working_time(sh(2026, 3, 6, 18), 0.5).tzinfo == timezone.utc


def test_add_working_time_across_national_day_uses_tiaoxiu(cal: WorkCalendar) -> None:
    # Wed 30 Sep 12:00 + 3.0: 0.5 (Sep 30), Oct 8 (1.5), Oct 9 (2.5), half of Sat Oct 10 (3.0).
    assert cal.add_working_time(sh(2026, 9, 30, 12), 3.0) == sh(2026, 10, 10, 12)


@pytest.mark.parametrize("amount", [0.1, 1.0, 2.75, 9.5])
def test_add_working_time_inverts_working_days(cal: WorkCalendar, amount: float) -> None:
    start = sh(2026, 9, 24, 15, 30)
    assert cal.working_days(start, cal.add_working_time(start, amount)) == pytest.approx(amount)


def test_naive_datetimes_are_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        cal.working_days(datetime(2026, 3, 6, 12), sh(2026, 3, 9))
    with pytest.raises(ValueError, match="naive"):
        cal.add_working_time(datetime(2026, 3, 6, 12), 1.0)
    with pytest.raises(ValueError, match="naive"):
        cal.natural_days(sh(2026, 3, 6), datetime(2026, 3, 9))


# -- uncovered years: the fallback rule ------------------------------------------------------------------------


def test_2027_uses_fallback_rule_and_warns_once() -> None:
    cal = WorkCalendar()
    assert not cal.covers(date(2027, 1, 4))
    assert 2027 not in cal.covered_years()
    with pytest.warns(CalendarDataMissing, match=r"2027.*workflows/holidays/2027\.yaml") as record:
        assert not cal.is_working_day(date(2027, 1, 1))  # Fri, 元旦 (fixed date)
        assert cal.is_working_day(date(2027, 1, 4))  # Mon
        assert not cal.is_working_day(date(2027, 1, 9))  # Sat: no 调休 in the fallback
        assert cal.is_working_day(date(2027, 2, 8))  # a Monday in 春节 week: lunar holidays unknown
        assert cal.day_info(date(2027, 5, 1)).name == "劳动节 (fallback)"  # a Saturday anyway in 2027
        assert not cal.is_working_day(date(2027, 10, 1))  # Fri, 国庆节
        assert cal.is_working_day(date(2027, 10, 4))  # Mon: only 1–3 Oct in the fallback
    assert sum(issubclass(w.category, CalendarDataMissing) for w in record) == 1
    assert FALLBACK_RULE in str(record[0].message)
    assert cal.day_info(date(2027, 1, 1)).source == "fallback"


def test_span_into_2027_does_not_crash() -> None:
    cal = WorkCalendar()
    # Wed 30 Dec 2026 → Wed 6 Jan 2027: Dec 30, Dec 31 (2026 data), [Jan 1 元旦, 2–3 weekend], Jan 4, 5 = 4.
    with pytest.warns(CalendarDataMissing):
        assert cal.working_days(sh(2026, 12, 30), sh(2027, 1, 6)) == pytest.approx(4.0)


# -- operator YAML data ----------------------------------------------------------------------------------------

VALID_2027 = """\
year: 2027
source: "test notice"
holidays:
  - {start: 2027-01-01, end: 2027-01-03, name: 元旦}
  - {date: 2027-04-05, name: 清明节}
workdays:
  - {date: 2027-01-09, name: 调休}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_file_covers_a_new_year_without_warning(tmp_path: Path) -> None:
    write(tmp_path, "2027.yaml", VALID_2027)
    write(tmp_path, "example-2028.yaml.sample", "not: loaded")
    cal = WorkCalendar([tmp_path])
    assert cal.covers(date(2027, 6, 1)) and 2027 in cal.covered_years()
    assert cal.data_file(2027) == tmp_path / "2027.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalendarDataMissing)
        assert not cal.is_working_day(date(2027, 1, 1))
        assert not cal.is_working_day(date(2027, 4, 5))  # Mon
        assert cal.is_working_day(date(2027, 1, 9))  # 调休 Saturday
        assert not cal.is_working_day(date(2027, 1, 10))  # Sunday
        assert cal.is_working_day(date(2027, 10, 1))  # not listed in this (test) file: an ordinary Friday


def test_yaml_overrides_chinesecalendar_for_its_year(tmp_path: Path) -> None:
    write(
        tmp_path,
        "2026.yaml",
        "year: 2026\nsource: test\nholidays:\n  - {date: 2026-03-04, name: 测试}\nworkdays: []\n",
    )
    cal = WorkCalendar([tmp_path])
    assert not cal.is_working_day(date(2026, 3, 4))  # a Wednesday, rest day per the file
    assert cal.is_working_day(date(2026, 10, 1))  # chinesecalendar's 国庆节 no longer applies in 2026
    assert not cal.is_working_day(date(2026, 9, 20))  # nor its 调休 Sunday
    assert not cal.is_working_day(date(2025, 10, 1))  # other years still come from chinesecalendar


def test_later_directory_and_env_var_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write(first, "2027.yaml", VALID_2027)
    write(second, "2027.yaml", VALID_2027.replace("2027-04-05", "2027-04-06"))
    cal = WorkCalendar([first, second])
    assert cal.is_working_day(date(2027, 4, 5)) and not cal.is_working_day(date(2027, 4, 6))

    monkeypatch.setenv(HOLIDAYS_DIR_ENV, str(second))
    assert WorkCalendar.default().data_file(2027) == second / "2027.yaml"


def test_default_does_not_load_the_sample() -> None:
    assert (Path(__file__).resolve().parents[1] / "workflows" / "holidays" / "example-2027.yaml.sample").exists()
    cal = WorkCalendar.default()
    assert all(path.suffix in {".yaml", ".yml"} for path in map(cal.data_file, cal.covered_years()) if path)


def test_shipped_sample_is_valid_once_renamed_and_sourced(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[1] / "workflows" / "holidays" / "example-2027.yaml.sample"
    text = sample.read_text(encoding="utf-8")
    write(tmp_path, "2027.yaml", text)
    with pytest.raises(HolidayDataError, match=r"2027\.yaml.*source.*EXAMPLE"):
        WorkCalendar([tmp_path])
    write(tmp_path, "2027.yaml", text.replace("EXAMPLE", "Real"))
    assert WorkCalendar([tmp_path]).covers(date(2027, 1, 1))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("holidays:\n  - {date: 2028-01-01, name: 元旦}\n", r"holidays\[0\].*outside year 2027"),
        ("holidays:\n  - {date: 2027-10-09, name: 国庆节}\nworkdays:\n  - {date: 2027-10-09, name: 调休}\n",
         r"workdays\[0\].*also a holiday"),
        ("workdays:\n  - {date: 2027-10-08, name: 调休}\n", r"workdays\.0\.date.*Friday"),
        ("holidays:\n  - {name: 元旦}\n", r"holidays\.0.*'date'"),
        ("holidays:\n  - {start: 2027-10-07, end: 2027-10-01, name: 国庆节}\n", r"holidays\.0.*before"),
        ("holiday:\n  - {date: 2027-01-01, name: 元旦}\n", r"holiday:.*Extra inputs"),
        ("holidays:\n  - {date: 20270101, name: 元旦}\n", r"holidays\.0\.date.*YYYY-MM-DD"),
    ],
)
def test_invalid_yaml_is_rejected_naming_file_and_field(tmp_path: Path, body: str, field: str) -> None:
    path = write(tmp_path, "2027.yaml", 'year: 2027\nsource: "test"\n' + body)
    with pytest.raises(HolidayDataError, match=field) as excinfo:
        WorkCalendar([tmp_path])
    assert str(path) in str(excinfo.value)


def test_file_name_must_match_year(tmp_path: Path) -> None:
    write(tmp_path, "2028.yaml", VALID_2027)
    with pytest.raises(HolidayDataError, match=r"2028\.yaml: year"):
        WorkCalendar([tmp_path])


def test_unreadable_yaml_and_missing_directory(tmp_path: Path) -> None:
    write(tmp_path, "2027.yaml", "year: [unclosed\n")
    with pytest.raises(HolidayDataError, match=r"2027\.yaml"):
        WorkCalendar([tmp_path])
    with pytest.raises(HolidayDataError, match="does not exist"):
        WorkCalendar([tmp_path / "nope"])


def test_subtract_working_time_mirrors_add_across_a_weekend() -> None:
    from datetime import datetime, timezone

    from engine.domain.workcalendar import SHANGHAI, WorkCalendar

    cal = WorkCalendar()
    # 24:00 on Monday 16 Nov 2026 (= 00:00 Tuesday); two working days earlier is 24:00 Thursday 12 Nov
    due = datetime(2026, 11, 17, 0, 0, tzinfo=SHANGHAI)
    warn = cal.subtract_working_time(due, 2)
    assert warn == datetime(2026, 11, 13, 0, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)
    assert cal.add_working_time(warn, 2) == due.astimezone(timezone.utc)
