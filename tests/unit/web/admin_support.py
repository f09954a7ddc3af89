"""Helpers of the administration, recordings and report tests: a logged-in client per role."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import numpy as np
from fastapi import FastAPI

from hotline.store.audit import AuditEntry, AuditLog
from hotline.store.db import Database
from unit.web.conftest import client_for
from unit.web.web_support import log_in


@dataclass
class Session:
    http: httpx.AsyncClient
    csrf: str

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    async def put(self, url: str, body: object) -> httpx.Response:
        return await self.http.put(url, json=body, headers=self.headers())

    async def post(self, url: str, body: object = None) -> httpx.Response:
        return await self.http.post(url, json=body, headers=self.headers())

    async def patch(self, url: str, body: object) -> httpx.Response:
        return await self.http.patch(url, json=body, headers=self.headers())


@asynccontextmanager
async def session(app: FastAPI, username: str) -> AsyncIterator[Session]:
    async with client_for(app) as http:
        yield Session(http, await log_in(http, username))


def audit_rows(db: Database, action: str) -> list[AuditEntry]:
    return list(AuditLog(db).query(action=action, limit=500).items)


def wav_bytes(
    channels: Sequence[Callable[[np.ndarray], np.ndarray]], rate_hz: int, seconds: float
) -> bytes:
    """A 16-bit WAV with one generated signal per channel."""
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    data = np.stack([fn(t) for fn in channels], axis=1)
    pcm = np.clip(np.rint(data * 12000), -32768, 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def tone(freq_hz: float) -> Callable[[np.ndarray], np.ndarray]:
    def signal(t: np.ndarray) -> np.ndarray:
        return np.sin(2 * np.pi * freq_hz * t)

    return signal
