"""Call recordings (R12c, R12d, R13): search, play in the browser, download, each access audited.

* ``GET /api/v1/recordings`` searches by period, number, operator, topic and
  outcome (:mod:`hotline.web.recordings_search`); numbers are masked for
  roles without ``personal_data.view``, medical calls are left out without
  ``medical_secrecy`` (and answer 404 one by one).
* ``POST /api/v1/recordings/{id}/access`` with a mandatory ``reason``
  writes the audit record (played or downloaded) and returns a short-lived
  signed URL; without a reason: 400 ``reason_required``.  The URL's token is
  an HMAC over (recording, purpose, expiry) keyed by the session's CSRF
  secret, so it is valid only in the session that gave the reason.
* ``GET /api/v1/recordings/{id}/audio?token=`` serves the stereo WAV
  (caller left, operator right; 8 kHz) with HTTP Range support (RFC 9110
  §14: ``206 Partial Content``, ``416``), so an ``<audio>`` element can seek;
  ``/file?token=`` serves it as an attachment.
* A recording removed by retention is listed as deleted and cannot be played.
* An answer that shows callers' full numbers writes ``personal_data.viewed``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field

from hotline.reports.cdr import CdrOutcome
from hotline.store.audit import AuditAction
from hotline.web.admin_common import blocking
from hotline.web.admin_live import admin_paths_of
from hotline.web.audit_api import record, record_recording_access
from hotline.web.auth import Principal, context_of, require
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.masking import may_see_topic, number_for
from hotline.web.pages import render
from hotline.web.permissions import Permission
from hotline.web.recordings_search import (
    MAX_RESULTS,
    FoundRecording,
    RecordingQuery,
    find_recording,
    resolve_file,
    search_recordings,
)
from hotline.web.reports_data import zone_label

__all__ = [
    "AccessIn",
    "AccessOut",
    "RecordingOut",
    "recordings_pages_router",
    "recordings_router",
    "sign_access",
    "verify_access",
]

PLAY_TTL: Final = timedelta(hours=4)
DOWNLOAD_TTL: Final = timedelta(minutes=5)
DEFAULT_PERIOD: Final = timedelta(days=7)
MAX_PERIOD: Final = timedelta(days=366)
MIN_YEAR: Final = 2000
MAX_YEAR: Final = 2200
RECORDING_ID: Final = r"^[0-9A-Za-z_-]{1,32}$"
PLAY: Final = "play"
MAX_AUDITED_CALLS: Final = 100
DOWNLOAD: Final = "download"


class RecordingOut(BaseModel):
    recording_id: str
    call_id: str
    started_at: datetime | None
    stored_at: datetime
    caller: str | None
    operator_id: str | None
    topic: str | None
    outcome: str | None
    duration_s: float | None
    size_bytes: int | None
    deleted: bool


class AccessIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)
    download: bool = False


class AccessOut(BaseModel):
    url: str
    expires_at: datetime


def sign_access(secret: str, recording_id: str, purpose: str, expires: int) -> str:
    message = f"{recording_id}|{purpose}|{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{expires}.{digest}"


def verify_access(secret: str, recording_id: str, purpose: str, token: str, now: datetime) -> bool:
    expires_text, _, _ = token.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires < now.timestamp():
        return False
    expected = sign_access(secret, recording_id, purpose, expires)
    return hmac.compare_digest(expected.encode(), token.encode())


def _out(found: FoundRecording, who: Principal) -> RecordingOut:
    cdr = found.cdr
    return RecordingOut(
        recording_id=found.recording_id,
        call_id=found.call_id,
        started_at=cdr.started_at if cdr else None,
        stored_at=found.stored_at,
        caller=number_for(who.permissions, cdr.caller) if cdr else None,
        operator_id=cdr.operator_id if cdr else None,
        topic=cdr.topic if cdr else None,
        outcome=cdr.outcome.value if cdr else None,
        duration_s=found.duration_s,
        size_bytes=found.size_bytes,
        deleted=found.deleted,
    )


def _visible(found: FoundRecording | None, who: Principal) -> FoundRecording:
    topic = found.cdr.topic if found is not None and found.cdr is not None else None
    if found is None or not may_see_topic(who.permissions, topic):
        raise ApiError(ErrorCode.NOT_FOUND)  # medical: its existence is confidential too
    return found


def _aware(value: datetime | None, default: datetime, tz: tzinfo) -> datetime:
    """``value`` as an aware time: a time without an offset is the service's local time."""
    if value is None:
        return default
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def query_of(
    now: datetime,
    since: datetime | None,
    until: datetime | None,
    number: str | None,
    operator: str | None,
    topic: str | None,
    outcome: CdrOutcome | None,
    limit: int = MAX_RESULTS,
    tz: tzinfo = UTC,
) -> RecordingQuery:
    end = _aware(until, now, tz)
    if not MIN_YEAR <= end.year <= MAX_YEAR:
        raise ApiError(ErrorCode.VALIDATION_FAILED)
    start = _aware(since, end - DEFAULT_PERIOD, tz)
    if (
        not (start.year >= MIN_YEAR and end.year <= MAX_YEAR)
        or not start < end <= start + MAX_PERIOD
    ):
        raise ApiError(ErrorCode.VALIDATION_FAILED)
    digits = "".join(c for c in number or "" if c.isdigit())
    return RecordingQuery(
        start=start,
        end=end,
        number=digits or None,
        operator_id=operator or None,
        topic=topic or None,
        outcome=outcome,
        limit=limit,
    )


