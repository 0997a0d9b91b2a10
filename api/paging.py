"""Lists that go on: the next page's cursor and link in the response headers (the body stays a list)."""

from __future__ import annotations

from fastapi import Request, Response


def next_page(request: Request, response: Response | None, cursor: str | None) -> None:
    """Say that a list goes on (never truncate silently): the next page's cursor and URL (RFC 8288 Link).

    ``response`` is None when another route (the web pages) calls the route function directly."""
    if cursor is None or response is None:
        return
    url = request.url.remove_query_params(["cursor", "offset"]).include_query_params(cursor=cursor)
    response.headers["X-Next-Cursor"] = cursor
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
