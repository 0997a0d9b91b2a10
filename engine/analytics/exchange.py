"""Export to the national 工改 data-exchange tables (工程建设项目审批管理系统数据共享交换标准), as CSV files.

A provincial front-end database (前置库) loads one file per table. The tables and columns follow the standard
as seen in public integration code (DOMAIN.md §5; **not checked against the standard's own text**: a
deployment must check the column list against its province's edition before loading):

- ``SPGL_XMJBXXB`` 项目基本信息表 — one row per project;
- ``SPGL_XMSPSXBLXXB`` 项目审批事项办理信息表 — one row per matter instance (审批事项实例);
- ``SPGL_XMSPSXBLXXXXB`` 项目审批事项办理详细信息表 — one row per handling step, with its 办理状态 ``BLZT``.

Every row is keyed by the project code (``GCDM`` 工程代码: gongai's project id) and carries the project's
``XZQHDM`` 行政区划代码; ``XMDM`` 项目代码 is the code the investment-project platform issued (``projects.project_code``),
or the project id for a project that has none yet. A matter instance's code ``SPSXSLBM`` is ``<project id>-<matter key>``.

``BLZT`` from the event log (``BLZT`` below; ``docs/analytics.md`` has the mapping and the gaps):
3 窗口受理 when the stage is accepted and the matter starts; 6 / 7 补正开始 / 结束; 9 / 10 特别程序开始 / 结束;
11 办结（通过） (also 超时默许, with the opinion saying so), 12 办结（容缺通过） for a matter of a stage accepted
with missing materials (容缺受理), 16 办结（告知承诺通过） for a matter filed under 告知承诺制 (gongai's extension of the
list: check the code against the province's edition), 13 办结（不通过）; 15 撤销 for each revoked matter (one
``permit_revoked`` event per matter); 14 撤回 for what a withdrawn project ended and for a matter 视为撤回 after its
补正 deadline, 2 已撤件 for what a stopped project ended (不予许可, 撤销) and for a matter terminated because its
precondition was refused or revoked.

Files are UTF-8 CSV with a header row (Excel-safe BOM-less), rows in (project, time, id) order, streamed from
the database.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from engine.persistence import tables as t

__all__ = ["TABLES", "BLZT", "write_exchange", "read_exchange", "project_rows", "matter_rows", "detail_rows"]

#: 办理状态 codes (DOMAIN.md §5).
BLZT: dict[int, str] = {2: "已撤件", 3: "窗口受理", 4: "不受理", 5: "不予受理", 6: "补正开始", 7: "补正结束", 8: "部门受理",
                        9: "特别程序开始", 10: "特别程序结束", 11: "办结（通过）", 12: "办结（容缺通过）",
                        13: "办结（不通过）", 14: "撤回", 15: "撤销", 16: "办结（告知承诺通过）"}

#: The columns of each table, in file order.
TABLES: dict[str, tuple[str, ...]] = {
    # 地方数据主键, 行政区划代码, 工程代码, 项目代码, 项目名称, 项目投资来源 (1 政府投资, 2 社会投资), 工程分类 (project
    # type), 总投资（万元）, 建筑面积（㎡）, 建设地点, 申报时间, 项目状态, 数据有效标识 (1 有效)
    "SPGL_XMJBXXB": ("DFSJZJ", "XZQHDM", "GCDM", "XMDM", "XMMC", "XMTZLY", "GCFL", "ZTZE", "JZMJ", "JSDD", "SBSJ",
                     "XMZT", "SJYXBS"),
    # 地方数据主键, 行政区划代码, 工程代码, 审批事项实例编码, 审批事项编码, 审批事项名称, 审批阶段序号, 审批部门,
    # 受理时间, 办结时间, 承诺时限（工作日）, 审批用时（工作日, whole days used）, 办理结果, 数据有效标识
    "SPGL_XMSPSXBLXXB": ("DFSJZJ", "XZQHDM", "GCDM", "SPSXSLBM", "SPSXBM", "SPSXMC", "SPJDXH", "SPBMMC", "SLSJ",
                         "BJSJ", "CNSX", "SPYS", "BLJG", "SJYXBS"),
    # 地方数据主键 (event id), 行政区划代码, 工程代码, 审批事项实例编码, 办理处室, 办理人, 办理状态, 办理意见,
    # 办理时间, 数据有效标识
    "SPGL_XMSPSXBLXXXXB": ("DFSJZJ", "XZQHDM", "GCDM", "SPSXSLBM", "BLCS", "BLR", "BLZT", "BLYJ", "BLSJ", "SJYXBS"),
}

#: 审批阶段序号: the national model's four stages (合并的 S23 reported as 2: it starts with 工程建设许可).
STAGE_NUMBER = {"S0": "0", "S1": "1", "S2": "2", "S23": "2", "S3": "3", "S4": "4", "S5": "5"}
_INVESTMENT = {"government": "1", "social": "2"}
_RESULT = {"approved": "通过", "silent_consent": "通过（超时默许）", "refused": "不通过", "cancelled": "终止",
           "terminated": "终止（前置事项未获许可）", "withdrawn": "视为撤回", "revoked": "撤销"}


def _time(value: datetime | None) -> str:
    """Beijing time, to the second, as the exchange's datetime columns read (yyyy-MM-dd HH:mm:ss)."""
    if value is None:
        return ""
    from engine.domain.workcalendar import SHANGHAI

    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _instance(project_id: str, key: str) -> str:
    return f"{project_id}-{key}"


