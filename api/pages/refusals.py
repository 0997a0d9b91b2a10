"""Every refusal the services raise, said in Chinese for the pages, with the field it concerns.

The service layer words its refusals in English with the Chinese term (``容缺受理 is not allowed: …``) and starts
a message with the field it concerns (``project_type: unknown project type 'x'``): the API's clients read them.
The pages show the same refusal in Chinese, next to that field. This module is the one table that does it:
each entry is the English sentence as a pattern, its Chinese wording and, where the message does not start with
its field, the field it concerns. Messages that list several problems (a form's answers, a task's payload) are
split and each part explained on its own.

tests/test_page_refusals.py walks every ``raise`` of a service error (and the domain errors and refusal texts
the services pass on) in the source and checks that each is explained here in Chinese: a new refusal without
its Chinese wording fails that test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

ROLES = {"owner": "建设单位", "agent": "帮办代办", "window": "综合窗口", "agency": "审批部门", "lead": "牵头部门",
         "analyst": "工改办（分析）", "admin": "系统管理员", "system": "系统"}
STATES = {"running": "办理中", "completed": "已办结", "stopped": "已终止", "withdrawn": "已撤回", "ready": "待办",
          "done": "已办", "cancelled": "已取消", "open": "未处理", "resolved": "已处理", "retried": "已重试"}
WHAT = {"project type": "项目类型", "stage": "阶段", "department": "部门", "matter": "事项"}
#: Field names as a person reads them, for a refusal shown at the top of a form rather than beside its field.
FIELDS = {"name": "名称", "project_type": "项目类型", "owner_id": "建设单位", "owner_ids": "代理的建设单位",
          "role": "角色", "department": "部门", "stage": "阶段", "matter": "事项", "division": "行政区划代码",
          "division_code": "行政区划代码", "jurisdiction": "地区规则", "since": "开始日期", "until": "截止日期",
          "reason": "理由", "items": "补正事项", "procedure": "特别程序", "outcome": "受理结论", "missing": "缺少的材料",
          "materials": "材料", "declared_missing": "声明缺少的材料", "supplied": "补正材料", "documents": "容缺材料",
          "findings": "核查发现", "signatory": "签署人", "accepted_terms": "承诺条款", "certificate_no": "证书编号",
          "new_defect": "新问题", "files": "模型文件", "process_id": "流程编号", "cursor": "翻页", "by": "分组方式",
          "group_by": "分组方式", "task_id": "任务", "to_version": "目标版本", "project_id": "项目编号",
          "case": "项目情形", "unit_works": "单位工程", "location": "建设地点", "investment_wan_yuan": "总投资",
          "passed": "核查结论", "statement": "陈述申辩", "decision": "决定", "evidence": "证据材料", "opinion": "意见",
          "conclusion": "结论", "model": "流程图", "dmn": "决策表", "profile": "地区规则",
          "commitment_matters": "告知承诺制事项", "project_code": "项目代码"}

_FIELD = re.compile(r"^([A-Za-z_][\w.]*): ", re.S)


def _role(value: str) -> str:
    return ROLES.get(value, value)


def _state(value: str) -> str:
    return STATES.get(value, value)


def _known(text: str | None) -> str:
    return f"（可选：{text}）" if text else ""


@dataclass(frozen=True)
class Refusal:
    """One refusal: its English wording (a pattern over the message, after its ``field: `` prefix when it has
    one), its Chinese wording, and the field it concerns when the message itself does not start with it."""

    pattern: re.Pattern[str]
    words: Callable[[re.Match[str]], str]
    field: str | None = None


def _r(pattern: str, words: str | Callable[[re.Match[str]], str], field: str | None = None) -> Refusal:
    fn = words if callable(words) else (lambda m, text=words: text.format(*m.groups(), **m.groupdict()))
    return Refusal(re.compile(pattern + r"$", re.S), fn, field)


REFUSALS: tuple[Refusal, ...] = (
    # -- filing, plans and the case questionnaire (engine/services/approval.py, engine/domain/case.py, plan.py)
    _r(r"only an owner \(建设单位\), in its own name, or its agent \(帮办代办\) may file a project",
       "只有建设单位（以本单位名义）或其帮办代办可以申报项目"),
    _r(r"an owner can only file projects in its own name", "只能以本单位（或委托单位）名义申报项目"),
    _r(r"an agent must name the owner it files for", "帮办代办须填写所代理的建设单位", "owner_id"),
    _r(r"unknown project type '(.*?)' \(known: (.*)\)", lambda m: f"未知的项目类型“{m[1]}”{_known(m[2])}"),
    _r(r"(.*?) are not acceptance items for (\S+) \(known: (.*)\)",
       lambda m: f"{m[1]} 不是 {m[2]} 的验收事项{_known(m[3])}"),
    _r(r"no approval model is deployed; run `gongai deploy` \(or deploy_bundled\) first",
       "尚未部署审批流程模型：请系统管理员先部署（gongai deploy）"),
    _r(r"project (\S+) already exists", "项目 {0} 已存在"),
    _r(r"project (\S+) was filed before case plans existed; it runs its type's catalogue matters",
       "项目 {0} 申报时尚无情形方案，按项目类型的目录事项办理"),
    _r(r"the rules select (\S+) \((.*?)\) and (\S+) \((.*?)\), which exclude each other: correct the decision table",
       "规则同时选中了相互排斥的事项 {0}（{1}）和 {2}（{3}）：请修正决策表"),
    _r(r"unknown question \(known: (.*)\)", lambda m: f"未知的问题{_known(m[1])}"),
    _r(r"required: (.*)", "必填：{0}"),
    _r(r"expected true or false, got (.*?)（(.*)）", "请回答是或否（{1}）"),
    _r(r"expected a finite number, got (.*?)（(.*)）", "请填写数字（{1}）"),
    _r(r"(\S+) is below the minimum (\S+)（(.*)）", "{0} 小于最小值 {1}（{2}）"),
    _r(r"(\S+) is above the maximum (\S+)（(.*)）", "{0} 大于最大值 {1}（{2}）"),
    _r(r"expected a list of (.*?), got (.*?)（(.*)）", "请从以下选项中选择：{0}（{2}）"),
    _r(r"(.*?) is not allowed(?: for project type (\S+))? \(allowed: (.*?)\)（(.*)）",
       lambda m: f"{m[1]} 不可选{_known(m[3])}（{m[4]}）"),
    _r(r"an item is listed twice（(.*)）", "有选项重复（{0}）"),
    _r(r"unit work ids must be unique", "单位工程编号不能重复", "unit_works"),
    _r(r"a project has at least one unit work \(单位工程\)", "项目至少包含一个单位工程", "unit_works"),
    # -- 行政区划代码 (engine/domain/divisions.py)
    _r(r"(.+?) is not a 6-digit 行政区划代码", "{0} 不是 6 位行政区划代码"),
    _r(r"(\S+): (\S+) is not a province code", "{0}：{1} 不是省级行政区划代码"),
    _r(r"(\S+): a county code needs its city's digits \(the 3rd and 4th are 00\)",
       "{0}：县级代码须含所属市的代码（第 3、4 位不能为 00）"),
    # -- tasks: who may act, claims, states (engine/domain/authorisation.py, engine/services/approval.py, api/tasks.py)
    _r(r"task (\S+) does not exist", "任务 {0} 不存在"),
    _r(r"task \S+ \((.+?)\) is not ready: it is (\w+)",
       lambda m: f"任务“{m[1]}”已不在待办状态（{_state(m[2])}），可能已由他人办理"),
    _r(r"task \S+ \((.+?)\) is not ready", "任务“{0}”已不在待办状态，可能已由他人办理"),
    _r(r"task (\S+) is no longer part of project (\S+)", "任务 {0} 已不属于项目 {1}，请刷新页面"),
    _r(r"task is claimed by '(.+?)' \(认领\); it must release it first", "任务已被 {0} 认领，须由其释放后才能办理"),
    _r(r"task \S+ was claimed by someone else meanwhile", "任务刚被他人认领"),
    _r(r"task \S+ is not claimed", "任务未被认领，无需释放"),
    _r(r"task \S+ changed meanwhile", "任务刚被他人改动，请刷新后重试"),
    _r(r"only '(.+?)' \(or an administrator\) may release this task", "只有认领人 {0}（或系统管理员）可以释放该任务"),
    _r(r"(?:this )?task \S* ?belongs to (?:another )?department.*", "该任务属于其他部门"),
    _r(r"administrators deploy models and manage users; they do not complete, claim or decide tasks for owners or "
       r"departments", "系统管理员负责部署模型和管理用户，不办理、认领或决定建设单位和部门的任务"),
    _r(r"only the project's owner \(建设单位\) or an agent it authorised may complete this task",
       "只有项目的建设单位或其授权的帮办代办可以办理此任务"),
    _r(r"only a window officer \(综合窗口\) may complete this task", "只有综合窗口人员可以办理此任务"),
    _r(r"only an officer of department '(.+?)' may complete this task", "只有部门“{0}”的工作人员可以办理此任务"),
    _r(r"only a lead-department officer \(牵头部门, role 'lead'\) of '(.+?)' may complete this task; an agency "
       r"officer of the department may not", "只有部门“{0}”的牵头部门人员可以办理此任务，审批部门人员不可以"),
    _r(r"no rule lets role '(.+?)' complete a task of role '(.+?)'",
       lambda m: f"{_role(m[1])}不能办理{_role(m[2])}的任务"),
    _r(r"project (\S+) has no ready (.+?) task(?: in stage (\S+))?",
       lambda m: f"项目 {m[1]} 当前没有可办理的此类任务" + (f"（{m[3]} 阶段）" if m[3] else "")),
    _r(r"several tasks of this kind are ready \((.*)\); name one in 'task_id'", "有多个同类任务待办（{0}）：请指定其中一个"),
    # -- intake, correction, special procedures, withdrawal (engine/services/approval.py)
    _r(r"容缺受理 is not allowed: (.*)", lambda m: "不允许容缺受理：" + "；".join(
        explain_text(p) for p in re.split(r"; (?=owner credit|unknown material|missing material)", m[1]))),
    _r(r"owner credit is not good: a 失信 record within (\d+) days; profile (.+?) requires good credit for "
       r"tolerance（容缺受理要求建设单位信用良好）", "建设单位 {0} 日内有失信记录，本地规则要求信用良好才能容缺受理"),
    _r(r"unknown material (.+?): no matter of stage (\S+) for (\S+) lists it", "未知材料 {0}：{1} 阶段没有事项需要它"),
    # -- 告知承诺制 at filing, and the credit rules (engine/services/approval.py)
    _r(r"owner credit is not good: a 失信 record of (\S+) bars (告知承诺制|容缺受理) for (\d+) days（(.*)）",
       "建设单位 {0} 有失信记录（{3}），{2} 日内不适用{1}"),
    _r(r"(\S+?)（(.+?)）: owner credit is not good: a 失信 record of (\S+) bars (告知承诺制|容缺受理) for (\d+) days（(.*)）",
       "事项“{1}”：建设单位 {2} 有失信记录（{5}），{4} 日内不适用{3}"),
    _r(r"unknown matter '(.*?)'", "未知事项“{0}”"),
    _r(r"(\S+?)（(.+?)）does not allow 告知承诺制", "事项“{1}”不适用告知承诺制"),
    _r(r"(\S+?)（(.+?)）is not in this project's plan", "事项“{1}”不在本项目按情形需办理的事项中"),
    _r(r"(.+?) replaced by the signed commitment \(告知承诺制\): the matter is decided without it and checked in the "
       r"核查 afterwards", "{0} 已由告知承诺书代替：事项凭承诺作出决定、事后核查，不得列为缺件"),
    _r(r"missing material (.+?)（(.+?)）is a key material of matter (.+?)（(.+?)）: 关键材料不得容缺",
       "缺少的“{1}”是事项“{3}”的关键材料，关键材料不得容缺"),
    _r(r"missing material (.+?)（(.+?)）: matter (.+?)（(.+?)）does not allow tolerance（(.*)）",
       "缺少“{1}”：事项“{3}”{4}"),
    _r(r"stage (\S+) already had its 一次性告知 \((.+?): (.*)\); a further notice is refused unless the correction "
       r"itself introduced a new defect — give 'new_defect' with the reason",
       "{0} 阶段已于 {1} 作出一次性告知（{2}）；除非补正材料本身带来新的问题，不得再次告知——如有，请在“新问题”中说明"),
    _r(r"unknown special procedure '(.*?)' \(known: (.*)\)", lambda m: f"未知的特别程序“{m[1]}”{_known(m[2])}"),
    _r(r"unknown material\(s\) (.*?) for stage (\S+) of this project", "未知材料 {0}：本项目 {1} 阶段不需要"),
    _r(r"project (\S+) is not waiting for a filing of stage (\S+)", "项目 {0} 当前不在等待 {1} 阶段的申报"),
    _r(r"project (\S+) is not waiting for tolerated documents of stage (\S+)", "项目 {0} 当前不在等待补齐 {1} 阶段的容缺材料"),
    _r(r"a withdrawal needs a reason", "撤回须填写理由", "reason"),
    _r(r"only the project's owner \(建设单位\) or its agent may withdraw it", "只有项目的建设单位或其帮办代办可以撤回项目"),
    _r(r"project (\S+) is (\w+), it cannot be withdrawn", lambda m: f"项目 {m[1]} 当前{_state(m[2])}，不能撤回"),
    _r(r"project (\S+) does not exist", "项目 {0} 不存在"),
    _r(r"project (\S+): not among the projects you may see", "您无权查看该项目（{0}）"),
    _r(r"unknown project ('.*?')", "未知项目 {0}"),
    # -- the completion payloads (engine/domain/tasks.py, through pydantic)
    _r(r"the completion payload must be a JSON object", "提交的内容格式有误"),
    _r(r"materials cannot be both submitted and declared missing: (.*)", "材料 {0} 不能既已提交又声明缺少", "materials"),
    _r(r"outcome 'complete' cannot list missing materials", "材料齐全时不应列出缺少的材料", "missing"),
    _r(r"outcome '(\w+)' must list the missing materials in 'missing'", "请勾选缺少的材料", "missing"),
    _r(r"a refusal \(不予许可\) needs a 'reason'", "不予许可须填写理由", "reason"),
    _r(r"a correction request \(补正\) must list every item in 'items'", "补正通知须一次性列出全部补正事项", "items"),
    _r(r"a special procedure \(特别程序\) needs 'procedure'", "启动特别程序须选择程序", "procedure"),
    _r(r"a failed post-check \(核查不通过\) needs 'findings'", "核查不通过须填写核查发现", "findings"),
    # pydantic's own wording of the field rules the payload and form models declare
    _r(r"Field required", "必填"),
    _r(r"Input should be True", "请勾选确认"),
    _r(r"Input should be (.+)", lambda m: "请选择：" + m[1].replace("' or '", "'、'").replace("', '", "'、'") if "'" in m[1] else "格式不正确"),
    _r(r"String should have at least 1 character", "不能为空"),
    _r(r"String should have at least (\d+) characters", "至少 {0} 个字"),
    _r(r"String should have at most (\d+) characters?", "不能超过 {0} 个字"),
    _r(r"List should have at least (\d+) items? after validation, not \d+", "至少填写 {0} 项"),
    _r(r"List should have at most (\d+) items? after validation, not \d+", "最多 {0} 项"),
    _r(r"Extra inputs are not permitted", "不接受此项"),
    _r(r"String should match pattern .*", "格式不正确"),
    _r(r"Value error, (.*)", lambda m: explain_text(m[1])),
    # -- the timing ledger (engine/domain/ledger.py, passed on as a conflict)
    _r(r"(\S+) has not started", "{0} 尚未开始"),
    _r(r"stage (\S+) was already accepted at (\S+)", "{0} 阶段已于 {1} 受理"),
    _r(r"stage (\S+) was already accepted, its filing cannot be withdrawn", "{0} 阶段已受理，申报不能视为撤回"),
    _r(r"unknown stage result '(.*?)'", "未知的阶段结果“{0}”"),
    _r(r"stage (\S+) already ended \((.*?)\)", "{0} 阶段已办结（{1}）"),
    _r(r"matter (\S+) already started at (\S+)", "事项 {0} 已于 {1} 开始"),
    _r(r"matter (\S+) is not running, its clock cannot stop", "事项 {0} 不在办理中，不能停表"),
    _r(r"the clock of (\S+) is already stopped", "{0} 已在停表中"),
    _r(r"unknown clock stop kind '(.*?)'", "未知的停表类型“{0}”"),
    _r(r"(\S+) has no special procedure running", "{0} 没有进行中的特别程序"),
    _r(r"the clock of (\S+) is not stopped for correction", "{0} 未因补正停表"),
    _r(r"matter (\S+) is not running", "事项 {0} 不在办理中"),
    _r(r"unknown matter outcome '(.*?)'", "未知的事项结果“{0}”"),
    _r(r"matter (\S+) already ended \((.*?)\)", "事项 {0} 已办结（{1}）"),
    _r(r"unknown unit outcome '(.*?)'", "未知的单位工程结果“{0}”"),
    _r(r"no timed subject '(.*?)' in project (\S+)", "项目 {1} 中没有计时对象“{0}”"),
    _r(r"a special procedure needs its catalogue entry", "特别程序须在目录中登记"),
    _r(r"the approval model failed at element (.+?): (.*); nothing was changed \(the administrator can see this "
       r"failure in the log\)", "审批流程模型在环节 {0} 出错：{1}；本次操作未作任何改动（系统管理员可在日志中查看）"),
    # -- 电子证照, 免于提交, 项目代码 (engine/services/certificates.py, engine/domain/certificates.py)
    _r(r"(.+?) is not a project code of the national format YYYY-AAAAAA-BB-CC-NNNNNN .*",
       "{0} 不是全国投资项目代码格式（4 位赋码年份-6 位行政区划代码-2 位行业代码-2 位项目类型-6 位流水号，"
       "如 2026-360100-47-01-123456）"),
    _r(r"(\S+): year (\S+) is not a coding year \(2000–2099\)", "{0}：赋码年份 {1} 不在 2000–2099 之间"),
    _r(r"(\S+): 赋码地区 (.*)", lambda m: f"{m[1]}：赋码地区{explain_text(m[2])}"),
    _r(r"(\S+): 行业代码 (\S+) is not a 国民经济行业 division \(01–97, GB/T 4754\)",
       "{0}：行业代码 {1} 不是国民经济行业大类（01–97，GB/T 4754）"),
    _r(r"(\S+): 项目类型 (\S+) is none of 01 审批, 02 核准, 03 备案", "{0}：项目类型 {1} 不是 01 审批、02 核准、03 备案之一"),
    _r(r"(\S+): serial 000000 is not issued", "{0}：流水号 000000 不是有效的赋码"),
    _r(r"(\S+): 项目类型 (\S+)（(.*?)）does not match the project's investment mode (.+?)（(.*?), (\S+)）",
       "{0}：项目类型 {1}（{2}）与项目的投资管理类别（{4}，{5}）不一致"),
    _r(r"(\S+) already belongs to project (\S+); one code is one project", "项目代码 {0} 已属于项目 {1}：一个代码只对应一个项目"),
    _r(r"(\S+) already belongs to another project", "项目代码 {0} 已属于其他项目"),
    _r(r"project (\S+) already carries (\S+); the code the investment platform issued is not replaced",
       "项目 {0} 已登记项目代码 {1}：投资项目在线审批监管平台赋予的代码不予更换"),
    _r(r"only the project's owner \(建设单位\), its agent or the window \(综合窗口\) sets the 项目代码",
       "只有项目的建设单位、其帮办代办或综合窗口可以登记项目代码"),
    _r(r"(.+? ?is provided by certificate .+?, 免于提交）(?:; .+?)*) — it cannot be missing",
       lambda m: "；".join(re.sub(r"^(.+?) ?is provided by certificate ([^\s（]+)（(.*?), 免于提交）$",
                                 r"\1 由电子证照 \2（\3）提供，免于提交", part) for part in m[1].split("; "))
       + "，不能列为缺少的材料"),
    _r(r"(.+?) — it cannot be missing", "{0} 由有效的电子证照提供，免于提交，不能列为缺少的材料"),
    _r(r"not a certificate-list cursor", "翻页参数无效：请从上一页重新翻页"),
    _r(r"certificate (\S+) does not exist", "电子证照 {0} 不存在"),
    _r(r"certificate (\S+): not among the certificates you may see", "电子证照 {0} 不在您可查看的范围内"),
    # -- credit (信用)
    _r(r"only an administrator records external credit information", "只有系统管理员可以录入外部信用信息"),
    _r(r"owner_id and reason: both are required", "建设单位和原因均为必填"),
    _r(r"an owner sees only its own credit standing", "建设单位只能查看本单位的信用状况"),
    _r(r"credit standing is read by the window, analysts, administrators and the owner itself",
       "信用状况仅供综合窗口、分析人员、系统管理员和建设单位本身查看"),
    # -- roles and sign-in (api/auth.py, api/security.py)
    _r(r"Authorization: send 'Authorization: Bearer <token>' \(tokens come from `gongai users add`\)", "请先登录"),
    _r(r"Authorization: unknown, revoked or expired token \(`gongai users reissue` issues a new one\)",
       "令牌无效、已吊销或已过期：请向系统管理员重新申领"),
    _r(r"Authorization: (\d+) failed attempts from this address; try again in (\d+) s",
       "此地址已连续 {0} 次登录失败：请 {1} 秒后再试"),
    _r(r"role '\w+' may not do this; only .+ may", "您的角色无权执行此操作"),
    # -- administrators: models, versions, users, incidents (engine/services/*, api/admin.py)
    _r(r"the model is invalid:\n(.*)", "模型校验未通过：\n{0}"),
    _r(r"the model cannot be loaded:\n(.*)", "模型无法加载：\n{0}"),
    _r(r"the model does not fit the engine:\n(.*)", "模型与引擎不匹配：\n{0}"),
    _r(r"process '(.*?)' is not an executable process of the deployed files \(defined: (.*)\)",
       "流程“{0}”不是所上传文件中的可执行流程（已定义：{1}）", "process_id"),
    _r(r"another definition was deployed at the same moment; deploy again", "同一时刻部署了另一个流程定义：请重新部署"),
    _r(r"definition (\S+) does not exist", "流程定义 {0} 不存在"),
    _r(r"names must be plain '\*\.bpmn' file names, not (.*)", "文件名须为简单的 *.bpmn 文件名，不能是 {0}"),
    _r(r"the model does not parse: (.*)", "模型文件无法解析：{0}"),
    _r(r"version (\S+) of process '(.*?)' is not deployed", "流程“{1}”的版本 {0} 尚未部署"),
    _r(r"project (\S+) is (\w+); only running projects move to a new version",
       lambda m: f"项目 {m[1]} 当前{_state(m[2])}，只有办理中的项目可以迁移到新版本"),
    _r(r"project (\S+) cannot move from version (\S+) to (\S+): (.*)", "项目 {0} 不能从版本 {1} 迁移到版本 {2}：{3}"),
    _r(r"project (\S+) cannot move to version (\S+): the moved workflow does not load \((.*)\)",
       "项目 {0} 不能迁移到版本 {1}：迁移后的流程无法加载（{2}）"),
    _r(r"1–100 letters, digits, '_', '\.', '-', '@' or Chinese characters", "用户名须为 1–100 个字母、数字、汉字或 _ . - @"),
    _r(r"unknown role '(.*?)' \(known: (.*)\)", lambda m: f"未知角色“{m[1]}”{_known(m[2])}"),
    _r(r"an agent \(帮办代办\) acts only for named owners; give at least one", "帮办代办只能代理指定的建设单位：请至少填写一个"),
    _r(r"only an agent acts for owners, not role '(.*?)'", lambda m: f"只有帮办代办可以代理建设单位，{_role(m[1])}不可以"),
    _r(r"user '(.*?)' does not exist", "用户“{0}”不存在"),
    _r(r"user '(.*?)' already exists", "用户“{0}”已存在"),
    _r(r"a user of role '(.*?)' belongs to exactly one department", lambda m: f"{_role(m[1])}用户必须属于一个部门"),
    _r(r"unknown department '(.*?)' \(known: (.*)\)", lambda m: f"未知部门“{m[1]}”{_known(m[2])}"),
    _r(r"role '(.*?)' has no department", lambda m: f"{_role(m[1])}不属于任何部门，请勿填写部门"),
    _r(r"administrators cannot revoke their own token", "系统管理员不能吊销自己的令牌"),
    _r(r"administrators cannot take away their own administrator role", "系统管理员不能取消自己的管理员角色"),
    _r(r"incident (\S+) does not exist", "故障记录 {0} 不存在"),
    _r(r"incident (\S+) is already (\w+)", lambda m: f"故障记录 {m[1]} 已{_state(m[2])}"),
    # -- decision tables deployed by administrators (engine/services/rules.py)
    _r(r"only administrators deploy decision tables", "只有系统管理员可以部署决策表"),
    _r(r"the table is (\S+) bytes; at most (\S+) are accepted", "决策表文件为 {0} 字节，超过上限 {1} 字节"),
    _r(r"the decision table was refused \((\S+) problem\w*, nothing was deployed\):\n(.*)",
       "决策表未通过校验（{0} 个问题），未部署：\n{1}"),
    _r(r"the table must be UTF-8 encoded", "决策表须为 UTF-8 编码"),
    _r(r"rules (\S+) do not exist", "决策表 {0} 不存在"),
    _r(r"profile '(.*?)' does not load: (.*)", lambda m: f"地区规则“{m[1]}”无法加载：{explain_text(m[2])}"),
    _r(r"the deployed decision table \(version (\S+)\) no longer fits the catalogue; deploy a corrected table:\n(.*)",
       "已部署的决策表（版本 {0}）与事项目录不再匹配，请部署修正后的决策表：\n{1}"),
    _r(r"unknown early-acceptance status '(.*?)'", "未知的先行验收状态“{0}”"),
    # -- analysts' filters (engine/services/analytics.py, engine/services/queries.py)
    _r(r"(\S+) is not before until (\S+)", "开始日期 {0} 须早于截止日期 {1}"),
    _r(r"(\S+) is outside the years (\d+)–(\d+) the analytics cover", "{0} 超出统计可用的年份（{1}–{2}）"),
    _r(r"unknown profile (.+?) \(known: (.*)\)", lambda m: f"未知的地区规则 {m[1]}{_known(m[2])}"),
    _r(r"unknown (project type|stage|department|matter) (.+?)(?: \(known: (.*)\))?",
       lambda m: f"未知的{WHAT[m[1]]} {m[2]}{_known(m[3])}"),
    _r(r"unknown grouping (.+?) \(known: (.*)\)", lambda m: f"未知的分组方式 {m[1]}{_known(m[2])}"),
    _r(r"filters the matter groupings only \(by=department or by=matter\), not by=(\w+)",
       "只能在按部门或按事项分组时使用此筛选"),
    _r(r"the whole process has no stage; use by=stage, by=department or by=matter, not by=project",
       "全流程没有阶段：按阶段、部门或事项分组时才能筛选阶段"),
    _r(r"not a (?:project-list |task-list )?cursor(?: this API gave out \(take it from the X-Next-Cursor header\))?",
       "翻页链接已失效：请回到列表第一页重新翻页"),
    # -- requests (engine/services/idempotency.py, api/problems.py)
    _r(r"Idempotency-Key: 1–(\d+) printable characters", "幂等键须为 1–{0} 个可打印字符"),
    _r(r"Idempotency-Key: key '(.*?)' was already used for a different request", "幂等键“{0}”已用于另一个请求"),
    _r(r"(.+): the project kept changing while this request ran", "项目正在被他人办理，请刷新后重试"),
    _r(r"the database is unavailable; nothing was changed, retry later", "数据库暂时不可用，操作未执行，请稍后重试"),
    _r(r"(\d+) heavy analytics requests \(exports, reports\) are already running in this server process; try again in "
       r"(\d+) seconds", "报表正在生成（本服务进程同时最多 {0} 个），请 {1} 秒后重试"),
    _r(r"malformed JSON body: (.*)", "提交的内容格式有误"),
    _r(r"no route (\S+) (.*)", "页面不存在：{1}"),
    _r(r"request body exceeds the limit of (\d+) bytes", "提交内容超过 {0} 字节的上限"),
    _r(r"Content-Length: not a number", "请求头 Content-Length 不是数字"),
    _r(r"internal error \((.*?)\); nothing was changed", "系统内部错误（{0}），操作未执行"),
    _r(r"invalid request", "请求有误"),
)


def _match(text: str) -> tuple[str | None, str] | None:
    for refusal in REFUSALS:
        found = refusal.pattern.match(text)
        if found:
            return refusal.field, refusal.words(found)
    return None


def explain(detail: str) -> list[tuple[str | None, str]]:
    """A refusal as (field or None, Chinese message) pairs: one per problem it lists.

    The whole message is tried first, then — when it starts with ``field: `` — the rest with that field; a
    message made of ``field: …; field: …`` parts (a form's answers, a task's payload) is explained part by
    part; a message led by the Chinese name of a task (``审查：规划许可: …``) is explained without it."""
    detail = detail.strip()
    field = _FIELD.match(detail)
    if field is not None:  # ``field: …`` (and ``field: …; field: …``): each part beside its field
        parts = re.split(r"; (?=[A-Za-z_][\w.]*: )", detail[field.end():])
        out: list[tuple[str | None, str]] = []
        name, unexplained = field.group(1), False
        for i, part in enumerate(parts):
            inner = _FIELD.match(part) if i else None
            if inner is not None:
                name, part = inner.group(1), part[inner.end():]
            found = _match(part)
            unexplained |= found is None
            out.append((name, found[1] if found else _unexplained(part)))
        if not unexplained:
            return out
    whole = _match(detail)
    if whole is not None:
        return [whole]
    if field is not None:
        return out
    led = re.match(r"^([^:]*[^\x00-\x7f][^:]*?): (.+)$", detail, re.S)  # a task's Chinese name, then the problem
    if led is not None:
        return explain(led.group(2))
    if "; " in detail:
        return [pair for part in detail.split("; ") for pair in explain(part)]
    return [(None, _unexplained(detail))]


def explain_text(detail: str) -> str:
    """The refusal as one Chinese sentence (fields named in Chinese where the message named them)."""
    return "；".join(f"{FIELDS.get(f.split('.')[0], f)}：{m}" if f else m for f, m in explain(detail))


def _unexplained(text: str) -> str:
    """A refusal no entry explains: shown as written under a Chinese note (tests/test_page_refusals.py keeps
    this from happening to any refusal the code raises today)."""
    return f"操作未执行（{text}）"
