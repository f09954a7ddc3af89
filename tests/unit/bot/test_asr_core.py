"""The engine-independent part of speech recognition: grammars, Vosk results, limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.bot import asr
from hotline.bot.asr import (
    MAX_GRAMMAR_PHRASES,
    MAX_PHRASE_CHARS,
    MAX_RESULT_CHARS,
    AsrConfig,
    Transcript,
    normalize_phrase,
    parse_result,
    plan_grammar,
)
from hotline.bot.ports import RecognitionResult
from hotline.core.errors import ConfigurationError, LimitExceededError, RemoteProtocolError

LEXICON = frozenset({"здравоохранение", "оператор", "да", "нет", "соедините", "с", "[unk]"})


def known(word: str) -> bool:
    return word in LEXICON


def test_public_surface() -> None:
    assert sorted(asr.__all__) == sorted(
        [
            "MAX_GRAMMAR_PHRASES",
            "MAX_PHRASE_CHARS",
            "MAX_RESULT_CHARS",
            "UNKNOWN_WORD",
            "AsrConfig",
            "GrammarPlan",
            "Transcript",
            "normalize_phrase",
            "parse_result",
            "plan_grammar",
        ]
    )


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Оператор!", "оператор"),
        ("  Соедините,   с  ОПЕРАТОРОМ. ", "соедините с оператором"),
        ("кто-то", "кто-то"),
        ("a_b\tc\n", "a b c"),
        ("?!", ""),
    ],
)
def test_normalize_phrase(text: str, normal: str) -> None:
    assert normalize_phrase(text) == normal


def test_grammar_plan_normalises_dedupes_and_drops_unknown_words() -> None:
    plan = plan_grammar(
        ["Оператор", "оператор!", "Здравоохранение", "соедините с оператором", "Да", "", "нет"],
        known,
        with_unknown=True,
    )
    assert plan.phrases == ("оператор", "здравоохранение", "да", "нет")
    assert plan.dropped == ("соедините с оператором",)
    assert json.loads(plan.to_json()) == ["оператор", "здравоохранение", "да", "нет", "[unk]"]
    assert "\\u" not in plan.to_json()  # UTF-8 text, as Vosk reads it
    no_unk = plan_grammar(["да"], known, with_unknown=False)
    assert json.loads(no_unk.to_json()) == ["да"]


def test_grammar_limits_and_empty_grammars() -> None:
    with pytest.raises(LimitExceededError):
        plan_grammar(["да"] * (MAX_GRAMMAR_PHRASES + 1), known, with_unknown=True)
    with pytest.raises(LimitExceededError):
        plan_grammar(["да " * (MAX_PHRASE_CHARS // 3 + 1)], known, with_unknown=True)
    with pytest.raises(RemoteProtocolError, match="unknown"):
        plan_grammar(["абракадабра"], known, with_unknown=True)
    with pytest.raises(RemoteProtocolError, match="empty"):
        plan_grammar(["", "!!"], known, with_unknown=True)


def test_final_result_with_words_drops_unk_and_averages_confidence() -> None:
    raw = json.dumps(
        {
            "result": [
                {"conf": 1.0, "end": 0.9, "start": 0.3, "word": "оператор"},
                {"conf": 0.4, "end": 1.2, "start": 0.9, "word": "[unk]"},
                {"conf": 0.5, "end": 1.5, "start": 1.2, "word": "да"},
            ],
            "text": "оператор [unk] да",
        },
        ensure_ascii=False,
    )
    transcript = parse_result(raw)
    assert transcript == Transcript(("оператор", "да"), (1.0, 0.5))
    assert transcript.to_result(final=True) == RecognitionResult("оператор да", True, 0.75)


def test_final_result_without_words_and_partials() -> None:
    assert parse_result('{"text" : ""}') == Transcript((), ())
    assert parse_result('{"text": "да нет"}').to_result(final=True) == RecognitionResult(
        "да нет", True, None
    )
    partial = parse_result('{"partial": "[unk] оператор"}', partial=True)
    assert partial.to_result(final=False) == RecognitionResult("оператор", False, None)
    assert parse_result("{}", partial=True).text == ""


def test_transcripts_add_up() -> None:
    whole = Transcript(("да",), (0.9,)) + Transcript(("оператор",), (0.7,))
    assert whole.text == "да оператор"
    result = whole.to_result(final=True)
    assert result.confidence == pytest.approx(0.8)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"text": 5}',
        '{"text": "a", "result": {}}',
        '{"text": "a", "result": [5]}',
        '{"text": "a", "result": [{"word": "a"}]}',
        '{"text": "a", "result": [{"word": "a", "conf": 1.5}]}',
        '{"text": "a", "result": [{"word": 1, "conf": 0.5}]}',
    ],
)
def test_malformed_results_are_protocol_errors(raw: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_result(raw)


def test_result_size_limit() -> None:
    with pytest.raises(LimitExceededError):
        parse_result('{"text": "' + "а" * MAX_RESULT_CHARS + '"}')


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parse_result_never_raises_anything_else(raw: str) -> None:
    try:
        transcript = parse_result(raw)
    except RemoteProtocolError:
        return
    assert "[unk]" not in transcript.words
    assert len(transcript.confidences) in (0, len(transcript.words))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=30))
def test_grammar_plan_is_normal_and_unique(phrases: list[str]) -> None:
    try:
        plan = plan_grammar(phrases, lambda word: word.isalpha(), with_unknown=True)
    except RemoteProtocolError:
        return
    assert len(set(plan.phrases)) == len(plan.phrases)
    assert all(p == normalize_phrase(p) and p for p in plan.phrases)
    assert not set(plan.phrases) & set(plan.dropped)


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"max_sessions": 0}, "HOTLINE_BOT__ASR_MAX_SESSIONS"),
        ({"workers": 0}, "HOTLINE_BOT__ASR_WORKERS"),
        ({"batch_ms": 30}, "HOTLINE_BOT__ASR_BATCH_MS"),
        ({"batch_ms": 2000}, "HOTLINE_BOT__ASR_BATCH_MS"),
        ({"max_utterance_s": float("nan")}, "HOTLINE_BOT__ASR_MAX_UTTERANCE_S"),
    ],
)
def test_config_checks_name_the_setting(kwargs: dict[str, float], setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsrConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.setting == setting