async def _search(request: Request, who: Principal, q: RecordingQuery) -> list[RecordingOut]:
    found = await blocking(search_recordings, context_of(request).db, q)
    visible = [f for f in found if may_see_topic(who.permissions, f.cdr.topic if f.cdr else None)]
    items = [_out(f, who) for f in visible]
    await _personal_data_viewed(request, who, items, "recordings:search")
    return items


async def _personal_data_viewed(
    request: Request, who: Principal, items: list[RecordingOut], what: str
) -> None:
    """Callers' full numbers were shown (R13): one audit record per answer."""
    if who.has(Permission.PERSONAL_DATA_VIEW) and any(i.caller for i in items):
        calls = sorted({i.call_id for i in items})
        await record(
            request,
            who,
            AuditAction.PERSONAL_DATA_VIEWED,
            object=what,
            details={"calls": calls[:MAX_AUDITED_CALLS], "count": len(calls)},
        )


_SINCE = "calls from (ISO 8601; without an offset: the service's time zone, HOTLINE_TIMEZONE)"
_UNTIL = "calls before (ISO 8601; without an offset: the service's time zone, HOTLINE_TIMEZONE)"
recordings_router = APIRouter(prefix="/api/v1/recordings", tags=["recordings"])
_PLAY = Depends(require(Permission.RECORDINGS_PLAY))
_DOWNLOAD = Depends(require(Permission.RECORDINGS_DOWNLOAD))
RecordingId = Annotated[str, Path(pattern=RECORDING_ID)]
Text64 = Annotated[str | None, Query(max_length=64)]


@recordings_router.get("", response_model=list[RecordingOut], summary="Search recordings")
async def list_recordings(
    request: Request,
    who: Annotated[Principal, _PLAY],
    since: Annotated[datetime | None, Query(description=_SINCE)] = None,
    until: Annotated[datetime | None, Query(description=_UNTIL)] = None,
    number: Text64 = None,
    operator: Text64 = None,
    topic: Text64 = None,
    outcome: CdrOutcome | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 100,
) -> list[RecordingOut]:
    ctx = context_of(request)
    q = query_of(
        ctx.clock.utcnow(), since, until, number, operator, topic, outcome, limit, ctx.config.tz
    )
    return await _search(request, who, q)


@recordings_router.get("/{recording_id}", response_model=RecordingOut, summary="One recording")
async def get_recording(
    request: Request, recording_id: RecordingId, who: Annotated[Principal, _PLAY]
) -> RecordingOut:
    found = await blocking(find_recording, context_of(request).db, recording_id)
    item = _out(_visible(found, who), who)
    await _personal_data_viewed(request, who, [item], f"recording:{recording_id}")
    return item


