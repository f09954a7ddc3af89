"""Operations endpoints present from day one: ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol

from fastapi import Depends, FastAPI, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hotline.web.auth import public
from hotline.web.errors import install_error_handlers
from hotline.web.i18n import Catalogue

__all__ = ["HealthSource", "add_ops_routes", "create_ops_app"]


class HealthSource(Protocol):
    """What /healthz reports: the node's state and its components' states."""

    def health(self) -> tuple[bool, dict[str, str]]:
        """(healthy, {component: state})."""
        ...


def add_ops_routes(app: FastAPI, health: HealthSource, registry: CollectorRegistry) -> None:
    """``/healthz`` and ``/metrics`` (public: scraped by monitoring)."""

    @app.get("/healthz", tags=["ops"], dependencies=[Depends(public())])
    def healthz() -> Response:
        ok, components = health.health()
        body = {"status": "ok" if ok else "unavailable", "components": components}
        return Response(
            content=json.dumps(body, ensure_ascii=False),
            status_code=200 if ok else 503,
            media_type="application/json",
        )

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(public())])
    def metrics() -> Response:
        return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def create_ops_app(
    health: HealthSource,
    registry: CollectorRegistry,
    *,
    title: str = "Hotline 122",
    version: str = "",
    extra: Callable[[FastAPI], None] | None = None,
) -> FastAPI:
    """A FastAPI app with the operations endpoints; ``extra`` adds more routes.

    The node serves :func:`hotline.web.app.create_web_app`, which includes
    these routes; this smaller app has no sessions, so a route that needs a
    logged-in user answers 401 here.
    """
    app = FastAPI(title=title, version=version)
    install_error_handlers(app, Catalogue())
    add_ops_routes(app, health, registry)
    if extra is not None:
        extra(app)
    return app
