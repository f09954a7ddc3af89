"""Operations endpoints present from day one: ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["HealthSource", "create_ops_app"]


class HealthSource(Protocol):
    """What /healthz reports: the node's state and its components' states."""

    def health(self) -> tuple[bool, dict[str, str]]:
        """(healthy, {component: state})."""
        ...


def create_ops_app(
    health: HealthSource,
    registry: CollectorRegistry,
    *,
    title: str = "Hotline 122",
    version: str = "",
    extra: Callable[[FastAPI], None] | None = None,
) -> FastAPI:
    """A FastAPI app with the operations endpoints; ``extra`` adds more routes."""
    app = FastAPI(title=title, version=version)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> Response:
        ok, components = health.health()
        body = {"status": "ok" if ok else "unavailable", "components": components}
        return Response(
            content=json.dumps(body, ensure_ascii=False),
            status_code=200 if ok else 503,
            media_type="application/json",
        )

    @app.get("/metrics", tags=["ops"])
    def metrics() -> Response:
        return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if extra is not None:
        extra(app)
    return app
