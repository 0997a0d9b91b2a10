"""What the project page's BPMN diagram marks, level by level: the main model's stages, and — drilled into — a
stage's model (stage_approval, or joint_acceptance for 竣工验收), its intake, its matters (matter_approval, one
per matter), the unit acceptances and the post-checks (commitment_followup).

Every element is marked from what the engine recorded: a call activity from the timing ledger (the stage's or
its matters' subjects: done, running, overdue, refused), a user task from the project's task rows (done; ready
= active, or overdue once its due instant passed or its matter is overdue). Each view lists the levels below it
(``drill``), which the page offers as buttons and as clicks on the diagram's elements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

#: The models a view may show (the files of the project's definition version, by process id).
MODELS = ("project_approval", "stage_approval", "joint_acceptance", "stage_intake", "matter_approval",
          "unit_acceptance", "commitment_followup")
#: User tasks that belong to one matter (its own matter_approval instance).
MATTER_TASKS = frozenset({"Task_Review", "Task_ReviewSilent", "Task_MatterCorrection", "Task_SpecialProcedure"})
INTAKE_TASKS = frozenset({"Task_SubmitFiling", "Task_Intake", "Task_SignCommitment", "Task_CorrectFiling"})
FOLLOWUP_TASKS = frozenset({"Task_SupplyDocuments", "Task_PostCheck", "Task_Statement", "Task_RevocationDecision"})
ACCEPTANCE_STAGE = "S4"


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def task_state(rows: Iterable[Mapping[str, Any]], now: datetime, *, late: bool = False) -> str | None:
    """One element's state from its task rows: a ready one makes it active (overdue once due or ``late``), else a
    done one done; no row, no mark."""
    rows = list(rows)
    ready = [r for r in rows if r["state"] == "ready"]
    if ready:
        due = [_when(r.get("due_at")) for r in ready]
        return "overdue" if late or any(d is not None and d < now for d in due) else "active"
    return "done" if any(r["state"] == "done" for r in rows) else None


def subjects_state(entries: Iterable[Mapping[str, Any]]) -> str | None:
    """A call activity's state from the timed subjects it runs (a stage, its matters)."""
    entries = list(entries)
    if not entries:
        return None
    open_ = [e for e in entries if not e.get("end")]
    if any(e.get("status") in ("overdue", "silent_consent") for e in open_):
        return "overdue"
    if open_:
        return "active"
    if any(e.get("outcome") in ("refused", "revoked") for e in entries):
        return "refused"
    return "done"


def _stage_state(stage: Mapping[str, Any]) -> str:
    if stage.get("outcome") in ("refused", "revoked"):
        return "refused"
    if stage.get("status") == "overdue" and not stage.get("end"):
        return "overdue"
    return "done" if stage.get("end") else "active"


def main_states(progress: Mapping[str, Any]) -> dict[str, str]:
    """The main model: each stage's call activity (Call_S1 …; Call_S2c: the concurrent route's copy)."""
    states: dict[str, str] = {}
    for stage in progress.get("stages", []):
        for element in (f"Call_{stage['key']}", f"Call_{stage['key']}c"):
            states[element] = _stage_state(stage)
    return states


