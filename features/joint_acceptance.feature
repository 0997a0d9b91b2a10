# language: zh-CN
功能: 联合验收（竣工验收）
  一次申请、统一受理、多验合一：每个单位工程并行验收；可先行验收部分事项（如消防、人防，设备可进场），
  其余事项在投入使用前验收；全部单位工程通过后由牵头部门出具一份联合验收意见书。

  场景: 两个单位工程与先行验收
    假如 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-e" 申报了一个 "land_with_scheme" 类型的项目，单位工程如下：
      | 单位工程 | 名称        | 先行验收事项                                      |
      | U1       | 1号厂房     | s4_fire_acceptance,s4_civil_defense_acceptance   |
      | U2       | 2号综合楼   |                                                  |
    并且 "S4" 之前的全部阶段已于 "2026-09-04 10:00" 办结
    当 综合窗口于 "2026-09-07 09:00" 受理 "S4" 阶段申报（材料齐全）
    # U1 先验消防、人防；U2 不先行，四个验收事项一次并联。
    那么 "S4" 阶段的待办事项为 "S4/U1/s4_fire_acceptance,S4/U1/s4_civil_defense_acceptance,S4/U2/s4_planning_verification,S4/U2/s4_fire_acceptance,S4/U2/s4_civil_defense_acceptance,S4/U2/s4_archives_acceptance"
    当 部门 "zjj" 于 "2026-09-08 09:00" 批准事项 "S4/U1/s4_fire_acceptance"
    并且 部门 "rf" 于 "2026-09-08 10:00" 批准事项 "S4/U1/s4_civil_defense_acceptance"
    并且 牵头部门 "zjj" 于 "2026-09-08 15:00" 对单位工程 "U1" 出具先行验收意见
    那么 "S4" 阶段的待办事项为 "S4/U1/s4_planning_verification,S4/U1/s4_archives_acceptance,S4/U2/s4_planning_verification,S4/U2/s4_fire_acceptance,S4/U2/s4_civil_defense_acceptance,S4/U2/s4_archives_acceptance"
    当 部门 "zrzy" 于 "2026-09-09 09:00" 批准事项 "S4/U2/s4_planning_verification"
    并且 部门 "zjj" 于 "2026-09-09 09:00" 批准事项 "S4/U2/s4_fire_acceptance"
    并且 部门 "rf" 于 "2026-09-09 09:00" 批准事项 "S4/U2/s4_civil_defense_acceptance"
    并且 部门 "daj" 于 "2026-09-09 09:00" 批准事项 "S4/U2/s4_archives_acceptance"
    并且 部门 "zjj" 于 "2026-09-09 15:00" 批准事项 "S4/U2/s4_completion_filing"
    那么 "S4" 阶段尚未办结，也没有综合出件任务
    并且 "S4" 阶段的 "Task_JointOpinion" 任务共生成 0 个
    当 部门 "zrzy" 于 "2026-09-10 09:00" 批准事项 "S4/U1/s4_planning_verification"
    并且 部门 "daj" 于 "2026-09-10 09:00" 批准事项 "S4/U1/s4_archives_acceptance"
    并且 部门 "zjj" 于 "2026-09-10 15:00" 批准事项 "S4/U1/s4_completion_filing"
    并且 牵头部门 "zjj" 于 "2026-09-11 09:00" 出具联合验收意见书 "联验〔2026〕001号"
    那么 "S4" 阶段结果为 "办结（通过）"
    并且 "S4" 阶段只办结一次
    并且 "S4" 阶段的 "Task_JointOpinion" 任务共生成 1 个
    并且 "S4" 阶段的 "Task_EarlyOpinion" 任务共生成 1 个
    并且 "S5" 阶段等待建设单位申报
    # 9/7 09:00 → 9/11 09:00：15h + 24h×3 + 9h = 96h = 4.0 工作日（4.0 自然日）。
    并且 "S4" 的跨度用时为 4 个自然日、4 个工作日
    # 阶段时限 15 个工作日：9/8–9/11 为 1–4，9/14–18 为 5–9，9/20（调休）10，9/21–24 为 11–14，
    # 9/25 中秋放假，9/28 为 15 → 9/28 24:00。
    并且 "S4" 的承诺到期时间为 "2026-09-28 24:00"
    # U1 的规划核实在先行验收意见出具后（9/8 15:00）才开始：9h + 24h + 9h = 42h = 1.75 工作日；
    # U2 的规划核实自受理起：9/7 09:00 → 9/9 09:00 = 2.0 工作日。
    并且 "S4/U1/s4_planning_verification" 的审批用时为 1.75 个工作日
    并且 "S4/U2/s4_planning_verification" 的审批用时为 2 个工作日

  场景: 一个单位工程验收不通过，已通过的单位工程结果仍然有效
    假如 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-u" 申报了一个 "land_with_scheme" 类型的项目，单位工程如下：
      | 单位工程 | 名称      | 先行验收事项 |
      | U1       | 1号厂房   |              |
      | U2       | 2号仓库   |              |
    并且 "S4" 之前的全部阶段已于 "2026-09-04 10:00" 办结
    当 综合窗口于 "2026-09-07 09:00" 受理 "S4" 阶段申报（材料齐全）
    并且 部门 "zjj" 于 "2026-09-08 09:00" 以 "消防设施检测不合格" 为由不予许可事项 "S4/U2/s4_fire_acceptance"
    并且 各部门于 "2026-09-09 09:00" 办结 "S4" 阶段的全部事项
    并且 部门 "zjj" 于 "2026-09-09 15:00" 批准事项 "S4/U1/s4_completion_filing"
    那么 单位工程 "U2" 的验收结果为 "验收不通过"
    并且 单位工程 "U1" 的验收结果为 "验收通过"
    当 牵头部门 "zjj" 于 "2026-09-10 09:00" 出具联合验收意见书 "联验〔2026〕002号"
    那么 "S4" 阶段结果为 "办结（通过）"
    并且 "S4" 阶段的 "Task_JointOpinion" 任务共生成 1 个
    并且 "S5" 阶段等待建设单位申报
