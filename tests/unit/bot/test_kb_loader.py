"""The knowledge base's YAML form: the shipped file, validation errors naming the entry, limits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.bot.kb import (
    KB_TOPICS,
    MAX_ANSWER_CHARS,
    MAX_ENTRIES,
    MAX_KB_BYTES,
    MAX_QUESTIONS,
    KbEntry,
    dump_kb,
    load_kb,
    parse_kb,
)
from hotline.core.errors import LimitExceededError, RemoteProtocolError

REPO = Path(__file__).resolve().parents[3]
PACKAGED = REPO / "src" / "hotline" / "bot" / "data" / "standard-answers.yaml"
SHARED = REPO.parent / "shared" / "data" / "kb" / "standard-answers.yaml"

ONE = """\
- id: social-01
  topic: social
  title: Единое пособие
  questions:
  - Как оформить пособие?
  answer: Заявление подают на Госуслугах.
  escalate: false
"""


def _entry(**fields: object) -> str:
    base: dict[str, object] = {
        "id": "x-1",
        "topic": "health",
        "title": "Заголовок",
        "questions": ["Вопрос?"],
        "answer": "Ответ.",
    }
    base.update(fields)
    lines = ["- " + "\n  ".join(f"{k}: {_yaml(v)}" for k, v in base.items() if v is not _DROP)]
    return "\n".join(lines) + "\n"


_DROP = object()


def _yaml(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    return str(value)


def test_the_shipped_knowledge_base_is_the_shared_one_and_valid() -> None:
    assert PACKAGED.read_bytes() == SHARED.read_bytes()
    entries = load_kb(PACKAGED)
    assert len(entries) == 45
    assert Counter(e.topic for e in entries) == dict.fromkeys(KB_TOPICS, 9)
    assert entries[0].id == "social-01"
    assert entries[0].title == "Единое пособие на детей"
    assert len(entries[0].questions) == 3
    assert sum(e.escalate for e in entries) == 5


def test_one_entry_parses_with_every_field() -> None:
    assert parse_kb(ONE) == (
        KbEntry(
            id="social-01",
            topic="social",
            title="Единое пособие",
            questions=("Как оформить пособие?",),
            answer="Заявление подают на Госуслугах.",
            escalate=False,
        ),
    )


def test_dump_and_parse_round_trip() -> None:
    entries = load_kb(PACKAGED)
    assert parse_kb(dump_kb(entries)) == entries


def test_empty_file_is_an_empty_knowledge_base() -> None:
    assert parse_kb("") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: b\n", "must be a list"),
        ("- just text\n", "entry #1: must be a mapping"),
        (_entry(colour="red"), "entry 'x-1': unknown field(s) colour"),
        (_entry(id=_DROP), "entry #1: id must be a string"),
        (_entry(id="плохой"), "entry 'плохой': id may hold only latin"),
        (_entry(topic="weather"), "entry 'x-1': unknown topic 'weather'"),
        (_entry(title=""), "entry 'x-1': title must not be empty"),
        (_entry(questions=[]), "entry 'x-1': questions must be a non-empty list"),
        (_entry(questions=["ok", 5]), "entry 'x-1': question #2 must be a string"),
        (_entry(answer=_DROP), "entry 'x-1': answer must be a string"),
        (_entry(escalate="yes"), "entry 'x-1': escalate must be true or false"),
        (_entry() + _entry()[0:].replace("- id", "- id", 1), "entry 'x-1': duplicate id"),
        ("- [unclosed\n", "not valid YAML"),
    ],
)
def test_errors_name_the_entry(text: str, message: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_kb(text)
    assert message in str(info.value)
    assert info.value.status_hint == 400


def test_topics_can_be_widened() -> None:
    (entry,) = parse_kb(_entry(topic="services"), topics=("services",))
    assert entry.topic == "services"


@pytest.mark.parametrize(
    "text",
    [
        _entry(questions=["q"] * (MAX_QUESTIONS + 1)),
        _entry(answer="а" * (MAX_ANSWER_CHARS + 1)),
        "".join(_entry(id=f"e-{i}") for i in range(MAX_ENTRIES + 1)),
        "#" * (MAX_KB_BYTES + 1),
    ],
    ids=["questions", "answer", "entries", "bytes"],
)
def test_limits(text: str) -> None:
    with pytest.raises(LimitExceededError):
        parse_kb(text)


def test_load_rejects_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_bytes(ONE.encode("cp1251"))
    with pytest.raises(RemoteProtocolError, match="not UTF-8"):
        load_kb(path)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_protocol_errors(text: str) -> None:
    try:
        entries = parse_kb(text)
    except RemoteProtocolError:
        return
    assert all(isinstance(e, KbEntry) for e in entries)