def project_rows(conn: Connection, catalogue: Any, project_id: str | None = None) -> Iterator[dict[str, str]]:
    p = t.projects
    query = select(p).order_by(p.c.id)
    if project_id is not None:
        query = query.where(p.c.id == project_id)
    for row in conn.execute(query).mappings():
        filing = row["filing"] or {}
        ptype = catalogue.project_types.get(row["project_type"])
        yield {"DFSJZJ": row["id"], "XZQHDM": row["division_code"] or "", "GCDM": row["id"],
               "XMDM": row.get("project_code") or row["id"],
               "XMMC": row["name"], "XMTZLY": _INVESTMENT.get(ptype.investment, "") if ptype else "",
               "GCFL": row["project_type"], "ZTZE": _num(filing.get("investment_wan_yuan")),
               "JZMJ": _num(filing.get("floor_area_m2")), "JSDD": filing.get("location") or "",
               "SBSJ": _time(row["created_at"]), "XMZT": row["status"], "SJYXBS": "1"}


def _num(value: Any) -> str:
    return "" if value is None else f"{value:g}"


def matter_rows(conn: Connection, project_id: str | None = None) -> Iterator[dict[str, str]]:
    s, p = t.subjects, t.projects
    query = (select(s.c.project_id, s.c.key, s.c.matter_id, s.c.stage, s.c.department, s.c.started_at, s.c.ended_at,
                    s.c.outcome, s.c.approval_days_used, s.c.state, p.c.division_code)
             .select_from(s.join(p, p.c.id == s.c.project_id))
             .where(s.c.level == "matter", s.c.started_at.is_not(None)).order_by(s.c.project_id, s.c.key))
    if project_id is not None:
        query = query.where(s.c.project_id == project_id)
    for row in conn.execute(query).mappings():
        state = row["state"] or {}
        yield {"DFSJZJ": _instance(row["project_id"], row["key"]), "XZQHDM": row["division_code"] or "",
               "GCDM": row["project_id"], "SPSXSLBM": _instance(row["project_id"], row["key"]),
               "SPSXBM": row["matter_id"] or "", "SPSXMC": state.get("name") or "",
               "SPJDXH": STAGE_NUMBER.get(row["stage"] or "", ""), "SPBMMC": row["department"] or "",
               "SLSJ": _time(row["started_at"]), "BJSJ": _time(row["ended_at"]),
               "CNSX": "" if state.get("committed_limit_wd") is None else str(state["committed_limit_wd"]),
               "SPYS": "" if row["approval_days_used"] is None else str(row["approval_days_used"]),
               "BLJG": _RESULT.get(row["outcome"] or "", row["outcome"] or ""), "SJYXBS": "1"}


