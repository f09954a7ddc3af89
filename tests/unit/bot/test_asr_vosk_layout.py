"""The Vosk adapter without a model: layout checks and the unavailable path (no engine call)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.bot import asr_vosk
from hotline.bot.asr_vosk import VoskRecognizer, model_problem, model_supports_grammar
from hotline.bot.ports import RecognizerUnavailableError


def _model(root: Path, *files: str) -> Path:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    return root


def test_public_surface() -> None:
    assert sorted(asr_vosk.__all__) == [
        "MAX_ACCEPT_BYTES",
        "VOSK_LOG_LEVEL",
        "VoskRecognizer",
        "VoskSession",
        "model_problem",
        "model_supports_grammar",
    ]


def test_small_model_layout_takes_a_grammar(tmp_path: Path) -> None:
    root = _model(
        tmp_path / "small",
        "am/final.mdl",
        "conf/mfcc.conf",
        "graph/HCLr.fst",
        "graph/Gr.fst",
        "ivector/final.ie",
    )
    assert model_problem(root) is None
    assert model_supports_grammar(root)


def test_big_model_layout_has_a_static_graph(tmp_path: Path) -> None:
    root = _model(tmp_path / "big", "am/final.mdl", "conf/mfcc.conf", "graph/HCLG.fst")
    assert model_problem(root) is None
    assert not model_supports_grammar(root)


def test_old_flat_layout(tmp_path: Path) -> None:
    root = _model(tmp_path / "flat", "final.mdl", "mfcc.conf", "HCLG.fst")
    assert model_problem(root) is None


def test_problems_say_what_is_missing(tmp_path: Path) -> None:
    assert "HOTLINE_ASR_MODEL_DIR" in (model_problem(None) or "")
    assert "does not exist" in (model_problem(tmp_path / "nope") or "")
    (tmp_path / "file").write_bytes(b"")
    assert "does not exist" in (model_problem(tmp_path / "file") or "")
    partial = _model(tmp_path / "partial", "am/final.mdl")
    problem = model_problem(partial) or ""
    assert "mfcc.conf" in problem and "HCLG.fst" in problem and "final.mdl" not in problem


async def test_no_model_means_unavailable_not_a_crash(tmp_path: Path) -> None:
    for model_dir in (None, tmp_path / "vosk-model-small-ru-0.22"):
        recognizer = VoskRecognizer(model_dir)
        assert not recognizer.available
        assert recognizer.problem
        assert not await recognizer.start()
        with pytest.raises(RecognizerUnavailableError):
            await recognizer.open(["оператор"])
        assert recognizer.active_sessions == 0
        await recognizer.aclose()
