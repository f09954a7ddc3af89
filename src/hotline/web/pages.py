"""HTML pages: the base layout with the role's navigation, and the auditor's audit log.

Pages are Jinja2 templates (``hotline/web/templates``) extending ``base.html``;
:func:`render` fills in what every page needs (the user, the navigation for
their permissions, the CSRF token for forms, the ``t`` text function).
A page route declares its permission like an API route does.

The desk, the wallboard, reports and administration are placeholders here
(navigation only); their content is built on this skeleton.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hotline.web.audit_api import chain_report
from hotline.web.auth import CSRF_FIELD, Principal, authenticated, context_of, require
from hotline.web.errors import ErrorCode
from hotline.web.permissions import Permission

__all__ = ["NAV", "NavItem", "error_page", "nav_for", "pages_router", "render"]


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the navigation: shown to holders of ``permission``."""

    path: str
    label_key: str
    permission: Permission


NAV: Final = (
    NavItem("/desk", "nav.desk", Permission.CALLS_CONTROL),
    NavItem("/wallboard", "nav.wallboard", Permission.QUEUES_VIEW),
    NavItem("/reports", "nav.reports", Permission.REPORTS_VIEW),
    NavItem("/recordings", "nav.recordings", Permission.RECORDINGS_PLAY),
    NavItem("/audit", "nav.audit", Permission.AUDIT_READ),
    NavItem("/admin", "nav.admin", Permission.ADMIN_CONFIG),
)


def nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    return [item for item in NAV if principal.has(item.permission)]


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page of ``template`` with the layout's context."""
    ctx = context_of(request)
    values: dict[str, Any] = {
        "principal": principal,
        "nav": nav_for(principal),
        "current": request.url.path,
        "csrf_field": CSRF_FIELD,
        "csrf_token": principal.csrf_token if principal is not None else "",
        "docs": ctx.config.api_docs,
    }
    values.update(context)
    return ctx.templates.TemplateResponse(request, template, values, status_code=status)


async def error_page(request: Request, status: int, code: ErrorCode) -> Response:
    """The HTML answer for 403 and 404 on pages."""
    principal = getattr(request.state, "principal", None)
    key = "page.forbidden.title" if status == 403 else "page.not_found.title"
    return render(
        request,
        "error.html",
        principal if isinstance(principal, Principal) else None,
        status=status,
        title_key=key,
        message_key=f"error.{code.value}",
    )


pages_router = APIRouter(include_in_schema=False)


@pages_router.get("/")
async def home(request: Request, who: Annotated[Principal, Depends(authenticated())]) -> Response:
    items = nav_for(who)
    if items:
        return RedirectResponse(items[0].path, status_code=303)
    return render(request, "placeholder.html", who, title_key="page.home.title", empty=True)


def _placeholder(path: str, permission: Permission, title_key: str) -> None:
    guard = Depends(require(permission))

    async def page(request: Request, who: Principal = guard) -> Response:
        return render(request, "placeholder.html", who, title_key=title_key, empty=False)

    page.__name__ = f"page_{path.strip('/')}"
    pages_router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)


_PROBLEM_KEYS: Final = {
    "missing": "audit.problem.missing",
    "prev_hash": "audit.problem.prev_hash",
    "content": "audit.problem.content",
}


def _problem_key(problem: str | None) -> str:
    text = problem or ""
    if "missing" in text:
        return _PROBLEM_KEYS["missing"]
    if "prev_hash" in text:
        return _PROBLEM_KEYS["prev_hash"]
    return _PROBLEM_KEYS["content"]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@pages_router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    audit = context_of(request).audit
    page = await asyncio.to_thread(
        audit.query,
        since=_aware(since),
        until=_aware(until),
        actor=actor or None,
        action=action or None,
        before=before,
        limit=100,
    )
    check = chain_report(await asyncio.to_thread(audit.verify))
    filters = {
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
        "actor": actor or "",
        "action": action or "",
    }
    more = None
    if page.next_before is not None:
        more = urlencode({k: v for k, v in filters.items() if v} | {"before": page.next_before})
    return render(
        request,
        "audit.html",
        who,
        page=page,
        check=check,
        problem_key=_problem_key(check.problem),
        filters=filters,
        more_query=more,
    )
