# language: zh-CN
功能: 超时默许与预警
  允许超时默许的事项（默认口径下园林部门的绿化方案审查 s2_greening_scheme_review）在承诺时限届满仍未办理时
  视为同意，记录责任部门；不允许超时默许的事项先收到黄牌预警（剩余 ≤ 2 个工作日），届满转红牌逾期。

  场景: 超时默许与逾期红牌
    假如 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-d" 申报了一个 "social_general" 类型的项目
    并且 "S1" 阶段已于 "2026-09-01 10:00" 全部办结
    当 综合窗口于 "2026-09-02 10:00" 受理 "S2" 阶段申报（材料齐全）
    并且 除 "yl,rf" 外的部门于 "2026-09-03 10:00" 办结 "S2" 阶段的全部事项
    # 两个事项承诺时限均为 5 个工作日，受理日（周三 9/2）次日起算：9/3、9/4、9/7、9/8、9/9 → 9/9 24:00。
    # 黄牌：到期前 2 个工作日 = 9/7 24:00。
    那么 "S2/s2_greening_scheme_review" 的承诺到期时间为 "2026-09-09 24:00"
    并且 "S2/s2_civil_defense_design_opinion" 的承诺到期时间为 "2026-09-09 24:00"
    当 时钟走到 "2026-09-07 09:00"
    # 剩余 9/7 15h + 9/8、9/9 48h = 63h = 2.625 个工作日 > 2 → 绿色。
    那么 事项 "s2_civil_defense_design_opinion" 的待办颜色为 "green"
    并且 "S2/s2_civil_defense_design_opinion" 的剩余时间为 2.625 个工作日
    并且 事项 "s2_civil_defense_design_opinion" 没有 "yellow" 预警
    当 时钟走到 "2026-09-08 09:00"
    # 剩余 15h + 24h = 39h = 1.625 个工作日 ≤ 2 → 黄色；预警于 9/7 24:00 发出。
    那么 事项 "s2_civil_defense_design_opinion" 的待办颜色为 "yellow"
    并且 "S2/s2_civil_defense_design_opinion" 的计时状态为 "warning"
    并且 事项 "s2_civil_defense_design_opinion" 于 "2026-09-07 24:00" 收到 "yellow" 预警
    并且 事项 "s2_greening_scheme_review" 于 "2026-09-07 24:00" 收到 "yellow" 预警
    当 时钟走到 "2026-09-10 09:00"
    那么 事项 "s2_greening_scheme_review" 于 "2026-09-09 24:00" 超时默许，责任部门为 "yl"
    # 9/2 10:00 → 9/10 00:00：14h + 5 个工作日 120h = 134h = 5.5833 工作日。
    并且 "S2/s2_greening_scheme_review" 的审批用时为 5.5833 个工作日
    并且 事项 "s2_greening_scheme_review" 没有 "red" 预警
    并且 事项 "s2_civil_defense_design_opinion" 于 "2026-09-09 24:00" 收到 "red" 预警
    并且 事项 "s2_civil_defense_design_opinion" 的待办颜色为 "red"
    并且 "S2/s2_civil_defense_design_opinion" 的计时状态为 "overdue"
    # 已超期 9 个小时：剩余 −0.375 个工作日。
    并且 "S2/s2_civil_defense_design_opinion" 的剩余时间为 -0.375 个工作日
    当 部门 "rf" 于 "2026-09-10 10:00" 批准事项 "s2_civil_defense_design_opinion"
    # 9/2 10:00 → 9/10 10:00：14h + 120h + 10h = 144h = 6.0 工作日，晚于 9/9 24:00 → 逾期。
    那么 "S2/s2_civil_defense_design_opinion" 的审批用时为 6 个工作日
    并且 "S2/s2_civil_defense_design_opinion" 的计时状态为 "overdue"
    并且 事项 "s2_civil_defense_design_opinion" 的结果为 "approved"
    当 牵头部门 "zrzy" 于 "2026-09-10 11:00" 对 "S2" 阶段综合出件
    那么 "S2" 阶段结果为 "办结（通过）"
