"""The voice assistant's conversation as a sans-IO state machine (L1: no I/O, no clock).

One :class:`Dialogue` per call in the assistant.  Its flow (issue R10/R12b):
greeting → the caller's question → the matched standard answer read aloud →
«Ответ помог? Скажите „да“ или нажмите 1. Для соединения с оператором скажите
„оператор“ или нажмите 0» → «да»: the call is resolved (the caller may ask
another question, or hears goodbye), «нет»: an operator.

* Below the matcher's threshold the assistant asks once to rephrase, then
  hands over; an unclear reply to «Ответ помог?» is asked once more.
* «Оператор» (any form) or key 0 reaches an operator at any moment.
* A standard answer marked ``escalate`` is read, then the call is handed over.
* Silence: asked again once (:attr:`DialogueConfig.max_silences`), then handed over;
  after a «да», silence ends the call as resolved.
* At most :attr:`DialogueConfig.max_turns` utterances, then an operator.
* No recogniser (no model, no free slot, a failure): the assistant says so and
  hands over — never silence.
* The assistant says only approved standard-answer texts (looked up by id in
  ``answers``) and the fixed phrases of :mod:`hotline.bot.phrases_ru`.

Drive it in the sans-IO way: call an input method with ``now`` (monotonic
seconds), read commands with :meth:`Dialogue.next_event` until None, re-arm
the one timer at :meth:`Dialogue.get_timer` and call
:meth:`Dialogue.handle_timer` when it is due.  The transitions are the table
:data:`TRANSITIONS`, keyed by (:class:`DialogueState`, :class:`DialogueInput`);
a pair missing from it is a :class:`~hotline.core.errors.LocalProtocolError`
(the driver's bug), and inputs that may legitimately arrive late (a key while
the goodbye plays, speech while the assistant is recognising) are listed as
``IGNORE``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from typing import Final

from hotline.bot.dialogue_model import (
    MAX_TRANSCRIPT_ENTRIES,
    DialogueConfig,
    DialogueInput,
    DialogueOutput,
    DialogueState,
    End,
    HandOver,
    HandOverReason,
    Listen,
    ListenFor,
    Outcome,
    Say,
    StopSaying,
)
from hotline.bot.phrases_ru import CONFIRMATION_GRAMMAR, Phrase, Reply, asks_for_operator
from hotline.bot.phrases_ru import classify_reply as _classify_reply
from hotline.bot.ports import AnswerMatch
from hotline.core.errors import LocalProtocolError

__all__ = ["DIGITS", "MAX_TRANSCRIPT_CHARS", "TRANSITIONS", "Action", "Dialogue"]

DIGITS: Final = frozenset("0123456789*#ABCD")
MAX_TRANSCRIPT_CHARS: Final = 500
"""One transcript line is cut to this length."""


class Action(enum.Enum):
    """What a (state, input) pair does."""

    BEGIN = "begin"
    HEAR = "hear"  # speech started: stop a barge-in phrase, recognise the utterance
    QUESTION = "question"
    REPLY = "reply"
    LISTEN_QUESTION = "listen_question"  # a phrase that invites a question has played
    ASK_HELPED = "ask_helped"  # the answer has played
    LISTEN_HELPED = "listen_helped"
    HANDED_OVER = "handed_over"  # «соединяю с оператором» has played
    GOODBYE_PLAYED = "goodbye_played"
    KEY = "key"
    SILENCE = "silence"
    RECOGNITION_FAILED = "recognition_failed"
    ABORT = "abort"
    HANG_UP = "hang_up"
    IGNORE = "ignore"


_S = DialogueState
_I = DialogueInput
_A = Action
_LIVE: Final = (
    _S.SAY_GREETING,
    _S.SAY_PROMPT,
    _S.LISTEN_QUESTION,
    _S.HEAR_QUESTION,
    _S.SAY_ANSWER,
    _S.SAY_HELPED,
    _S.LISTEN_HELPED,
    _S.HEAR_HELPED,
    _S.SAY_HANDOVER,
    _S.SAY_GOODBYE,
)


def _table() -> dict[tuple[DialogueState, DialogueInput], Action]:
    table: dict[tuple[DialogueState, DialogueInput], Action] = {(_S.IDLE, _I.STARTED): _A.BEGIN}
    table[(_S.IDLE, _I.HUNG_UP)] = _A.HANG_UP
    for state in _LIVE:
        table[(state, _I.HUNG_UP)] = _A.HANG_UP
        table[(state, _I.ABORTED)] = _A.ABORT
        table[(state, _I.DTMF)] = _A.KEY
        table[(state, _I.SPEECH_STARTED)] = _A.IGNORE
    for what in DialogueInput:
        table[(_S.ENDED, what)] = _A.IGNORE
    for state in (
        _S.SAY_GREETING,
        _S.SAY_PROMPT,
        _S.LISTEN_QUESTION,
        _S.SAY_ANSWER,
        _S.SAY_HELPED,
        _S.LISTEN_HELPED,
    ):
        table[(state, _I.SPEECH_STARTED)] = _A.HEAR
    table[(_S.SAY_HANDOVER, _I.DTMF)] = _A.IGNORE
    table.update(
        {
            (_S.SAY_GREETING, _I.PLAYBACK_FINISHED): _A.LISTEN_QUESTION,
            (_S.SAY_PROMPT, _I.PLAYBACK_FINISHED): _A.LISTEN_QUESTION,
            (_S.SAY_ANSWER, _I.PLAYBACK_FINISHED): _A.ASK_HELPED,
            (_S.SAY_HELPED, _I.PLAYBACK_FINISHED): _A.LISTEN_HELPED,
            (_S.SAY_HANDOVER, _I.PLAYBACK_FINISHED): _A.HANDED_OVER,
            (_S.SAY_GOODBYE, _I.PLAYBACK_FINISHED): _A.GOODBYE_PLAYED,
            (_S.LISTEN_QUESTION, _I.TIMER): _A.SILENCE,
            (_S.LISTEN_HELPED, _I.TIMER): _A.SILENCE,
            (_S.HEAR_QUESTION, _I.TIMER): _A.RECOGNITION_FAILED,
            (_S.HEAR_HELPED, _I.TIMER): _A.RECOGNITION_FAILED,
            (_S.HEAR_QUESTION, _I.UTTERANCE): _A.QUESTION,
            (_S.HEAR_HELPED, _I.UTTERANCE): _A.REPLY,
            (_S.HEAR_QUESTION, _I.RECOGNITION_FAILED): _A.RECOGNITION_FAILED,
            (_S.HEAR_HELPED, _I.RECOGNITION_FAILED): _A.RECOGNITION_FAILED,
        }
    )
    return table


TRANSITIONS: Final[dict[tuple[DialogueState, DialogueInput], Action]] = _table()
"""Every allowed (state, input) pair and what it does; see :class:`Dialogue`."""

_HEARING: Final = {
    _S.SAY_GREETING: (_S.HEAR_QUESTION, ListenFor.QUESTION),
    _S.SAY_PROMPT: (_S.HEAR_QUESTION, ListenFor.QUESTION),
    _S.LISTEN_QUESTION: (_S.HEAR_QUESTION, ListenFor.QUESTION),
    _S.SAY_ANSWER: (_S.HEAR_QUESTION, ListenFor.QUESTION),
    _S.SAY_HELPED: (_S.HEAR_HELPED, ListenFor.CONFIRMATION),
    _S.LISTEN_HELPED: (_S.HEAR_HELPED, ListenFor.CONFIRMATION),
}
"""Speech in these states is recognised: the next state and what the utterance should be."""


class Dialogue:
    """One call's conversation with the assistant; see the module docstring.

    ``answers`` returns the approved text of a standard answer by id (None
    when it is gone: the assistant then treats the question as not understood).
    """

    def __init__(
        self,
        answers: Callable[[str], str | None],
        config: DialogueConfig | None = None,
    ) -> None:
        self._answers = answers
        self._config = config if config is not None else DialogueConfig()
        self._state = DialogueState.IDLE
        self._outputs: deque[DialogueOutput] = deque()
        self._next_id = 1
        self._saying: int | None = None
        self._listening: int | None = None
        self._deadline: float | None = None
        self._topic: str | None = None
        self._transcript: list[str] = []
        self._matched: str | None = None
        self._handover: HandOverReason | None = None
        self._resolved = False
        self._turns = 0
        self._silences = 0
        self._unclear = 0
        # The current input's arguments (set by the public methods before dispatch).
        self._text = ""
        self._match: AnswerMatch | None = None
        self._digit = ""
        self._available = True

    # -- what the driver reads ---------------------------------------------------------
    @property
    def state(self) -> DialogueState:
        return self._state

    @property
    def topic(self) -> str | None:
        return self._topic

    @property
    def transcript(self) -> tuple[str, ...]:
        """What the caller said so far (one entry per recognised utterance)."""
        return tuple(self._transcript)

    @property
    def matched_id(self) -> str | None:
        """The last standard answer read to the caller."""
        return self._matched

    @property
    def resolved(self) -> bool:
        """The caller said an answer helped."""
        return self._resolved

    @property
    def finished(self) -> bool:
        return self._state is DialogueState.ENDED

    def next_event(self) -> DialogueOutput | None:
        """The next command for the driver, or None."""
        return self._outputs.popleft() if self._outputs else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` is due (monotonic seconds), or None."""
        return self._deadline

    # -- inputs --------------------------------------------------------------------------
    def started(self, topic: str | None, now: float, *, recognizer_available: bool = True) -> None:
        """The call reached the assistant (``topic``: what the caller chose in the menu)."""
        self._topic = topic
        self._available = recognizer_available
        self._dispatch(DialogueInput.STARTED, now)

    def speech_started(self, now: float) -> None:
        """The detector heard the caller begin to speak (barge-in)."""
        self._dispatch(DialogueInput.SPEECH_STARTED, now)

    def utterance(
        self, listen_id: int, transcript: str, match: AnswerMatch | None, now: float
    ) -> None:
        """The transcript of :class:`Listen` ``listen_id`` (``match``: for a question)."""
        if listen_id != self._listening:
            return  # a recognition the dialogue has moved past (a key, a time-out)
        self._text = " ".join(transcript[:MAX_TRANSCRIPT_CHARS].split())
        self._match = match
        self._dispatch(DialogueInput.UTTERANCE, now)

    def recognition_failed(self, listen_id: int, now: float) -> None:
        """The recogniser could not take or finish :class:`Listen` ``listen_id``."""
        if listen_id != self._listening:
            return
        self._dispatch(DialogueInput.RECOGNITION_FAILED, now)

    def dtmf(self, digit: str, now: float) -> None:
        """The caller pressed ``digit`` (RFC 4733 telephone-event or in-band)."""
        if digit not in DIGITS:
            raise LocalProtocolError(f"not a DTMF key: {digit!r}")
        self._digit = digit
        self._dispatch(DialogueInput.DTMF, now)

    def playback_finished(self, say_id: int, now: float) -> None:
        """:class:`Say` ``say_id`` has played to its end."""
        if say_id != self._saying:
            return  # stopped earlier (barge-in), or an older phrase
        self._saying = None
        self._dispatch(DialogueInput.PLAYBACK_FINISHED, now)

    def handle_timer(self, now: float) -> None:
        """The timer of :meth:`get_timer` fired (early or stale calls are ignored)."""
        if self._deadline is None or now < self._deadline:
            return
        self._deadline = None
        self._dispatch(DialogueInput.TIMER, now)

    def abort(self, now: float) -> None:
        """The assistant cannot go on (speech synthesis broke): hand over at once, unsaid."""
        self._dispatch(DialogueInput.ABORTED, now)

    def caller_hung_up(self, now: float) -> None:
        """The caller left: the conversation ends (resolved if an answer had helped)."""
        self._dispatch(DialogueInput.HUNG_UP, now)

    # -- the table -----------------------------------------------------------------------
    def _dispatch(self, what: DialogueInput, now: float) -> None:
        action = TRANSITIONS.get((self._state, what))
        if action is None:
            raise LocalProtocolError(f"bot: {what.value} is not expected while {self._state.value}")
        handler = _HANDLERS[action]
        handler(self, now)

    # -- actions -------------------------------------------------------------------------
    def _begin(self, now: float) -> None:
        if not self._available:
            self._hand_over(HandOverReason.UNAVAILABLE, Phrase.UNAVAILABLE)
            return
        self._say(DialogueState.SAY_GREETING, (Phrase.GREETING,), barge_in=True)

    def _hear(self, now: float) -> None:
        state, purpose = _HEARING[self._state]
        self._stop_saying()
        self._enter(state, now + self._config.max_utterance_s)
        grammar = (
            self._config.question_grammar
            if purpose is ListenFor.QUESTION
            else self._config.confirmation_grammar or CONFIRMATION_GRAMMAR
        )
        self._listening = self._new_id()
        self._outputs.append(Listen(self._listening, purpose, grammar))

    def _question(self, now: float) -> None:
        text, match = self._text, self._match
        self._note(text)
        if asks_for_operator(text):
            self._hand_over(HandOverReason.CALLER_ASKED)
            return
        if not self._count_turn():
            return
        if not text:  # noise, a cough: listen again
            self._listen(DialogueState.LISTEN_QUESTION, now)
            return
        answer = None
        if match is not None and match.answer_id is not None:
            answer = self._answers(match.answer_id)
        if match is None or match.answer_id is None or not answer:
            self._unclear_again(Phrase.REPHRASE, DialogueState.SAY_PROMPT)
            return
        self._matched = match.answer_id
        self._unclear = 0
        self._silences = 0
        if match.escalate:
            self._hand_over(HandOverReason.ESCALATE, Phrase.HANDOVER, before=(answer,))
        else:
            self._say(DialogueState.SAY_ANSWER, (answer,), barge_in=True)

    def _reply(self, now: float) -> None:
        text = self._text
        self._note(text)
        reply = _classify_reply(text)
        if reply is Reply.OPERATOR:
            self._hand_over(HandOverReason.CALLER_ASKED)
        elif not self._count_turn():
            return
        elif reply is Reply.NO:
            self._hand_over(HandOverReason.NOT_HELPED)
        elif reply is Reply.YES:
            self._yes()
        else:
            self._unclear_again(Phrase.HELPED_AGAIN, DialogueState.SAY_HELPED)

    def _listen_question(self, now: float) -> None:
        self._listen(DialogueState.LISTEN_QUESTION, now)

    def _ask_helped(self, now: float) -> None:
        self._say(DialogueState.SAY_HELPED, (Phrase.HELPED,), barge_in=True)

    def _listen_helped(self, now: float) -> None:
        self._listen(DialogueState.LISTEN_HELPED, now)

    def _handed_over(self, now: float) -> None:
        reason = self._handover if self._handover is not None else HandOverReason.FAILURE
        self._finish(HandOver(reason, self.transcript, self._matched))

    def _goodbye_played(self, now: float) -> None:
        self._finish(End(Outcome.RESOLVED, self.transcript, self._matched))

    def _key(self, now: float) -> None:
        digit, state = self._digit, self._state
        if digit == "0":
            self._hand_over(HandOverReason.CALLER_ASKED)
        elif digit == "1" and state in (_S.SAY_HELPED, _S.LISTEN_HELPED, _S.HEAR_HELPED):
            self._note("[1]")
            self._yes()
        # Any other key means nothing to the assistant: it goes on.

    def _silence(self, now: float) -> None:
        if self._state is DialogueState.LISTEN_QUESTION and self._resolved:
            self._say(DialogueState.SAY_GOODBYE, (Phrase.GOODBYE,), barge_in=False)
            return
        self._silences += 1
        if self._silences > self._config.max_silences:
            self._hand_over(HandOverReason.SILENCE)
        elif self._state is DialogueState.LISTEN_QUESTION:
            self._say(DialogueState.SAY_PROMPT, (Phrase.ASK_AGAIN,), barge_in=True)
        else:
            self._say(DialogueState.SAY_HELPED, (Phrase.HELPED_AGAIN,), barge_in=True)

    def _recognition_failed(self, now: float) -> None:
        self._hand_over(HandOverReason.UNAVAILABLE, Phrase.UNAVAILABLE)

    def _abort(self, now: float) -> None:
        self._stop_saying()
        self._finish(HandOver(HandOverReason.FAILURE, self.transcript, self._matched))

    def _hang_up(self, now: float) -> None:
        outcome = Outcome.RESOLVED if self._resolved else Outcome.HUNG_UP
        self._saying = None  # the media leg is gone: nothing to stop
        self._finish(End(outcome, self.transcript, self._matched))

    def _ignore(self, now: float) -> None:
        return

    # -- helpers -------------------------------------------------------------------------
    def _new_id(self) -> int:
        new = self._next_id
        self._next_id += 1
        return new

    def _enter(self, state: DialogueState, deadline: float | None) -> None:
        self._state = state
        self._deadline = deadline
        self._listening = None

    def _stop_saying(self) -> None:
        if self._saying is not None:
            self._outputs.append(StopSaying(self._saying))
            self._saying = None

    def _say(self, state: DialogueState, texts: tuple[str, ...], *, barge_in: bool) -> None:
        self._stop_saying()
        self._enter(state, None)
        self._saying = self._new_id()
        self._outputs.append(Say(self._saying, tuple(str(t) for t in texts), barge_in))

    def _listen(self, state: DialogueState, now: float) -> None:
        self._enter(state, now + self._config.silence_timeout_s)

    def _hand_over(
        self,
        reason: HandOverReason,
        phrase: Phrase = Phrase.HANDOVER,
        *,
        before: tuple[str, ...] = (),
    ) -> None:
        self._handover = reason
        self._say(DialogueState.SAY_HANDOVER, (*before, phrase), barge_in=False)

    def _yes(self) -> None:
        self._resolved = True
        self._unclear = 0
        self._silences = 0
        self._say(DialogueState.SAY_PROMPT, (Phrase.ANOTHER_QUESTION,), barge_in=True)

    def _unclear_again(self, phrase: Phrase, state: DialogueState) -> None:
        self._unclear += 1
        if self._unclear > self._config.max_unclear:
            self._hand_over(HandOverReason.NOT_UNDERSTOOD)
        else:
            self._say(state, (phrase,), barge_in=True)

    def _count_turn(self) -> bool:
        """Count an utterance; False (and the call handed over) past the cap."""
        self._turns += 1
        if self._turns > self._config.max_turns:
            self._hand_over(HandOverReason.TURN_LIMIT)
            return False
        return True

    def _note(self, text: str) -> None:
        if text and len(self._transcript) < MAX_TRANSCRIPT_ENTRIES:
            self._transcript.append(text)

    def _finish(self, output: HandOver | End) -> None:
        self._enter(DialogueState.ENDED, None)
        self._outputs.append(output)


_HANDLERS: Final[dict[Action, Callable[[Dialogue, float], None]]] = {
    Action.BEGIN: Dialogue._begin,
    Action.HEAR: Dialogue._hear,
    Action.QUESTION: Dialogue._question,
    Action.REPLY: Dialogue._reply,
    Action.LISTEN_QUESTION: Dialogue._listen_question,
    Action.ASK_HELPED: Dialogue._ask_helped,
    Action.LISTEN_HELPED: Dialogue._listen_helped,
    Action.HANDED_OVER: Dialogue._handed_over,
    Action.GOODBYE_PLAYED: Dialogue._goodbye_played,
    Action.KEY: Dialogue._key,
    Action.SILENCE: Dialogue._silence,
    Action.RECOGNITION_FAILED: Dialogue._recognition_failed,
    Action.ABORT: Dialogue._abort,
    Action.HANG_UP: Dialogue._hang_up,
    Action.IGNORE: Dialogue._ignore,
}
