"""The speech synthesis port: settings, identities, cache keys, engine choice, missing engines."""

from __future__ import annotations

from pathlib import Path

import pytest

import hotline.bot.tts as tts_module
import hotline.bot.tts_engines as engines_module
from hotline.bot.tts import (
    EngineLimits,
    EngineName,
    EngineUnavailableError,
    EspeakSettings,
    FestivalSettings,
    SpeechSynthesizer,
    cache_key,
)
from hotline.bot.tts_engines import (
    EspeakNgSynthesizer,
    FestivalSynthesizer,
    create_synthesizer,
    festival_text,
)
from hotline.core.errors import ConfigurationError, HotlineError


def test_public_surface_is_declared() -> None:
    for module in (tts_module, engines_module):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_cache_key_is_a_stable_sha256_of_identity_and_text() -> None:
    key = cache_key("espeak-ng|voice=ru", "сто двадцать два")
    assert key == cache_key("espeak-ng|voice=ru", "сто двадцать два")
    assert len(key) == 64
    assert int(key, 16) >= 0
    assert key != cache_key("espeak-ng|voice=ru+f3", "сто двадцать два")
    assert key != cache_key("espeak-ng|voice=ru", "сто двадцать три")


def test_identity_changes_with_every_sound_setting() -> None:
    base = EspeakNgSynthesizer()
    identities = {
        base.identity(),
        base.identity("ru+f3"),
        EspeakNgSynthesizer(EspeakSettings(rate_wpm=170)).identity(),
        EspeakNgSynthesizer(EspeakSettings(pitch=40)).identity(),
        EspeakNgSynthesizer(EspeakSettings(peak_dbfs=-6.0)).identity(),
        FestivalSynthesizer().identity(),
        FestivalSynthesizer(FestivalSettings(duration_stretch=1.2)).identity(),
    }
    assert len(identities) == 7
    persistent = FestivalSynthesizer(FestivalSettings(persistent_workers=True)).identity()
    one_shot = FestivalSynthesizer(FestivalSettings(persistent_workers=False)).identity()
    assert persistent == one_shot


def test_engines_are_chosen_by_name_and_fit_the_port() -> None:
    espeak: SpeechSynthesizer = create_synthesizer("espeak-ng")
    festival: SpeechSynthesizer = create_synthesizer(EngineName.FESTIVAL.value)
    assert (espeak.name, espeak.default_voice) == ("espeak-ng", "ru")
    assert (festival.name, festival.default_voice) == ("festival", "msu_ru_nsh_clunits")
    with pytest.raises(ConfigurationError, match="espeak-ng, festival"):
        create_synthesizer("rhvoice")


@pytest.mark.parametrize(
    "build",
    [
        lambda: EspeakSettings(voice="ru; rm -rf /"),
        lambda: EspeakSettings(voice="-w"),
        lambda: EspeakSettings(rate_wpm=10),
        lambda: EspeakSettings(pitch=100),
        lambda: EspeakSettings(peak_dbfs=3.0),
        lambda: FestivalSettings(voice='x) (system "id"'),
        lambda: FestivalSettings(duration_stretch=5.0),
        lambda: EngineLimits(timeout_s=0),
        lambda: EngineLimits(max_concurrency=0),
        lambda: EngineLimits(max_text_chars=0),
    ],
)
def test_bad_settings_are_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(ConfigurationError):
        build()


async def test_a_missing_engine_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    synthesizer = EspeakNgSynthesizer(work_dir=tmp_path)
    with pytest.raises(EngineUnavailableError, match="apt-get install espeak-ng") as caught:
        await synthesizer.synthesize("Проверка")
    assert isinstance(caught.value, HotlineError)
    assert caught.value.missing == "espeak-ng"
    assert synthesizer.processes_started == 0
    with pytest.raises(EngineUnavailableError, match="festvox-ru"):
        FestivalSynthesizer(FestivalSettings(persistent_workers=False)).check_installed()


async def test_empty_and_oversized_texts_are_refused_before_any_process(tmp_path: Path) -> None:
    synthesizer = EspeakNgSynthesizer(limits=EngineLimits(max_text_chars=10), work_dir=tmp_path)
    with pytest.raises(HotlineError, match="empty"):
        await synthesizer.synthesize(" \x00 ")
    with pytest.raises(HotlineError, match="longer than 10"):
        await synthesizer.synthesize("Очень длинный текст")
    assert synthesizer.processes_started == 0


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("Вопрос: «да» или нет?", "Вопрос: да или нет?"),
        ("Ответ — да – нет", "Ответ, да, нет"),
        ("и т.д. всё…", "и т д. всё."),
        ("сто % \\ x_y", "сто x y"),
        ("ноль-ноль", "ноль-ноль"),
        ("с 9:00 (пн) . ,", "с 9 00 пн.,"),
        ("- начало", "начало"),
    ],
)
def test_festival_text_drops_what_its_russian_rules_reject(text: str, clean: str) -> None:
    assert festival_text(text) == clean