@recordings_router.post(
    "/{recording_id}/access",
    response_model=AccessOut,
    summary="Give the reason for playing or downloading; audited; returns the URL",
    responses={400: {"description": "reason_required"}, 410: {"description": "deleted"}},
)
async def access_recording(
    request: Request,
    recording_id: RecordingId,
    body: AccessIn,
    who: Annotated[Principal, _PLAY],
) -> AccessOut:
    if body.download and not who.has(Permission.RECORDINGS_DOWNLOAD):
        raise ApiError(ErrorCode.FORBIDDEN)
    ctx = context_of(request)
    found = _visible(await blocking(find_recording, ctx.db, recording_id), who)
    if found.deleted:
        raise ApiError(ErrorCode.NOT_FOUND, status=410)
    path = resolve_file(found.path, admin_paths_of(request).recordings_dir)
    if path is None or not await blocking(path.is_file):
        raise ApiError(ErrorCode.NOT_FOUND)
    await record_recording_access(request, who, recording_id, body.reason, download=body.download)
    purpose, ttl = (DOWNLOAD, DOWNLOAD_TTL) if body.download else (PLAY, PLAY_TTL)
    expires_at = ctx.clock.utcnow() + ttl
    token = sign_access(who.csrf_token, recording_id, purpose, int(expires_at.timestamp()))
    tail = "file" if body.download else "audio"
    return AccessOut(
        url=f"/api/v1/recordings/{recording_id}/{tail}?token={token}", expires_at=expires_at
    )


async def _serve(
    request: Request, who: Principal, recording_id: str, token: str, purpose: str
) -> Response:
    ctx = context_of(request)
    if not verify_access(who.csrf_token, recording_id, purpose, token, ctx.clock.utcnow()):
        raise ApiError(ErrorCode.REASON_REQUIRED)
    found = _visible(await blocking(find_recording, ctx.db, recording_id), who)
    if found.deleted:
        raise ApiError(ErrorCode.NOT_FOUND, status=410)
    path = resolve_file(found.path, admin_paths_of(request).recordings_dir)
    if path is None or not await blocking(path.is_file):
        raise ApiError(ErrorCode.NOT_FOUND)
    disposition = "attachment" if purpose == DOWNLOAD else "inline"
    return FileResponse(
        path,
        media_type="audio/wav",
        filename=f"recording-{found.call_id or recording_id}.wav",
        content_disposition_type=disposition,
        headers={"Cache-Control": "no-store"},
    )


Token = Annotated[str, Query(min_length=3, max_length=100)]


@recordings_router.get(
    "/{recording_id}/audio",
    summary="The recording for the player (HTTP Range); needs the token from /access",
    response_class=Response,
    responses={206: {"description": "a byte range"}, 416: {"description": "bad range"}},
)
async def recording_audio(
    request: Request, recording_id: RecordingId, token: Token, who: Annotated[Principal, _PLAY]
) -> Response:
    return await _serve(request, who, recording_id, token, PLAY)


@recordings_router.get(
    "/{recording_id}/file",
    summary="Download the recording; needs the token from /access with download=true",
    response_class=Response,
)
async def recording_file(
    request: Request, recording_id: RecordingId, token: Token, who: Annotated[Principal, _DOWNLOAD]
) -> Response:
    return await _serve(request, who, recording_id, token, DOWNLOAD)


recordings_pages_router = APIRouter(include_in_schema=False)


@recordings_pages_router.get("/recordings", response_class=HTMLResponse)
async def recordings_page(
    request: Request,
    who: Annotated[Principal, _PLAY],
    since: Annotated[str | None, Query(max_length=32)] = None,
    until: Annotated[str | None, Query(max_length=32)] = None,
    number: Text64 = None,
    operator: Text64 = None,
    topic: Text64 = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    ctx = context_of(request)
    now, tz = ctx.clock.utcnow(), ctx.config.tz
    filters = {
        "since": since or "",
        "until": until or "",
        "number": number or "",
        "operator": operator or "",
        "topic": topic or "",
        "outcome": outcome or "",
    }
    error = False
    items: list[RecordingOut] = []
    try:
        q = query_of(
            now,
            datetime.fromisoformat(since) if since else None,
            datetime.fromisoformat(until) if until else None,
            number,
            operator,
            topic,
            CdrOutcome(outcome) if outcome else None,
            tz=tz,
        )
        items = await _search(request, who, q)
    except (ValueError, ApiError):
        error = True
    return render(
        request,
        "recordings.html",
        who,
        items=items,
        filters=filters,
        error=error,
        outcomes=[(o.value, f"outcome.{o.value}") for o in CdrOutcome],
        outcome_keys={o.value: f"outcome.{o.value}" for o in CdrOutcome},
        may_download=who.has(Permission.RECORDINGS_DOWNLOAD),
        tz=tz,
        zone=zone_label(tz, now, now + timedelta(microseconds=1)),
    )
