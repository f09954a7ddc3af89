"""The assistant's dialogue state machine, on plain-float time, with a fake knowledge base."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.bot.dialogue import TRANSITIONS, Action, Dialogue
from hotline.bot.dialogue_model import (
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
from hotline.bot.phrases_ru import CONFIRMATION_GRAMMAR, Phrase
from hotline.bot.ports import AnswerMatch
from hotline.core.errors import ConfigurationError, LocalProtocolError

ANSWERS = {
    "health-01": "Записаться к врачу можно через Госуслуги или регистратуру поликлиники.",
    "military-02": "Отсрочку оформляет военный комиссариат.",
}
MATCH = AnswerMatch("health-01", 0.9, "health-01")
ESCALATE = AnswerMatch("military-02", 0.8, "military-02", escalate=True)
BELOW = AnswerMatch(None, 0.2, "health-01")


def drain(d: Dialogue) -> list[DialogueOutput]:
    out = []
    while (event := d.next_event()) is not None:
        out.append(event)
    return out


def start(config: DialogueConfig | None = None, topic: str | None = "health") -> Dialogue:
    d = Dialogue(ANSWERS.get, config)
    d.started(topic, 0.0)
    (greeting,) = drain(d)
    assert greeting == Say(1, (Phrase.GREETING.value,), True)
    return d


def current_say(outputs: list[DialogueOutput]) -> Say:
    says = [o for o in outputs if isinstance(o, Say)]
    assert len(says) == 1, outputs
    return says[0]


def ask(d: Dialogue, now: float, text: str, match: AnswerMatch | None) -> list[DialogueOutput]:
    """The caller speaks (from a listening or barge-in state) and is recognised."""
    d.speech_started(now)
    first = drain(d)
    listens = [o for o in first if isinstance(o, Listen)]
    assert len(listens) == 1
    d.utterance(listens[0].listen_id, text, match, now + 1.0)
    return [o for o in first if not isinstance(o, Listen)] + drain(d)


def play_out(d: Dialogue, say: Say, now: float) -> list[DialogueOutput]:
    d.playback_finished(say.say_id, now)
    return drain(d)


def to_answer(d: Dialogue) -> Say:
    play_out(d, Say(1, (), True), 5.0)  # the greeting played
    say = current_say(ask(d, 6.0, "как записаться к врачу", MATCH))
    assert say.texts == (ANSWERS["health-01"],) and say.barge_in
    assert d.state is DialogueState.SAY_ANSWER
    return say


def to_helped(d: Dialogue) -> Say:
    answer = to_answer(d)
    helped = current_say(play_out(d, answer, 20.0))
    assert helped.texts == (Phrase.HELPED.value,) and helped.barge_in
    assert d.state is DialogueState.SAY_HELPED
    return helped


def finish_handover(d: Dialogue, reason: HandOverReason) -> HandOver:
    assert d.state is DialogueState.SAY_HANDOVER
    say_id = d._saying
    assert say_id is not None
    outs = play_out(d, Say(say_id, (), False), 100.0)
    assert len(outs) == 1 and isinstance(outs[0], HandOver)
    assert outs[0].reason is reason
    assert d.finished and d.get_timer() is None
    return outs[0]


# -- the main flow -----------------------------------------------------------------------


def test_greeting_question_answer_helped_yes_then_silence_ends_resolved() -> None:
    d = start()
    helped = to_helped(d)
    listen = play_out(d, helped, 30.0)
    assert listen == [] and d.state is DialogueState.LISTEN_HELPED
    assert d.get_timer() == 38.0
    outs = ask(d, 31.0, "да помог", None)
    another = current_say(outs)
    assert another.texts == (Phrase.ANOTHER_QUESTION.value,) and d.resolved
    assert play_out(d, another, 40.0) == [] and d.get_timer() == 48.0
    d.handle_timer(47.9)  # early: nothing
    assert drain(d) == []
    d.handle_timer(48.0)
    goodbye = current_say(drain(d))
    assert goodbye.texts == (Phrase.GOODBYE.value,) and not goodbye.barge_in
    (end,) = play_out(d, goodbye, 52.0)
    assert end == End(Outcome.RESOLVED, ("как записаться к врачу", "да помог"), "health-01")
    assert d.finished


def test_the_confirmation_is_recognised_with_the_yes_no_grammar() -> None:
    d = start()
    helped = to_helped(d)
    d.speech_started(25.0)  # barge-in into «Ответ помог?»
    outs = drain(d)
    assert outs[0] == StopSaying(helped.say_id)
    assert isinstance(outs[1], Listen) and outs[1].purpose is ListenFor.CONFIRMATION
    assert outs[1].grammar == CONFIRMATION_GRAMMAR
    assert d.get_timer() == 25.0 + DialogueConfig().max_utterance_s


def test_questions_use_free_recognition_or_the_configured_grammar() -> None:
    d = start()
    d.speech_started(1.0)
    stop, listen = drain(d)
    assert stop == StopSaying(1) and listen == Listen(2, ListenFor.QUESTION, None)
    d2 = start(DialogueConfig(question_grammar=("안녕하세요",)))
    d2.speech_started(1.0)
    assert drain(d2)[1] == Listen(2, ListenFor.QUESTION, ("안녕하세요",))


def test_key_1_confirms_and_key_0_hands_over_at_once() -> None:
    d = start()
    helped = to_helped(d)
    d.dtmf("1", 21.0)
    outs = drain(d)
    assert outs[0] == StopSaying(helped.say_id)
    assert current_say(outs).texts == (Phrase.ANOTHER_QUESTION.value,)
    assert d.transcript == ("как записаться к врачу", "[1]")
    d.dtmf("0", 22.0)
    outs = drain(d)
    assert isinstance(outs[0], StopSaying)
    assert current_say(outs) == Say(outs[1].say_id, (Phrase.HANDOVER.value,), False)  # type: ignore[union-attr]
    handover = finish_handover(d, HandOverReason.CALLER_ASKED)
    assert handover.matched_id == "health-01"


def test_no_hands_over_as_not_helped() -> None:
    d = start()
    helped = to_helped(d)
    play_out(d, helped, 30.0)
    outs = ask(d, 31.0, "нет не помогло", None)
    assert current_say(outs).texts == (Phrase.HANDOVER.value,)
    handover = finish_handover(d, HandOverReason.NOT_HELPED)
    assert handover.transcript == ("как записаться к врачу", "нет не помогло")
    assert handover.matched_id == "health-01"


def test_unclear_reply_is_asked_once_more_then_handed_over() -> None:
    d = start()
    helped = to_helped(d)
    play_out(d, helped, 30.0)
    again = current_say(ask(d, 31.0, "[unk]", None))
    assert again.texts == (Phrase.HELPED_AGAIN.value,)
    play_out(d, again, 35.0)
    outs = ask(d, 36.0, "погода", None)
    assert current_say(outs).texts == (Phrase.HANDOVER.value,)
    finish_handover(d, HandOverReason.NOT_UNDERSTOOD)


def test_another_question_after_yes_is_answered() -> None:
    d = start()
    helped = to_helped(d)
    d.dtmf("1", 21.0)
    another = current_say(drain(d))
    play_out(d, another, 25.0)
    say = current_say(ask(d, 26.0, "как записаться к врачу ещё раз", MATCH))
    assert say.texts == (ANSWERS["health-01"],)
    assert helped.say_id < say.say_id


# -- understanding -----------------------------------------------------------------------


def test_below_threshold_asks_once_to_rephrase_then_hands_over() -> None:
    d = start()
    play_out(d, Say(1, (), True), 5.0)
    rephrase = current_say(ask(d, 6.0, "что-то непонятное", BELOW))
    assert rephrase.texts == (Phrase.REPHRASE.value,) and d.state is DialogueState.SAY_PROMPT
    # The caller rephrases over the prompt (barge-in) and is still not understood.
    outs = ask(d, 7.0, "другое непонятное", BELOW)
    assert outs[0] == StopSaying(rephrase.say_id)
    assert current_say(outs).texts == (Phrase.HANDOVER.value,)
    handover = finish_handover(d, HandOverReason.NOT_UNDERSTOOD)
    assert handover.matched_id is None
    assert handover.transcript == ("что-то непонятное", "другое непонятное")


def test_a_rephrased_question_that_matches_is_answered() -> None:
    d = start()
    play_out(d, Say(1, (), True), 5.0)
    rephrase = current_say(ask(d, 6.0, "непонятно", None))
    play_out(d, rephrase, 9.0)
    assert current_say(ask(d, 10.0, "запись к врачу", MATCH)).texts == (ANSWERS["health-01"],)


def test_an_answer_id_without_approved_text_is_not_read() -> None:
    d = start()
    play_out(d, Say(1, (), True), 5.0)
    gone = AnswerMatch("deleted-01", 0.95)
    assert current_say(ask(d, 6.0, "вопрос", gone)).texts == (Phrase.REPHRASE.value,)
    assert d.matched_id is None


def test_escalate_answer_is_read_then_the_call_is_handed_over() -> None:
    d = start()
    play_out(d, Say(1, (), True), 5.0)
    say = current_say(ask(d, 6.0, "отсрочка от армии", ESCALATE))
    assert say.texts == (ANSWERS["military-02"], Phrase.HANDOVER.value) and not say.barge_in
    d.speech_started(8.0)  # no barge-in into a hand-over
    assert drain(d) == []
    handover = finish_handover(d, HandOverReason.ESCALATE)
    assert handover.matched_id == "military-02"


@pytest.mark.parametrize("text", ["соедините с оператором", "ОПЕРАТОР", "дайте оператора"])
def test_asking_for_an_operator_in_a_question_hands_over(text: str) -> None:
    d = start()
    outs = ask(d, 1.0, text, MATCH)
    assert current_say(outs).texts == (Phrase.HANDOVER.value,)
    finish_handover(d, HandOverReason.CALLER_ASKED)


def test_barge_in_during_the_answer_takes_a_new_question() -> None:
    d = start()
    answer = to_answer(d)
    d.speech_started(8.0)
    outs = drain(d)
    assert outs[0] == StopSaying(answer.say_id)
    assert isinstance(outs[1], Listen) and outs[1].purpose is ListenFor.QUESTION
    d.playback_finished(answer.say_id, 9.0)  # late report of the stopped answer: ignored
    assert drain(d) == [] and d.state is DialogueState.HEAR_QUESTION


def test_empty_transcript_is_noise_and_the_assistant_listens_again() -> None:
    d = start()
    play_out(d, Say(1, (), True), 5.0)
    assert ask(d, 6.0, "  ", None) == []
    assert d.state is DialogueState.LISTEN_QUESTION and d.get_timer() == 7.0 + 8.0
    assert d.transcript == ()


def test_turn_cap_hands_over() -> None:
    d = start(DialogueConfig(max_turns=2))
    play_out(d, Say(1, (), True), 5.0)
    ask(d, 6.0, "", None)
    ask(d, 8.0, "", None)
    outs = ask(d, 10.0, "", None)
    assert current_say(outs).texts == (Phrase.HANDOVER.value,)
    finish_handover(d, HandOverReason.TURN_LIMIT)


# -- silence and failures ----------------------------------------------------------------


def test_silence_asks_again_once_then_hands_over() -> None:
    d = start()
    play_out(d, Say(1, (), True), 5.0)
    assert d.get_timer() == 13.0
    d.handle_timer(13.0)
    again = current_say(drain(d))
    assert again.texts == (Phrase.ASK_AGAIN.value,) and d.get_timer() is None
    play_out(d, again, 16.0)
    d.handle_timer(24.0)
    assert current_say(drain(d)).texts == (Phrase.HANDOVER.value,)
    finish_handover(d, HandOverReason.SILENCE)


def test_silence_after_the_helped_question_repeats_it_then_hands_over() -> None:
    d = start()
    helped = to_helped(d)
    play_out(d, helped, 30.0)
    d.handle_timer(38.0)
    again = current_say(drain(d))
    assert again.texts == (Phrase.HELPED_AGAIN.value,)
    play_out(d, again, 40.0)
    d.handle_timer(48.0)
    assert current_say(drain(d)).texts == (Phrase.HANDOVER.value,)
    finish_handover(d, HandOverReason.SILENCE)


def test_no_recogniser_says_so_and_hands_over() -> None:
    d = Dialogue(ANSWERS.get)
    d.started(None, 0.0, recognizer_available=False)
    (say,) = drain(d)
    assert say == Say(1, (Phrase.UNAVAILABLE.value,), False)
    (handover,) = play_out(d, say, 4.0)
    assert handover == HandOver(HandOverReason.UNAVAILABLE, (), None)


def test_recognition_failure_and_stuck_recognition_hand_over_with_the_message() -> None:
    d = start()
    d.speech_started(1.0)
    listen = drain(d)[1]
    assert isinstance(listen, Listen)
    d.recognition_failed(listen.listen_id + 100, 2.0)  # not ours: ignored
    assert d.state is DialogueState.HEAR_QUESTION
    d.recognition_failed(listen.listen_id, 2.0)
    assert current_say(drain(d)).texts == (Phrase.UNAVAILABLE.value,)
    finish_handover(d, HandOverReason.UNAVAILABLE)

    d2 = start()
    d2.speech_started(1.0)
    drain(d2)
    d2.handle_timer(31.0)
    assert current_say(drain(d2)).texts == (Phrase.UNAVAILABLE.value,)


def test_abort_hands_over_without_a_word() -> None:
    d = start()
    d.abort(1.0)
    assert drain(d) == [StopSaying(1), HandOver(HandOverReason.FAILURE, (), None)]


def test_hang_up_ends_hung_up_or_resolved_after_a_yes() -> None:
    d = start()
    d.caller_hung_up(2.0)
    assert drain(d) == [End(Outcome.HUNG_UP, (), None)]
    d.caller_hung_up(3.0)  # late reports after the end: ignored
    d.dtmf("0", 3.0)
    assert drain(d) == []

    d2 = start()
    to_helped(d2)
    d2.dtmf("1", 21.0)
    drain(d2)
    d2.caller_hung_up(22.0)
    assert drain(d2) == [End(Outcome.RESOLVED, ("как записаться к врачу", "[1]"), "health-01")]


def test_stale_utterance_after_a_key_is_ignored() -> None:
    d = start()
    helped = to_helped(d)
    play_out(d, helped, 30.0)
    d.speech_started(31.0)
    (listen,) = drain(d)
    assert isinstance(listen, Listen)
    d.dtmf("1", 31.5)
    drain(d)
    d.utterance(listen.listen_id, "нет", None, 32.0)
    assert drain(d) == [] and d.resolved


def test_other_keys_are_ignored_and_bad_keys_refused() -> None:
    d = start()
    d.dtmf("5", 1.0)
    assert drain(d) == [] and d.state is DialogueState.SAY_GREETING
    with pytest.raises(LocalProtocolError):
        d.dtmf("x", 1.0)


def test_keys_during_the_handover_phrase_are_ignored_and_0_during_goodbye_hands_over() -> None:
    d = start()
    d.dtmf("0", 1.0)
    drain(d)
    d.dtmf("0", 1.5)
    assert drain(d) == []

    d2 = start()
    helped = to_helped(d2)
    d2.dtmf("1", 21.0)
    another = current_say(drain(d2))
    play_out(d2, another, 25.0)
    d2.handle_timer(33.0)
    goodbye = current_say(drain(d2))
    assert goodbye.texts == (Phrase.GOODBYE.value,) and helped.say_id < goodbye.say_id
    d2.dtmf("0", 34.0)
    outs = drain(d2)
    assert outs[0] == StopSaying(goodbye.say_id)
    finish_handover(d2, HandOverReason.CALLER_ASKED)


# -- the table itself --------------------------------------------------------------------


def test_inputs_not_in_the_table_are_errors() -> None:
    d = Dialogue(ANSWERS.get)
    with pytest.raises(LocalProtocolError):
        d.speech_started(0.0)
    d.started(None, 0.0)
    with pytest.raises(LocalProtocolError):
        d.started(None, 1.0)


def test_every_action_has_a_handler_and_every_live_state_takes_hang_up() -> None:
    assert set(TRANSITIONS.values()) == set(Action)
    for state in DialogueState:
        assert (state, DialogueInput.HUNG_UP) in TRANSITIONS


def test_config_limits() -> None:
    with pytest.raises(ConfigurationError):
        DialogueConfig(silence_timeout_s=0.1)
    with pytest.raises(ConfigurationError):
        DialogueConfig(max_turns=0)
    with pytest.raises(ConfigurationError):
        DialogueConfig(question_grammar=())


# -- properties --------------------------------------------------------------------------

_STEP = st.one_of(
    st.tuples(st.just("speech"), st.none()),
    st.tuples(st.just("utter"), st.sampled_from(["", "да", "нет", "оператор", "вопрос", "[unk]"])),
    st.tuples(st.just("fail"), st.none()),
    st.tuples(st.just("key"), st.sampled_from(["0", "1", "5", "#"])),
    st.tuples(st.just("played"), st.none()),
    st.tuples(st.just("timer"), st.none()),
)
_MATCHES = st.sampled_from([MATCH, ESCALATE, BELOW, None])


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(_STEP, _MATCHES), max_size=60))
def test_any_sequence_of_driver_reports_keeps_the_machine_consistent(
    steps: list[tuple[tuple[str, str | None], AnswerMatch | None]],
) -> None:
    d = Dialogue(ANSWERS.get, DialogueConfig(max_turns=5))
    d.started("health", 0.0)
    assert drain(d) == [Say(1, (Phrase.GREETING.value,), True)]
    now = 0.0
    saying: int | None = 1
    listening: int | None = None
    terminal = 0
    for (kind, arg), match in steps:
        now += 1.0
        if kind == "speech":
            d.speech_started(now)
        elif kind == "utter" and listening is not None:
            d.utterance(listening, arg or "", match, now)
        elif kind == "fail" and listening is not None:
            d.recognition_failed(listening, now)
        elif kind == "key":
            d.dtmf(arg or "0", now)
        elif kind == "played" and saying is not None:
            d.playback_finished(saying, now)
        elif kind == "timer" and (due := d.get_timer()) is not None:
            now = max(now, due)
            d.handle_timer(now)
        for out in drain(d):
            if isinstance(out, Say):
                saying = out.say_id
                assert out.texts and all(
                    t in ANSWERS.values() or t in {p.value for p in Phrase} for t in out.texts
                )
            elif isinstance(out, StopSaying):
                assert out.say_id == saying
                saying = None
            elif isinstance(out, Listen):
                listening = out.listen_id
            else:
                terminal += 1
                assert d.finished
        assert terminal <= 1
        if d.state in (DialogueState.LISTEN_QUESTION, DialogueState.LISTEN_HELPED):
            assert d.get_timer() is not None
    d.caller_hung_up(now + 1.0)
    final = drain(d)
    assert terminal + len(final) == 1
