"""Standard answers changed in the administration reach the voice assistant without a restart.

A real :class:`~hotline.app.stored_config.LiveAnswers` builds real
:class:`~hotline.bot.kb_match.KbMatcher` objects on a fake embedder (hashed
character trigrams) through the embeddings cache; the database is the real
one behind the administration API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.cli_kb import stored_to_entries
from hotline.app.stored_config import AnswerTexts, LiveAnswers
from hotline.bot.kb_embed import CachedEmbedder
from hotline.bot.kb_index import FloatArray
from hotline.bot.kb_match import KbMatcher
from hotline.bot.kb_text import Lemmatizer, char_ngrams, words
from hotline.bot.ports import AnswerMatcher
from hotline.core.clock import FakeClock
from hotline.core.errors import HotlineError
from hotline.store.db import Database
from hotline.store.kb import StandardAnswersRepository, StoredAnswer
from hotline.web.admin_live import AcdLiveConfiguration, install_live_configuration
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.admin_support import session
from unit.web.conftest import Health
from unit.web.web_support import FAST_HASHER

DIM = 128
PENSION = StoredAnswer(
    id="pension",
    topic="social",
    title="Пенсия",
    questions=("как оформить пенсию по старости",),
    answer="Пенсию оформляют в Социальном фонде.",
)
PASSPORT = StoredAnswer(
    id="passport",
    topic="services",
    title="Паспорт",
    questions=("как заменить паспорт в сорок пять лет",),
    answer="Паспорт меняют в МФЦ.",
)
PARKING = StoredAnswer(
    id="parking",
    topic="services",
    title="Парковка",
    questions=("где получить разрешение на парковку для инвалида",),
    answer="Разрешение выдаёт МФЦ.",
)


class HashedTrigrams:
    """Deterministic stand-in sentence embeddings; counts the texts it embeds."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def _one(self, text: str) -> FloatArray:
        vector = np.zeros(DIM, dtype=np.float32)
        for gram in char_ngrams(words(text), 3):
            vector[hashlib.blake2s(gram.encode(), digest_size=2).digest()[0] % DIM] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def queries(self, texts: Sequence[str]) -> FloatArray:
        return np.stack([self._one(t) for t in texts])

    def passages(self, texts: Sequence[str]) -> FloatArray:
        self.embedded += texts
        return np.stack([self._one(t) for t in texts])


@pytest.fixture(scope="module")
def lemmatizer() -> Lemmatizer:
    return Lemmatizer()


class Assistant:
    """What the call service keeps: the installed matcher, and the build's inputs."""

    def __init__(self, lemmatizer: Lemmatizer, cache: Path) -> None:
        self.stored: list[StoredAnswer] = []
        self.embedder = HashedTrigrams()
        self.lemmatizer = lemmatizer
        self.cache = cache
        self.matcher: AnswerMatcher | None = None
        self.installs = 0
        self.builds: list[tuple[str, ...]] = []
        self.fail_next = False
        self.gate: threading.Event | None = None  # a build waits for it
        self.entered = threading.Event()

    def load(self) -> list[StoredAnswer]:
        return list(self.stored)

    def build(self, stored: Sequence[StoredAnswer]) -> AnswerMatcher:
        """Like ``cli_kb.build_matcher``: a new cached embedder from the file, saved after."""
        self.builds.append(tuple(a.id for a in stored))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=5.0)
        if self.fail_next:
            self.fail_next = False
            raise HotlineError("the embedding model did not load")
        embedder = CachedEmbedder(self.embedder, self.cache)
        matcher = KbMatcher.build(stored_to_entries(stored), embedder, lemmatizer=self.lemmatizer)
        embedder.save()
        return matcher

    def install(self, matcher: AnswerMatcher | None) -> None:
        self.matcher = matcher
        self.installs += 1

    def answer_to(self, question: str) -> str | None:
        assert self.matcher is not None
        return self.matcher.match(question).answer_id


@pytest.fixture
def assistant(lemmatizer: Lemmatizer, tmp_path: Path) -> Assistant:
    return Assistant(lemmatizer, tmp_path / "kb-embeddings.npz")


@pytest.fixture
def live(assistant: Assistant) -> LiveAnswers:
    return LiveAnswers(assistant.load, assistant.build, assistant.install)


def test_answer_texts_are_replaced_whole_and_skip_disabled_answers() -> None:
    texts = AnswerTexts([PENSION, PASSPORT])
    assert texts("pension") == PENSION.answer and len(texts) == 2
    texts.replace([PENSION, dataclasses.replace(PASSPORT, enabled=False)])
    assert texts("passport") is None and texts("pension") == PENSION.answer
    assert len(texts) == 1


async def test_before_start_a_request_builds_nothing_and_start_builds_once(
    live: LiveAnswers, assistant: Assistant
) -> None:
    assistant.stored = [PENSION, PASSPORT]
    assert live.request() is True
    assert not live.running and assistant.builds == []
    await live.start()
    assert assistant.builds == [("pension", "passport")] and live.rebuilds == 1
    assert assistant.answer_to("как оформить пенсию по старости") == "pension"
    assert live.texts("passport") == PASSPORT.answer
    await live.aclose()


