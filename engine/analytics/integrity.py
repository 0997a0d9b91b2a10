"""Route integrity: do the recorded matters respect the case model and the legal order?

Two checks an analyst (and the demo) can run on any database, from the timed matters alone:

* **exclusive** — a project never ran two matters that exclude each other (审批 / 核准 / 备案);
* **order** — no matter was issued before a precondition of it on the same project (建筑法 art. 8: the
  施工许可证 after the 建设工程规划许可证), and none was issued while its precondition was refused.

They count violations with examples, so a figure of 0 is a checked statement, not an absence of data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from engine.domain.catalogue import Catalogue

#: Outcomes that issue a result (a permit, an opinion, a filing).
ISSUED = frozenset({"approved", "silent_consent"})


def route_integrity(matter_rows: Iterable[Mapping[str, Any]], catalogue: Catalogue, *, examples: int = 5) -> dict[str, Any]:
    """Violations of exclusivity and legal order among ``matter_rows`` (subjects of level ``matter``)."""
    by_project: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in matter_rows:
        by_project[row["project_id"]].append(row)
    exclusive: list[dict[str, Any]] = []
    order: list[dict[str, Any]] = []
    for project_id, rows in sorted(by_project.items()):
        ran = {r["matter_id"] for r in rows if r["matter_id"]}
        for matter_id in sorted(ran):
            if matter_id not in catalogue.matters:
                continue
            clash = sorted(set(catalogue.matter(matter_id).excludes) & ran)
            if clash and matter_id < clash[0]:
                exclusive.append({"project_id": project_id, "matters": [matter_id, *clash]})
        for row in rows:
            if row["outcome"] not in ISSUED or row["matter_id"] not in catalogue.matters:
                continue
            for required in catalogue.matter(row["matter_id"]).requires:
                pre = [r for r in rows if r["matter_id"] == required]
                late = [r for r in pre if r["outcome"] not in ISSUED or r["ended_at"] is None
                        or r["ended_at"] > row["ended_at"]]
                if late:
                    order.append({"project_id": project_id, "matter": row["key"], "precondition": late[0]["key"],
                                  "issued_at": row["ended_at"].isoformat(),
                                  "precondition_outcome": late[0]["outcome"],
                                  "precondition_ended_at": late[0]["ended_at"].isoformat() if late[0]["ended_at"] else None})
    return {
        "projects": len(by_project),
        "exclusive": {"count": len(exclusive), "examples": exclusive[:examples]},
        "order": {"count": len(order), "examples": order[:examples]},
    }
