"""Errors of the web layer: a stable ``code`` and a Russian ``message`` on every 4xx.

Routes raise :class:`ApiError` (``raise ApiError(ErrorCode.FORBIDDEN)``); the
handlers installed by :func:`install_error_handlers` turn it, Starlette's
HTTP errors and request validation errors into

``{"code": "forbidden", "message": "Недостаточно прав для этого действия."}``

(plus ``"detail"`` for validation errors).  Pages (paths outside ``/api/``)
get HTML instead: 401 redirects to the login page, 403 and 404 render a page.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline.calls.api import ActionRefusal, CallActionError
from hotline.web.i18n import Catalogue

__all__ = [
    "ApiError",
    "ErrorCode",
    "PageRenderer",
    "error_body",
    "install_error_handlers",
    "is_api_path",
]

log = logging.getLogger(__name__)


class ErrorCode(enum.StrEnum):
    """Stable machine-readable codes; each has ``error.<code>`` in the catalogue."""

    NOT_AUTHENTICATED = "not_authenticated"
    SESSION_EXPIRED = "session_expired"
    FORBIDDEN = "forbidden"
    CSRF_FAILED = "csrf_failed"
    INVALID_CREDENTIALS = "invalid_credentials"
    LOCKED_OUT = "locked_out"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    VALIDATION_FAILED = "validation_failed"
    REASON_REQUIRED = "reason_required"
    BAD_REQUEST = "bad_request"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INTERNAL = "internal"


_DEFAULT_STATUS: Final[Mapping[ErrorCode, int]] = {
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.SESSION_EXPIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.LOCKED_OUT: 429,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.REASON_REQUIRED: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.INTERNAL: 500,
}

_BY_STATUS: Final[Mapping[int, ErrorCode]] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.VALIDATION_FAILED,
    503: ErrorCode.UNAVAILABLE,
}

_REFUSALS: Final[Mapping[ActionRefusal, ErrorCode]] = {
    ActionRefusal.NOT_FOUND: ErrorCode.NOT_FOUND,
    ActionRefusal.WRONG_STATE: ErrorCode.CONFLICT,
    ActionRefusal.TARGET_UNAVAILABLE: ErrorCode.CONFLICT,
    ActionRefusal.NOT_ALLOWED: ErrorCode.FORBIDDEN,
    ActionRefusal.BUSY: ErrorCode.UNAVAILABLE,
}


class ApiError(Exception):
    """An error answer: ``code`` picks the status and the Russian message."""

    def __init__(
        self,
        code: ErrorCode,
        *,
        status: int | None = None,
        params: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code.value)
        self.code = code
        self.status = status if status is not None else _DEFAULT_STATUS[code]
        self.params = dict(params or {})
        self.headers = dict(headers or {})

    @classmethod
    def from_refusal(cls, exc: CallActionError) -> ApiError:
        """The answer to a refused call or queue action (calls/api.py)."""
        return cls(_REFUSALS[exc.refusal])


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/openapi.json"


def error_body(catalogue: Catalogue, code: ErrorCode, **params: object) -> dict[str, Any]:
    return {"code": code.value, "message": catalogue.text(f"error.{code.value}", **params)}


PageRenderer = Callable[[Request, int, ErrorCode], Awaitable[Response]]


def install_error_handlers(
    app: FastAPI, catalogue: Catalogue, page: PageRenderer | None = None
) -> None:
    """JSON errors under /api/, HTML (or a redirect to the login page) elsewhere.

    Without ``page`` (an app without pages) every error is JSON.
    """

    async def answer(
        request: Request,
        status: int,
        code: ErrorCode,
        params: Mapping[str, object],
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Response:
        pages = page is not None and not is_api_path(request.url.path)
        if pages and page is not None and request.method in ("GET", "HEAD"):
            if status == 401:
                target = "/login?next=" + quote(request.url.path, safe="/")
                if code is ErrorCode.SESSION_EXPIRED:
                    target += "&expired=1"
                return RedirectResponse(target, status_code=303)
            if status in (403, 404):
                return await page(request, status, code)
        body = error_body(catalogue, code, **params) | dict(extra or {})
        return JSONResponse(body, status_code=status, headers=dict(headers or {}))

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return await answer(request, exc.status, exc.code, exc.params, exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _BY_STATUS.get(exc.status_code, ErrorCode.BAD_REQUEST)
        if exc.status_code >= 500:
            code = ErrorCode.INTERNAL
        return await answer(request, exc.status_code, code, {}, exc.headers)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "type": e.get("type", ""), "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        detail = {"detail": jsonable_encoder(errors)}
        return await answer(request, 422, ErrorCode.VALIDATION_FAILED, {}, None, detail)

    async def on_refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CallActionError)
        err = ApiError.from_refusal(exc)
        return await answer(request, err.status, err.code, {})

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body(catalogue, ErrorCode.INTERNAL), status_code=500)

    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(CallActionError, on_refusal)