def detail_rows(conn: Connection, project_id: str | None = None) -> Iterator[dict[str, str]]:
    """One row per handling step with its 办理状态, from the event log in (project, time, id) order."""
    e, p = t.events, t.projects
    tolerance = {(r[0], r[1]) for r in conn.execute(
        select(t.subjects.c.project_id, t.subjects.c.key).where(t.subjects.c.level == "stage",
                                                               t.subjects.c.intake == "tolerance"))}
    committed = {(r[0], r[1]) for r in conn.execute(  # 告知承诺制: the matters filed on a signed commitment
        select(e.c.project_id, e.c.matter_id).where(e.c.type == "commitment_signed", e.c.matter_id.is_not(None)))}
    query = (select(e, p.c.division_code, p.c.result.label("project_result"))
             .select_from(e.join(p, p.c.id == e.c.project_id))
             .where(e.c.type.in_(("matter_started", "matter_completed", "clock_stopped", "clock_resumed",
                                  "permit_revoked", "silent_consent")))
             .order_by(e.c.project_id, e.c.at, e.c.id))
    if project_id is not None:
        query = query.where(e.c.project_id == project_id)
    approved: dict[tuple[str, str], list[str]] = {}  # (project, stage) → approved matter keys, for 撤销
    for row in conn.execute(query).mappings():
        pid, kind, data = row["project_id"], row["type"], row["data"] or {}
        base = {"XZQHDM": row["division_code"] or "", "GCDM": pid, "BLCS": row["department"] or "",
                "BLR": row["actor"] or "", "BLSJ": _time(row["at"]), "SJYXBS": "1"}
        steps: list[tuple[str, int, str]] = []  # (matter key, BLZT, opinion)
        key = row["matter_key"]
        if kind == "matter_started":
            steps.append((key, 3, "受理"))
        elif kind in ("clock_stopped", "clock_resumed") and data.get("kind") in ("correction", "special"):
            start = kind == "clock_stopped"
            if data["kind"] == "correction":
                steps.append((key, 6 if start else 7, _opinion(data.get("reason")) or ("补正" if start else "补正材料已提交")))
            else:
                steps.append((key, 9 if start else 10, data.get("procedure") or "特别程序"))
        elif kind == "matter_completed":
            outcome = data.get("outcome")
            if outcome == "cancelled":
                steps.append((key, 14 if row["project_result"] == "withdrawn" else 2, data.get("reason") or "终止"))
            elif outcome == "refused":
                steps.append((key, 13, data.get("reason") or data.get("label") or "不予许可"))
            elif outcome == "withdrawn":  # 逾期未补正，视为撤回
                steps.append((key, 14, data.get("reason") or "视为撤回"))
            elif outcome == "terminated":  # 前置事项未获许可或已撤销：未作决定即终止
                steps.append((key, 2, data.get("reason") or "终止"))
            else:
                with_tolerance = (pid, row["stage"]) in tolerance
                opinion = "超时默许" if outcome == "silent_consent" else (data.get("label") or "准予许可")
                code = 16 if (pid, row["matter_id"]) in committed else 12 if with_tolerance else 11
                steps.append((key, code, opinion))
                approved.setdefault((pid, row["stage"]), []).append(key)
        elif kind == "permit_revoked" and key:  # one matter's permit (撤销 of a broken commitment, or its dependant)
            steps.append((key, 15, data.get("reason") or "撤销许可"))
        elif kind == "permit_revoked":  # a stage-level revocation recorded before per-matter revocation
            steps += [(k, 15, data.get("reason") or "撤销许可") for k in approved.get((pid, row["stage"]), [])]
        for n, (matter_key, code, opinion) in enumerate(steps):
            yield {"DFSJZJ": f"{row['id']}" + (f"-{n}" if len(steps) > 1 else ""),
                   "SPSXSLBM": _instance(pid, matter_key), "BLZT": str(code), "BLYJ": opinion, **base}


def _opinion(reason: Any) -> str:
    if isinstance(reason, list):
        return "；".join(str(r) for r in reason)
    return "" if reason is None else str(reason)


def write_exchange(conn: Connection, out_dir: Path | str, *, catalogue: Any,
                   project_id: str | None = None) -> dict[str, int]:
    """Write the three tables as ``<TABLE>.csv`` into ``out_dir``; returns the row count per table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources = {"SPGL_XMJBXXB": project_rows(conn, catalogue, project_id),
               "SPGL_XMSPSXBLXXB": matter_rows(conn, project_id),
               "SPGL_XMSPSXBLXXXXB": detail_rows(conn, project_id)}
    counts: dict[str, int] = {}
    for table, rows in sources.items():
        with (out / f"{table}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=TABLES[table])
            writer.writeheader()
            counts[table] = 0
            for row in rows:
                writer.writerow(row)
                counts[table] += 1
    return counts


def read_exchange(out_dir: Path | str) -> dict[str, list[dict[str, str]]]:
    """The files :func:`write_exchange` wrote, as rows per table (what a front-end database would load)."""
    out = Path(out_dir)
    tables: dict[str, list[dict[str, str]]] = {}
    for table, columns in TABLES.items():
        with (out / f"{table}.csv").open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != columns:
                raise ValueError(f"{table}.csv: columns {reader.fieldnames} are not {list(columns)}")
            tables[table] = list(reader)
    return tables

