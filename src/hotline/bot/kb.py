"""The knowledge base of standard answers (R12b): the model and its YAML form.

A standard answer is an approved text the voice assistant may read aloud;
the bot never says anything else.  The YAML file is a list of mappings::

    - id: social-01
      topic: social          # one of KB_TOPICS (or the topics passed in)
      title: Единое пособие на детей
      questions:             # typical phrasings of the caller's question
      - Как оформить единое пособие на ребёнка?
      answer: Единое пособие назначают ...
      escalate: false        # true: the question usually needs an operator

:func:`parse_kb` validates everything with limits (file size, number of
entries and questions, text lengths, unique ids, known topics) and raises
:class:`~hotline.core.errors.RemoteProtocolError` (or
:class:`~hotline.core.errors.LimitExceededError`) naming the entry at fault.
The module is pure apart from :func:`load_kb`, which reads one file.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from hotline.core.errors import LimitExceededError, RemoteProtocolError

__all__ = [
    "KB_TOPICS",
    "MAX_ANSWER_CHARS",
    "MAX_ENTRIES",
    "MAX_KB_BYTES",
    "MAX_QUESTIONS",
    "MAX_QUESTION_CHARS",
    "MAX_TITLE_CHARS",
    "KbEntry",
    "dump_kb",
    "load_kb",
    "parse_kb",
]

KB_TOPICS: Final = ("social", "health", "education", "military", "state_services")
MAX_KB_BYTES: Final = 2 * 1024 * 1024
MAX_ENTRIES: Final = 2000
MAX_ID_CHARS: Final = 64
MAX_TITLE_CHARS: Final = 200
MAX_QUESTIONS: Final = 50
MAX_QUESTION_CHARS: Final = 500
MAX_ANSWER_CHARS: Final = 4000
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FIELDS: Final = frozenset({"id", "topic", "title", "questions", "answer", "escalate"})
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class KbEntry:
    """One standard answer."""

    id: str
    topic: str
    title: str
    questions: tuple[str, ...]
    answer: str
    escalate: bool = False


def _fail(where: str, problem: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"knowledge base {where}: {problem}")


def _text(raw: Any, where: str, field: str, limit: int) -> str:
    if not isinstance(raw, str):
        raise _fail(where, f"{field} must be a string")
    text = raw.strip()
    if not text:
        raise _fail(where, f"{field} must not be empty")
    if len(text) > limit:
        raise LimitExceededError(f"knowledge base {where}: {field} longer than {limit} characters")
    return text


def _entry(raw: Any, index: int, topics: Collection[str]) -> KbEntry:
    where = f"entry #{index + 1}"
    if not isinstance(raw, dict):
        raise _fail(where, "must be a mapping")
    if isinstance(raw.get("id"), str) and raw["id"].strip():
        where = f"entry {raw['id'].strip()!r}"
    unknown = sorted(str(k) for k in raw if k not in _FIELDS)
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(unknown)}")
    entry_id = _text(raw.get("id"), where, "id", MAX_ID_CHARS)
    if _ID_RE.fullmatch(entry_id) is None:
        raise _fail(where, "id may hold only latin letters, digits, '-', '_' and '.'")
    topic = _text(raw.get("topic"), where, "topic", MAX_ID_CHARS)
    if topic not in topics:
        raise _fail(where, f"unknown topic {topic!r} (expected one of {', '.join(topics)})")
    questions_raw = raw.get("questions")
    if not isinstance(questions_raw, list) or not questions_raw:
        raise _fail(where, "questions must be a non-empty list")
    if len(questions_raw) > MAX_QUESTIONS:
        raise LimitExceededError(f"knowledge base {where}: more than {MAX_QUESTIONS} questions")
    questions = tuple(
        _text(q, where, f"question #{i + 1}", MAX_QUESTION_CHARS)
        for i, q in enumerate(questions_raw)
    )
    escalate = raw.get("escalate", False)
    if not isinstance(escalate, bool):
        raise _fail(where, "escalate must be true or false")
    return KbEntry(
        id=entry_id,
        topic=topic,
        title=_text(raw.get("title"), where, "title", MAX_TITLE_CHARS),
        questions=questions,
        answer=_text(raw.get("answer"), where, "answer", MAX_ANSWER_CHARS),
        escalate=escalate,
    )


def parse_kb(text: str | bytes, *, topics: Collection[str] = KB_TOPICS) -> tuple[KbEntry, ...]:
    """Parse and validate a knowledge base in YAML; entries in file order."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_KB_BYTES:
        raise LimitExceededError(f"knowledge base larger than {MAX_KB_BYTES} bytes")
    try:
        data = yaml.load(text, Loader=_LOADER)  # a safe loader (C if available)
    except yaml.YAMLError as exc:
        raise RemoteProtocolError(f"knowledge base is not valid YAML: {exc}") from None
    if data is None:
        return ()
    if not isinstance(data, list):
        raise RemoteProtocolError("knowledge base must be a list of entries")
    if len(data) > MAX_ENTRIES:
        raise LimitExceededError(f"knowledge base has more than {MAX_ENTRIES} entries")
    entries: list[KbEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(data):
        entry = _entry(raw, index, topics)
        if entry.id in seen:
            raise _fail(f"entry {entry.id!r}", "duplicate id")
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries)


def load_kb(path: Path, *, topics: Collection[str] = KB_TOPICS) -> tuple[KbEntry, ...]:
    """Read and parse a YAML knowledge base file (at most :data:`MAX_KB_BYTES`)."""
    with path.open("rb") as fh:
        data = fh.read(MAX_KB_BYTES + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("knowledge base is not UTF-8 text") from None
    return parse_kb(text, topics=topics)


def dump_kb(entries: Iterable[KbEntry]) -> str:
    """The YAML form of ``entries`` (what :func:`parse_kb` reads back)."""
    data = [
        {
            "id": e.id,
            "topic": e.topic,
            "title": e.title,
            "questions": list(e.questions),
            "answer": e.answer,
            "escalate": e.escalate,
        }
        for e in entries
    ]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
