"""The API's documentation without a CDN: ``/openapi.json`` and ``/docs``.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, which a closed government
network cannot reach, so it is turned off.  When the ``swagger-ui-bundle``
package is installed its files are served from ``/docs/assets`` and ``/docs``
is Swagger UI started by our own ES module (no inline script, so the CSP
holds).  Without it, ``/docs`` is a plain page rendered here that lists every
operation of the schema and links to ``/openapi.json``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from hotline.web.auth import optional_principal, public
from hotline.web.pages import render

__all__ = ["install_docs", "swagger_ui_dir"]

_METHODS = ("get", "post", "put", "patch", "delete")


def swagger_ui_dir() -> Path | None:
    """The directory of an installed Swagger UI distribution, if any."""
    try:
        module = importlib.import_module("swagger_ui_bundle")
    except ImportError:
        return None
    path = getattr(module, "swagger_ui_path", None)
    if path is None:
        return None
    found = Path(str(path))
    return found if (found / "swagger-ui-bundle.js").is_file() else None


def _operations(schema: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for path, item in sorted(schema.get("paths", {}).items()):
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                rows.append(
                    {"method": method.upper(), "path": path, "summary": op.get("summary", "")}
                )
    return rows


def install_docs(app: FastAPI) -> None:
    """Add ``/openapi.json`` and ``/docs`` (public, like any API's description)."""
    assets = swagger_ui_dir()
    if assets is not None:
        app.mount("/docs/assets", StaticFiles(directory=str(assets)), name="swagger-ui")
    router = APIRouter(include_in_schema=False, dependencies=[Depends(public())])

    @router.get("/openapi.json")
    async def openapi() -> Response:
        return JSONResponse(app.openapi())

    @router.get("/docs", response_class=HTMLResponse)
    async def docs(request: Request) -> Response:
        who = await optional_principal(request)
        return render(
            request,
            "docs.html",
            who,
            swagger=assets is not None,
            operations=_operations(app.openapi()),
        )

    app.include_router(router)
