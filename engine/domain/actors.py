"""Who is acting, and what each role may do to a task (the authorisation rules, free of HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ActorRole = Literal["owner", "agent", "window", "agency", "lead", "analyst", "admin", "system"]


@dataclass(frozen=True)
class Actor:
    """An authenticated user (or the engine itself, ``system``, for timers and simulations)."""

    id: str
    role: ActorRole
    department: str | None = None
    owner_ids: frozenset[str] = field(default_factory=frozenset)  # an agent's principals (帮办代办)

    def acts_for(self, owner_id: str) -> bool:
        return (self.role == "owner" and self.id == owner_id) or (self.role == "agent" and owner_id in self.owner_ids)


SYSTEM = Actor(id="system", role="system")


def completion_refusal(actor: Actor, task: dict[str, Any]) -> str | None:
    """Why ``actor`` may not complete ``task`` (a task row), or None if it may."""
    role, department = task["role"], task.get("department")
    if actor.role in ("system", "admin"):
        return None
    claimed_by = task.get("claimed_by")
    if claimed_by and claimed_by != actor.id:
        return f"task is claimed by '{claimed_by}' (认领); it must release it first"
    if role == "owner":
        if actor.acts_for(task["owner_id"]):
            return None
        return "only the project's owner (建设单位) or an agent it authorised may complete this task"
    if role == "window":
        return None if actor.role == "window" else "only a window officer (综合窗口) may complete this task"
    if role in ("agency", "lead"):
        if actor.role not in ("agency", "lead"):
            return f"only an officer of department '{department}' may complete this task"
        if actor.department != department:
            return f"this task belongs to department '{department}', not to '{actor.department}'"
        return None
    return f"no rule lets role '{actor.role}' complete a task of role '{role}'"
