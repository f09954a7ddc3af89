"""Prompts (upload converted once to 8 kHz mono, TTS rendering) and the administration pages."""

from __future__ import annotations

import wave
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.web.admin_live import AdminPaths, install_admin_paths
from hotline.web.admin_pages import SECTIONS
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from hotline.web.i18n import MESSAGES_RU
from unit.web.admin_support import audit_rows, session, tone, wav_bytes
from unit.web.conftest import Health, Web
from unit.web.web_support import FAST_HASHER


class FakeSpeech:
    """Writes a 22.05 kHz WAV as a TTS engine would."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.texts: list[str] = []

    async def render(self, text: str, voice: str | None = None) -> Path:
        self.texts.append(text)
        path = self.directory / "tts.wav"
        path.write_bytes(wav_bytes([tone(300.0)], 22050, 0.5))
        return path


def _app(db: Database, clock: FakeClock, config: WebConfig, paths: AdminPaths) -> FastAPI:
    return create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_admin_paths(paths)],
    )


async def test_uploaded_prompt_is_converted_once_to_8khz_mono(
    db: Database, clock: FakeClock, config: WebConfig, tmp_path: Path
) -> None:
    speech = FakeSpeech(tmp_path)
    app = _app(db, clock, config, AdminPaths(prompts_dir=tmp_path / "prompts", tts=speech))
    upload = wav_bytes([tone(440.0), tone(440.0)], 16000, 1.0)
    async with session(app, "admin") as admin:
        r = await admin.http.post(
            "/api/v1/admin/prompts/welcome",
            files={"file": ("welcome.wav", upload, "audio/wav")},
            headers=admin.headers(),
        )
        assert r.status_code == 200, r.text
        assert r.json()["duration_s"] == 1.0
        r = await admin.http.post(
            "/api/v1/admin/prompts/broken",
            files={"file": ("x.wav", b"RIFF....not a wav", "audio/wav")},
            headers=admin.headers(),
        )
        assert r.status_code == 422 and r.json()["problems"][0]["setting"] == "file"
        r = await admin.post("/api/v1/admin/prompts/hello/tts", {"text": "Здравствуйте"})
        assert r.status_code == 200
        listed = (await admin.http.get("/api/v1/admin/prompts")).json()
        audio = await admin.http.get("/api/v1/admin/prompts/welcome/audio")
    assert [p["prompt_id"] for p in listed] == ["hello", "welcome"]
    assert speech.texts == ["Здравствуйте"]
    stored = tmp_path / "prompts" / "custom" / "welcome.wav"
    with wave.open(str(stored), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 8000, 2)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(pcm))
    assert abs(np.argmax(spectrum) * 8000 / len(pcm) - 440.0) < 2.0  # the tone survived
    assert audio.status_code == 200 and audio.content == stored.read_bytes()
    assert not (tmp_path / "prompts" / "custom" / "broken.wav").exists()
    assert {e.object for e in audit_rows(db, "config.changed")} == {
        "prompt:welcome",
        "prompt:hello",
    }


async def test_prompts_without_a_directory_are_unavailable(web: Web) -> None:
    async with session(web.app, "admin") as admin:
        r = await admin.post("/api/v1/admin/prompts/hello/tts", {"text": "Здравствуйте"})
        assert r.status_code == 503
        assert (await admin.http.get("/api/v1/admin/prompts")).json() == []


async def test_admin_pages_list_sections_and_say_what_applies_live(web: Web) -> None:
    async with session(web.app, "admin") as admin:
        home = await admin.http.get("/admin")
        assert home.status_code == 200
        for section in SECTIONS:
            assert f'href="/admin/{section.slug}"' in home.text
            page = await admin.http.get(f"/admin/{section.slug}")
            assert page.status_code == 200, section.slug
            assert MESSAGES_RU[section.live_key] in page.text
            assert f'data-list="{section.list_url}"' in page.text
            assert '<script type="module" src="/static/js/admin.js">' in page.text
        assert MESSAGES_RU["admin.live.off"] in home.text
    async with session(web.app, "supervisor") as supervisor:
        r = await supervisor.http.get("/admin/queues")
        assert r.status_code == 403


async def test_static_admin_script_is_served(client: httpx.AsyncClient) -> None:
    for path in ("/static/js/admin.js", "/static/js/recordings.js", "/static/css/admin.css"):
        r = await client.get(path)
        assert r.status_code == 200, path
