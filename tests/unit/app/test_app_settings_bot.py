"""Voice-assistant settings: the ASR model directory and the [bot] knobs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline.app.settings import BotSettings, load_settings
from hotline.core.errors import ConfigurationError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("HOTLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "var"))
    return monkeypatch


def test_defaults_have_no_model_and_silero(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(check_dirs=False)
    assert settings.asr_model_dir is None
    assert settings.bot == BotSettings()
    assert (settings.bot.vad_engine, settings.bot.end_silence_ms) == ("silero", 700)
    assert (settings.bot.asr_max_sessions, settings.bot.asr_workers) == (20, None)


def test_environment_sets_model_dir_and_bot_knobs(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("HOTLINE_ASR_MODEL_DIR", str(tmp_path / "vosk-model-small-ru-0.22"))
    clean_env.setenv("HOTLINE_BOT__ASR_MAX_SESSIONS", "8")
    clean_env.setenv("HOTLINE_BOT__VAD_ENGINE", "webrtc")
    clean_env.setenv("HOTLINE_BOT__END_SILENCE_MS", "900")
    settings = load_settings(check_dirs=False)
    # A missing model directory is not a configuration error: the bot reports it and hands over.
    assert settings.asr_model_dir == tmp_path / "vosk-model-small-ru-0.22"
    assert settings.bot.asr_max_sessions == 8
    assert settings.bot.vad_engine == "webrtc"
    assert settings.bot.end_silence_ms == 900


def test_file_sets_the_bot_table(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text(
        'asr_model_dir = "/srv/models/ru"\n[bot]\nvad_max_utterance_ms = 20000\n',
        encoding="utf-8",
    )
    settings = load_settings(config, check_dirs=False)
    assert settings.asr_model_dir == Path("/srv/models/ru")
    assert settings.bot.vad_max_utterance_ms == 20_000


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("HOTLINE_BOT__VAD_ENGINE", "pocketsphinx", "silero"),
        ("HOTLINE_BOT__END_SILENCE_MS", "710", "multiple of 20"),
        ("HOTLINE_BOT__END_SILENCE_MS", "100", "greater than or equal to 200"),
        ("HOTLINE_BOT__ASR_MAX_SESSIONS", "0", "greater than or equal to 1"),
        ("HOTLINE_BOT__VAD_WEBRTC_MODE", "4", "less than or equal to 3"),
    ],
)
def test_bad_bot_values_name_the_setting(
    clean_env: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings(check_dirs=False)
    assert info.value.setting == name
    assert fragment in info.value.problem


def test_unknown_bot_key_is_an_error(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HOTLINE_BOT__ASR_MODEL", "x")
    with pytest.raises(ConfigurationError) as info:
        load_settings(check_dirs=False)
    assert info.value.setting == "HOTLINE_BOT__ASR_MODEL"
