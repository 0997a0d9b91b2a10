"""The analysts' measures, checked against figures worked out by hand for three small projects.

The projects are driven through the real ApprovalService (tests/analytics_scenario.py says what happens to
each, and when). Working days: Shanghai time, 受理次日起算, the 2026 国庆 holiday (1–7 Oct) not counted.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine.analytics.measures import (
    Filters,
    bottlenecks,
    department_durations,
    joint_acceptance_rate,
    matter_durations,
    overdue_rates,
    parallel_rate,
    process_durations,
    report,
    silent_consent_rate,
    special_procedures,
    stage_durations,
    off_system_suspects,
    tolerance_and_commitment,
)
from tests.analytics_scenario import build, local


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    service, ids = build(f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'a.db'}")
    service.timings = {name: service.timing(pid) for name, pid in ids.items()}  # read before the connection opens
    with service.db.connect() as conn:
        yield service, ids, conn


def _stats(values: list[float]) -> dict[str, float]:
    """The reference definitions: mean of the middle pair for the median, nearest rank for p90."""
    v = sorted(values)
    n = len(v)
    median = (v[(n - 1) // 2] + v[n // 2]) / 2
    return {"mean": sum(v) / n, "median": median, "p90": v[math.ceil(0.9 * n) - 1], "max": v[-1]}


def _close(actual: dict[str, Any], expected: dict[str, float]) -> None:
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=2e-4), key


def _by_group(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {row["group"]: row for row in rows}


def test_stage_spans_and_approval_times_by_hand(world) -> None:
    _, _, conn = world
    s1 = _by_group(stage_durations(conn))["S1"]
    assert s1["count"] == 3  # B's S2 is still open, so not in the distribution
    # A 3.2917 wd (Mon 09:00 → Thu 16:00), B 2.0417, C 2.0 (30 Sep 09:00 → 9 Oct 09:00 over 国庆: 2 wd, 9 days)
    _close(s1["span_working_days"], {"mean": (3.2917 + 2.0417 + 2.0) / 3, "median": 2.0417, "p90": 3.2917, "max": 3.2917})
    _close(s1["span_natural_days"], {"median": 3.2917, "p90": 9.0, "max": 9.0})
    # A's stage clock stops while every open matter is stopped: 3 Nov 10:00 → 4 Nov 10:00 (补正 ‖ 专家评审) and
    # 4 Nov 11:00 → 5 Nov 09:00 (only 节能审查 open, waiting for 补正): 46 h; 3.2917 − 1.9167 = 1.375
    _close(s1["approval_working_days"], {"median": 2.0, "p90": 2.0417, "max": 2.0417, "mean": (1.375 + 2.0417 + 2.0) / 3})
    _close(s1["approval_natural_days"], {"median": 2.0417, "p90": 9.0, "max": 9.0})


def test_distributions_match_the_service_timing(world) -> None:
    service, ids, conn = world
    matters = [m for timing in service.timings.values() for m in timing["matters"] if m["end"]]
    for by, rows in (("department", department_durations(conn)), ("matter_id", matter_durations(conn))):
        groups = _by_group(rows)
        keys = {m["department"] if by == "department" else m["key"].split("/")[-1] for m in matters}
        assert set(groups) == keys
        for key in keys:
            chosen = [m for m in matters if (m["department"] if by == "department" else m["key"].split("/")[-1]) == key]
            assert groups[key]["count"] == len(chosen)
            for metric in ("span_natural_days", "span_working_days", "approval_working_days"):
                _close(groups[key][metric], _stats([m[metric] for m in chosen]))


def test_department_distribution_by_hand(world) -> None:
    _, _, conn = world
    fgw = _by_group(department_durations(conn))["fgw"]
    assert fgw["count"] == 6  # 核准 and 节能 of each project (a 核准 project does not 备案)
    # approval: A 节能 1.25 (2 wd of 补正 out of 3.25), A 核准 1.0833 (专家评审 1 wd out), four × 2.0
    _close(fgw["approval_working_days"], {"mean": (1.25 + 1.0833 + 8) / 6, "median": 2.0, "p90": 2.0, "max": 2.0})
    # spans: B 2, 2; A 核准 2.0833, A 节能 3.25; C 9, 9 (国庆) → the even count's median is the middle pair's mean
    _close(fgw["span_natural_days"], {"median": (2.0833 + 3.25) / 2, "p90": 9.0, "max": 9.0})
    _close(fgw["approval_natural_days"], {"median": 2.0, "p90": 9.0})


def test_even_count_median_is_the_mean_of_the_middle_pair(world) -> None:
    _, _, conn = world
    rows = matter_durations(conn, Filters(matter="s1_land_presite", since=local(2026, 11, 1)))
    _close(rows[0]["span_working_days"], {"median": (0.0014 + 2.0) / 2, "p90": 2.0, "max": 2.0})


def test_filters(world) -> None:
    _, _, conn = world
    assert _by_group(stage_durations(conn, Filters(since=local(2026, 11, 1))))["S1"]["count"] == 2
    assert _by_group(stage_durations(conn, Filters(until=local(2026, 11, 1))))["S1"]["count"] == 1
    assert stage_durations(conn, Filters(jurisdiction="jiangxi")) == []
    assert _by_group(stage_durations(conn, Filters(jurisdiction="default")))["S1"]["count"] == 3
    assert stage_durations(conn, Filters(project_type="gov_building")) == []
    assert [r["group"] for r in department_durations(conn, Filters(stage="S2", department="rf"))] == ["rf"]
    assert process_durations(conn) == []  # no project has finished: between stages the whole process stays open


def test_overdue_rates_committed_and_statutory(world) -> None:
    _, _, conn = world
    rates = overdue_rates(conn)
    # B's 人防 approved 12 Nov (due 11 Nov 24:00); 超时默许 are not overdue; 用地预审 (5 wd) took 2 wd in B and C
    assert rates["matter"]["committed"] == {"count": 1, "of": 21, "rate": round(1 / 21, 4)}
    assert rates["matter"]["statutory"] == {"count": 0, "of": 21, "rate": 0.0}
    assert rates["stage"]["committed"] == {"count": 0, "of": 3, "rate": 0.0}
    assert rates["project"]["committed"]["of"] == 0
    assert overdue_rates(conn, Filters(department="rf"))["matter"]["committed"] == {"count": 1, "of": 1, "rate": 1.0}


def test_silent_consent_rate(world) -> None:
    _, _, conn = world
    assert silent_consent_rate(conn) == {"count": 2, "of": 21, "rate": round(2 / 21, 4)}
    assert silent_consent_rate(conn, Filters(stage="S2")) == {"count": 2, "of": 9, "rate": round(2 / 9, 4)}


def test_parallel_rate(world) -> None:
    _, _, conn = world
    assert parallel_rate(conn, now=local(2026, 11, 12, 12, 0)) == {"count": 21, "of": 21, "rate": 1.0}
    # a lone department still ran in parallel with its siblings
    assert parallel_rate(conn, Filters(department="rf"), now=local(2026, 11, 12, 12, 0))["count"] == 1


def test_tolerance_commitment_and_joint_acceptance(world) -> None:
    _, _, conn = world
    shares = tolerance_and_commitment(conn)
    assert shares["tolerance"] == {"count": 0, "of": 4, "rate": 0.0}  # A S1, B S1, B S2, C S1 accepted
    assert shares["commitment"] == {"count": 0, "of": 4, "rate": 0.0}
    assert shares["broken_commitments"]["rate"] is None
    assert joint_acceptance_rate(conn) == {"count": 0, "of": 0, "rate": None}


def test_special_procedures(world) -> None:
    _, _, conn = world
    special = special_procedures(conn)
    expert = special["by_procedure"]["expert_review"]
    assert (expert["started"], expert["finished"]) == (1, 1)
    _close(expert["span_working_days"], {"mean": 1.0, "max": 1.0})
    assert special["matters_with_special"] == {"count": 1, "of": 21, "rate": round(1 / 21, 4)}


def test_off_system_suspects_exclude_filings(world) -> None:
    service, ids, conn = world
    # the exclusion is by the list of filing-type matters: A's 用地预审 (2 minutes) listed as one here, as a 备案 is
    filing = ["s1_land_presite"]
    found = off_system_suspects(conn, filing_matters=filing, threshold_minutes=10)
    assert (found["count"], found["of"]) == (1, 18)  # A's 建设用地规划许可 in 3 minutes; the listed one is legitimate
    assert found["examples"][0]["key"] == "S1/s1_land_use_planning_permit"
    assert found["examples"][0]["project_id"] == ids["A"]
    assert found["examples"][0]["minutes"] == pytest.approx(3.0, abs=0.2)  # figures are stored to 4 decimals of a day
    assert off_system_suspects(conn, filing_matters=filing, threshold_minutes=2)["count"] == 0
    assert off_system_suspects(conn, threshold_minutes=10)["count"] == 2  # without the filing list


def test_bottleneck_ranking(world) -> None:
    _, _, conn = world
    ranking = bottlenecks(conn, by="department", top=5)
    # 6 wd held by 交通 and 园林 (超时默许) and 人防 (late): ties broken by name; then 发改 (mean 1.7222)
    assert [r["group"] for r in ranking] == ["jt", "rf", "yl", "fgw", "zrzy"]
    assert ranking[3]["mean"] == pytest.approx((1.25 + 1.0833 + 8) / 6, abs=2e-4)
    assert [r["rank"] for r in ranking] == [1, 2, 3, 4, 5]


def test_report_is_json_friendly(world) -> None:
    import json

    _, _, conn = world
    data = report(conn, Filters(project_type="social_general"), now=local(2026, 11, 12, 12, 0))
    assert json.loads(json.dumps(data, ensure_ascii=False))["filters"] == {"project_type": "social_general"}


def test_api_timings_read_the_same_distributions(world) -> None:
    """The analysts' HTTP timings come from the same SQL distributions, plus counts of running subjects."""
    from engine.services.queries import timings

    service, _, _ = world
    rows = {r["stage"]: r for r in timings(service.db, by="stage")}
    s1 = rows["S1"]
    assert (s1["count"], s1["finished"]) == (3, 3)
    _close(s1["span_working_days"], {"median": 2.0417, "p90": 3.2917, "max": 3.2917})
    _close(s1["approval_working_days"], {"median": 2.0, "p90": 2.0417, "max": 2.0417})
    assert rows["S2"]["count"] > rows["S2"]["finished"]  # B's S2 is still open: counted, not in the distribution
