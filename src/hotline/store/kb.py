"""The standard answers (R12b): the knowledge base the voice assistant reads from.

One row per approved answer: its topic, a short title, the typical phrasings
of the question (a JSON list), the answer text as it is read aloud, whether the
question usually needs an operator (``escalate``), and whether the answer is in
use (``enabled``: disabled answers stay for the record but are never matched).
The web admin edits the rows; ``hotline kb import`` and ``hotline init --demo``
load them from a YAML file (parsed and validated by :mod:`hotline.bot.kb`; the
composition root converts its entries into :class:`StoredAnswer`).

Layer L2: a database adapter; rows never leave this module, the repository
returns frozen dataclasses.  The row is registered on :data:`Base.metadata` by
importing this module (the migration environment does so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Boolean, DateTime, Index, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from hotline.core.errors import ConfigurationError
from hotline.store.db import Database
from hotline.store.models import Base

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_ID_CHARS",
    "MAX_QUESTIONS",
    "MAX_QUESTION_CHARS",
    "MAX_TITLE_CHARS",
    "StandardAnswerRow",
    "StandardAnswersRepository",
    "StoredAnswer",
]

MAX_ID_CHARS: Final = 64
MAX_TOPIC_CHARS: Final = 64
MAX_TITLE_CHARS: Final = 200
MAX_QUESTIONS: Final = 50
MAX_QUESTION_CHARS: Final = 500
MAX_ANSWER_CHARS: Final = 4000
MAX_USER_CHARS: Final = 64


class StandardAnswerRow(Base):
    """One standard answer."""

    __tablename__ = "standard_answers"
    __table_args__ = (Index("ix_standard_answers_topic", "topic"),)

    id: Mapped[str] = mapped_column(String(MAX_ID_CHARS), primary_key=True)
    topic: Mapped[str] = mapped_column(String(MAX_TOPIC_CHARS))
    title: Mapped[str] = mapped_column(String(MAX_TITLE_CHARS))
    questions: Mapped[list[str]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    escalate: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(String(MAX_USER_CHARS), nullable=True)


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """A standard answer as the rest of the system sees it.

    ``updated_at``/``updated_by`` are filled in by the repository on read;
    values passed to :meth:`StandardAnswersRepository.upsert` are ignored.
    """

    id: str
    topic: str
    title: str
    questions: tuple[str, ...]
    answer: str
    escalate: bool = False
    enabled: bool = True
    updated_at: datetime | None = field(default=None, compare=False)
    updated_by: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check("id", self.id, MAX_ID_CHARS)
        _check("topic", self.topic, MAX_TOPIC_CHARS)
        _check("title", self.title, MAX_TITLE_CHARS)
        _check("answer", self.answer, MAX_ANSWER_CHARS)
        if not self.questions:
            raise ConfigurationError(f"standard_answer[{self.id}].questions", "must not be empty")
        if len(self.questions) > MAX_QUESTIONS:
            raise ConfigurationError(
                f"standard_answer[{self.id}].questions", f"more than {MAX_QUESTIONS}"
            )
        for question in self.questions:
            _check("questions", question, MAX_QUESTION_CHARS, self.id)
        if self.updated_by is not None and len(self.updated_by) > MAX_USER_CHARS:
            raise ConfigurationError(
                f"standard_answer[{self.id}].updated_by", f"longer than {MAX_USER_CHARS}"
            )


def _check(what: str, value: str, limit: int, answer_id: str | None = None) -> None:
    where = f"standard_answer[{answer_id}].{what}" if answer_id else f"standard_answer.{what}"
    if not value.strip():
        raise ConfigurationError(where, "must not be empty")
    if len(value) > limit:
        raise ConfigurationError(where, f"longer than {limit}")


class StandardAnswersRepository:
    """Reads and writes the standard answers (short sessions; plain dataclasses out)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(
        self, answer: StoredAnswer, *, updated_by: str | None = None, now: datetime | None = None
    ) -> None:
        """Insert or replace one answer."""
        self.import_answers([answer], updated_by=updated_by, now=now)

    def import_answers(
        self,
        answers: Iterable[StoredAnswer],
        *,
        updated_by: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Insert or replace every answer in one transaction; return how many."""
        stamp = now if now is not None else datetime.now(UTC)
        if updated_by is not None and len(updated_by) > MAX_USER_CHARS:
            raise ConfigurationError("standard_answer.updated_by", f"longer than {MAX_USER_CHARS}")
        count = 0
        with self._db.session() as s, s.begin():
            for answer in answers:
                s.merge(
                    StandardAnswerRow(
                        id=answer.id,
                        topic=answer.topic,
                        title=answer.title,
                        questions=list(answer.questions),
                        answer=answer.answer,
                        escalate=answer.escalate,
                        enabled=answer.enabled,
                        updated_at=stamp,
                        updated_by=updated_by,
                    )
                )
                count += 1
        return count

    def disable(
        self, answer_id: str, *, updated_by: str | None = None, now: datetime | None = None
    ) -> bool:
        """Take one answer out of use; False when there is no such answer."""
        with self._db.session() as s, s.begin():
            row = s.get(StandardAnswerRow, answer_id)
            if row is None:
                return False
            row.enabled = False
            row.updated_at = now if now is not None else datetime.now(UTC)
            row.updated_by = updated_by
            return True

    def clear(self) -> None:
        """Delete every answer (``hotline init --force``)."""
        with self._db.session() as s, s.begin():
            s.execute(delete(StandardAnswerRow))

    def get(self, answer_id: str) -> StoredAnswer | None:
        with self._db.session() as s:
            row = s.get(StandardAnswerRow, answer_id)
            return _answer(row) if row is not None else None

    def list(self, *, enabled_only: bool = False, topic: str | None = None) -> list[StoredAnswer]:
        """Answers ordered by id, optionally only enabled ones or one topic's."""
        query = select(StandardAnswerRow).order_by(StandardAnswerRow.id)
        if enabled_only:
            query = query.where(StandardAnswerRow.enabled.is_(True))
        if topic is not None:
            query = query.where(StandardAnswerRow.topic == topic)
        with self._db.session() as s:
            return [_answer(r) for r in s.scalars(query)]


def _answer(r: StandardAnswerRow) -> StoredAnswer:
    updated_at = r.updated_at
    if updated_at.tzinfo is None:  # SQLite drops the zone; stored values are UTC
        updated_at = updated_at.replace(tzinfo=UTC)
    return StoredAnswer(
        id=r.id,
        topic=r.topic,
        title=r.title,
        questions=tuple(r.questions),
        answer=r.answer,
        escalate=r.escalate,
        enabled=r.enabled,
        updated_at=updated_at,
        updated_by=r.updated_by,
    )
