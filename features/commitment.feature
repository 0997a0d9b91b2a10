# language: zh-CN
功能: 告知承诺制、核查与信用
  事项允许告知承诺制时，建设单位可在申报时选择以承诺办理：签署告知承诺书，审批部门凭承诺作出决定，
  承诺代替的证明材料不再要求提交（地方目录 commitment_waives）。审批部门在核查时限内核查；核查不通过的，
  先告知拟撤销及核查发现的问题，建设单位在期限内陈述申辩（期限前提醒），再由牵头部门决定：撤销的，
  撤销该许可及依其办理的后续许可（审查中的后续事项由前置条件判断终止），项目其余事项继续办理，并记录失信信息。
  失信记录按地方口径在一定期限内不再适用告知承诺制和容缺受理。补正有期限，逾期视为撤回。
  审批部门的核查有时限（事项的 post_check_limit_wd，未设则取地方口径）：时限前黄牌预警，届满记红牌逾期，
  是审批部门的责任，不撤销建设单位的许可、不记失信。撤销针对许可：已撤销的许可记在事项和电子证照上，阶段的
  办理结果和用时不变；路线走完的项目办结（结果注明部分许可已撤销），只有路线因前置许可被撤销而无法继续时，
  项目才以撤销终止。

  背景:
    假如 时钟为 "2026-09-01 09:00"

  场景: 告知承诺制申报，凭承诺审批，核查通过
    假如 建设单位 "owner-k" 以告知承诺制申报 "s1_land_use_planning_permit" 的 "social_small" 类型项目
    那么 事项 "s1_land_use_planning_permit" 的办理方式为 "commitment"
    并且 事项 "s1_land_use_planning_permit" 的材料 "parcel_survey" 以承诺代替
    并且 建设单位已就事项 "s1_land_use_planning_permit" 签署告知承诺书
    当 综合窗口于 "2026-09-01 09:30" 将 "S1" 阶段的 "parcel_survey" 列为缺件被拒绝，提示包含 "告知承诺制"
    并且 综合窗口于 "2026-09-01 09:30" 受理 "S1" 阶段申报（材料齐全）
    并且 部门 "fgw" 于 "2026-09-02 10:00" 批准事项 "s1_project_filing"
    并且 部门 "zrzy" 于 "2026-09-02 15:00" 批准事项 "s1_land_use_planning_permit"
    并且 牵头部门 "zrzy" 于 "2026-09-02 16:00" 对 "S1" 阶段综合出件
    那么 "S1" 阶段结果为 "办结（告知承诺通过）"
    并且 事项 "s1_land_use_planning_permit" 的结果标签为 "办结（告知承诺通过）"
    并且 事项 "s1_project_filing" 的结果标签为 "办结（通过）"
    并且 部门 "zrzy" 有一项事项 "s1_land_use_planning_permit" 的核查任务
    # 核查时限 10 个工作日，自出件次日起算：9/3、9/4、9/7–11、9/14–16 → 9/16 24:00。
    并且 "S1/check/s1_land_use_planning_permit" 的承诺到期时间为 "2026-09-16 24:00"
    并且 "S23" 阶段等待建设单位申报
    当 部门 "zrzy" 于 "2026-09-10 10:00" 核查通过
    那么 "S1" 阶段结果为 "办结（告知承诺通过）"
    并且 项目仍在办理中
    并且 建设单位 "owner-k" 没有信用记录

  场景: 核查不通过，陈述申辩后撤销该许可及依其办理的后续许可，其余事项继续办理
    假如 建设单位 "owner-k" 以告知承诺制申报 "s1_land_use_planning_permit" 的 "social_small" 类型项目
    当 综合窗口于 "2026-09-01 09:30" 受理 "S1" 阶段申报（材料齐全）
    并且 部门 "fgw" 于 "2026-09-02 10:00" 批准事项 "s1_project_filing"
    并且 部门 "zrzy" 于 "2026-09-02 15:00" 批准事项 "s1_land_use_planning_permit"
    并且 牵头部门 "zrzy" 于 "2026-09-02 16:00" 对 "S1" 阶段综合出件
    并且 综合窗口于 "2026-09-03 09:30" 受理 "S23" 阶段申报（材料齐全）
    并且 部门 "zrzy" 于 "2026-09-04 10:00" 批准事项 "s2_construction_planning_permit"
    并且 部门 "yl" 于 "2026-09-04 10:00" 批准事项 "s2_greening_scheme_review"
    并且 部门 "zrzy" 于 "2026-09-07 10:00" 核查不通过，发现 "宗地界址与出让合同不符"
    那么 建设单位收到 "revocation_notice" 通知，内容包含 "宗地界址与出让合同不符"
    # 陈述申辩期限 5 个工作日：9/8–11、9/14 → 9/14 24:00；期限前 2 个工作日（9/10 24:00）提醒。
    当 时钟走到 "2026-09-11 09:00"
    那么 建设单位于 "2026-09-10 24:00" 收到 "statement_reminder" 通知
    当 建设单位于 "2026-09-11 10:00" 陈述申辩："界址已复测，附复测报告"
    并且 牵头部门 "zrzy" 于 "2026-09-14 10:00" 作出撤销决定，理由为 "复测结果仍与出让合同不符"
    那么 事项 "s1_land_use_planning_permit" 的许可于 "2026-09-14 10:00" 被撤销
    # 已出证的后续许可一并撤销；审查中的后续事项由前置条件判断终止。
    并且 事项 "s2_construction_planning_permit" 的许可于 "2026-09-14 10:00" 被撤销
    并且 事项 "s3_construction_permit" 的结果为 "terminated"
    并且 事项 "s3_construction_permit" 不再有待办审查任务
    并且 事项 "s1_project_filing" 的结果为 "approved"
    并且 事项 "s2_greening_scheme_review" 的结果为 "approved"
    并且 建设单位 "owner-k" 有一条信用记录，原因为 "核查发现实际情况与承诺内容不符"，时间为 "2026-09-14 10:00"
    并且 建设单位收到 "permit_revoked" 通知
    # 施工许可证是必须事项，依法不能出证：该阶段不予许可，项目以撤销终止。
    并且 "S23" 阶段结果为 "不予许可"
    并且 项目状态为 "stopped"，结果为 "revoked"

  场景: 档案验收告知承诺制：核查不通过只撤销档案验收，登记照常办理
    假如 建设单位 "owner-k" 以告知承诺制申报 "s4_archives_acceptance" 的 "social_small" 类型项目
    并且 "S4" 之前的全部阶段已于 "2026-09-01 10:00" 办结
    那么 事项 "s4_archives_acceptance" 的材料 "project_archives" 以承诺代替
    当 综合窗口于 "2026-09-02 09:30" 受理 "S4" 阶段申报（材料齐全）
    并且 各部门于 "2026-09-03 10:00" 办结 "S4" 阶段的全部事项
    并且 部门 "zjj" 于 "2026-09-03 11:00" 批准事项 "S4/s4_joint_acceptance_opinion"
    并且 牵头部门 "zjj" 于 "2026-09-03 15:00" 出具联合验收意见书 "联验-2026-001"
    那么 "S4" 阶段结果为 "办结（告知承诺通过）"
    并且 事项 "S4/U1/s4_archives_acceptance" 的结果标签为 "办结（告知承诺通过）"
    并且 部门 "daj" 有一项事项 "s4_archives_acceptance" 的核查任务
    当 部门 "daj" 于 "2026-09-04 10:00" 核查不通过，发现 "竣工档案未在承诺期限内移交"
    并且 时钟走到 "2026-09-14 09:00"
    并且 牵头部门 "zjj" 于 "2026-09-14 10:00" 作出撤销决定，理由为 "未陈述申辩"
    那么 事项 "S4/U1/s4_archives_acceptance" 的许可于 "2026-09-14 10:00" 被撤销
    并且 事项 "S4/s4_joint_acceptance_opinion" 的结果为 "approved"
    并且 项目仍在办理中
    # 验登合一：不动产首次登记随联合验收意见书受理，不依赖档案验收，照常办理。
    并且 事项 "s5_first_registration" 仍有待办审查任务
    # 撤销针对许可：竣工验收阶段的办理结果不变；路线走完，项目办结，结果注明部分许可已撤销。
    并且 "S4" 阶段结果为 "办结（告知承诺通过）"
    当 部门 "bdc" 于 "2026-09-15 10:00" 批准事项 "s5_first_registration"
    并且 牵头部门 "bdc" 于 "2026-09-15 11:00" 对 "S5" 阶段综合出件
    那么 项目状态为 "completed"，结果为 "approved_with_revocations"
    并且 项目办结事件的结果为 "办结（部分许可已撤销）"，列出已撤销的许可 "S4/U1/s4_archives_acceptance"

  场景: 不适用告知承诺制的申报被拒绝，不立项
    当 建设单位 "owner-k" 以告知承诺制申报 "s1_project_filing" 的 "social_small" 类型项目被拒绝，提示包含 "commitment_matters: s1_project_filing"
    那么 没有立项任何项目
    当 建设单位 "owner-k" 以告知承诺制申报 "s1_energy_review" 的 "social_small" 类型项目被拒绝，提示包含 "not in this project's plan"
    那么 没有立项任何项目

  场景: 失信记录阻止告知承诺制和容缺受理
    假如 管理员记录建设单位 "owner-k" 的失信信息 "另案承诺未兑现"
    当 建设单位 "owner-k" 以告知承诺制申报 "s1_land_use_planning_permit" 的 "social_small" 类型项目被拒绝，提示包含 "bars 告知承诺制 for 730 days"
    那么 没有立项任何项目
    假如 建设单位 "owner-k" 申报了一个 "social_small" 类型的项目
    当 综合窗口于 "2026-09-01 09:30" 对 "S1" 阶段申报容缺受理，缺少 "parcel_survey"
    那么 容缺受理被拒绝，提示包含 "bars 容缺受理 for 365 days"
    并且 "S1" 阶段的受理任务仍待办理

  场景: 补正期限届满视为撤回，停表结束
    假如 建设单位 "owner-c" 申报了一个 "social_small" 类型的项目
    当 综合窗口于 "2026-09-01 09:30" 受理 "S1" 阶段申报（材料齐全）
    并且 部门 "zrzy" 于 "2026-09-02 10:00" 要求补正事项 "s1_land_use_planning_permit"：宗地测绘成果
    # 补正期限 20 个工作日，自补正通知次日起算：9/3…9/18 为 1–12，9/20（周日调休）13，9/21–24 为 14–17，
    # 9/25 中秋放假，9/28–30 为 18–20 → 9/30 24:00（国庆前）。
    当 时钟走到 "2026-10-09 09:00"
    那么 事项 "s1_land_use_planning_permit" 的结果为 "withdrawn"
    并且 建设单位于 "2026-09-30 24:00" 收到 "correction_lapsed" 通知
    并且 事项 "s1_land_use_planning_permit" 的停表均已结束
    当 部门 "fgw" 于 "2026-10-09 10:00" 批准事项 "s1_project_filing"
    那么 "S1" 阶段结果为 "不予许可"
    并且 项目状态为 "stopped"，结果为 "refused"

  场景: 核查逾期：审批部门记黄牌、红牌，建设单位的许可不受影响
    假如 建设单位 "owner-k" 以告知承诺制申报 "s1_land_use_planning_permit" 的 "social_small" 类型项目
    当 综合窗口于 "2026-09-01 09:30" 受理 "S1" 阶段申报（材料齐全）
    并且 部门 "fgw" 于 "2026-09-02 10:00" 批准事项 "s1_project_filing"
    并且 部门 "zrzy" 于 "2026-09-02 15:00" 批准事项 "s1_land_use_planning_permit"
    并且 牵头部门 "zrzy" 于 "2026-09-02 16:00" 对 "S1" 阶段综合出件
    # 核查时限 10 个工作日 → 9/16 24:00；期限前 2 个工作日（9/15、9/16）黄牌，届满红牌。
    当 时钟走到 "2026-09-18 09:00"
    那么 事项 "S1/check/s1_land_use_planning_permit" 于 "2026-09-14 24:00" 收到 "yellow" 预警
    并且 事项 "S1/check/s1_land_use_planning_permit" 于 "2026-09-16 24:00" 收到 "red" 预警
    并且 "S1/check/s1_land_use_planning_permit" 的计时状态为 "overdue"
    并且 部门 "zrzy" 有一项事项 "s1_land_use_planning_permit" 的核查任务
    并且 事项 "s1_land_use_planning_permit" 的结果为 "approved"
    并且 建设单位没有收到 "revocation_notice" 通知
    并且 建设单位 "owner-k" 没有信用记录
    当 部门 "zrzy" 于 "2026-09-18 10:00" 核查通过
    那么 "S1/check/s1_land_use_planning_permit" 的计时状态为 "overdue"
    并且 "S1" 阶段结果为 "办结（告知承诺通过）"
    并且 事项 "s1_land_use_planning_permit" 的结果为 "approved"
    并且 项目仍在办理中
