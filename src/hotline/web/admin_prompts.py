"""Administration of voice prompts: upload a WAV, or render one from text.

An uploaded file may be any WAV the prompt loader reads (8-48 kHz, mono or
stereo, integer/float PCM, A-law, µ-law); it is converted **once** to 8 kHz
mono 16-bit PCM (:func:`hotline.media.prompts.load_prompt`) and stored as
``<prompts_dir>/custom/<prompt_id>.wav``, the id a flow names.  A prompt from
text is rendered by the TTS prompt cache and stored the same way.  The
request body limit of the app (1 MiB by default) bounds an upload.
"""

from __future__ import annotations

import tempfile
import wave
from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter, File, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from hotline.core.errors import ConfigurationError, HotlineError
from hotline.media.prompts import TARGET_RATE_HZ, PromptError, load_prompt
from hotline.store.audit import AuditAction
from hotline.web.admin_common import ADMIN_CONFIG, blocking, invalid
from hotline.web.admin_live import admin_paths_of
from hotline.web.audit_api import record
from hotline.web.auth import Principal
from hotline.web.errors import ApiError, ErrorCode

__all__ = ["PromptOut", "PromptText", "admin_prompts_router", "prompt_ids", "store_prompt"]

CUSTOM_DIR: Final = "custom"
MAX_UPLOAD_BYTES: Final = 16 * 1024 * 1024
MAX_PROMPTS: Final = 10_000
ID_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"


class PromptOut(BaseModel):
    prompt_id: str
    duration_s: float
    size_bytes: int


class PromptText(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


def _custom(prompts_dir: Path | None) -> Path:
    if prompts_dir is None:
        raise ApiError(ErrorCode.UNAVAILABLE)
    return prompts_dir / CUSTOM_DIR


def prompt_ids(prompts_dir: Path | None) -> list[str]:
    """Ids of the stored prompts (blocking)."""
    if prompts_dir is None or not (prompts_dir / CUSTOM_DIR).is_dir():
        return []
    return sorted(p.stem for p in (prompts_dir / CUSTOM_DIR).glob("*.wav"))[:MAX_PROMPTS]


def store_prompt(source: Path, target: Path) -> PromptOut:
    """Convert ``source`` to 8 kHz mono 16-bit PCM at ``target`` (blocking).

    Raises :class:`ConfigurationError` naming the problem when the file is refused.
    """
    try:
        pcm = load_prompt(source)
    except PromptError as exc:
        raise ConfigurationError("file", str(exc).replace(str(source), "").strip(" :")) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(TARGET_RATE_HZ)
        out.writeframes(pcm.astype("<i2").tobytes())
    partial.replace(target)
    return PromptOut(
        prompt_id=target.stem,
        duration_s=len(pcm) / TARGET_RATE_HZ,
        size_bytes=target.stat().st_size,
    )


def _describe(path: Path) -> PromptOut:
    with wave.open(str(path), "rb") as reader:
        duration = reader.getnframes() / reader.getframerate()
    return PromptOut(prompt_id=path.stem, duration_s=duration, size_bytes=path.stat().st_size)


def _list(prompts_dir: Path | None) -> list[PromptOut]:
    if prompts_dir is None:
        return []
    found = []
    for prompt_id in prompt_ids(prompts_dir):
        try:
            found.append(_describe(prompts_dir / CUSTOM_DIR / f"{prompt_id}.wav"))
        except (OSError, wave.Error, EOFError, ZeroDivisionError):
            continue
    return found


admin_prompts_router = APIRouter(prefix="/api/v1/admin/prompts", tags=["admin"])
PromptId = Annotated[str, PathParam(pattern=ID_PATTERN)]


@admin_prompts_router.get("", response_model=list[PromptOut], summary="Stored prompts")
async def list_prompts(
    request: Request, who: Annotated[Principal, ADMIN_CONFIG]
) -> list[PromptOut]:
    return await blocking(_list, admin_paths_of(request).prompts_dir)


@admin_prompts_router.get("/{prompt_id}/audio", summary="Listen to a stored prompt")
async def prompt_audio(
    request: Request, prompt_id: PromptId, who: Annotated[Principal, ADMIN_CONFIG]
) -> Response:
    path = _custom(admin_paths_of(request).prompts_dir) / f"{prompt_id}.wav"
    if not await blocking(path.is_file):
        raise ApiError(ErrorCode.NOT_FOUND)
    return FileResponse(path, media_type="audio/wav")


async def _audit(request: Request, who: Principal, out: PromptOut, how: str) -> None:
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"prompt:{out.prompt_id}",
        details={"source": how, "duration_s": round(out.duration_s, 3)},
    )


@admin_prompts_router.post(
    "/{prompt_id}",
    response_model=PromptOut,
    summary="Upload a WAV prompt (converted once to 8 kHz mono)",
    responses={422: {"description": "the file is not a usable WAV"}},
)
async def upload_prompt(
    request: Request,
    prompt_id: PromptId,
    file: Annotated[UploadFile, File(description="a WAV file")],
    who: Annotated[Principal, ADMIN_CONFIG],
) -> PromptOut | JSONResponse:
    target = _custom(admin_paths_of(request).prompts_dir) / f"{prompt_id}.wav"
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "upload.wav"
        await blocking(source.write_bytes, data)
        try:
            out = await blocking(store_prompt, source, target)
        except ConfigurationError as exc:
            return invalid(request, exc)
    await _audit(request, who, out, "upload")
    return out


@admin_prompts_router.post(
    "/{prompt_id}/tts",
    response_model=PromptOut,
    summary="Render a prompt from Russian text (TTS prompt cache)",
)
async def render_prompt(
    request: Request, prompt_id: PromptId, body: PromptText, who: Annotated[Principal, ADMIN_CONFIG]
) -> PromptOut | JSONResponse:
    paths = admin_paths_of(request)
    target = _custom(paths.prompts_dir) / f"{prompt_id}.wav"
    if paths.tts is None:
        raise ApiError(ErrorCode.UNAVAILABLE)
    try:
        rendered = await paths.tts.render(body.text)
    except (HotlineError, OSError):
        raise ApiError(ErrorCode.UNAVAILABLE) from None
    try:
        out = await blocking(store_prompt, rendered, target)
    except ConfigurationError as exc:
        return invalid(request, exc)
    await _audit(request, who, out, "tts")
    return out
