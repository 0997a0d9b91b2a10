"""The Chinese web interface (工程建设项目审批 pages): server-rendered Jinja2 pages over the same route
functions and service layer as the JSON API, the static assets (own CSS/JS plus the vendored htmx, bpmn-js
viewer, Swagger UI and Noto Sans SC built by ``make assets``) and ``/docs`` served locally."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.pages import office, projects, work
from api.pages.common import STATIC


def install(app: FastAPI) -> None:
    """Mount ``/static`` and the page routes (``/``, ``/signin``, ``/ui/…``, ``/docs``) on ``app``."""
    if not (STATIC / "vendor" / ".built").exists():
        logging.getLogger(__name__).warning(
            "web assets are not built (api/static/vendor): pages will lack htmx, the BPMN viewer, Swagger UI and the "
            "Chinese font; run `make assets` (npm registry) once")
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    for router in (office.docs_router, work.router, projects.router, projects.certificates_router, office.router):  # office last: its /ui/ 404
        app.include_router(router)
