"""The voice-menu interpreter: one sans-IO session per call, driven by inputs and ``now``.

An :class:`IvrSession` walks a :class:`~hotline.ivr.flow.Flow` for one call.
It does no I/O and reads no clock (h11/aioquic style, docs/style.md): the call
layer feeds it inputs --

* :meth:`IvrSession.playback_finished` when a :class:`PlayPrompts` item ended,
* :meth:`IvrSession.dtmf` for each key (RFC 4733 §3.2 events 0-15),
* :meth:`IvrSession.handle_timer` when :meth:`IvrSession.get_timer` is due,
* :meth:`IvrSession.caller_hung_up`, and
* :meth:`IvrSession.route_failed` when a bot or external hand-off failed --

and reads commands and facts with :meth:`IvrSession.next_event` until None
(:mod:`hotline.ivr.ivr_events`).

Behaviour
    A menu says its prompt (a key stops it when ``barge_in``), then waits
    ``timeout_s`` for a key.  A wrong key plays the invalid-input message and
    the prompt again; silence plays the time-out message and the prompt
    again; after ``max_retries`` such retries the call goes to the fallback
    (by default the flow's operator node).  The repeat key says the prompt
    again.  The flow's operator key ("0") leads to the operator from any menu
    and, as the first key, from any collect node -- even while the prompt
    plays without barge-in.  A key that cuts a barge-in ``play`` message short
    is kept and used by the next menu or collect node (type-ahead).
    Time conditions see ``local_time``, the aware time the call arrived;
    incident announcements play for the flags in ``incidents``.

Limits
    Every node visit, repeat and retry is a step; when a call has used the
    flow's ``max_steps`` it goes straight to the operator node if that is a
    queue (else it ends), with a :class:`StepLimitReached` fact.  A playback
    item that is never reported finished is given up after
    :data:`PLAYBACK_GUARD_S` (the timer covers it), so a session always
    moves on with timers alone.

The session's states and the inputs each accepts form one table
(:data:`TRANSITIONS`); an input the table does not list for the current state
is the driver's bug and raises :class:`~hotline.core.errors.LocalProtocolError`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Collection, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final

from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, TopicId
from hotline.ivr.flow import MAX_DEPTH, Flow
from hotline.ivr.flow_checks import DTMF_KEYS
from hotline.ivr.flow_nodes import (
    BotNode,
    CollectNode,
    ExternalNode,
    HangupNode,
    IncidentNode,
    MenuNode,
    Node,
    PlayNode,
    Prompt,
    QueueNode,
    SetTopicNode,
    TimeConditionNode,
)
from hotline.ivr.flow_time import in_ranges
from hotline.ivr.ivr_events import (
    DigitsCollected,
    Hangup,
    IncidentAnnounced,
    InputFailed,
    InputFailure,
    IvrChoiceMade,
    IvrEvent,
    PlayPrompts,
    RouteToBot,
    RouteToQueue,
    StartDigitCollection,
    StepLimitReached,
    StopPlayback,
    TopicSet,
    TransferExternal,
)

__all__ = ["PLAYBACK_GUARD_S", "TRANSITIONS", "Action", "IvrInput", "IvrSession", "SessionState"]

PLAYBACK_GUARD_S: Final = 600.0
"""A playback item not reported finished within this time is taken as finished."""


class SessionState(enum.Enum):
    """Where a session is."""

    PLAYING = "playing"  # a message plays; the flow goes on when it ends
    PROMPTING = "prompting"  # a menu or collect prompt plays
    WAITING = "waiting"  # waiting for the caller's keys
    ROUTED = "routed"  # handed to a queue, the bot or an external number
    ENDED = "ended"  # hung up, by the menu or by the caller


class IvrInput(enum.Enum):
    """What the call layer can tell a session."""

    PLAYBACK_FINISHED = "playback_finished"
    DTMF = "dtmf"
    TIMER = "timer"
    CALLER_HUNG_UP = "caller_hung_up"
    ROUTE_FAILED = "route_failed"


class Action(enum.Enum):
    """What a session does with an input in a state."""

    CONTINUE = "continue"  # the message ended (or its guard timer fired): go on
    MESSAGE_KEY = "message_key"  # a key during a message: barge in, or ignore it
    START_INPUT = "start_input"  # the prompt ended (or its guard fired): wait for keys
    PROMPT_KEY = "prompt_key"  # a key during a menu/collect prompt
    INPUT_KEY = "input_key"  # a key while waiting for keys
    INPUT_TIMEOUT = "input_timeout"  # nothing (more) pressed in time
    RESUME = "resume"  # a bot/external hand-off failed: go to its fallback
    END = "end"  # the caller hung up
    IGNORE = "ignore"


_S = SessionState
_I = IvrInput
TRANSITIONS: Final[Mapping[tuple[SessionState, IvrInput], Action]] = MappingProxyType(
    {
        (_S.PLAYING, _I.PLAYBACK_FINISHED): Action.CONTINUE,
        (_S.PLAYING, _I.TIMER): Action.CONTINUE,
        (_S.PLAYING, _I.DTMF): Action.MESSAGE_KEY,
        (_S.PLAYING, _I.CALLER_HUNG_UP): Action.END,
        (_S.PROMPTING, _I.PLAYBACK_FINISHED): Action.START_INPUT,
        (_S.PROMPTING, _I.TIMER): Action.START_INPUT,
        (_S.PROMPTING, _I.DTMF): Action.PROMPT_KEY,
        (_S.PROMPTING, _I.CALLER_HUNG_UP): Action.END,
        (_S.WAITING, _I.DTMF): Action.INPUT_KEY,
        (_S.WAITING, _I.TIMER): Action.INPUT_TIMEOUT,
        (_S.WAITING, _I.CALLER_HUNG_UP): Action.END,
        (_S.ROUTED, _I.DTMF): Action.IGNORE,  # a key in flight as the call left the menu
        (_S.ROUTED, _I.CALLER_HUNG_UP): Action.END,
        (_S.ROUTED, _I.ROUTE_FAILED): Action.RESUME,
        (_S.ENDED, _I.DTMF): Action.IGNORE,
        (_S.ENDED, _I.CALLER_HUNG_UP): Action.IGNORE,
    }
)
"""Every (state, input) pair a session accepts; playback and timer inputs that are
stale (another item, no timer due) are dropped before the table is consulted."""


class IvrSession:
    """The voice menu of one call (module docstring)."""

    __slots__ = (
        "_after",
        "_attempts",
        "_call_id",
        "_deadline",
        "_digits",
        "_events",
        "_flow",
        "_incidents",
        "_item",
        "_item_barge_in",
        "_item_seq",
        "_local_time",
        "_node",
        "_state",
        "_steps",
        "_topic",
        "_typeahead",
        "_variables",
    )

    def __init__(
        self,
        flow: Flow,
        call_id: CallId,
        now: float,
        *,
        local_time: datetime,
        incidents: Collection[str] = (),
    ) -> None:
        if local_time.tzinfo is None or local_time.utcoffset() is None:
            raise LocalProtocolError("local_time must be an aware datetime")
        self._flow = flow
        self._call_id = call_id
        self._local_time = local_time
        self._incidents = frozenset(incidents)
        self._events: deque[IvrEvent] = deque()
        self._state = SessionState.PLAYING
        self._node: Node = flow.node(flow.start)
        self._after = flow.start
        self._item: str | None = None
        self._item_barge_in = False
        self._item_seq = 0
        self._deadline: float | None = None
        self._attempts = 0
        self._digits = ""
        self._typeahead: str | None = None
        self._steps = 0
        self._topic: TopicId | None = None
        self._variables: dict[str, str] = {}
        self._enter(flow.start, now)

    # -- what the driver reads ---------------------------------------------
    @property
    def call_id(self) -> CallId:
        return self._call_id

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def node_id(self) -> str:
        """The node the call is at (for a finished session: the last one)."""
        return self._node.id

    @property
    def topic(self) -> TopicId | None:
        return self._topic

    @property
    def variables(self) -> Mapping[str, str]:
        """What collect nodes stored, by variable name."""
        return MappingProxyType(dict(self._variables))

    @property
    def steps(self) -> int:
        """Steps used so far (never above the flow's ``max_steps``)."""
        return self._steps

    @property
    def finished(self) -> bool:
        """True once the call left the menu (routed or ended)."""
        return self._state in (SessionState.ROUTED, SessionState.ENDED)

    def next_event(self) -> IvrEvent | None:
        """The next command or fact, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should be called next (monotonic seconds), or None."""
        return self._deadline

    # -- inputs ------------------------------------------------------------
    def handle_timer(self, now: float) -> None:
        """Fire the timer if it is due at ``now`` (early or stale calls do nothing)."""
        if self._deadline is None or now < self._deadline:
            return
        self._deadline = None
        self._dispatch(IvrInput.TIMER, now, "")

    def playback_finished(self, item_id: str, now: float) -> None:
        """Playback item ``item_id`` played to its end (other items are ignored)."""
        if self._item is None or item_id != self._item:
            return
        self._dispatch(IvrInput.PLAYBACK_FINISHED, now, "")

    def dtmf(self, digit: str, now: float) -> None:
        """The caller pressed ``digit`` (one of 0-9, *, #, A-D)."""
        if digit not in DTMF_KEYS:
            raise LocalProtocolError(f"not a DTMF key: {digit!r}")
        self._dispatch(IvrInput.DTMF, now, digit)

    def caller_hung_up(self, now: float) -> None:
        """The caller left; the session ends without further commands."""
        self._dispatch(IvrInput.CALLER_HUNG_UP, now, "")

    def route_failed(self, now: float) -> None:
        """The bot or external hand-off could not take the call: go on at its fallback."""
        self._dispatch(IvrInput.ROUTE_FAILED, now, "")

    # -- the table ---------------------------------------------------------
    def _dispatch(self, what: IvrInput, now: float, digit: str) -> None:
        action = TRANSITIONS.get((self._state, what))
        if action is None:
            raise LocalProtocolError(
                f"call {self._call_id}: {what.value} is not expected while {self._state.value}"
            )
        if action is Action.CONTINUE:
            self._drop_item(stop=what is IvrInput.TIMER)
            self._enter(self._after, now)
        elif action is Action.MESSAGE_KEY:
            if self._item_barge_in:
                self._drop_item(stop=True)
                self._typeahead = digit
                self._enter(self._after, now)
        elif action is Action.START_INPUT:
            self._drop_item(stop=what is IvrInput.TIMER)
            self._start_input(now)
        elif action is Action.PROMPT_KEY:
            if self._item_barge_in or digit == self._hotkey():
                self._drop_item(stop=True)
                self._start_input(now)
                self._input_key(digit, now)
        elif action is Action.INPUT_KEY:
            self._input_key(digit, now)
        elif action is Action.INPUT_TIMEOUT:
            if isinstance(self._node, CollectNode) and self._digits:
                self._finish_collect(now)
            else:
                self._fail(InputFailure.TIMEOUT, now)
        elif action is Action.RESUME:
            self._resume(now)
        elif action is Action.END:
            self._drop_item(stop=False)
            self._deadline = None
            self._state = SessionState.ENDED

    # -- walking the flow --------------------------------------------------
    def _enter(self, node_id: str, now: float) -> None:
        """Go to ``node_id`` and through every node that needs no input."""
        while True:
            if not self._count_step(node_id, now):
                return
            node = self._flow.node(node_id)
            self._node = node
            self._attempts = 0
            self._digits = ""
            if isinstance(node, PlayNode):
                if self._message(node.prompts, node.barge_in, node.next, now):
                    return
                node_id = node.next
            elif isinstance(node, IncidentNode):
                if node.flag in self._incidents:
                    self._emit(IncidentAnnounced(self._call_id, node.id, node.flag, now))
                    if self._message(node.prompts, node.barge_in, node.next, now):
                        return
                node_id = node.next
            elif isinstance(node, SetTopicNode):
                self._topic = node.topic
                self._emit(TopicSet(self._call_id, node.topic, now))
                node_id = node.next
            elif isinstance(node, TimeConditionNode):
                node_id = node.if_true if self._time_matches(node) else node.if_false
            elif isinstance(node, MenuNode | CollectNode):
                self._begin_input_node(node, now)
                return
            else:
                self._hand_off(node)
                return

    def _hand_off(self, node: QueueNode | BotNode | ExternalNode | HangupNode) -> None:
        self._typeahead = None
        if isinstance(node, QueueNode):
            self._route(RouteToQueue(node.queue, self._topic))
        elif isinstance(node, BotNode):
            topic = node.topic if node.topic is not None else self._topic
            self._route(RouteToBot(topic, node.fallback))
        elif isinstance(node, ExternalNode):
            fallback = self._flow.fallback_of(node)
            self._route(TransferExternal(node.target, self._topic, fallback))
        else:
            self._end(Hangup(self._resolve(node.prompts), node.informational))

    def _begin_input_node(self, node: MenuNode | CollectNode, now: float) -> None:
        digit = self._typeahead
        if digit is None:
            self._play(node.prompts, node.barge_in, now)
            self._state = SessionState.PROMPTING
            return
        self._typeahead = None
        self._start_input(now)
        self._input_key(digit, now)

    def _message(self, prompts: tuple[Prompt, ...], barge_in: bool, after: str, now: float) -> bool:
        """Play a message, then ``after``; False: skipped (a key was typed ahead)."""
        if self._typeahead is not None:
            if barge_in:
                return False
            self._typeahead = None
        self._play(prompts, barge_in, now)
        self._after = after
        self._state = SessionState.PLAYING
        return True

    def _start_input(self, now: float) -> None:
        node = self._node
        if isinstance(node, MenuNode):
            command = StartDigitCollection(node.id, 1, 1, None, node.timeout_s, None)
        elif isinstance(node, CollectNode):
            command = StartDigitCollection(
                node.id,
                node.min_digits,
                node.max_digits,
                node.terminator,
                node.timeout_s,
                node.inter_digit_timeout_s,
            )
        else:
            raise LocalProtocolError(f"node {node.id!r} does not take input")
        self._emit(command)
        self._state = SessionState.WAITING
        self._deadline = now + node.timeout_s

    def _hotkey(self) -> str | None:
        """The operator key, if it leads to the operator from here right now."""
        if self._flow.operator_target(self._node) is None:
            return None
        if isinstance(self._node, CollectNode) and self._digits:
            return None
        return self._flow.operator_key

    def _input_key(self, digit: str, now: float) -> None:
        node = self._node
        if isinstance(node, MenuNode):
            target = node.branches.get(digit)
            if target is None and digit == self._hotkey():
                target = self._flow.operator_target(node)
            if target is not None:
                self._choose(node, digit, target, now)
            elif digit == node.repeat_key:
                self._replay((), now)
            else:
                self._fail(InputFailure.INVALID, now)
            return
        if not isinstance(node, CollectNode):
            raise LocalProtocolError(f"node {node.id!r} does not take input")
        operator = self._flow.operator_target(node)
        if operator is not None and digit == self._hotkey():
            self._choose(node, digit, operator, now)
        elif digit == node.terminator:
            self._finish_collect(now)
        else:
            self._digits += digit
            if len(self._digits) >= node.max_digits:
                self._finish_collect(now)
            else:
                self._deadline = now + node.inter_digit_timeout_s

    def _choose(self, node: MenuNode | CollectNode, digit: str, target: str, now: float) -> None:
        self._deadline = None
        info = self._leads_to_information(target)
        self._emit(IvrChoiceMade(self._call_id, node.id, digit, info, now))
        self._enter(target, now)

    def _finish_collect(self, now: float) -> None:
        node = self._node
        if not isinstance(node, CollectNode):
            raise LocalProtocolError(f"node {node.id!r} does not collect digits")
        value, self._digits = self._digits, ""
        self._deadline = None
        if not node.accepts(value):
            self._fail(InputFailure.INVALID, now)
            return
        self._variables[node.variable] = value
        self._emit(DigitsCollected(self._call_id, node.id, node.variable, now))
        self._enter(node.next, now)

    def _fail(self, reason: InputFailure, now: float) -> None:
        node = self._node
        if not isinstance(node, MenuNode | CollectNode):
            raise LocalProtocolError(f"node {node.id!r} does not take input")
        self._deadline = None
        self._digits = ""
        self._attempts += 1
        self._emit(InputFailed(self._call_id, node.id, reason, self._attempts, now))
        if self._attempts > node.max_retries:
            fallback = self._flow.fallback_of(node)
            if fallback is None:  # a Flow cannot be built so; kept for the type checker
                raise LocalProtocolError(f"node {node.id!r} has no fallback")
            self._enter(fallback, now)
            return
        message = node.invalid_prompts if reason is InputFailure.INVALID else node.timeout_prompts
        self._replay(message, now)

    def _replay(self, message: tuple[Prompt, ...], now: float) -> None:
        """Say the current menu or collect prompt again, after ``message``."""
        node = self._node
        if not isinstance(node, MenuNode | CollectNode):
            raise LocalProtocolError(f"node {node.id!r} has no prompt to repeat")
        if not self._count_step(node.id, now):
            return
        self._deadline = None
        self._digits = ""
        self._play((*message, *node.prompts), node.barge_in, now)
        self._state = SessionState.PROMPTING

    def _resume(self, now: float) -> None:
        node = self._node
        if not isinstance(node, BotNode | ExternalNode):
            raise LocalProtocolError(f"call {self._call_id}: node {node.id!r} cannot fail back")
        if not self._count_step(node.id, now):
            return
        fallback = self._flow.fallback_of(node)
        if fallback is None:
            self._end(Hangup(self._resolve(node.fallback_prompts), False))
        elif not node.fallback_prompts:
            self._enter(fallback, now)
        else:
            self._play(node.fallback_prompts, False, now)
            self._after = fallback
            self._state = SessionState.PLAYING

    # -- helpers -----------------------------------------------------------
    def _count_step(self, node_id: str, now: float) -> bool:
        """Use one step; at the limit, send the call to the operator and return False."""
        if self._steps < self._flow.max_steps:
            self._steps += 1
            return True
        self._emit(StepLimitReached(self._call_id, node_id, now))
        self._drop_item(stop=True)
        self._typeahead = None
        operator = self._flow.operator_node
        target = None if operator is None else self._flow.node(operator)
        if isinstance(target, QueueNode):
            self._node = target
            self._route(RouteToQueue(target.queue, self._topic))
        else:
            self._end(Hangup((), False))
        return False

    def _leads_to_information(self, node_id: str) -> bool:
        """True if ``node_id`` leads, without input, to an informational hang-up."""
        for _ in range(MAX_DEPTH + 1):
            node = self._flow.node(node_id)
            if isinstance(node, PlayNode | IncidentNode | SetTopicNode):
                node_id = node.next
            elif isinstance(node, TimeConditionNode):
                node_id = node.if_true if self._time_matches(node) else node.if_false
            else:
                return isinstance(node, HangupNode) and node.informational
        return False

    def _time_matches(self, node: TimeConditionNode) -> bool:
        return in_ranges(node.ranges, node.timezone, self._local_time)

    def _play(self, prompts: tuple[Prompt, ...], barge_in: bool, now: float) -> None:
        self._drop_item(stop=True)
        self._item_seq += 1
        item = f"{self._call_id}.ivr.{self._item_seq}"
        self._item = item
        self._item_barge_in = barge_in
        self._emit(PlayPrompts(item, self._resolve(prompts), barge_in))
        self._deadline = now + PLAYBACK_GUARD_S

    def _drop_item(self, *, stop: bool) -> None:
        if self._item is not None and stop:
            self._emit(StopPlayback(self._item))
        self._item = None
        self._item_barge_in = False

    def _route(self, command: RouteToQueue | RouteToBot | TransferExternal) -> None:
        self._deadline = None
        self._state = SessionState.ROUTED
        self._emit(command)

    def _end(self, command: Hangup) -> None:
        self._deadline = None
        self._state = SessionState.ENDED
        self._emit(command)

    def _resolve(self, prompts: tuple[Prompt, ...]) -> tuple[Prompt, ...]:
        """Fill in library texts, so the driver can synthesise what was not uploaded."""
        flow = self._flow
        return tuple(
            Prompt(p.prompt_id, flow.prompt_text(p.prompt_id))
            if p.text is None and p.prompt_id is not None and p.prompt_id in flow.prompts
            else p
            for p in prompts
        )

    def _emit(self, event: IvrEvent) -> None:
        self._events.append(event)
