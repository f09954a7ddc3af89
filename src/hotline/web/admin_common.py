"""What the administration routes share: the permission dependencies and error answers.

A configuration the domain refuses (:class:`~hotline.core.errors.ConfigurationError`,
e.g. a queue norm of 0 s or a flow whose node points nowhere) is answered
422 with ``code: validation_failed`` and ``problems``: the setting (or the
flow's node) at fault and what is wrong, so the page can show it next to
the field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hotline.core.errors import ConfigurationError
from hotline.web.auth import context_of, require
from hotline.web.errors import ErrorCode, error_body
from hotline.web.permissions import Permission

__all__ = [
    "ADMIN_CONFIG",
    "ADMIN_USERS",
    "Applied",
    "Problem",
    "blocking",
    "invalid",
    "invalid_problems",
]

ADMIN_CONFIG: Final = Depends(require(Permission.ADMIN_CONFIG))
ADMIN_USERS: Final = Depends(require(Permission.ADMIN_USERS))

T = TypeVar("T")


class Problem(BaseModel):
    setting: str
    problem: str
    node: str | None = None


class Applied(BaseModel):
    """The answer to a change: saved, and whether the running node took it at once."""

    saved: bool = True
    applied: bool
    restart_needed: bool = False


def invalid_problems(request: Request, problems: Sequence[Problem]) -> JSONResponse:
    """422 listing the problems (settings or flow nodes at fault)."""
    body: dict[str, Any] = error_body(context_of(request).catalogue, ErrorCode.VALIDATION_FAILED)
    body["problems"] = [p.model_dump() for p in problems]
    return JSONResponse(body, status_code=422)


def invalid(request: Request, exc: ConfigurationError, node: str | None = None) -> JSONResponse:
    """422 naming the setting (or flow node) at fault."""
    return invalid_problems(request, [Problem(setting=exc.setting, problem=exc.problem, node=node)])


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (database, files) off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)
