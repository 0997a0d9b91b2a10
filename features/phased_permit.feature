# language: zh-CN
功能: 分阶段施工许可：口径决定哪一阶段的施工许可出证后施工许可阶段办结
  申请分阶段办理施工许可的项目，基坑支护和土方开挖、地下室、地上主体各自作为一个计时事项，按顺序出证。
  口径（workflows/profiles/*.yaml 的 phased_permit.stage_ends_after）规定哪一阶段出证后施工许可阶段办结、
  下一阶段开始；其后的阶段继续办理，各自计时，仍按顺序出证，并且必须在竣工验收事项出证之前出证
  （验收事项以施工许可为前置事项，建筑法第七条、第六十一条）。
  默认口径：基坑出证即办结（拿地即开工，cases-shaanxi.txt:558）；江西口径：三个阶段全部出证后办结。

  场景: 默认口径：基坑施工许可出证后阶段办结，地下室、地上主体继续办理，并在竣工验收前出证
    假如 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-p" 申报 "social_general" 类型的项目，情形为 "phased_construction_permit=true"
    并且 "S3" 之前的全部阶段已于 "2026-09-01 10:00" 办结
    当 综合窗口于 "2026-09-02 09:00" 受理 "S3" 阶段申报（材料齐全）
    那么 "S3" 阶段的待办事项为 "S3/s3_drawing_review,S3/s3_construction_permit@foundation"
    当 部门 "zjj" 于 "2026-09-02 10:00" 批准事项 "S3/s3_drawing_review"
    并且 部门 "zjj" 于 "2026-09-03 09:00" 批准事项 "S3/s3_construction_permit@foundation"
    并且 牵头部门 "zjj" 于 "2026-09-03 10:00" 对 "S3" 阶段综合出件
    那么 "S3" 阶段结果为 "办结（通过）"
    # 9/2 09:00 受理 → 9/3 10:00 出件 = 25 h = 1.0417 个工作日
    并且 "S3" 的跨度用时为 1.0417 个自然日、1.0417 个工作日
    并且 "S4" 阶段等待建设单位申报
    并且 "S3" 阶段的待办事项为 "S3/s3_construction_permit@basement,S3/s3_construction_permit@superstructure"
    当 部门 "zjj" 于 "2026-09-04 09:00" 批准事项 "S3/s3_construction_permit@superstructure"
    那么 事项 "S3/s3_construction_permit@superstructure" 正在等待前置事项出证
    当 综合窗口于 "2026-09-04 10:00" 受理 "S4" 阶段申报（材料齐全）
    并且 部门 "zjj" 于 "2026-09-04 11:00" 批准事项 "S4/U1/s4_fire_acceptance"
    那么 事项 "S4/U1/s4_fire_acceptance" 正在等待前置事项出证
    当 部门 "zjj" 于 "2026-09-07 09:00" 批准事项 "S3/s3_construction_permit@basement"
    那么 事项 "S3/s3_construction_permit@superstructure" 的结果为 "approved"
    并且 事项 "S3/s3_construction_permit@superstructure" 在事项 "S3/s3_construction_permit@basement" 之后出证
    并且 事项 "S4/U1/s4_fire_acceptance" 的结果为 "approved"
    并且 事项 "S4/U1/s4_fire_acceptance" 在事项 "S3/s3_construction_permit@superstructure" 之后出证
    # 施工许可阶段的关键路径是基坑（阶段办结前出证的最后一项），不是阶段办结后才办理的后续阶段
    并且 "S3" 阶段的关键路径事项为 "S3/s3_construction_permit@foundation"
    # 地下室自阶段办结时（9/3 10:00，周四）起计时，到 9/7 09:00（周一）出证：
    # 9/3 10:00 → 9/4 24:00 = 38 h，周末不计，9/7 00:00 → 09:00 = 9 h；共 47 h = 1.9583 个工作日
    并且 "S3/s3_construction_permit@basement" 的跨度用时为 3.9583 个自然日、1.9583 个工作日

  场景: 江西口径：三个阶段的施工许可全部出证后阶段才办结
    假如 使用 "jiangxi" 口径
    并且 时钟为 "2026-09-01 09:00"
    并且 建设单位 "owner-q" 申报 "social_general" 类型的项目，情形为 "phased_construction_permit=true"
    并且 "S3" 之前的全部阶段已于 "2026-09-01 10:00" 办结
    当 综合窗口于 "2026-09-02 09:00" 受理 "S3" 阶段申报（材料齐全）
    那么 "S3" 阶段的待办事项为 "S3/s3_drawing_review,S3/s3_construction_permit@foundation,S3/s3_construction_permit@basement,S3/s3_construction_permit@superstructure"
    当 部门 "zjj" 于 "2026-09-02 10:00" 批准事项 "S3/s3_drawing_review"
    并且 部门 "zjj" 于 "2026-09-02 11:00" 批准事项 "S3/s3_construction_permit@basement"
    那么 事项 "S3/s3_construction_permit@basement" 正在等待前置事项出证
    当 部门 "zjj" 于 "2026-09-03 09:00" 批准事项 "S3/s3_construction_permit@foundation"
    那么 事项 "S3/s3_construction_permit@basement" 的结果为 "approved"
    并且 事项 "S3/s3_construction_permit@basement" 在事项 "S3/s3_construction_permit@foundation" 之后出证
    # 基坑：9/2 09:00 受理 → 9/3 09:00 出证 = 1 个工作日
    并且 "S3/s3_construction_permit@foundation" 的跨度用时为 1 个自然日、1 个工作日
    并且 "S3" 阶段尚未办结，也没有综合出件任务
    当 部门 "zjj" 于 "2026-09-04 09:00" 批准事项 "S3/s3_construction_permit@superstructure"
    并且 牵头部门 "zjj" 于 "2026-09-04 10:00" 对 "S3" 阶段综合出件
    那么 "S3" 阶段结果为 "办结（通过）"
    并且 "S4" 阶段等待建设单位申报
