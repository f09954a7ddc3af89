"""Recordings: search with masking and medical secrecy, access with a reason, Range playback."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.store.projection_queries import ProjectionQueries
from hotline.store.retention import RetentionLogRow
from hotline.web.admin_live import AdminPaths, install_admin_paths
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from hotline.web.recordings import sign_access, verify_access
from unit.web.admin_support import audit_rows, session
from unit.web.conftest import Health
from unit.web.recordings_support import RECORDING, call_events, store_events
from unit.web.web_support import FAST_HASHER, START

CALLED_AT = START - timedelta(hours=2)


@dataclass
class World:
    app: FastAPI
    db: Database
    social: str  # recording ids
    health: str
    gone: str
    directory: Path


@pytest.fixture
async def world(db: Database, clock: FakeClock, config: WebConfig, tmp_path: Path) -> World:
    directory = tmp_path / "recordings"
    directory.mkdir()
    events = []
    ids = []
    for n, (topic, caller) in enumerate(
        [("social", "+79161234567"), ("health", "+79031112233"), ("social", "+79998887766")]
    ):
        evs, rid = call_events(
            f"call-{n}",
            at=CALLED_AT + timedelta(minutes=n),
            caller=caller,
            topic=topic,
            operator="101",
            path=directory / f"call-{n}.wav",
        )
        events += evs
        ids.append(rid)
    await store_events(db, tmp_path / "journal.jsonl", events)
    with db.session() as s, s.begin():  # retention removed the third call's recording
        s.add(
            RetentionLogRow(
                at=START,
                action="recording_deleted",
                event_id=ids[2],
                call_id="call-2",
                topic="social",
                target=str(directory / "call-2.wav"),
                reason="expired",
            )
        )
    (directory / "call-2.wav").unlink()
    app = create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_admin_paths(AdminPaths(recordings_dir=directory))],
    )
    return World(app, db, ids[0], ids[1], ids[2], directory)


async def test_search_masks_numbers_and_hides_medical_calls(world: World) -> None:
    since = (CALLED_AT - timedelta(hours=1)).isoformat()
    async with session(world.app, "supervisor") as supervisor:
        found = (await supervisor.http.get("/api/v1/recordings", params={"since": since})).json()
        assert {r["recording_id"] for r in found} == {world.social, world.gone}
        by_id = {r["recording_id"]: r for r in found}
        assert by_id[world.social]["caller"] == "+79161234567"  # supervisors see numbers
        assert by_id[world.gone]["deleted"] is True and by_id[world.social]["deleted"] is False
        assert by_id[world.social]["operator_id"] == "101"
        assert by_id[world.social]["outcome"] == "answered"
        one = await supervisor.http.get(
            "/api/v1/recordings", params={"since": since, "number": "1234567"}
        )
        assert [r["recording_id"] for r in one.json()] == [world.social]
        assert (await supervisor.http.get(f"/api/v1/recordings/{world.health}")).status_code == 404
        r = await supervisor.post(f"/api/v1/recordings/{world.health}/access", {"reason": "жалоба"})
        assert r.status_code == 404
    async with session(world.app, "medic") as medic:
        found = (await medic.http.get("/api/v1/recordings", params={"since": since})).json()
        assert world.health in {r["recording_id"] for r in found}
        assert (await medic.http.get(f"/api/v1/recordings/{world.health}")).status_code == 200
    viewed = audit_rows(world.db, "personal_data.viewed")
    assert [(e.actor, e.object) for e in viewed][:2] == [
        ("medic", f"recording:{world.health}"),
        ("medic", "recordings:search"),
    ]
    assert viewed[0].details == {"calls": ["call-1"], "count": 1}


async def test_numbers_are_masked_without_personal_data_permission(world: World) -> None:
    async with session(world.app, "admin") as admin:  # no recordings permission at all
        assert (await admin.http.get("/api/v1/recordings")).status_code == 403
    async with session(world.app, "supervisor") as supervisor:
        item = (await supervisor.http.get(f"/api/v1/recordings/{world.social}")).json()
    assert item["caller"] == "+79161234567"
    from hotline.web.masking import number_for
    from hotline.web.permissions import Permission

    assert number_for({Permission.RECORDINGS_PLAY}, item["caller"]) == "+7 916 ***-**-67"


async def test_access_needs_a_reason_and_is_audited(world: World) -> None:
    async with session(world.app, "supervisor") as supervisor:
        url = f"/api/v1/recordings/{world.social}/access"
        for body in ({}, {"reason": ""}, {"reason": "  a "}):
            r = await supervisor.post(url, body)
            assert r.status_code == 400 and r.json()["code"] == "reason_required", body
        assert audit_rows(world.db, "recording.played") == []
        r = await supervisor.post(url, {"reason": "Проверка жалобы № 12"})
        assert r.status_code == 200
        play_url = r.json()["url"]
        r = await supervisor.post(url, {"reason": "Запрос прокуратуры", "download": True})
        download_url = r.json()["url"]
        assert (await supervisor.http.get(play_url)).content == RECORDING
        got = await supervisor.http.get(download_url)
        assert got.headers["content-disposition"].startswith("attachment")
        assert got.content == RECORDING
        gone = await supervisor.post(f"/api/v1/recordings/{world.gone}/access", {"reason": "нужно"})
        assert gone.status_code == 410
    played = audit_rows(world.db, "recording.played")
    downloaded = audit_rows(world.db, "recording.downloaded")
    assert [(e.object, e.reason, e.actor) for e in played] == [
        (f"recording:{world.social}", "Проверка жалобы № 12", "supervisor")
    ]
    assert [e.reason for e in downloaded] == ["Запрос прокуратуры"]


async def test_audio_without_a_valid_token_is_refused(world: World) -> None:
    async with session(world.app, "supervisor") as supervisor:
        base = f"/api/v1/recordings/{world.social}/audio"
        assert (await supervisor.http.get(base)).status_code == 422
        r = await supervisor.http.get(base, params={"token": "123.abc"})
        assert r.status_code == 400 and r.json()["code"] == "reason_required"
        r = await supervisor.post(
            f"/api/v1/recordings/{world.social}/access", {"reason": "проверка"}
        )
        play_url = r.json()["url"]
        file_url = play_url.replace("/audio?", "/file?")  # a play token does not download
        assert (await supervisor.http.get(file_url)).status_code == 400
    async with session(world.app, "medic") as medic:  # another session: the token is not its own
        assert (await medic.http.get(play_url)).status_code == 400


async def test_range_requests_let_the_player_seek(world: World) -> None:
    async with session(world.app, "supervisor") as supervisor:
        r = await supervisor.post(
            f"/api/v1/recordings/{world.social}/access", {"reason": "проверка"}
        )
        url = r.json()["url"]
        whole = await supervisor.http.get(url)
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-type"] == "audio/wav"
        part = await supervisor.http.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(RECORDING)}"
        assert part.content == RECORDING[1000:2000]
        tail = await supervisor.http.get(url, headers={"Range": "bytes=-44"})
        assert tail.status_code == 206 and tail.content == RECORDING[-44:]
        bad = await supervisor.http.get(url, headers={"Range": f"bytes={len(RECORDING)}-"})
        assert bad.status_code == 416
    with wave.open(io.BytesIO(whole.content), "rb") as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 8000)  # both channels served
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    for channel, freq in ((0, 1000.0), (1, 600.0)):
        spectrum = np.abs(np.fft.rfft(pcm[:, channel].astype(float)))
        assert abs(np.argmax(spectrum) * 8000 / len(pcm) - freq) < 2.0


def test_access_tokens_expire_and_bind_their_purpose() -> None:
    now = START
    token = sign_access("secret", "r1", "play", int(now.timestamp()) + 60)
    assert verify_access("secret", "r1", "play", token, now)
    assert not verify_access("secret", "r1", "download", token, now)
    assert not verify_access("secret", "r2", "play", token, now)
    assert not verify_access("other", "r1", "play", token, now)
    assert not verify_access("secret", "r1", "play", token, now + timedelta(seconds=61))
    assert not verify_access("secret", "r1", "play", "9" * 40 + ".x", now)


async def test_a_path_outside_the_recordings_directory_is_not_served(
    db: Database, clock: FakeClock, config: WebConfig, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.wav"
    events, rid = call_events(
        "call-x", at=CALLED_AT, caller="+79160000000", topic="social", operator="101", path=outside
    )
    await store_events(db, tmp_path / "journal.jsonl", events)
    (tmp_path / "recordings").mkdir()
    app = create_web_app(
        config,
        db,
        clock,
        hasher=FAST_HASHER,
        extra=[install_admin_paths(AdminPaths(recordings_dir=tmp_path / "recordings"))],
    )
    async with session(app, "supervisor") as supervisor:
        r = await supervisor.post(f"/api/v1/recordings/{rid}/access", {"reason": "проверка"})
        assert r.status_code == 404
    assert audit_rows(db, "recording.played") == []


async def test_recordings_page_shows_results_and_deleted_ones(world: World) -> None:
    since = (CALLED_AT - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    async with session(world.app, "supervisor") as supervisor:
        page = await supervisor.http.get("/recordings", params={"since": since})
        assert page.status_code == 200
        assert f'data-id="{world.social}"' in page.text
        assert "удалена по сроку хранения" in page.text
        assert world.health not in page.text
        assert "+79161234567" in page.text
        assert 'href="/recordings"' in page.text  # the navigation entry
        bad = await supervisor.http.get("/recordings", params={"since": "nonsense"})
        assert bad.status_code == 200 and 'id="recordings-error"' in bad.text
    async with session(world.app, "auditor") as auditor:
        assert (await auditor.http.get("/recordings")).status_code == 403


async def test_search_reads_the_projection_when_it_is_current(
    db: Database, clock: FakeClock, config: WebConfig, tmp_path: Path
) -> None:
    events, rid = call_events(
        "call-p",
        at=CALLED_AT,
        caller="+79161234567",
        topic="social",
        operator="101",
        path=tmp_path / "p.wav",
    )
    medical, hidden = call_events(
        "call-m",
        at=CALLED_AT,
        caller="+79031112233",
        topic="health",
        operator="102",
        path=tmp_path / "m.wav",
    )
    await store_events(db, tmp_path / "journal.jsonl", events + medical, projected=True)
    assert ProjectionQueries(db).is_current()
    app = create_web_app(config, db, clock, hasher=FAST_HASHER)
    since = (CALLED_AT - timedelta(hours=1)).isoformat()
    async with session(app, "supervisor") as supervisor:
        found = (await supervisor.http.get("/api/v1/recordings", params={"since": since})).json()
        by_operator = await supervisor.http.get(
            "/api/v1/recordings", params={"since": since, "operator": "101"}
        )
    assert [(r["recording_id"], r["caller"], r["outcome"]) for r in found] == [
        (rid, "+79161234567", "answered")
    ]
    assert [r["recording_id"] for r in by_operator.json()] == [rid]
    assert hidden not in str(found)


async def test_the_page_reads_and_shows_the_service_s_local_time(
    world: World, clock: FakeClock, config: WebConfig
) -> None:
    from dataclasses import replace
    from zoneinfo import ZoneInfo

    moscow = ZoneInfo("Europe/Moscow")
    app = create_web_app(
        replace(config, tz=moscow),
        world.db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_admin_paths(AdminPaths(recordings_dir=world.directory))],
    )
    local = CALLED_AT.astimezone(moscow)
    just_before = (local - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")  # 3 h later in UTC
    async with session(app, "supervisor") as supervisor:
        page = await supervisor.http.get("/recordings", params={"since": just_before})
        assert f'data-id="{world.social}"' in page.text  # read as Moscow time, not UTC
        assert local.strftime("%Y-%m-%d %H:%M:%S") in page.text
        assert "Europe/Moscow, UTC+03:00" in page.text
        later = (local + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
        page = await supervisor.http.get("/recordings", params={"since": later})
        assert f'data-id="{world.social}"' not in page.text
        api = await supervisor.http.get("/api/v1/recordings", params={"since": just_before})
        assert api.status_code == 200 and world.social in api.text
