"""Behaviours that had no test failing when they broke, and rules that must live in one place:

- an incomplete intake (一次性告知) notifies the owner of every missing item, once;
- whether a special procedure (特别程序) stops a matter's clock is the profile's, not the engine's;
- the timing rule is built from the profile in one place (``TimingRule.for_profile``).
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.domain.catalogue import load_catalogue
from engine.domain.timing import TimingRule
from tests.test_api_support import FILING, default_payload, make_harness


def _drive_to(hz, pid: str, spec_prefix: str, *, role: str | None = None) -> dict[str, Any]:
    """Complete whatever else is ready until a task whose BPMN id starts with ``spec_prefix`` is ready."""
    for _ in range(300):
        hz.tick(6)
        ready = hz.get("analyst1", f"/tasks?project_id={pid}")
        found = [t for t in ready if t["spec_id"].startswith(spec_prefix) and (role is None or t["role"] == role)]
        if found:
            return found[0]
        if ready:
            hz.post(hz.who_for(ready[0]), f"/tasks/{ready[0]['id']}/complete", default_payload(ready[0]))
    raise AssertionError(f"project {pid} never reached {spec_prefix}")


def test_an_incomplete_intake_notifies_the_owner_of_every_missing_item_once(tmp_path) -> None:
    hz = make_harness(tmp_path)
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    intake = _drive_to(hz, pid, "Task_Intake")
    before = hz.get("owner1", f"/projects/{pid}/notifications")
    catalogue = hz.service.catalogue
    materials = [m for matter in catalogue.matters_for(FILING["project_type"], intake["stage"]) for m in matter.materials]
    missing = [materials[0].id, materials[-1].id]
    hz.post("window1", f"/tasks/{intake['id']}/complete", {"outcome": "incomplete", "missing": missing})
    notices = [n for n in hz.get("owner1", f"/projects/{pid}/notifications") if n not in before]
    corrections = [n for n in notices if n["kind"] == "correction_notice"]
    assert len(corrections) == 1, notices
    text = str(corrections[0])
    assert materials[0].name in text and materials[-1].name in text
    events = [e for e in hz.get("owner1", f"/projects/{pid}/timeline") if e["type"] == "intake_notice"]
    assert len(events) == 1 and set(events[0]["data"]["items"]) == {materials[0].name, materials[-1].name}


@pytest.mark.parametrize(("profile", "stops"), [("default", True), ("jiangxi", False)])
def test_a_special_procedure_stops_the_clock_only_where_the_profile_says_so(tmp_path, profile: str, stops: bool) -> None:
    assert load_catalogue(profile).profile.special_procedures_stop_clock is stops
    hz = make_harness(tmp_path, profile=profile)
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    review = _drive_to(hz, pid, "Task_Review", role="agency")
    key = review["matter_key"]
    hz.post(hz.who_for(review), f"/tasks/{review['id']}/special-procedure", {"procedure": "expert_review"})
    hz.tick(24 * 7)
    special = _drive_to(hz, pid, "Task_SpecialProcedure")
    hz.post(hz.who_for(special), f"/tasks/{special['id']}/complete", {"conclusion": "专家评审通过"})
    timing = hz.service.timing(pid)
    matter = next(m for m in timing["matters"] if m["key"] == key)
    special_stops = [s for s in matter["clock_stops"] if s["kind"] == "special"]
    assert bool(special_stops) is stops, matter["clock_stops"]
    assert any(p["matter_id"] == matter["matter_id"] for p in timing["special_procedures"]), "always timed itself"
    if stops:
        assert special_stops[0]["end"] is not None


@pytest.mark.parametrize("profile", ["default", "jiangxi"])
def test_the_timing_rule_comes_from_the_profile(profile: str) -> None:
    catalogue = load_catalogue(profile)
    rule = TimingRule.for_profile(catalogue.profile)
    assert rule.warn_days == catalogue.profile.warning_days
    assert rule.special_stops_clock is (catalogue.profile.special_procedures_stop_clock
                                        or catalogue.profile.intermediary_stops_clock)
    from engine.services.approval import TimingRuleFor

    assert TimingRuleFor(catalogue) == rule
