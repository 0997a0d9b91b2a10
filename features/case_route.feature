# language: zh-CN
功能: 项目情形决定办理事项，并联审查、依法出证
  建设单位申报时回答情形问题（workflows/case.yaml），事项适用规则（workflows/rules/matter_selection.dmn）
  据此决定本项目办理哪些事项；每个事项（办理或不办理）都记录决定它的规则和依据。
  有前置关系的事项可以同时审查（并联、同步办理），但必须在前置事项出证后才出证（建筑法第八条）。

  场景: 核准与备案由情形决定，只办其一
    假如 建设单位 "owner-c" 申报 "social_general" 类型的项目，情形为 "investment_mode=ratification"
    那么 项目办理事项 "s1_project_ratification"
    并且 项目不办理事项 "s1_project_filing"，依据为 "审批、核准项目不再办理备案"

  场景: 不在文物保护区域的项目不办理文物保护意见，并能查到依据
    假如 建设单位 "owner-c" 申报 "social_general" 类型的项目，情形为 "in_relics_zone=false"
    那么 项目不办理事项 "s2_cultural_relics_opinion"，依据为 "不在文物保护范围"
    假如 建设单位 "owner-d" 申报 "social_general" 类型的项目，情形为 "in_relics_zone=true"
    那么 项目办理事项 "s2_cultural_relics_opinion"

  场景: 区域评估已覆盖的评估事项免于单独办理
    假如 建设单位 "owner-e" 申报 "social_general" 类型的项目，情形为 "eia_category=form; regional_assessment=eia,soil_water"
    那么 项目不办理事项 "s2_eia_approval"，依据为 "区域评估已完成环境影响评价"
    并且 项目不办理事项 "s2_soil_water_conservation"，依据为 "区域评估已完成水土保持评估"

  场景: 缺少情形回答的申报被拒绝，并指出是哪个问题
    那么 按情形 "land_supply=-" 申报 "social_general" 类型的项目被拒绝，提示包含 "case.land_supply"

  场景: 建设工程规划许可证先审查通过，等设计方案审查出证后才出证
    假如 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-g" 申报了一个 "social_general" 类型的项目
    并且 "S2" 之前的全部阶段已于 "2026-09-01 10:00" 办结
    当 综合窗口于 "2026-09-02 09:00" 受理 "S2" 阶段申报（材料齐全）
    并且 部门 "zrzy" 于 "2026-09-02 10:00" 批准事项 "s2_construction_planning_permit"
    那么 事项 "S2/s2_construction_planning_permit" 正在等待前置事项出证
    并且 建设单位收到 "awaiting_precondition" 通知
    当 部门 "zrzy" 于 "2026-09-03 10:00" 批准事项 "s2_design_scheme_review"
    那么 事项 "S2/s2_construction_planning_permit" 的结果为 "approved"
    并且 事项 "S2/s2_construction_planning_permit" 在事项 "S2/s2_design_scheme_review" 之后出证
    # 9/2 09:00 受理 → 9/3 10:00 出证 = 1.0417 个工作日，其中 9/2 10:00 → 9/3 10:00 等待前置事项（停表 1 个工作日）
    并且 "S2/s2_construction_planning_permit" 的停表时间为 1 个工作日

  场景: 前置事项不予许可，后续事项终止并说明原因
    假如 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-h" 申报了一个 "social_general" 类型的项目
    并且 "S2" 之前的全部阶段已于 "2026-09-01 10:00" 办结
    当 综合窗口于 "2026-09-02 09:00" 受理 "S2" 阶段申报（材料齐全）
    并且 部门 "zrzy" 于 "2026-09-02 10:00" 批准事项 "s2_construction_planning_permit"
    并且 部门 "zrzy" 于 "2026-09-03 10:00" 以 "设计方案不符合规划条件" 为由不予许可事项 "s2_design_scheme_review"
    那么 事项 "S2/s2_construction_planning_permit" 的结果为 "terminated"

  场景: 水电气信联合报装与后续阶段并行，竣工验收备案在接入证明之后出具
    假如 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-w" 申报 "social_small" 类型的项目，情形为 "utility_connection=water,power"
    并且 "S1" 阶段已于 "2026-09-01 10:00" 全部办结
    那么 "SU" 与 "S23" 阶段的申报任务同时就绪
    当 综合窗口于 "2026-09-02 09:00" 受理 "SU" 阶段申报（材料齐全）
    那么 "SU" 阶段的待办事项为 "SU/su_water_connection,SU/su_power_connection"
    当 各部门于 "2026-09-04 09:00" 办结 "SU" 阶段的全部事项
    并且 牵头部门 "zjj" 于 "2026-09-04 10:00" 对 "SU" 阶段综合出件
    那么 "SU" 阶段结果为 "办结（通过）"
    # 受理 9/2 09:00 → 9/4 10:00 = 2.0417 个工作日；联合报装不计入四阶段，也不计入全流程
    并且 "SU" 的跨度用时为 2.0417 个自然日、2.0417 个工作日

  场景: 审查中的事项在前置事项不予许可时即时终止
    假如 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-k" 申报了一个 "social_general" 类型的项目
    并且 "S2" 之前的全部阶段已于 "2026-09-01 10:00" 办结
    当 综合窗口于 "2026-09-02 09:00" 受理 "S2" 阶段申报（材料齐全）
    并且 部门 "zrzy" 于 "2026-09-03 10:00" 以 "设计方案不符合规划条件" 为由不予许可事项 "s2_design_scheme_review"
    那么 事项 "S2/s2_construction_planning_permit" 的结果为 "terminated"
    并且 事项 "s2_construction_planning_permit" 不再有待办审查任务
