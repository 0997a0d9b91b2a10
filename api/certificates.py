"""Routes over electronic certificates (电子证照): the caller's certificates and verification by number (核验).

Owners see their projects' certificates, agencies those of projects their department handles (the project
visibility rule of engine/domain/authorisation.py); a project's own list is ``GET /projects/{id}/certificates``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.auth import current_actor
from api.paging import next_page
from engine.domain.actors import Actor

router = APIRouter(prefix="/certificates", tags=["certificates (电子证照)"])


@router.get("", summary="Certificates the caller may see, oldest first (X-Next-Cursor / Link rel=next when more exist)")
def list_certificates(request: Request, actor: Actor = Depends(current_actor),
                      status: Literal["valid", "revoked", "expired"] | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
                      cursor: Annotated[str | None, Query(max_length=500, description="the X-Next-Cursor of the previous page")] = None,
                      response: Response = None) -> list[dict[str, Any]]:  # type: ignore[assignment] - FastAPI injects it
    rows, following = request.app.state.service.certificates.page(actor, status=status, limit=limit, offset=offset,
                                                                  cursor=cursor)
    next_page(request, response, following)
    return rows


@router.get("/{number}", summary="Verify a certificate by its number (核验): type, holder, department, dates, status")
def verify(request: Request, number: str = Path(max_length=80, description="certificate number, e.g. JZ-2026-000001"),
           actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return request.app.state.service.certificates.verify(number, actor=actor)
