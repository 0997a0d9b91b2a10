"""Cases (情形) for simulated projects: a typical case per project type, and random realistic ones.

The product never guesses a project's case — an owner must answer the questionnaire, and a missing answer
is refused. Simulations, examples and tests need answers too; they take them from here, so "a social
project that is filed, not ratified" is written once. ``draw_case`` varies the facts the decision table
reads with frequencies in line with the sources (not every project has every matter: DOMAIN.md §6 counts
about 20–25 matters per project; 带方案出让 land comes with a 用地清单 that covers the assessments).
"""

from __future__ import annotations

import random
from typing import Any

#: A plausible case for each bundled project type (every required question answered).
TYPICAL_CASES: dict[str, dict[str, Any]] = {
    "gov_building": {
        "investment_mode": "approval", "land_supply": "allocation", "in_relics_zone": False, "eia_category": "form",
        "energy_above_threshold": True, "civil_defense_required": True, "occupies_municipal": False,
        "floor_area_m2": 32000, "height_m": 45, "site_area_m2": 12000, "regional_assessment": [],
    },
    "gov_municipal": {
        "investment_mode": "approval", "land_supply": "allocation", "in_relics_zone": False, "eia_category": "form",
        "energy_above_threshold": False, "civil_defense_required": False, "occupies_municipal": True,
        "floor_area_m2": 0, "height_m": 0, "site_area_m2": 60000, "regional_assessment": [],
    },
    "social_general": {
        "investment_mode": "filing", "land_supply": "transfer", "in_relics_zone": False, "eia_category": "registration",
        "energy_above_threshold": False, "civil_defense_required": True, "occupies_municipal": False,
        "floor_area_m2": 26000, "height_m": 60, "site_area_m2": 9000, "regional_assessment": [],
    },
    "social_small": {
        "investment_mode": "filing", "land_supply": "transfer", "in_relics_zone": False, "eia_category": "registration",
        "energy_above_threshold": False, "civil_defense_required": False, "occupies_municipal": False,
        "floor_area_m2": 4000, "height_m": 12, "site_area_m2": 3000, "regional_assessment": [],
    },
    "land_with_scheme": {
        "investment_mode": "filing", "land_supply": "transfer_with_scheme", "in_relics_zone": False,
        "eia_category": "form", "energy_above_threshold": False, "civil_defense_required": True,
        "occupies_municipal": False, "floor_area_m2": 22000, "height_m": 24, "site_area_m2": 15000,
        "regional_assessment": ["eia", "energy", "soil_water", "relics", "traffic"],
    },
}


def typical_case(project_type: str) -> dict[str, Any]:
    """A copy of the typical case of ``project_type`` (KeyError for a type this module does not know)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in TYPICAL_CASES[project_type].items()}


def draw_case(project_type: str, rng: random.Random) -> dict[str, Any]:
    """A random but realistic case of ``project_type`` for the demo's workload."""
    case = typical_case(project_type)
    social = project_type.startswith("social") or project_type == "land_with_scheme"
    if project_type == "social_general":
        case["investment_mode"] = "ratification" if rng.random() < 0.15 else "filing"
        case["land_supply"] = rng.choices(["transfer", "existing", "allocation"], [0.8, 0.15, 0.05])[0]
    if social and project_type != "land_with_scheme":
        # 用地清单 / 区域评估 in parks and development zones (policy-compilation.txt:1785)
        if rng.random() < 0.3:
            case["regional_assessment"] = sorted(rng.sample(["eia", "energy", "soil_water", "relics", "traffic"], 3))
    case["in_relics_zone"] = rng.random() < 0.08
    case["eia_category"] = rng.choices(["report", "form", "registration", "exempt"],
                                       [0.05, 0.35, 0.5, 0.1] if project_type != "land_with_scheme" else [0, 0.6, 0.4, 0])[0]
    case["energy_above_threshold"] = rng.random() < (0.5 if project_type.startswith("gov") else 0.15)
    case["civil_defense_required"] = project_type != "social_small" and rng.random() < 0.7
    case["occupies_municipal"] = rng.random() < (0.6 if project_type == "gov_municipal" else 0.1)
    # 水电气信联合报装: most building projects connect water and power, many gas, some telecom
    if project_type != "gov_municipal" and rng.random() < 0.7:
        case["utility_connection"] = [u for u, p in (("water", 0.95), ("power", 0.95), ("gas", 0.5), ("telecom", 0.3))
                                      if rng.random() < p]
    scale = rng.lognormvariate(0, 0.5)
    case["floor_area_m2"] = round(case["floor_area_m2"] * scale)
    case["site_area_m2"] = round(case["site_area_m2"] * scale)
    case["height_m"] = round(case["height_m"] * min(scale, 2.0), 1)
    # 分阶段施工许可: common with 拿地即开工 (cases-shaanxi.txt:558), occasional for other large building projects
    share = {"land_with_scheme": 0.5, "social_general": 0.15, "gov_building": 0.15}.get(project_type, 0.0)
    case["phased_construction_permit"] = share > 0 and rng.random() < share
    return case
