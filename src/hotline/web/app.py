"""The web application: one factory, plain dependencies in, a FastAPI app out.

:func:`create_web_app` builds the whole HTTP surface of a node: the REST API
under ``/api/v1`` (OpenAPI at ``/openapi.json``, documentation at ``/docs``),
the HTML pages, the static assets (``hotline/web/static``, never a CDN), the
operations endpoints (``/healthz``, ``/metrics``) when a health source and a
registry are given, and whatever ``extra`` hooks add (the feed's pull API).
See docs/web.md for how to add a page or a route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import resources

from argon2 import PasswordHasher
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from hotline.calls.api import CallActions, QueueActions
from hotline.core.clock import Clock
from hotline.store.audit import AuditLog
from hotline.store.db import Database
from hotline.store.web_sessions import WebSessionStore
from hotline.web.admin_accounts import admin_accounts_router
from hotline.web.admin_directory import admin_directory_router
from hotline.web.admin_pages import admin_pages_router
from hotline.web.admin_prompts import admin_prompts_router
from hotline.web.admin_queues import admin_queues_router
from hotline.web.audit_api import audit_router
from hotline.web.auth_api import auth_router, login_pages_router
from hotline.web.config import WebConfig
from hotline.web.context import WebContext
from hotline.web.desk_api import desk_router
from hotline.web.docs import install_docs
from hotline.web.errors import install_error_handlers
from hotline.web.i18n import Catalogue
from hotline.web.live import live_router
from hotline.web.ops import HealthSource, add_ops_routes
from hotline.web.pages import error_page, pages_router
from hotline.web.recordings import recordings_pages_router, recordings_router
from hotline.web.reports_pages import reports_api_router, reports_pages_router
from hotline.web.security import SecurityHeadersMiddleware
from hotline.web.supervisor_api import supervisor_router
from hotline.web.workplace_pages import workplace_pages_router

__all__ = ["create_web_app"]

API_TITLE = "Hotline 122"
_PACKAGE = "hotline.web"


def _templates(catalogue: Catalogue) -> Jinja2Templates:
    directory = resources.files(_PACKAGE) / "templates"
    templates = Jinja2Templates(directory=str(directory))
    templates.env.globals["t"] = catalogue.text
    templates.env.globals["role_key"] = lambda role: f"role.{role}"
    return templates


def create_web_app(
    config: WebConfig,
    db: Database,
    clock: Clock,
    *,
    calls: CallActions | None = None,
    queues: QueueActions | None = None,
    health: HealthSource | None = None,
    registry: CollectorRegistry | None = None,
    version: str = "",
    extra: Iterable[Callable[[FastAPI], None]] = (),
    hasher: PasswordHasher | None = None,
    catalogue: Catalogue | None = None,
    audit_key: bytes | None = None,
) -> FastAPI:
    """The node's FastAPI application (see the module docstring).

    ``audit_key`` keys the audit chain (:func:`hotline.store.audit.audit_chain_key`
    of the node secret); the node always passes it.

    ``hasher`` defaults to argon2-cffi's recommended argon2id parameters; a
    stored hash made with other parameters is re-hashed at the next login.
    """
    catalogue = catalogue or Catalogue()
    hasher = hasher or PasswordHasher()
    ctx = WebContext(
        config=config,
        db=db,
        clock=clock,
        sessions=WebSessionStore(db),
        audit=AuditLog(db, audit_key),
        catalogue=catalogue,
        templates=_templates(catalogue),
        hasher=hasher,
        dummy_hash=hasher.hash("no user has this password"),
        calls=calls,
        queues=queues,
    )
    app = FastAPI(
        title=API_TITLE,
        version=version,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="REST API of the Hotline 122 web workplace (docs/web.md).",
    )
    app.state.web = ctx
    install_error_handlers(app, catalogue, error_page)
    app.add_middleware(SecurityHeadersMiddleware, message=catalogue.text("error.payload_too_large"))
    static = resources.files(_PACKAGE) / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    if health is not None and registry is not None:
        add_ops_routes(app, health, registry)
    app.include_router(auth_router)
    app.include_router(audit_router)
    app.include_router(login_pages_router)
    app.include_router(pages_router)
    app.include_router(desk_router)
    app.include_router(supervisor_router)
    app.include_router(live_router)
    app.include_router(workplace_pages_router)
    for router in (
        recordings_router,
        recordings_pages_router,
        reports_api_router,
        reports_pages_router,
        admin_queues_router,
        admin_prompts_router,
        admin_accounts_router,
        admin_directory_router,
        admin_pages_router,
    ):
        app.include_router(router)
    for hook in extra:
        hook(app)
    if config.api_docs:
        install_docs(app)
    return app
