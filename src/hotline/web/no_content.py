"""Action endpoints that answer 204 No Content (RFC 9110 section 15.3.5).

The desk and the supervisor console both expose command endpoints (hold,
transfer, move a waiting call, ...) that return an empty body on success;
this module declares such routes and builds their responses in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from fastapi import APIRouter, Response
from fastapi.types import DecoratedCallable

__all__ = ["NO_CONTENT", "no_content", "post_no_content"]

NO_CONTENT: Final = 204


def no_content() -> Response:
    """The empty success answer of an action endpoint."""
    return Response(status_code=NO_CONTENT)


def post_no_content(
    router: APIRouter, path: str, summary: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Register a POST action at ``path`` on ``router`` that answers 204."""
    return router.post(path, status_code=NO_CONTENT, response_class=Response, summary=summary)
