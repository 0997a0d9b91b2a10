"""The catalogue: shipped data loads and is consistent; queries follow the data; bad data fails loudly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from engine.domain.catalogue import (
    DEFAULT_ROOT,
    Catalogue,
    CatalogueError,
    UnknownIdError,
    list_profiles,
    load_catalogue,
)

PROJECT_TYPES = ["gov_building", "gov_municipal", "social_general", "social_small", "land_with_scheme"]
BASE_FILES = ["departments.yaml", "stages.yaml", "project_types.yaml", "matters.yaml", "special_procedures.yaml", "case.yaml",
              "certificates.yaml"]


@pytest.fixture(scope="module")
def default() -> Catalogue:
    return load_catalogue("default")


@pytest.fixture(scope="module")
def jiangxi() -> Catalogue:
    return load_catalogue("jiangxi")


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    """A private copy of the catalogue files, for breaking."""
    root = tmp_path / "workflows"
    (root / "profiles").mkdir(parents=True)
    for name in BASE_FILES:
        shutil.copy(DEFAULT_ROOT / name, root / name)
    for profile in (DEFAULT_ROOT / "profiles").glob("*.yaml"):
        shutil.copy(profile, root / "profiles" / profile.name)
    shutil.copytree(DEFAULT_ROOT / "rules", root / "rules")
    return root


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _matter(data: dict, matter_id: str) -> dict:
    return next(m for m in data["matters"] if m["id"] == matter_id)


# --------------------------------------------------------------------------- shipped data


def test_profiles_listed_and_both_load() -> None:
    assert {"default", "jiangxi"} <= set(list_profiles())
    for name in ("default", "jiangxi"):
        cat = load_catalogue(name)
        assert cat.profile.id == name
        assert cat.profile.name


def test_profile_may_be_a_path() -> None:
    cat = load_catalogue(str(DEFAULT_ROOT / "profiles" / "jiangxi.yaml"))
    assert cat.profile.id == "jiangxi"


def test_ids_are_the_agreed_ones(default: Catalogue) -> None:
    assert list(default.stages) == ["S0", "S1", "S2", "S3", "S23", "S4", "SU", "S5"]
    assert sorted(default.project_types) == sorted(PROJECT_TYPES)
    assert {"fgw", "zrzy", "zjj", "sthj", "rf", "sw", "bdc", "window", "water", "power", "gas", "telecom"} <= set(
        default.departments
    )
    assert set(default.special_procedures) == {
        "expert_review", "technical_review", "site_survey", "hearing", "publicity", "intermediary",
    }
    assert 20 <= len(default.matters) <= 30  # about 20–25 a project; the catalogue holds the alternatives too
    assert default.stage("S23").merges == ("S2", "S3")
    assert default.stage("S4").joint_acceptance
    assert {s.id for s in default.stages.values() if s.counts_in_four_stages} == {"S1", "S2", "S3", "S23", "S4"}


@pytest.mark.parametrize("profile", ["default", "jiangxi"])
def test_every_reference_resolves(profile: str) -> None:
    cat = load_catalogue(profile)
    for st in cat.stages.values():
        cat.department(st.lead)
        for pt, dep in st.lead_overrides.items():
            cat.project_type(pt)
            cat.department(dep)
    for pt in cat.project_types.values():
        assert pt.route in cat.routes
        for sid in cat.route_stages(pt.id, include_planning=True):
            cat.stage(sid)
            assert cat.stage_limit_wd(pt.id, sid) >= 1
        assert cat.whole_process_limit_wd(pt.id) >= 1
    for m in cat.matters.values():
        cat.department(m.department)
        assert not cat.stage(m.stage).merges, "no matter is filed under a merged stage"
        for pt in (m.applies_to or ()) + m.exempt_for:
            cat.project_type(pt)
        for sp in m.special_procedures:
            cat.special_procedure(sp)
        assert m.committed_limit_wd <= m.statutory_limit_wd
        assert 2 <= len(m.materials) <= 5  # 5: 施工许可证 also lists the 建设工程规划许可证 (免于提交)
        if cat.stage(m.stage).joint_acceptance:
            assert m.acceptance_role in {"item", "final"}
        if m.commitment_allowed:
            assert m.post_check_limit_wd is not None
        if m.safety_domain:
            assert not m.tolerance_allowed


def test_filings_and_safety_matters(default: Catalogue) -> None:
    assert default.matter("s1_project_filing").kind == "filing"
    assert default.matter("s4_joint_acceptance_opinion").kind == "filing"
    for mid in ("s3_drawing_review", "s4_fire_acceptance", "s2_civil_defense_design_opinion", "s2_eia_approval"):
        m = default.matter(mid)
        assert not m.tolerance_allowed
        assert all(mat.key for mat in m.materials), mid
    silent = {m.id for m in default.matters.values() if m.silent_consent_allowed}
    assert 1 <= len(silent) <= 3


def test_unknown_ids_raise_key_error(default: Catalogue) -> None:
    with pytest.raises(KeyError):
        default.matter("nope")
    with pytest.raises(UnknownIdError, match="unknown project type id 'nope'"):
        default.route_stages("nope")
    with pytest.raises(UnknownIdError, match="not on its route"):
        default.stage_limit_wd("social_small", "S2")


# --------------------------------------------------------------------------- routes and stages


def test_route_stages(default: Catalogue) -> None:
    # the utility track (水电气信联合报装, SU) sits beside stages 2–4 on every route, right after S1
    assert default.route_stages("gov_building") == ["S0", "S1", "SU", "S2", "S3", "S4", "S5"]
    assert default.route_stages("gov_building", include_planning=False) == ["S1", "SU", "S2", "S3", "S4", "S5"]
    assert default.route_stages("gov_municipal") == ["S0", "S1", "SU", "S2", "S3", "S4"]
    assert default.route_stages("social_general") == ["S1", "SU", "S2", "S3", "S4", "S5"]
    assert default.route_stages("social_general", include_planning=True)[0] == "S0"
    assert default.route_stages("social_small") == ["S1", "SU", "S23", "S4", "S5"]
    assert default.route_stages("land_with_scheme") == ["S0", "S1", "SU", "S2", "S3", "S4", "S5"]


def test_concurrent_stages(default: Catalogue) -> None:
    assert default.concurrent_stages("land_with_scheme") == {"S2", "S3"}
    for pt in ("gov_building", "social_general", "social_small"):
        assert default.concurrent_stages(pt) == set()


def test_lead_department_depends_on_project_type(default: Catalogue) -> None:
    assert default.lead_department("S1", "gov_building").id == "fgw"
    assert default.lead_department("S1", "gov_municipal").id == "fgw"
    assert default.lead_department("S1", "social_general").id == "zrzy"
    assert default.lead_department("S2", "gov_building").id == "zrzy"
    assert default.lead_department("S3", "social_general").id == "zjj"
    assert default.lead_department("S4", "social_small").id == "zjj"
    assert default.lead_department("S5", "social_general").name == "不动产登记中心"


def test_limits_come_from_the_profile(default: Catalogue, jiangxi: Catalogue) -> None:
    assert [default.whole_process_limit_wd(pt) for pt in PROJECT_TYPES] == [90, 90, 60, 20, 45]
    assert default.stage_limit_wd("social_small", "S23") == 7
    assert jiangxi.whole_process_limit_wd("social_small") < default.whole_process_limit_wd("social_small")


# --------------------------------------------------------------------------- matters


def test_matters_for_applies_to(default: Catalogue) -> None:
    gov_s1 = {m.id for m in default.matters_for("gov_building", "S1")}
    assert "s1_project_approval" in gov_s1 and "s1_project_filing" not in gov_s1
    soc_s1 = {m.id for m in default.matters_for("social_general", "S1")}
    assert {"s1_project_filing", "s1_project_ratification"} <= soc_s1
    assert "s1_project_approval" not in soc_s1


def test_matters_for_exemptions(default: Catalogue) -> None:
    assert "s3_drawing_review" in {m.id for m in default.matters_for("social_general", "S3")}
    small = {m.id for m in default.matters_for("social_small", "S23")}
    assert "s3_drawing_review" not in small  # 施工图审查豁免
    assert "s2_design_scheme_review" not in small
    # 带方案出让 skips 设计方案审查 by its case (land supply), not by its type: see tests/test_plan.py


def test_merged_stage_takes_s2_and_s3_matters(default: Catalogue) -> None:
    merged = default.matters_for("social_small", "S23")
    expected = default.matters_for("social_small", "S2") + default.matters_for("social_small", "S3")
    assert merged == expected
    ids = [m.id for m in merged]
    assert "s2_construction_planning_permit" in ids and "s3_construction_permit" in ids
    assert ids.index("s2_construction_planning_permit") < ids.index("s3_construction_permit")


def test_joint_acceptance_roles(default: Catalogue) -> None:
    for pt in PROJECT_TYPES:
        s4 = default.matters_for(pt, "S4")
        assert [m.id for m in s4 if m.acceptance_role == "final"] == ["s4_joint_acceptance_opinion"]
    archives = default.matter("s4_archives_acceptance")
    assert archives.acceptance_role == "item" and archives.commitment_allowed


def test_matter_task_data_is_json(default: Catalogue) -> None:
    data = default.matter_task_data(default.matter("s3_construction_permit"))
    assert set(data) == {
        "id", "name", "department", "stage", "mandatory", "silent_consent_allowed", "tolerance_allowed",
        "commitment_allowed", "committed_limit_wd", "statutory_limit_wd", "acceptance_role", "post_check_limit_wd",
    }
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["department"] == "zjj" and data["post_check_limit_wd"] == 10
    # a commitment matter without its own 核查 limit takes the profile default
    assert default.matter_task_data("s2_construction_planning_permit")["post_check_limit_wd"] == 10
    assert default.matter_task_data("s4_fire_acceptance")["post_check_limit_wd"] is None


# --------------------------------------------------------------------------- 容缺受理


def test_tolerance_allows_non_key_material_of_tolerance_matter(default: Catalogue) -> None:
    decision = default.tolerance_check("gov_building", "S1", ["project_basis"], owner_credit_good=True)
    assert decision.allowed, decision.reasons
    assert decision.reasons == []
    assert decision.matter_ids == ["s1_land_presite"]
    assert decision.supply_deadline_wd == default.profile.commitment.supply_deadline_wd


def test_tolerance_with_nothing_missing_is_trivially_allowed(default: Catalogue) -> None:
    assert default.tolerance_check("gov_building", "S1", [], owner_credit_good=False).allowed


def test_tolerance_refuses_key_material(default: Catalogue) -> None:
    decision = default.tolerance_check("gov_building", "S1", ["feasibility_study"], owner_credit_good=True)
    assert not decision.allowed
    assert len(decision.reasons) == 1
    assert "feasibility_study" in decision.reasons[0] and "key material" in decision.reasons[0]
    assert "可行性研究报告" in decision.reasons[0]


def test_tolerance_refuses_matter_without_tolerance(default: Catalogue) -> None:
    decision = default.tolerance_check("gov_building", "S2", ["site_plan"], owner_credit_good=True)
    assert not decision.allowed
    assert "s2_cultural_relics_opinion" in decision.reasons[0]
    assert "does not allow tolerance" in decision.reasons[0]


def test_tolerance_refuses_bad_credit(default: Catalogue) -> None:
    decision = default.tolerance_check("gov_building", "S1", ["project_basis"], owner_credit_good=False)
    assert not decision.allowed
    assert any("credit" in r for r in decision.reasons)


def test_tolerance_names_every_problem(default: Catalogue) -> None:
    decision = default.tolerance_check(
        "social_general", "S3", ["construction_contract", "fire_design", "no_such_doc"], owner_credit_good=False
    )
    assert not decision.allowed
    text = "\n".join(decision.reasons)
    assert "credit" in text and "fire_design" in text and "no_such_doc" in text
    assert "construction_contract" not in text  # that one alone would be fine


def test_tolerance_qualified_material_ids(default: Catalogue) -> None:
    # 总平面图 is key for the planning permit but not for the greening review
    ok = default.tolerance_check("gov_building", "S2", ["s2_greening_scheme_review:site_plan_drawing"], True)
    assert ok.allowed and ok.matter_ids == ["s2_greening_scheme_review"]
    refused = default.tolerance_check("gov_building", "S2", ["site_plan_drawing"], True)
    assert not refused.allowed
    assert any("s2_construction_planning_permit" in r for r in refused.reasons)


# --------------------------------------------------------------------------- the second profile


def test_jiangxi_counts_special_procedures_inside_the_limit(default: Catalogue, jiangxi: Catalogue) -> None:
    assert default.profile.special_procedures_stop_clock and default.stops_clock("expert_review")
    assert default.stops_clock("intermediary")
    assert not jiangxi.profile.special_procedures_stop_clock
    assert not jiangxi.stops_clock("expert_review")
    assert not jiangxi.stops_clock("intermediary")  # 赣州: 中介服务一体化计时
    assert jiangxi.special_procedure("expert_review").limit_wd < default.special_procedure("expert_review").limit_wd


def test_jiangxi_switches_on_more_silent_consent(default: Catalogue, jiangxi: Catalogue) -> None:
    silent_default = {m.id for m in default.matters.values() if m.silent_consent_allowed}
    silent_jiangxi = {m.id for m in jiangxi.matters.values() if m.silent_consent_allowed}
    assert silent_default < silent_jiangxi
    assert jiangxi.matter_task_data("s2_municipal_occupation")["silent_consent_allowed"] is True


def test_jiangxi_has_shorter_committed_limits(default: Catalogue, jiangxi: Catalogue) -> None:
    shorter = [
        mid for mid in default.matters
        if jiangxi.matter(mid).committed_limit_wd < default.matter(mid).committed_limit_wd
    ]
    assert len(shorter) >= 5
    assert all(
        jiangxi.matter(mid).committed_limit_wd <= default.matter(mid).committed_limit_wd for mid in default.matters
    )


def test_jiangxi_tolerance_and_warning_rules(default: Catalogue, jiangxi: Catalogue) -> None:
    assert jiangxi.profile.warning_days != default.profile.warning_days
    assert not default.tolerance_check("gov_building", "S2", ["site_plan"], True).allowed
    assert jiangxi.tolerance_check("gov_building", "S2", ["site_plan"], True).allowed
    assert jiangxi.profile.commitment.supply_deadline_wd != default.profile.commitment.supply_deadline_wd


def test_jiangxi_extra_exemption(default: Catalogue, jiangxi: Catalogue) -> None:
    assert "s2_construction_planning_permit" in {m.id for m in default.matters_for("social_small", "S23")}
    assert "s2_construction_planning_permit" not in {m.id for m in jiangxi.matters_for("social_small", "S23")}
    assert "social_small" in jiangxi.matter("s2_construction_planning_permit").exempt_for
    # other types keep it
    assert "s2_construction_planning_permit" in {m.id for m in jiangxi.matters_for("social_general", "S2")}


def test_jiangxi_cites_its_sources(jiangxi: Catalogue) -> None:
    assert jiangxi.profile.sources["special_procedures_stop_clock"].startswith("policy-compilation.txt:")
    assert all(ex.source for ex in jiangxi.profile.extra_exemptions)


# --------------------------------------------------------------------------- broken data


def _load_error(root: Path, profile: str = "default") -> str:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(profile, root=root)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_copy_loads(data_root: Path) -> None:
    assert len(load_catalogue("default", root=data_root).matters) == len(load_catalogue().matters)
    assert list_profiles(data_root) == list_profiles()


def test_unknown_department(data_root: Path) -> None:
    _edit(data_root / "matters.yaml", lambda d: _matter(d, "s2_eia_approval").update(department="hbj"))
    msg = _load_error(data_root)
    assert "matters.yaml" in msg and "s2_eia_approval" in msg
    assert "unknown department 'hbj'" in msg


def test_committed_exceeds_statutory(data_root: Path) -> None:
    _edit(data_root / "matters.yaml", lambda d: _matter(d, "s1_energy_review").update(committed_limit_wd=30))
    msg = _load_error(data_root)
    assert "matters.yaml" in msg and "s1_energy_review" in msg
    assert "committed_limit_wd (30) exceeds statutory_limit_wd (20)" in msg


def test_duplicate_id(data_root: Path) -> None:
    def dup(d: dict) -> None:
        d["departments"].append({"id": "fgw", "name": "重复的发改委", "kind": "agency"})

    _edit(data_root / "departments.yaml", dup)
    msg = _load_error(data_root)
    assert "departments.yaml" in msg and "duplicate department id 'fgw'" in msg


def test_typo_in_field(data_root: Path) -> None:
    def typo(d: dict) -> None:
        m = _matter(d, "s3_construction_permit")
        m["statutory_limt_wd"] = m.pop("statutory_limit_wd")

    _edit(data_root / "matters.yaml", typo)
    msg = _load_error(data_root)
    assert "matters.yaml" in msg and "s3_construction_permit" in msg
    assert "unknown field 'statutory_limt_wd'" in msg
    assert "missing field 'statutory_limit_wd'" in msg


def test_every_problem_is_listed(data_root: Path) -> None:
    def two(d: dict) -> None:
        _matter(d, "s2_eia_approval")["department"] = "hbj"
        _matter(d, "s1_energy_review")["committed_limit_wd"] = 30
        _matter(d, "s4_fire_acceptance").pop("acceptance_role")
        _matter(d, "s1_land_presite")["stage"] = "S9"

    _edit(data_root / "matters.yaml", two)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(root=data_root)
    problems = info.value.problems
    assert len(problems) == 4, problems
    assert str(info.value).count("\n") == 3
    assert any("acceptance_role" in p and "s4_fire_acceptance" in p for p in problems)
    assert any("unknown stage 'S9'" in p for p in problems)


def test_matter_under_merged_stage_is_rejected(data_root: Path) -> None:
    _edit(data_root / "matters.yaml", lambda d: _matter(d, "s3_construction_permit").update(stage="S23"))
    assert "merged stage" in _load_error(data_root)


def test_tolerance_on_safety_matter_is_rejected(data_root: Path) -> None:
    _edit(data_root / "matters.yaml", lambda d: _matter(d, "s4_fire_acceptance").update(tolerance_allowed=True))
    msg = _load_error(data_root)
    assert "s4_fire_acceptance" in msg and "public_safety" in msg


def test_unknown_project_type_and_duplicate_yaml_key(data_root: Path) -> None:
    _edit(data_root / "matters.yaml", lambda d: _matter(d, "s3_drawing_review").update(exempt_for=["social_tiny"]))
    assert "unknown project type 'social_tiny'" in _load_error(data_root)
    path = data_root / "special_procedures.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "special_procedures: []\n", encoding="utf-8")
    msg = _load_error(data_root)
    assert "special_procedures.yaml" in msg and "duplicate key" in msg


def test_profile_override_of_unknown_matter_and_field(data_root: Path) -> None:
    def bad(d: dict) -> None:
        d["matter_overrides"] = {
            "s9_nothing": {"committed_limit_wd": 1},
            "s2_eia_approval": {"silent_consent": True},
        }

    _edit(data_root / "profiles" / "jiangxi.yaml", bad)
    msg = _load_error(data_root, "jiangxi")
    assert "jiangxi.yaml" in msg
    assert "unknown matter 's9_nothing'" in msg
    assert "unknown field 'matter_overrides.s2_eia_approval.silent_consent'" in msg


def test_profile_override_breaking_a_rule(data_root: Path) -> None:
    _edit(
        data_root / "profiles" / "default.yaml",
        lambda d: d.update(matter_overrides={"s3_construction_permit": {"committed_limit_wd": 9}}),
    )
    msg = _load_error(data_root)
    assert "default.yaml" in msg and "matter_overrides.s3_construction_permit" in msg
    assert "exceeds statutory_limit_wd (7)" in msg


def test_profile_limits_must_cover_routes(data_root: Path) -> None:
    def bad(d: dict) -> None:
        d["stage_limits_wd"]["social_small"].pop("S23")
        d["stage_limits_wd"]["social_small"]["S2"] = 5
        d["whole_process_limit_wd"]["gov_building"] = 30

    _edit(data_root / "profiles" / "default.yaml", bad)
    msg = _load_error(data_root)
    assert "missing limit for stage 'S23'" in msg
    assert "stage 'S2' is not on the route of 'social_small'" in msg
    assert "more than whole_process_limit_wd 30" in msg


def test_missing_profile_names_the_available_ones(data_root: Path) -> None:
    msg = _load_error(data_root, "atlantis")
    assert "atlantis.yaml" in msg and "default" in msg and "jiangxi" in msg


def test_new_city_is_only_a_new_file(data_root: Path) -> None:
    text = (data_root / "profiles" / "default.yaml").read_text(encoding="utf-8")
    (data_root / "profiles" / "newcity.yaml").write_text(
        text.replace("name: 示范城市（默认）", "name: 新城市").replace("warning_days: 2", "warning_days: 5"),
        encoding="utf-8",
    )
    assert "newcity" in list_profiles(data_root)
    cat = load_catalogue("newcity", root=data_root)
    assert cat.profile.name == "新城市" and cat.profile.warning_days == 5


# --------------------------------------------------------------------------- 分阶段施工许可 (phased_permit)


def test_profiles_choose_which_phase_ends_the_construction_permit_stage(default: Catalogue, jiangxi: Catalogue) -> None:
    assert default.profile.phased_permit.stage_ends_after == "foundation"
    assert jiangxi.profile.phased_permit.stage_ends_after == "superstructure"


def test_phased_permit_naming_no_phase_is_refused(data_root: Path) -> None:
    _edit(data_root / "profiles" / "default.yaml", lambda d: d.update(phased_permit={"stage_ends_after": "above_ground"}))
    msg = _load_error(data_root, "default")
    assert "default.yaml: phased_permit.stage_ends_after: 'above_ground' is not a phase of s3_construction_permit" in msg
    assert "foundation, basement, superstructure" in msg


def test_phased_permit_unknown_field_is_refused(data_root: Path) -> None:
    _edit(data_root / "profiles" / "default.yaml", lambda d: d.update(phased_permit={"ends_after": "basement"}))
    assert "phased_permit.ends_after" in _load_error(data_root, "default")


def test_a_renamed_matter_still_resolves_by_its_former_id() -> None:
    """Plans stored before 竣工验收备案 became the 联合验收意见书 name the old id; the catalogue still finds it."""
    catalogue = load_catalogue()
    assert catalogue.matter("s4_completion_filing").id == "s4_joint_acceptance_opinion"
    with pytest.raises(UnknownIdError):
        catalogue.matter("s4_no_such_matter")


def test_a_former_id_may_not_be_a_current_one(data_root: Path) -> None:
    _edit(data_root / "matters.yaml",
          lambda d: _matter(d, "s4_joint_acceptance_opinion").update(formerly=["s5_first_registration"]))
    with pytest.raises(CatalogueError, match="formerly: 's5_first_registration' is a current matter id"):
        load_catalogue("default", root=data_root)


def test_window_correction_limit_is_profile_data(data_root: Path, default: Catalogue) -> None:
    """一次性告知's deadline: the profile's correction.intake_limit_wd, else the matter-level limit_wd; validated."""
    assert default.profile.correction.intake_limit_wd is None
    assert default.profile.correction.filing_limit_wd == default.profile.correction.limit_wd
    profile = data_root / "profiles" / "default.yaml"
    _edit(profile, lambda d: d["correction"].update(intake_limit_wd=7))
    assert load_catalogue("default", root=data_root).profile.correction.filing_limit_wd == 7
    _edit(profile, lambda d: d["correction"].update(intake_limit_wd=0))
    assert "correction.intake_limit_wd" in _load_error(data_root)
    _edit(profile, lambda d: d["correction"].update(intake_limit_wd="ten"))
    assert "correction.intake_limit_wd" in _load_error(data_root)
