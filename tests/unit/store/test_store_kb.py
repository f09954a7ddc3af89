"""The standard answers table (R12b): repository round trips, disabling, limits, the demo's load."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect

from hotline.app.cli_kb import entries_to_stored, load_packaged_kb, stored_to_entries
from hotline.app.demo import load_demo_standard_answers
from hotline.core.errors import ConfigurationError
from hotline.store.db import Database
from hotline.store.kb import MAX_QUESTIONS, StandardAnswersRepository, StoredAnswer

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PENSION = StoredAnswer(
    id="social-02",
    topic="social",
    title="Назначение пенсии",
    questions=("Как оформить пенсию?", "Куда подавать на пенсию?"),
    answer="Заявление подают на Госуслугах или в МФЦ.",
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'h.db'}")
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def repo(db: Database) -> StandardAnswersRepository:
    return StandardAnswersRepository(db)


def test_migration_creates_the_table(db: Database) -> None:
    columns = {c["name"] for c in inspect(db.engine).get_columns("standard_answers")}
    assert columns == {
        "id",
        "topic",
        "title",
        "questions",
        "answer",
        "escalate",
        "enabled",
        "updated_at",
        "updated_by",
    }


def test_upsert_get_and_replace(repo: StandardAnswersRepository) -> None:
    repo.upsert(PENSION, updated_by="admin", now=T0)
    stored = repo.get("social-02")
    assert stored == PENSION
    assert stored is not None
    assert stored.updated_at == T0
    assert stored.updated_by == "admin"
    assert repo.get("nothing") is None
    changed = StoredAnswer(
        "social-02", "social", "Пенсия", ("Пенсия?",), "Новый текст.", escalate=True
    )
    repo.upsert(changed, updated_by="editor", now=T0)
    assert repo.list() == [changed]
    assert repo.list()[0].escalate is True


def test_disable_hides_from_enabled_list(repo: StandardAnswersRepository) -> None:
    other = StoredAnswer("health-01", "health", "Запись к врачу", ("Как записаться?",), "Так.")
    assert repo.import_answers([PENSION, other], updated_by="cli", now=T0) == 2
    assert repo.disable("social-02", updated_by="admin", now=T0)
    assert not repo.disable("nothing")
    assert [a.id for a in repo.list()] == ["health-01", "social-02"]
    assert [a.id for a in repo.list(enabled_only=True)] == ["health-01"]
    assert [a.id for a in repo.list(topic="social")] == ["social-02"]
    disabled = repo.get("social-02")
    assert disabled is not None
    assert disabled.enabled is False
    assert disabled.updated_by == "admin"
    repo.clear()
    assert repo.list() == []


@pytest.mark.parametrize(
    ("fields", "setting"),
    [
        ({"id": " "}, "standard_answer.id"),
        ({"questions": ()}, "standard_answer[social-02].questions"),
        ({"questions": ("q",) * (MAX_QUESTIONS + 1)}, "standard_answer[social-02].questions"),
        ({"answer": "а" * 5000}, "standard_answer.answer"),
        ({"questions": ("",)}, "standard_answer[social-02].questions"),
    ],
)
def test_limits(fields: dict[str, object], setting: str) -> None:
    values: dict[str, object] = {
        "id": PENSION.id,
        "topic": PENSION.topic,
        "title": PENSION.title,
        "questions": PENSION.questions,
        "answer": PENSION.answer,
    }
    values.update(fields)
    with pytest.raises(ConfigurationError) as info:
        StoredAnswer(**values)  # type: ignore[arg-type]
    assert setting in str(info.value)


def test_demo_loads_the_packaged_answers_with_queue_topics(
    repo: StandardAnswersRepository,
) -> None:
    assert load_demo_standard_answers(repo) == 45
    answers = repo.list(enabled_only=True)
    assert len(answers) == 45
    assert Counter(a.topic for a in answers) == {
        "social": 9,
        "health": 9,
        "education": 9,
        "military": 9,
        "services": 9,  # the demo's queue topic for state_services
    }
    assert all(a.updated_by == "demo" for a in answers)
    # back to the file's form, topics mapped back
    entries = stored_to_entries(answers, file_topics=True)
    by_id = {e.id: e for e in entries}
    assert by_id == {e.id: e for e in load_packaged_kb()}
    assert entries_to_stored(load_packaged_kb())[-1].topic == "services"