async def test_an_added_answer_is_matched_after_the_rebuild_and_only_new_texts_are_embedded(
    live: LiveAnswers, assistant: Assistant
) -> None:
    assistant.stored = [PENSION, PASSPORT]
    await live.start()
    first = assistant.embedder.embedded[:]
    old = assistant.matcher
    assistant.stored = [PENSION, PASSPORT, PARKING]
    assistant.embedder.embedded.clear()
    assert live.request() is True and live.running
    await live.wait()
    assert live.rebuilds == 2
    assert assistant.matcher is not old  # swapped: the next question takes the new one
    assert assistant.answer_to("разрешение на парковку для инвалида") == "parking"
    assert live.texts("parking") == PARKING.answer
    new_texts = set(assistant.embedder.embedded)
    assert new_texts and not new_texts & set(first)  # the cache file had the others
    assert all("арков" in t or "азрешени" in t for t in new_texts)
    assert old is not None and old.match("разрешение на парковку").answer_id != "parking"
    await live.aclose()


async def test_a_disabled_answer_loses_its_text_and_its_match(
    live: LiveAnswers, assistant: Assistant
) -> None:
    assistant.stored = [PENSION, PASSPORT]
    await live.start()
    assistant.stored = [PENSION]
    live.request()
    await live.wait()
    assert live.texts("passport") is None
    assert assistant.answer_to("как заменить паспорт в сорок пять лет") != "passport"
    assistant.stored = []
    live.request()
    await live.wait()
    assert assistant.matcher is None and len(live.texts) == 0  # no answers: hand over
    assert assistant.installs == 3
    await live.aclose()


async def test_edits_during_a_rebuild_coalesce_into_one_more_rebuild(
    live: LiveAnswers, assistant: Assistant
) -> None:
    assistant.stored = [PENSION]
    await live.start()
    assistant.gate = threading.Event()
    assistant.entered.clear()
    assistant.stored = [PENSION, PASSPORT]
    live.request()
    assert await asyncio.to_thread(assistant.entered.wait, 5.0)
    for answers in ([PENSION], [PASSPORT], [PENSION, PASSPORT, PARKING]):
        assistant.stored = answers
        assert live.request() is True
    assistant.gate.set()
    await live.wait()
    assert assistant.builds == [
        ("pension",),
        ("pension", "passport"),
        ("pension", "passport", "parking"),
    ]
    assert live.rebuilds == 3 and live.texts("parking") == PARKING.answer
    await live.aclose()


async def test_a_failing_rebuild_keeps_the_old_matcher_and_texts(
    live: LiveAnswers, assistant: Assistant
) -> None:
    assistant.stored = [PENSION, PASSPORT]
    await live.start()
    old = assistant.matcher
    assistant.stored = [PARKING]
    assistant.fail_next = True
    live.request()
    await live.wait()
    assert live.failures == 1 and live.rebuilds == 1
    assert assistant.matcher is old and live.texts("pension") == PENSION.answer
    assert live.texts("parking") is None
    live.request()  # the next change (or a retry) builds again
    await live.wait()
    assert live.texts("parking") == PARKING.answer and assistant.answer_to("парковка") == "parking"
    await live.aclose()


async def test_closing_cancels_a_rebuild_and_later_requests_do_nothing(
    live: LiveAnswers, assistant: Assistant
) -> None:
    assistant.stored = [PENSION]
    await live.start()
    await live.aclose()
    assistant.stored = [PASSPORT]
    assert live.request() is True
    assert not live.running and live.texts("pension") == PENSION.answer


# -- through the administration API ----------------------------------------------------------


def test_without_an_answers_target_the_adapter_says_not_applied(clock: FakeClock) -> None:
    assert AcdLiveConfiguration(AcdService(AcdEngine(), clock)).reload_answers() is False


@pytest.fixture
def db_live(db: Database, lemmatizer: Lemmatizer, tmp_path: Path) -> tuple[Assistant, LiveAnswers]:
    assistant = Assistant(lemmatizer, tmp_path / "kb-embeddings.npz")
    repo = StandardAnswersRepository(db)
    live = LiveAnswers(lambda: repo.list(enabled_only=True), assistant.build, assistant.install)
    return assistant, live


@pytest.fixture
def app(
    db: Database, clock: FakeClock, config: WebConfig, db_live: tuple[Assistant, LiveAnswers]
) -> FastAPI:
    live = AcdLiveConfiguration(AcdService(AcdEngine(), clock), answers=db_live[1].request)
    return create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_live_configuration(live)],
    )


async def test_the_assistant_answers_as_the_administrator_left_the_answers(
    app: FastAPI, db_live: tuple[Assistant, LiveAnswers]
) -> None:
    assistant, live = db_live
    await live.start()
    url = "/api/v1/admin/answers/parking"
    body = {
        "topic": "services",
        "title": PARKING.title,
        "questions": list(PARKING.questions),
        "answer": PARKING.answer,
    }
    async with session(app, "admin") as admin:
        r = await admin.put(url, body)
        assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
        await live.wait()
        assert assistant.answer_to("разрешение на парковку для инвалида") == "parking"
        assert live.texts("parking") == PARKING.answer
        r = await admin.put(url, {**body, "answer": "Разрешение выдаёт Госуслуги."})
        await live.wait()
        assert live.texts("parking") == "Разрешение выдаёт Госуслуги."
        r = await admin.post(f"{url}/disable")
        assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
        await live.wait()
    assert live.texts("parking") is None
    assert assistant.matcher is None or assistant.answer_to("парковка") != "parking"
    await live.aclose()
