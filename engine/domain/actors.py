"""Who is acting (the authorisation rules themselves are in :mod:`engine.domain.authorisation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
