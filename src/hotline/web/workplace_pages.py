"""The operator desk (``/desk``) and the wallboard (``/wallboard``) pages.

Each page is a template (``desk.html``, ``wallboard.html``) and an ES module
(``static/js/desk.js``, ``static/js/wallboard.js``) that talks to the REST
API and the live socket; the Russian labels of the codes the API sends
travel with the page as one JSON object in a data attribute (``labels_for``;
``tojson`` escapes quotes), read by the script: the CSP stays without inline
scripts.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from hotline.web.auth import Principal, context_of, require
from hotline.web.i18n import Catalogue
from hotline.web.pages import render
from hotline.web.permissions import Permission
from hotline.web.workplace import workplace_of
from hotline.web.workplace_i18n import LABEL_PREFIXES

__all__ = ["labels_for", "workplace_pages_router"]

workplace_pages_router = APIRouter(include_in_schema=False)


def labels_for(catalogue: Catalogue) -> dict[str, str]:
    """Every label the pages' scripts may look up (codes → Russian)."""
    return {k: catalogue.text(k) for k in sorted(catalogue.keys()) if k.startswith(LABEL_PREFIXES)}


@workplace_pages_router.get("/desk", response_class=HTMLResponse)
async def desk_page(
    request: Request, who: Annotated[Principal, Depends(require(Permission.CALLS_CONTROL))]
) -> Response:
    settings = workplace_of(request).settings
    return render(
        request,
        "desk.html",
        who,
        labels=labels_for(context_of(request).catalogue),
        reasons=settings.not_ready_reasons,
        outcomes=settings.outcome_codes,
    )


@workplace_pages_router.get("/wallboard", response_class=HTMLResponse)
async def wallboard_page(
    request: Request, who: Annotated[Principal, Depends(require(Permission.QUEUES_VIEW))]
) -> Response:
    return render(
        request,
        "wallboard.html",
        who,
        labels=labels_for(context_of(request).catalogue),
        reasons=workplace_of(request).settings.not_ready_reasons,
        can_control=who.has(Permission.QUEUES_CONTROL),
        can_monitor=who.has(Permission.MONITOR),
        can_live=who.has(Permission.CALLS_VIEW),  # the live socket's permission
    )
