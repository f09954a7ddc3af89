"""The administration pages: one page per section, driven by the administration API.

Each section (:data:`SECTIONS`) lists its items from the API (``static/js/admin.js``
renders the JSON as a table; a click puts an item into the editor) and offers
its actions as small forms: a JSON (or YAML) body sent to an API route with
the CSRF header.  Validation errors come back with the setting or flow node
at fault and are shown next to the form.  Each page says what applies to
the running node at once and what needs a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from hotline.web.admin_live import live_of
from hotline.web.auth import Principal, require
from hotline.web.pages import render
from hotline.web.permissions import Permission

__all__ = ["SECTIONS", "Action", "Section", "admin_pages_router"]


@dataclass(frozen=True, slots=True)
class Action:
    """One form of a section: ``url`` may hold ``{id}``, filled from the form's id field."""

    label_key: str
    method: str
    url: str
    body: str  # "json", "yaml" (sent as {"yaml": text}), "file" (multipart), "none"
    example: str = ""
    needs_id: bool = True


@dataclass(frozen=True, slots=True)
class Section:
    slug: str
    title_key: str
    live_key: str
    permission: Permission
    list_url: str
    actions: tuple[Action, ...]


_C = Permission.ADMIN_CONFIG
_U = Permission.ADMIN_USERS
A = "/api/v1/admin"

SECTIONS: Final = (
    Section(
        "queues", "admin.queues.title", "admin.live.queues", _C, f"{A}/queues",
        (Action("admin.action.save", "PUT", f"{A}/queues/{{id}}", "json",
                '{"name": "Социальная сфера", "topic": "social", "enabled": true,\n'
                ' "config": {"sl_norm_s": 20, "max_wait_s": 120, "wrap_up_s": 10}}'),),
    ),
    Section(
        "operators", "admin.operators.title", "admin.live.operators", _U, f"{A}/operators",
        (
            Action("admin.action.create", "POST", f"{A}/operators", "json",
                   '{"id": "op9", "name": "Оператор", "sip_username": "109",\n'
                   ' "sip_realm": "hotline", "sip_password": "", "skills": {"social": 5}}',
                   needs_id=False),
            Action("admin.action.save", "PATCH", f"{A}/operators/{{id}}", "json",
                   '{"skills": {"social": 5, "health": 3}, "enabled": true}'),
            Action("admin.action.sip_password", "POST", f"{A}/operators/{{id}}/sip-password",
                   "json", '{"password": ""}'),
        ),
    ),
    Section(
        "users", "admin.users.title", "admin.live.users", _U, f"{A}/users",
        (
            Action("admin.action.create", "POST", f"{A}/users", "json",
                   '{"username": "", "display_name": "", "role": "operator",\n'
                   ' "password": "", "permissions": []}', needs_id=False),
            Action("admin.action.save", "PATCH", f"{A}/users/{{id}}", "json",
                   '{"is_active": false}'),
            Action("admin.action.reset_password", "POST", f"{A}/users/{{id}}/password", "json",
                   '{"password": ""}'),
        ),
    ),
    Section(
        "flows", "admin.flows.title", "admin.live.flows", _C, f"{A}/flows/main",
        (
            Action("admin.action.check", "POST", f"{A}/flows/main/check", "yaml", needs_id=False),
            Action("admin.action.save", "PUT", f"{A}/flows/main", "yaml", needs_id=False),
        ),
    ),
    Section(
        "prompts", "admin.prompts.title", "admin.live.prompts", _C, f"{A}/prompts",
        (
            Action("admin.action.upload", "POST", f"{A}/prompts/{{id}}", "file"),
            Action("admin.action.tts", "POST", f"{A}/prompts/{{id}}/tts", "json",
                   '{"text": "Здравствуйте! Вы позвонили на горячую линию."}'),
        ),
    ),
    Section(
        "organisations", "admin.organisations.title", "admin.live.organisations", _C,
        f"{A}/organisations",
        (
            Action("admin.action.save", "PUT", f"{A}/organisations/{{id}}", "json",
                   '{"name": "", "number": "", "topics": [], "hours": "", "enabled": true}'),
            Action("admin.action.delete", "DELETE", f"{A}/organisations/{{id}}", "none"),
        ),
    ),
    Section(
        "answers", "admin.answers.title", "admin.live.answers", _C, f"{A}/answers",
        (
            Action("admin.action.save", "PUT", f"{A}/answers/{{id}}", "json",
                   '{"topic": "social", "title": "", "questions": [""], "answer": "",\n'
                   ' "escalate": false, "enabled": true}'),
            Action("admin.action.disable", "POST", f"{A}/answers/{{id}}/disable", "none"),
        ),
    ),
    Section(
        "trunks", "admin.trunks.title", "admin.live.trunks", _C, f"{A}/trunks",
        (Action("admin.action.save", "PUT", f"{A}/trunks/{{id}}", "json",
                '{"name": "", "host": "", "port": 5060, "transport": "udp",\n'
                ' "trusted_networks": [], "inbound_numbers": ["122"], "max_calls": 30}'),),
    ),
    Section(
        "proposals", "admin.proposals.title", "admin.live.proposals", _C, f"{A}/proposals",
        (
            Action("admin.action.create", "POST", f"{A}/proposals", "json",
                   '{"text": "", "topic": "general"}', needs_id=False),
            Action("admin.action.status", "POST", f"{A}/proposals/{{id}}/status", "json",
                   '{"status": "under_review", "resolution": ""}'),
        ),
    ),
)  # fmt: skip

admin_pages_router = APIRouter(include_in_schema=False)


@admin_pages_router.get("/admin", response_class=HTMLResponse)
async def admin_home(
    request: Request, who: Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]
) -> Response:
    sections = [s for s in SECTIONS if who.has(s.permission)]
    return render(request, "admin.html", who, sections=sections, live=live_of(request) is not None)


def _section_page(section: Section) -> None:
    guard = Depends(require(section.permission))

    async def page(request: Request, who: Principal = guard) -> Response:
        return render(
            request,
            "admin_section.html",
            who,
            section=section,
            live=live_of(request) is not None,
        )

    page.__name__ = f"admin_page_{section.slug}"
    admin_pages_router.add_api_route(
        f"/admin/{section.slug}", page, methods=["GET"], response_class=HTMLResponse
    )


for _section in SECTIONS:
    _section_page(_section)
