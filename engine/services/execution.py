"""What one engine operation on one project works with: the project, its ledger, the catalogue, the
calendar, the clock, the acting user — and the side effects (notifications, credit records) it produced.

The model functions (:mod:`engine.services.functions`) call into this object while SpiffWorkflow runs; the
service layer persists everything it gathered in the operation's single transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.clock import Clock
from engine.domain.catalogue import Catalogue
from engine.domain.ledger import STAGE_RESULT_LABELS, Event, ProjectLedger
from engine.domain.project import Project
from engine.domain.timing import TimingRule, due_date
from engine.domain.workcalendar import WorkCalendar

#: Owner notifications (无感服务) by kind: title template.
NOTICE_TITLES: dict[str, str] = {
    "acceptance_slip": "受理通知书：{stage_name}",
    "correction_notice": "补正材料通知书（一次性告知）：{stage_name}",
    "matter_correction": "补正材料通知：{matter_name}",
    "site_inspection": "现场踏勘/特别程序通知：{matter_name}",
    "result": "办理结果：{stage_name}",
    "refusal": "不予许可决定书：{stage_name}",
    "commitment_reminder": "容缺材料补齐提醒：{stage_name}",
    "permit_revoked": "撤销许可决定：{stage_name}",
    "withdrawn": "撤回申请确认",
    "awaiting_precondition": "待前置事项办结后出证：{matter_name}",
    "early_acceptance": "先行验收意见（设备可进场，其余事项投入使用前验收）：{stage_name}",
    "revocation_notice": "拟撤销许可告知书（可陈述申辩）：{stage_name}",
    "deemed_accepted": "逾期视为受理：{stage_name}",
    "revocation_withdrawn": "经陈述申辩，许可维持：{stage_name}",
    "statement_reminder": "陈述申辩期限提醒：{stage_name}",
    "correction_lapsed": "逾期未补正通知：{matter_name}",
    "filing_correction_reminder": "补正期限提醒（一次性告知）：{stage_name}",
    "filing_withdrawn": "逾期未补正，申请视为撤回：{stage_name}",
}

#: Matter outcomes that issue a result a dependant may build on (准予许可, 超时默许).
ISSUED = frozenset({"approved", "silent_consent"})
#: Matter outcomes that end a dependant (依法出证): refused, ended without a permit, 视为撤回, or revoked (撤销).
REFUSING = frozenset({"refused", "terminated", "withdrawn", "revoked"})


@dataclass
class ExecutionContext:
    project: Project
    ledger: ProjectLedger
    catalogue: Catalogue
    calendar: WorkCalendar
    clock: Clock
    actor: str | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)
    credit: list[dict[str, Any]] = field(default_factory=list)
    project_result: str | None = None

    # -- helpers ------------------------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def rule(self) -> TimingRule:
        # special procedures are only recorded as clock stops where the profile says they stop the clock
        # (see ExecutionContext.stop_clock), so every recorded stop counts here
        return TimingRule.for_profile(self.catalogue.profile)

    @property
    def project_type(self) -> str:
        return self.project.filing.project_type

    def stage_name(self, stage: str) -> str:
        try:
            return self.catalogue.stage(stage).name
        except KeyError:
            return stage

    def _matter_data(self, stage: str, matter_id: str, key: str) -> dict[str, Any]:
        data = self.catalogue.matter_task_data(matter_id)
        shorter = self.catalogue.profile.type_committed_limits_wd.get(self.project_type, {}).get(matter_id)
        if shorter is not None:  # the jurisdiction's committed limit for this project type
            data["committed_limit_wd"] = shorter
        data["key"] = key
        data["stage"] = stage
        # legal order on this project's route (the plan keeps only preconditions its case selected)
        plan = self.project.plan
        data["requires"] = list(plan.requires(matter_id)) if plan else []
        planned = plan.get(matter_id) if plan else None
        data["mode"] = planned.mode if planned else "standard"
        if data.get("post_check_limit_wd") is None:
            data["post_check_limit_wd"] = self.catalogue.profile.commitment.post_check_limit_wd
        return data

    # -- catalogue look-ups for models ------------------------------------------------------------------------
    def _stage_matters(self, project_type: str, stage: str) -> list[Any]:
        """The catalogue matters this project runs in ``stage``: its plan's selection (its case decides),
        or — for a project filed before plans existed — every matter of its type, as when it was filed."""
        plan = self.project.plan
        if plan is None:
            return self.catalogue.matters_for(project_type, stage)
        return [self.catalogue.matter(m) for m in plan.selected_ids(stage)]

    def stage_matters(self, project_type: str, stage: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in self._stage_matters(project_type, stage):
            planned = self.project.plan.get(m.id) if self.project.plan else None
            if planned is None or not planned.phases:
                out.append(self._matter_data(stage, m.id, f"{stage}/{m.id}"))
                continue
            # 分阶段施工许可: one timed matter per phase, reviewed together, issued in phase order; the stage
            # waits only for the phases up to the profile's stage_ends_after (later_phases runs the rest)
            out.extend(self._phase_data(stage, m.id, planned.phases, planned.stage_phases))
        return out

    def later_phases(self, project_type: str) -> list[dict[str, Any]]:
        """分阶段施工许可: the phases issued after their stage closed (beyond the profile's ``stage_ends_after``
        when the project was filed), each its own timed matter, still issued in order after the earlier ones."""
        plan = self.project.plan
        out: list[dict[str, Any]] = []
        for planned in (plan.matters if plan else ()):
            if planned.selected and planned.later_phases:
                out.extend(self._phase_data(planned.stage, planned.matter_id, planned.phases, planned.later_phases))
        return out

    def _phase_data(self, stage: str, matter_id: str, phases: tuple[str, ...], run: tuple[str, ...]) -> list[dict[str, Any]]:
        m = self.catalogue.matter(matter_id)
        names = {p.id: p.name for p in m.phases}
        out: list[dict[str, Any]] = []
        for i, phase in enumerate(phases):
            if phase not in run:
                continue
            data = self._matter_data(stage, m.id, f"{stage}/{m.id}@{phase}")
            data.update(name=f"{m.name}（{names[phase]}）", phase=phase,
                        requires_keys=[f"{stage}/{m.id}@{phases[i - 1]}"] if i else [])
            out.append(data)
        return out

    def precondition_status(self, matter: dict[str, Any]) -> str:
        """``issued`` when every precondition of ``matter`` on this route has its result, ``refused`` when one
        was refused (or ended without a permit), ``pending`` otherwise (the dependant waits: 依法出证)."""
        matters = list(self.ledger.of_level("matter"))
        # each precondition: the previous phase of a phased permit (by key), or a matter (every instance of it)
        groups = [[s for s in matters if s.key == key] for key in matter.get("requires_keys") or []]
        plan = self.project.plan
        withdrawn = self._withdrawn_filings()
        for required in matter.get("requires") or []:
            planned = plan.get(required) if plan else None
            if planned is not None and planned.stage in withdrawn:  # its stage's filing was 视为撤回: never issued
                return "refused"
            if planned is not None and planned.phases:  # a phased permit: every phase, started or not yet
                groups += [[s for s in matters if s.key == f"{planned.stage}/{required}@{phase}"]
                           for phase in planned.phases]
            else:
                groups.append([s for s in matters if s.matter_id == required])
        if any(s.outcome in REFUSING for group in groups for s in group):
            return "refused"
        if any(not group or any(s.ended_at is None or s.outcome not in ISSUED for s in group) for group in groups):
            return "pending"
        return "issued"

    def acceptance_units(self, project_type: str, unit_works: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """联合验收: per unit work its acceptance items in one batch, or two when it asked for 先行验收. No unit
        files 竣工验收备案 on its own: the one 联合验收意见书 (:meth:`joint_opinion`) replaces it."""
        matters = self._stage_matters(project_type, "S4")
        items = [m for m in matters if m.acceptance_role == "item"]
        finals = [m for m in matters if m.acceptance_role == "final"]
        units = []
        for unit in unit_works:
            uid = unit["id"]
            early = [m for m in items if m.id in set(unit.get("early_items") or [])]
            rest = [m for m in items if m not in early]
            first, second = (early, rest) if early else (items, [])
            units.append({
                "key": uid,
                "name": unit.get("name", uid),
                "stage": "S4",
                "early": bool(early),
                "first_batch": [self._matter_data("S4", m.id, f"S4/{uid}/{m.id}") for m in first],
                "second_batch": [self._matter_data("S4", m.id, f"S4/{uid}/{m.id}") for m in second],
                # read only by projects still running a definition version from before the opinion replaced
                # the per-unit filing (a running project keeps its version): they file it per unit, as then
                **({"final": self._matter_data("S4", finals[0].id, f"S4/{uid}/{finals[0].id}")} if finals else {}),
            })
        return units

    def joint_opinion(self, project_type: str) -> dict[str, Any]:
        """联合验收意见书: the one final matter of the stage (acceptance_role final), replacing the per-unit
        竣工验收备案; its result is the stage's and what 不动产首次登记 requires (policy-compilation.txt:2190)."""
        finals = [m for m in self._stage_matters(project_type, "S4") if m.acceptance_role == "final"]
        if len(finals) != 1:
            raise ValueError(f"the catalogue must define exactly one final acceptance matter for {project_type}")
        return self._matter_data("S4", finals[0].id, f"S4/{finals[0].id}")

    def record_early_acceptance(self, unit: dict[str, Any]) -> None:
        """先行验收意见已出具: the commitment is open until the unit's remaining items pass (or fail)."""
        self.ledger.record_early_acceptance(unit.get("stage") or "S4", unit["key"], "open", self.now)
        self.notify("early_acceptance", stage=unit.get("stage") or "S4",
                    text=f"{unit.get('name', unit['key'])}：先行验收意见已出具，设备可进场；其余事项须在投入使用前验收",
                    data={"unit": unit["key"]})

    def committed_issued(self, stage: str) -> list[str]:
        """告知承诺制 matters of ``stage`` issued on their commitment (each is post-checked, 核查)."""
        plan = self.project.plan
        committed = set(plan.committed_ids(stage)) if plan else set()
        return list(dict.fromkeys(s.matter_id for s in self.ledger.of_level("matter")
                                  if s.stage == stage and s.matter_id in committed and s.outcome in ISSUED))

    def stage_closing_result(self, stage: str, intake: str) -> str:
        """综合出件's national result: 办结（容缺通过） after 容缺受理, 办结（告知承诺通过） when a matter was
        issued on a commitment, else 办结（通过）."""
        if intake == "tolerance":
            return "approved_with_tolerance"
        return "approved_on_commitment" if self.committed_issued(stage) else "approved"

    def commitment_checks(self, project_type: str, stage: str, missing: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The 核查 of a stage: matters whose materials were tolerated, and matters issued on a commitment."""
        matter_ids = list(dict.fromkeys([*(item["matter_id"] for item in missing), *self.committed_issued(stage)]))
        checks = []
        for matter_id in matter_ids:
            data = self._matter_data(stage, matter_id, f"{stage}/check/{matter_id}")
            checks.append(data)
            self.ledger.start_check(
                data["key"], self.now, name=f"核查：{data['name']}", stage=stage, matter_id=matter_id,
                department=data["department"], limit_wd=data.get("post_check_limit_wd"),
            )
        return checks

    # -- deadlines ----------------------------------------------------------------------------------------------
    def matter_due_at(self, matter: dict[str, Any]) -> str:
        timing = self.ledger.matter_timing(matter["key"], now=self.now, rule=self.rule, calendar=self.calendar)
        return (timing.committed_due or self.now).isoformat()

    def matter_warning_at(self, matter: dict[str, Any]) -> str:
        timing = self.ledger.matter_timing(matter["key"], now=self.now, rule=self.rule, calendar=self.calendar)
        if timing.committed_due is None:
            return self.now.isoformat()
        return self.calendar.subtract_working_time(timing.committed_due, self.rule.warn_days).isoformat()

    def intake_due_at(self, stage: str) -> str:
        """一窗受理 limit: the profile's working days from the submission (now, when the intake task opens)."""
        return due_date(self.now, self.catalogue.profile.intake_limit_wd, 0.0, self.calendar).isoformat()

    def commitment_reminder_at(self, stage: str) -> str:
        """无感服务: remind the owner the profile's warning days before its supply deadline."""
        deadline = datetime.fromisoformat(self.commitment_due_at(stage))
        return self.calendar.subtract_working_time(deadline, float(self.catalogue.profile.warning_days)).isoformat()

    def statement_due_at(self, stage: str) -> str:
        """陈述申辩 deadline: the profile's working days from the notice of intended revocation."""
        noticed = self.ledger.get(stage).attrs.get("revocation_noticed_at")
        start = datetime.fromisoformat(noticed) if noticed else self.now
        return due_date(start, self.catalogue.profile.commitment.statement_limit_wd, 0.0, self.calendar).isoformat()

    def statement_reminder_at(self, stage: str) -> str:
        """无感服务: remind the owner the profile's warning days before its 陈述申辩 deadline."""
        deadline = datetime.fromisoformat(self.statement_due_at(stage))
        return self.calendar.subtract_working_time(deadline, float(self.catalogue.profile.warning_days)).isoformat()

    def correction_due_at(self, matter: dict[str, Any]) -> str:
        """补正 deadline: the profile's ``correction.limit_wd`` working days from the correction notice."""
        subject = self.ledger.get(matter["key"])
        stop = subject.open_stop
        start = stop.start if stop is not None and stop.kind == "correction" else self.now
        return due_date(start, self.catalogue.profile.correction.limit_wd, 0.0, self.calendar).isoformat()

    def filing_correction_due_at(self, stage: str) -> str:
        """一次性告知's deadline: the profile's ``correction.intake_limit_wd`` (else ``limit_wd``) working days from
        the notice (now, when the owner's correction task opens; the timer keeps the value it was given then)."""
        days = self.catalogue.profile.correction.filing_limit_wd
        return due_date(self.now, days, 0.0, self.calendar).isoformat()

    def filing_correction_reminder_at(self, stage: str) -> str:
        """无感服务: remind the owner the profile's warning days before its correction deadline at the window."""
        deadline = datetime.fromisoformat(self.filing_correction_due_at(stage))
        return self.calendar.subtract_working_time(deadline, float(self.catalogue.profile.warning_days)).isoformat()

    def commitment_due_at(self, stage: str) -> str:
        subject = self.ledger.get(stage)
        assert subject.started_at is not None
        days = self.catalogue.profile.commitment.supply_deadline_wd
        return due_date(subject.started_at, days, 0.0, self.calendar).isoformat()

    # -- recording ----------------------------------------------------------------------------------------------
    def start_matter(self, matter: dict[str, Any]) -> None:
        self.ledger.start_matter(
            matter["key"], self.now, name=matter["name"], stage=matter["stage"], matter_id=matter["id"],
            department=matter["department"], committed_limit_wd=matter.get("committed_limit_wd"),
            statutory_limit_wd=matter.get("statutory_limit_wd"),
            attrs={"mode": "commitment"} if matter.get("mode") == "commitment" else None,
        )

    def correction_lapsed(self, matter: dict[str, Any]) -> dict[str, Any]:
        """The owner let the 补正 deadline pass: the stop ends, the matter is 视为撤回 (or terminated, as the
        profile says), and the owner is told. Returns the matter result the stage reads."""
        rules = self.catalogue.profile.correction
        reason = (f"逾期未补正（补正期限{rules.limit_wd}个工作日）：" +
                  ("申请视为撤回" if rules.on_expiry == "withdrawn" else "终止办理"))
        self.ledger.resume_clock(matter["key"], "correction", self.now, actor=None)
        self.ledger.complete_matter(matter["key"], rules.on_expiry, self.now, reason=reason)
        self.notify("correction_lapsed", stage=matter["stage"], matter=matter, text=reason)
        return {"key": matter["key"], "id": matter["id"], "mandatory": matter["mandatory"],
                "outcome": rules.on_expiry, "reason": reason}

    def _revoked_preconditions(self, matter: dict[str, Any]) -> list[str]:
        """The names of the preconditions of ``matter`` whose permits were revoked (撤销)."""
        return list(dict.fromkeys(s.name for s in self.ledger.of_level("matter")
                                  if s.matter_id in set(matter.get("requires") or []) and s.outcome == "revoked"))

    def _withdrawn_filings(self) -> set[str]:
        """Stages whose filing was 视为撤回 at the window (the 联合报装 track's, say: the route went on without it)."""
        return {s.stage for s in self.ledger.of_level("filing") if s.outcome == "withdrawn" and s.stage}

    def precondition_reason(self, matter: dict[str, Any]) -> str:
        """Why a dependant ends without a permit: which precondition was refused, ended or revoked."""
        revoked = self._revoked_preconditions(matter)
        if revoked:
            return f"前置事项{'、'.join(revoked)}的许可已撤销，本事项不能依法出证"
        plan, withdrawn = self.project.plan, self._withdrawn_filings()
        lapsed = [self.catalogue.matter(m).name for m in matter.get("requires") or []
                  if plan is not None and (planned := plan.get(m)) is not None and planned.stage in withdrawn]
        if lapsed:
            return f"前置事项{'、'.join(lapsed)}的申请已视为撤回（逾期未补正），本事项不能依法出证"
        return "前置事项不予许可，本事项不能依法出证"

    def stop_clock(self, matter: dict[str, Any], kind: str, procedure: Any = None) -> None:
        proc = None
        stops = True
        if kind == "precondition":
            stops = self.catalogue.profile.precondition_wait_stops_clock
        if kind == "special":
            proc_id = procedure["id"] if isinstance(procedure, dict) else procedure
            entry = self.catalogue.special_procedure(proc_id)
            limit = self.catalogue.profile.special_procedure_limits_wd.get(entry.id, entry.limit_wd)
            proc = {"id": entry.id, "name": entry.name, "limit_wd": limit}
            stops = self.catalogue.stops_clock(entry.id)
        self.ledger.stop_clock(matter["key"], kind, self.now, procedure=proc, stops_clock=stops, actor=self.actor)
        if kind == "correction":
            self.notify("matter_correction", stage=matter["stage"], matter=matter)
        elif proc is not None:
            self.notify("site_inspection", stage=matter["stage"], matter=matter, text=proc["name"])
        elif kind == "precondition":
            names = "、".join(self.catalogue.matter(m).name for m in matter.get("requires") or [])
            self.notify("awaiting_precondition", stage=matter["stage"], matter=matter,
                        text=f"审查已通过，待{names}办结后依法出证")

    def resume_clock(self, matter: dict[str, Any], kind: str) -> None:
        self.ledger.resume_clock(matter["key"], kind, self.now, actor=self.actor)

    def record_matter_result(self, matter: dict[str, Any], result: dict[str, Any]) -> None:
        actor = None if result.get("outcome") == "silent_consent" else self.actor
        subject = self.ledger.complete_matter(matter["key"], result["outcome"], self.now, actor=actor,
                                              reason=result.get("reason"))
        if result["outcome"] == "terminated" and self._revoked_preconditions(matter):
            subject.attrs["precondition_revoked"] = True  # the route stops on a revocation (ledger.project_result)

    def record_unit_result(self, unit: dict[str, Any], result: dict[str, Any]) -> None:
        self.ledger.record_unit_result(unit.get("stage") or "S4", unit["key"], result["outcome"], self.now)

    def record_warning(self, matter: dict[str, Any], colour: str) -> None:
        self.ledger.record_warning(matter["key"], colour, self.now)

    def record_silent_consent(self, matter: dict[str, Any]) -> None:
        dept = matter["department"]
        self.ledger.record_silent_consent(matter["key"], self.now, responsible={
            "department": dept, "department_name": self.catalogue.department(dept).name,
            "note": "超时默许：部门主要负责人和经办人承担责任",
        })

    def record_acceptance(self, stage: str, intake: str, missing: list[dict[str, Any]] | None = None) -> None:
        lead = self.catalogue.lead_department(stage, self.project_type).id
        missing = missing or []
        self.ledger.accept_stage(
            stage, self.stage_name(stage), self.now, intake=intake,
            limit_wd=self.catalogue.stage_limit_wd(self.project_type, stage), department=lead,
            missing=[m["id"] for m in missing],
        )
        text = {"tolerance": "容缺受理", "combined": "验登合一：随联合验收意见书受理"}.get(intake, "受理")
        self.notify("acceptance_slip", stage=stage, text=text)

    def record_deemed_acceptance(self, stage: str, received_at: str) -> None:
        """视为受理 (行政许可法第三十二条): the window let its limit pass; the filing counts as accepted from the
        moment it was received, so the stage's clock starts there."""
        received = datetime.fromisoformat(received_at)
        lead = self.catalogue.lead_department(stage, self.project_type).id
        self.ledger.accept_stage(stage, self.stage_name(stage), received, intake="deemed",
                                 limit_wd=self.catalogue.stage_limit_wd(self.project_type, stage), department=lead,
                                 decided_at=self.now)  # the window's time ran until its limit passed
        self.notify("deemed_accepted", stage=stage,
                    text="综合窗口未在受理时限内作出决定，自收到申请之日起视为受理（行政许可法第三十二条）")

    def record_filing_withdrawn(self, stage: str) -> None:
        """The owner did not correct its filing by the 一次性告知's deadline: the application is 视为撤回, the stage
        ends ``withdrawn`` (never accepted, never timed) and the owner is told."""
        days = self.catalogue.profile.correction.filing_limit_wd
        reason = f"未在一次性告知的补正期限（{days}个工作日）内补正，申请视为撤回"
        lead = self.catalogue.lead_department(stage, self.project_type).id
        self.ledger.withdraw_filing(stage, self.stage_name(stage), self.now, reason=reason, department=lead)
        self.notify("filing_withdrawn", stage=stage, text=reason)

    def record_stage_result(self, stage: str, result: str) -> None:
        self.ledger.complete_stage(stage, result, self.now, actor=self.actor)
        self.notify("refusal" if result == "refused" else "result", stage=stage, text=STAGE_RESULT_LABELS[result])

    def revoke_permit(self, stage: str, reason: str) -> None:
        """撤销 after a broken commitment: the permits of the matters whose 核查 failed (or never happened: the
        documents never came) and every issued permit that builds on them (the plan's dependants), one
        ``permit_revoked`` event per matter. The rest of the route goes on; dependants still in review end at
        the precondition gate (a revoked precondition counts as refused)."""
        checks = [c for c in self.ledger.of_level("check") if c.stage == stage]
        broken = list(dict.fromkeys(c.matter_id for c in checks if c.outcome == "failed" or c.is_open))
        broken = broken or list(dict.fromkeys(c.matter_id for c in checks))
        plan = self.project.plan
        targets = list(broken)
        for matter_id in broken:
            targets += [d for d in (plan.all_dependants(matter_id) if plan else []) if d not in targets]
        names = {m: self.catalogue.matter(m).name for m in broken}
        stages = {stage}
        for subject in sorted(self.ledger.of_level("matter"), key=lambda s: s.key):
            if subject.matter_id in targets and subject.outcome in ISSUED:
                why = reason if subject.matter_id in broken else \
                    f"前置事项{'、'.join(names.values())}的许可已撤销（{reason}）"
                self.ledger.revoke_matter(subject.key, why, self.now)
                if subject.stage:
                    stages.add(subject.stage)
        for other in sorted(stages):
            found = self.ledger.find(other)
            if found is not None and (other == stage or found.ended_at is not None):
                self.ledger.mark_stage_revoked(other, reason, self.now)
        self.ledger.emit(Event("revocation_scope", self.now, stage=stage, data={
            "reason": reason, "broken": broken, "dependants": [m for m in targets if m not in broken]}))

    def notify_revocation(self, stage: str, reason: str) -> None:
        """拟撤销告知: the owner learns the findings of the failed 核查 and its 陈述申辩 deadline."""
        subject = self.ledger.get(stage)
        subject.attrs["revocation_noticed_at"] = self.now.isoformat()
        self.ledger.subjects[stage] = subject
        self.ledger.dirty.add(stage)
        findings = [f"{c.name}：{c.attrs.get('findings') or '核查不通过'}" for c in self.ledger.of_level("check")
                    if c.stage == stage and c.outcome == "failed"]
        due = self.statement_due_at(stage)
        text = "；".join([reason, *findings]) + f"。请于{due}前陈述申辩。"
        self.notify("revocation_notice", stage=stage, text=text, data={"findings": findings, "statement_due": due})

    def record_credit(self, stage: str, reason: str) -> None:
        self.credit.append({"project_id": self.project.id, "owner_id": self.project.filing.owner_id,
                            "at": self.now, "stage": stage, "reason": reason})
        self.ledger.emit(Event("credit_recorded", self.now, stage=stage, data={"reason": reason}))

    def notify(self, kind: str, *, stage: str | None = None, matter: dict[str, Any] | None = None,
               text: str = "", data: dict[str, Any] | None = None) -> None:
        """Queue a notice for the owner (an outbox an SMS/WeChat adapter can drain)."""
        title = NOTICE_TITLES.get(kind, kind).format(
            stage_name=self.stage_name(stage) if stage else "", matter_name=(matter or {}).get("name", ""),
        )
        code = self.project.project_code  # 项目代码 on every notice (once the project has one)
        self.notices.append({
            "project_id": self.project.id, "owner_id": self.project.filing.owner_id, "at": self.now,
            "kind": kind, "title": title, "body": (text or title) + (f"（项目代码：{code}）" if code else ""),
            "data": {"stage": stage, "matter": (matter or {}).get("key"), **({"project_code": code} if code else {}),
                     **(data or {})},
        })
        self.ledger.emit(Event("notification", self.now, stage=stage, matter_key=(matter or {}).get("key"),
                               data={"kind": kind, "title": title}))
