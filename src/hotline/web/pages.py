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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hotline.web.audit_api import chain_report
from hotline.web.auth import (
    CSRF_FIELD,
    Principal,
    authenticated,
    context_of,
    public,
    require,
)
from hotline.web.errors import ErrorCode
from hotline.web.permissions import Permission

__all__ = [
    "NAV",
    "AuditFilters",
    "NavItem",
    "error_page",
    "favicon",
    "nav_for",
    "pages_router",
    "render",
]


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


FAVICON: Final = ("static", "img", "favicon.svg")
"""The icon (an SVG in the package) served at ``/favicon.ico``, where browsers look for it."""


@pages_router.get("/favicon.ico", dependencies=[Depends(public())])
async def favicon() -> Response:
    icon = resources.files("hotline.web").joinpath(*FAVICON).read_bytes()
    return Response(
        icon, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


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


MAX_FILTER_CHARS: Final = 64
_FILTER_LABELS: Final = {
    "since": "audit.filter.since",
    "until": "audit.filter.until",
    "actor": "audit.filter.actor",
    "action": "audit.filter.action",
    "before": "audit.more",
}


class _BadFilter(ValueError):
    """A filter field of the audit page that cannot be read (its name)."""


def _when(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date-time of the filter form; empty means no filter, naive means UTC."""
    value = (text or "").strip()
    if not value:
        return None
    if len(value) > MAX_FILTER_CHARS:
        raise _BadFilter(name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _BadFilter(name) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _word(name: str, text: str | None) -> str | None:
    value = (text or "").strip()
    if len(value) > MAX_FILTER_CHARS:
        raise _BadFilter(name)
    return value or None


def _before(text: str | None) -> int | None:
    value = (text or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 19 or not 1 <= int(value) <= 2**62:
        raise _BadFilter("before")
    return int(value)


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """The audit page's filters as read from its query (every field optional)."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    before: int | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> AuditFilters:
        """Read the form's fields; :class:`_BadFilter` names the first unreadable one."""
        return cls(
            since=_when("since", query.get("since")),
            until=_when("until", query.get("until")),
            actor=_word("actor", query.get("actor")),
            action=_word("action", query.get("action")),
            before=_before(query.get("before")),
        )

    def form(self) -> dict[str, str]:
        """The values to put back into the form (UTC, to the minute like the input)."""
        return {
            "since": self.since.astimezone(UTC).isoformat() if self.since else "",
            "until": self.until.astimezone(UTC).isoformat() if self.until else "",
            "actor": self.actor or "",
            "action": self.action or "",
        }


def _raw_form(query: Mapping[str, str]) -> dict[str, str]:
    """The submitted values as typed (shown again next to the message), bounded."""
    return {
        k: (query.get(k) or "")[:MAX_FILTER_CHARS] for k in ("since", "until", "actor", "action")
    }


@pages_router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request, who: Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
) -> Response:
    """The audit log with its filters (``since``, ``until``, ``actor``, ``action``, ``before``).

    The fields are read here rather than by FastAPI's validation: an empty
    field means no filter, and a field that cannot be read re-renders the
    page (400) with a Russian message instead of a JSON error.
    """
    query = {k: v for k, v in request.query_params.items()}
    problem: str | None = None
    try:
        filters = AuditFilters.parse(query)
    except _BadFilter as exc:
        field = str(exc)
        problem = context_of(request).catalogue.text(
            "audit.filter.invalid", field=context_of(request).catalogue.text(_FILTER_LABELS[field])
        )
        filters = AuditFilters()
    audit = context_of(request).audit
    page = await asyncio.to_thread(
        audit.query,
        since=filters.since,
        until=filters.until,
        actor=filters.actor,
        action=filters.action,
        before=filters.before,
        limit=100,
    )
    check = chain_report(await asyncio.to_thread(audit.verify))
    shown = _raw_form(query) if problem is not None else filters.form()
    more = None
    if page.next_before is not None:
        more = urlencode(
            {k: v for k, v in filters.form().items() if v} | {"before": page.next_before}
        )
    return render(
        request,
        "audit.html",
        who,
        status=400 if problem is not None else 200,
        page=page,
        check=check,
        problem_key=_problem_key(check.problem),
        filters=shown,
        filter_problem=problem,
        more_query=more,
    )
