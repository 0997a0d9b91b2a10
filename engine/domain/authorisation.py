"""Who may do what: the one place the roles of docs/api.md ("Users and tokens") are written down.

| role | may |
|---|---|
| owner (建设单位) | file projects in its own name; read and act on its own projects (filings, 补正, 告知承诺书, 补齐, 撤回, 项目代码); read their certificates (电子证照) |
| agent (帮办代办) | the same, for the owners it names |
| window (综合窗口) | read every project and certificate; complete intake tasks (受理 / 容缺 / 一次性告知); record a project's 项目代码 |
| agency (审批部门) | read the projects (and their certificates) its department has tasks in; claim and complete its department's agency tasks |
| lead (牵头部门) | as agency, and the lead-lane tasks of its department (综合出件, 联合验收意见, 先行验收意见) |
| analyst (工改办) | read everything (projects, analytics, definitions); change nothing |
| admin | deploy definitions and matter-selection tables (规则发布), manage users, record external credit records, release a claim; read everything; never act for owners or departments |
| system | the engine itself (timers, simulations): anything |

The service layer asks these functions; the API's role gates (``api.auth.require``) use the role groups below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.domain.actors import Actor

OWNER_SIDE: tuple[str, ...] = ("owner", "agent")
"""Roles that act for owners: file projects, submit filings, corrections, commitments, documents, withdraw."""
DEPARTMENT_SIDE: tuple[str, ...] = ("agency", "lead")
"""Roles that belong to one department and see its tasks."""
READS_EVERYTHING: tuple[str, ...] = ("analyst", "admin", "window", "system")
"""Roles that may read every project (the window accepts every project's filings)."""
ANALYTICS_READERS: tuple[str, ...] = ("analyst", "admin")
"""Roles that read the analytics routes and the deployed definitions and decision tables."""
ADMINISTRATORS: tuple[str, ...] = ("admin",)
"""Roles that deploy definitions and decision tables and manage users."""


def may_act_for_owner(actor: Actor, owner_id: str) -> bool:
    """Whether ``actor`` may file for, or act on the projects of, ``owner_id`` (never an administrator)."""
    return actor.role == "system" or actor.acts_for(owner_id)


def may_read_project(actor: Actor, owner_id: str, department_involved: Callable[[str], bool]) -> bool:
    """Whether ``actor`` may read a project of ``owner_id``; ``department_involved(dept)`` says whether the
    department has (or had) a task in it — asked only for department officers."""
    if actor.role in READS_EVERYTHING:
        return True
    if actor.role in OWNER_SIDE:
        return actor.acts_for(owner_id)
    if actor.role in DEPARTMENT_SIDE:
        return bool(actor.department) and department_involved(actor.department or "")
    return False


def may_set_project_code(actor: Actor, owner_id: str) -> bool:
    """项目代码 is recorded by the project's owner (or its agent) or by the window (综合窗口), who receive it from the
    investment platform; departments, analysts and administrators do not."""
    return actor.role == "window" or may_act_for_owner(actor, owner_id)


def may_see_task(actor: Actor, task: Mapping[str, Any]) -> bool:
    """Whether ``actor`` may see one task (a task row) of a project it may read."""
    if actor.role in DEPARTMENT_SIDE:
        return task.get("department") == actor.department
    return True


def completion_refusal(actor: Actor, task: Mapping[str, Any]) -> str | None:
    """Why ``actor`` may not claim or complete ``task`` (a task row), or None if it may."""
    role, department = task["role"], task.get("department")
    if actor.role == "system":
        return None
    if actor.role == "admin":
        return ("administrators deploy models and manage users; they do not complete, claim or decide tasks "
                "for owners or departments")
    claimed_by = task.get("claimed_by")
    if claimed_by and claimed_by != actor.id:
        return f"task is claimed by '{claimed_by}' (认领); it must release it first"
    if role == "owner":
        if actor.acts_for(task["owner_id"]):
            return None
        return "only the project's owner (建设单位) or an agent it authorised may complete this task"
    if role == "window":
        return None if actor.role == "window" else "only a window officer (综合窗口) may complete this task"
    if role in DEPARTMENT_SIDE:
        if actor.role not in DEPARTMENT_SIDE:
            return f"only an officer of department '{department}' may complete this task"
        if actor.department != department:
            return f"this task belongs to department '{department}', not to '{actor.department}'"
        if role == "lead" and actor.role != "lead":
            return (f"only a lead-department officer (牵头部门, role 'lead') of '{department}' may complete this "
                    f"task; an agency officer of the department may not")
        return None
    return f"no rule lets role '{actor.role}' complete a task of role '{role}'"


def credit_read_refusal(actor: Actor, owner_id: str) -> str | None:
    """Why ``actor`` may not read ``owner_id``'s credit standing (信用): the owner itself (or its agent), the
    window, analysts and administrators may; departments may not."""
    if actor.role in OWNER_SIDE:
        return None if actor.acts_for(owner_id) else "an owner sees only its own credit standing"
    if actor.role in DEPARTMENT_SIDE:
        return "credit standing is read by the window, analysts, administrators and the owner itself"
    return None


def may_record_credit(actor: Actor) -> bool:
    """Only administrators (and the engine) record external credit information (失信记录)."""
    return actor.role in (*ADMINISTRATORS, "system")


def release_refusal(actor: Actor, claimer: str) -> str | None:
    """Why ``actor`` may not release a task claimed by ``claimer`` (its claimer or an administrator may)."""
    if claimer == actor.id or actor.role in ("admin", "system"):
        return None
    return f"only '{claimer}' (or an administrator) may release this task"


def certificate_scope(actor: Actor) -> dict[str, Any] | None:
    """The filters that restrict a certificate list (电子证照) to the projects ``actor`` may read: owners and agents
    their principals' certificates, department officers those of projects their department has a task in, readers
    of everything all of them; None: none at all."""
    if actor.role in READS_EVERYTHING:
        return {}
    if actor.role == "owner":
        return {"owner_ids": [actor.id]}
    if actor.role == "agent":
        return {"owner_ids": sorted(actor.owner_ids)}
    if actor.role in DEPARTMENT_SIDE and actor.department:
        return {"department": actor.department}
    return None


def task_scope(actor: Actor) -> dict[str, Any]:
    """The filters that restrict a task list to what ``actor`` may see (role, department, owner_ids)."""
    if actor.role in DEPARTMENT_SIDE:
        return {"department": actor.department}
    if actor.role == "window":
        return {"role": "window"}
    if actor.role == "owner":
        return {"owner_ids": [actor.id]}
    if actor.role == "agent":
        return {"owner_ids": sorted(actor.owner_ids)}
    return {}