def view(progress: Mapping[str, Any], tasks: list[Mapping[str, Any]], *, now: datetime, stage_names: Mapping[str, str],
         model: str | None = None, stage: str | None = None, matter: str | None = None) -> dict[str, Any]:
    """The marks and the levels below for one view: the main model (no ``model``), a stage's model (``stage``) or a
    matter's (``matter``: its key)."""
    stages = {s["key"]: s for s in progress.get("stages", [])}
    matters = [m for m in progress.get("matters", []) if m.get("stage") == stage] if stage else []
    by_spec: dict[str, list[Mapping[str, Any]]] = {}

    def collect(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        by_spec.clear()
        for row in rows:
            by_spec.setdefault(row["spec_id"], []).append(row)
        late = bool(matter) and any(m["key"] == matter and m.get("status") in ("overdue", "silent_consent")
                                     and not m.get("end") for m in progress.get("matters", []))
        return {spec: s for spec, rows_ in by_spec.items() if (s := task_state(rows_, now, late=late))}

    def stage_label(key: str) -> str:
        return f"{stage_names.get(key, key)}（{key}）"

    drill: list[dict[str, Any]] = []
    if model in (None, "project_approval"):
        states = main_states(progress)
        seen = list(stages) + sorted({t["stage"] for t in tasks if t.get("stage") and t["stage"] not in stages})
        for key in seen:
            target = "joint_acceptance" if key == ACCEPTANCE_STAGE else "stage_approval"
            for element in (f"Call_{key}", f"Call_{key}c"):
                drill.append({"element": element, "label": f"{stage_label(key)}阶段流程", "model": target, "stage": key})
            if any(t.get("stage") == key and t["spec_id"] in FOLLOWUP_TASKS for t in tasks):
                drill.append({"element": f"Call_{key}_Followup", "label": f"{stage_label(key)}告知承诺后续核查",
                              "model": "commitment_followup", "stage": key})
                states[f"Call_{key}_Followup"] = task_state(
                    [t for t in tasks if t.get("stage") == key and t["spec_id"] in FOLLOWUP_TASKS], now) or "active"
        return {"model": "project_approval", "title": "主流程", "states": states, "drill": drill}
    if model not in MODELS or not stage:
        raise ValueError("model: a stage's, its intake's, a matter's or a follow-up's model, with its stage")
    in_stage = [t for t in tasks if t.get("stage") == stage]
    title = stage_label(stage)
    if model == "matter_approval":
        mine = [t for t in in_stage if t.get("matter_key") == matter]
        entry = next((m for m in matters if m["key"] == matter), None)
        states = collect(mine)
        if entry is not None:
            states["Script_StartMatter"] = "done"
            if entry.get("end"):
                states["Script_Refused" if entry.get("outcome") in ("refused",) else "Script_Approved"] = \
                    "refused" if entry.get("outcome") == "refused" else "done"
        name = (entry or {}).get("name") or next((t.get("matter_name") for t in mine if t.get("matter_name")), matter)
        return {"model": model, "title": f"事项：{name}", "stage": stage, "matter": matter, "states": states,
                "drill": []}
    if model == "stage_intake":
        return {"model": model, "title": "受理", "stage": stage,
                "states": collect(t for t in in_stage if t["spec_id"] in INTAKE_TASKS), "drill": []}
    if model == "commitment_followup":
        states = collect(t for t in in_stage if t["spec_id"] in FOLLOWUP_TASKS)
        if "Task_PostCheck" in states:  # each 核查 runs in its own post_check instance, called per matter
            states["Call_PostCheck"] = states["Task_PostCheck"]
        return {"model": model, "title": f"{title}告知承诺后续核查", "stage": stage, "states": states, "drill": []}
    states = collect(t for t in in_stage if t["spec_id"] not in MATTER_TASKS | INTAKE_TASKS | FOLLOWUP_TASKS)
    intake_rows = [t for t in in_stage if t["spec_id"] in INTAKE_TASKS]
    intake = task_state(intake_rows, now)
    if intake == "done" or (intake is None and stage in stages):
        intake = "done"
    matter_drill = [{"element": None, "label": f"事项：{m['name']}", "model": "matter_approval", "stage": stage,
                     "matter": m["key"]} for m in matters]
    if model == "unit_acceptance":
        for element in ("Call_Batch", "Call_FinalFiling"):
            if (state := subjects_state(matters)) is not None:
                states[element] = state
        drill = [{**d, "element": "Call_Batch"} for d in matter_drill]
        return {"model": model, "title": "单位工程验收", "stage": stage, "states": states, "drill": drill}
    intake_element = "Call_AcceptanceIntake" if model == "joint_acceptance" else "Call_Intake"
    matters_element = "Call_UnitAcceptance" if model == "joint_acceptance" else "Call_ParallelMatters"
    if intake:
        states[intake_element] = intake
    if (state := subjects_state(matters)) is not None:
        states[matters_element] = state
    if intake_rows:
        drill.append({"element": intake_element, "label": f"{title} · 受理", "model": "stage_intake", "stage": stage})
    if model == "joint_acceptance":
        if matters:
            drill.append({"element": matters_element, "label": f"{title} · 单位工程验收", "model": "unit_acceptance",
                          "stage": stage})
    else:
        drill += [{**d, "element": matters_element} for d in matter_drill]
    return {"model": model, "title": title, "stage": stage, "states": states, "drill": drill}
