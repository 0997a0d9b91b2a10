"""The analysts' read side, shared by ``GET /analytics/*`` and ``gongai measures``: filters checked against
the catalogue, and the KPI report.

The check lives here rather than in either entry point so both answer alike: an unknown project type,
stage, department, matter or profile is an :class:`Invalid` naming the value (422 over HTTP, exit code 2 on
the command line), never an empty report an analyst could mistake for "no such cases".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dataclasses import replace

from sqlalchemy import Connection, Engine

from engine.analytics.measures import Filters, divisions_present, report
from engine.analytics.scoring import ranking, sheet_values, write_xlsx
from engine.domain.catalogue import Catalogue, list_profiles, load_catalogue
from engine.domain.divisions import DivisionError, check_code, load_divisions
from engine.domain.workcalendar import SHANGHAI
from engine.services.errors import Invalid

#: Above this many known ids the message names only the bad value (a list of 80 matters helps nobody).
_HINT_LIMIT = 20


FIRST_YEAR, LAST_YEAR = 1900, 2999
"""The years an analytics window may name: converting 0001-01-01 (Asia/Shanghai) to UTC overflows."""


def _aware(value: datetime | None) -> datetime | None:
    """Naive instants are read as Asia/Shanghai time (the calendar's zone)."""
    if value is None:
        return None
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value


def analytics_window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """``since`` and ``until`` as aware instants; :class:`Invalid` unless ``since`` is before ``until``."""
    start, end = _aware(since), _aware(until)
    for field, value in (("since", start), ("until", end)):
        if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise Invalid(f"{field}: {value.isoformat()} is outside the years {FIRST_YEAR}–{LAST_YEAR} the analytics "
                          f"cover")
    if start is not None and end is not None and start >= end:
        raise Invalid(f"since: {since.isoformat()} is not before until {until.isoformat()}")  # type: ignore[union-attr]
    return start, end


def check_jurisdiction(catalogue: Catalogue, jurisdiction: str) -> None:
    """:class:`Invalid` unless ``jurisdiction`` is a profile beside ``catalogue``'s (same root)."""
    profiles = list_profiles(catalogue.root)
    if jurisdiction not in profiles:
        raise Invalid(f"jurisdiction: unknown profile {jurisdiction!r} (known: {', '.join(profiles)})")


def analytics_filters(catalogue: Catalogue, *, project_type: str | None = None, stage: str | None = None,
                      department: str | None = None, matter: str | None = None, jurisdiction: str | None = None,
                      since: datetime | None = None, until: datetime | None = None,
                      division: str | None = None) -> Filters:
    """The measures' filters, every id checked against ``catalogue`` (:class:`Invalid` naming the value); a
    division must be a well-formed 行政区划代码 (a code no project has yet is an empty answer, as a new county's)."""
    for field, what, value, known in (("project_type", "project type", project_type, catalogue.project_types),
                                      ("stage", "stage", stage, catalogue.stages),
                                      ("department", "department", department, catalogue.departments),
                                      ("matter", "matter", matter, catalogue.matters)):
        if value is not None and value not in known:
            hint = f" (known: {', '.join(known)})" if len(known) <= _HINT_LIMIT else ""
            raise Invalid(f"{field}: unknown {what} {value!r}{hint}")
    if jurisdiction is not None:
        check_jurisdiction(catalogue, jurisdiction)
    if division is not None:
        try:
            check_code(division)
        except DivisionError as exc:
            raise Invalid(f"division: {exc}") from None
    start, end = analytics_window(since, until)
    return Filters(project_type=project_type, stage=stage, department=department, matter=matter,
                   jurisdiction=jurisdiction, since=start, until=end, division=division)


def profile_catalogue(catalogue: Catalogue, jurisdiction: str | None) -> Catalogue:
    """The catalogue of the profile ``jurisdiction`` names, from ``catalogue``'s root (itself when ``None``
    or already that profile); :class:`Invalid` for an unknown profile.

    A profile that is listed but does not load raises :class:`CatalogueError`: the deployment's fault, not
    the caller's, so it is left to surface as such (a 500 over HTTP).
    """
    if jurisdiction is None or jurisdiction == catalogue.profile.id:
        return catalogue
    check_jurisdiction(catalogue, jurisdiction)
    return load_catalogue(jurisdiction, root=catalogue.root)


def filing_matters(catalogue: Catalogue) -> list[str]:
    """The 备案 matters, sorted: instant by design, so the 体外循环 count leaves them out."""
    return sorted(m.id for m in catalogue.matters.values() if m.kind == "filing")


GROUPINGS = ("division",)
"""What the whole report can be grouped by (``group_by``)."""


def kpi_report(db: Engine, catalogue: Catalogue, filters: Filters, *, threshold_minutes: float = 10.0,
               now: datetime, group_by: str | None = None) -> dict[str, Any]:
    """:func:`engine.analytics.measures.report` on a read connection, running matters measured at ``now``
    (the service clock over HTTP, the wall clock on the command line).

    ``group_by="division"``: every measure (and every scoring-sheet indicator) once per 行政区划代码 the filtered
    projects carry (``measures.report_by_division``), each group named (``name``); ``None`` groups the projects
    filed without one."""
    if group_by is not None and group_by not in GROUPINGS:
        raise Invalid(f"group_by: unknown grouping {group_by!r} (known: {', '.join(GROUPINGS)})")
    with db.connect() as conn:
        if group_by == "division":
            names = load_divisions()
            out: dict[str, Any] = {"group_by": "division", "filters": filters.to_dict(), "groups": []}
            for code in divisions_present(conn, filters):
                narrowed = replace(filters, division=code, division_exact=True)
                out["groups"].append({"division": code, "name": names.name(code) if code else "未填行政区划",
                                      **_one_report(conn, catalogue, narrowed, threshold_minutes, now, parallel=False)})
            return out
        return _one_report(conn, catalogue, filters, threshold_minutes, now, parallel=True)


def _one_report(conn: Connection, catalogue: Catalogue, filters: Filters, threshold_minutes: float, now: datetime,
                *, parallel: bool) -> dict[str, Any]:
    data = report(conn, filters, filing_matters=filing_matters(catalogue), threshold_minutes=threshold_minutes,
                  now=now, parallel=parallel)  # both cores: the distributions on a second connection
    # each indicator of the scoring sheet as the sheet defines it (null + reason where the system cannot know)
    data["scoring_sheet"] = sheet_values(conn, filters, catalogue=catalogue, filing_matters=filing_matters(catalogue),
                                         threshold_minutes=threshold_minutes, now=now)
    return data


def scoring_ranking(db: Engine, catalogue: Catalogue, *, division: str = "360000", since: datetime | None = None,
                    until: datetime | None = None, project_type: str | None = None, jurisdiction: str | None = None,
                    threshold_minutes: float = 10.0, now: datetime) -> dict[str, Any]:
    """The scoring sheet's ranking of ``division``'s peers (a province's cities, a city's counties) for a period
    (engine/analytics/scoring.py); every input checked (:class:`Invalid` naming the field)."""
    filters = analytics_filters(catalogue, project_type=project_type, jurisdiction=jurisdiction, since=since,
                                until=until, division=division)
    catalogue = profile_catalogue(catalogue, jurisdiction)
    with db.connect() as conn:
        return ranking(conn, catalogue=catalogue, division=division, since=filters.since, until=filters.until,
                       project_type=project_type, jurisdiction=jurisdiction, filing_matters=filing_matters(catalogue),
                       threshold_minutes=threshold_minutes, now=now)


def scoring_xlsx(result: dict[str, Any]) -> bytes:
    """:func:`scoring_ranking`'s result as xlsx bytes (评分 / 指标值 / 口径 sheets)."""
    import io

    buffer = io.BytesIO()
    write_xlsx(result, buffer)
    return buffer.getvalue()
