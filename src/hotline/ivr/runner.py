"""The voice-menu runner (layer L3): one :class:`IvrSession` per call, driven by media events.

:class:`IvrRunner` is the driver of the sans-IO interpreter
(:mod:`hotline.ivr.interpreter`) for every call in the menu.  The call
controller hands it an answered call (:meth:`IvrRunner.start`), passes on the
caller leg's media events (:meth:`IvrRunner.on_media_event`) and says when
the call ends (:meth:`IvrRunner.end`).  The runner turns the session's
commands into media actions and routing decisions:

* ``PlayPrompts`` → one :class:`~hotline.media.player.PlaybackItem` of
  pre-rendered prompts (:class:`RenderedPrompts`, rendered at start-up so a
  call never waits for speech synthesis) on the caller's media leg, with the
  node's ``barge_in``; ``StopPlayback`` → ``stop_playback``;
* ``RouteToQueue`` → :meth:`IvrHost.menu_to_queue`;
* ``RouteToBot`` → :meth:`BotHandoff.start` when the runner has a voice
  assistant (:mod:`hotline.calls.ctl_bot`): the call stays with the runner,
  its media events passed on to the assistant, until the assistant hands it
  over (:meth:`IvrRunner.bot_handed_over`: the topic's queue, else the queue
  of the bot node's fallback) or ends it (:meth:`IvrRunner.bot_finished`).
  Without an assistant, or when it cannot take the call (busy), the hand-off
  is reported failed (``route_failed``): the flow plays its fallback message
  and goes on (to the operator queue in the demo);
* ``TransferExternal`` → :meth:`ExternalHandoff.redirect` when the runner has
  one (R7; :mod:`hotline.calls.ctl_external`): the call stays with the runner,
  deaf to keys, until it ends (:meth:`IvrRunner.end` passes the end on) or the
  redirect fails (:meth:`IvrRunner.external_failed`: the flow's fallback).
  Without one it is reported failed at once, as the bot is;
* ``Hangup`` → the message plays, then :meth:`IvrHost.menu_hang_up`.

Facts go to the host: ``TopicSet`` → :meth:`IvrHost.menu_topic`,
``IvrChoiceMade`` → :meth:`IvrHost.menu_choice` (``call.ivr_choice``; reported
just before the next command, when the topic the choice led to is known).

Keys arrive as RFC 4733 telephone-events (or in-band tones) in
:class:`~hotline.media.eng_events.LegDtmfReceived`; the media engine itself
cuts a barge-in prompt short on a key, so the runner only tells the session.
Each call has at most one timer: the session's ``get_timer()`` (or the guard
of the goodbye message), armed through the injected ``call_later`` (the event
loop's), re-armed after every input and cancelled when the call leaves the
menu.  No task is created.  The runner reads the clock only here, in the
driver; the session gets ``now``.

An administrator's new flow (:meth:`IvrRunner.set_flow`) is for the calls that
start from then on; each call in the menu keeps the flow it started with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final, Protocol

import structlog

from hotline.core.errors import HotlineError, LocalProtocolError
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.ivr.flow import Flow
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
)
from hotline.ivr.interpreter import IvrSession
from hotline.ivr.ivr_events import (
    Hangup,
    IvrChoiceMade,
    PlayPrompts,
    RouteToBot,
    RouteToQueue,
    StopPlayback,
    TopicSet,
    TransferExternal,
)
from hotline.media.eng_events import LegDtmfReceived, MediaEvent
from hotline.media.player import (
    PlaybackFinished,
    PlaybackItem,
    PlaybackPart,
    PromptPart,
    SilencePart,
)
from hotline.media.prompts import EncodedPrompt

__all__ = [
    "BYE_GUARD_S",
    "MISSING_PROMPT_MS",
    "BotHandoff",
    "ExternalHandoff",
    "IvrClock",
    "IvrHost",
    "IvrMedia",
    "IvrRunner",
    "RenderedPrompts",
    "TimerHandle",
    "flow_prompt_texts",
    "prompt_text",
]

log = structlog.get_logger("hotline.ivr.runner")

BYE_GUARD_S: Final = 5.0
"""The goodbye message counts as played this long after its length, even if never reported."""
MISSING_PROMPT_MS: Final = 300
"""Silence played in place of a prompt that has no rendering (so the flow still moves on)."""


class IvrMedia(Protocol):
    """The media engine's playback commands (:class:`~hotline.media.engine.MediaEngine`)."""

    def play(self, leg_id: str, item: PlaybackItem) -> None: ...

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None: ...


class IvrClock(Protocol):
    """Monotonic seconds for timers, aware UTC for the menu's time conditions."""

    def monotonic(self) -> float: ...

    def utcnow(self) -> datetime: ...


class TimerHandle(Protocol):
    """What ``call_later`` returns (:class:`asyncio.TimerHandle`)."""

    def cancel(self) -> None: ...


class IvrHost(Protocol):
    """The call controller, as the menu sees it (it owns the call and its SIP legs)."""

    def menu_topic(self, call_id: CallId, topic: TopicId) -> None:
        """The call's topic became ``topic``."""
        ...

    def menu_choice(self, call_id: CallId, menu: str, digit: str, info_message: bool) -> None:
        """The caller pressed ``digit`` at ``menu`` (``call.ivr_choice``)."""
        ...

    def menu_to_queue(self, call_id: CallId, queue_id: QueueId) -> None:
        """The call leaves the menu for ``queue_id``."""
        ...

    def menu_hang_up(self, call_id: CallId, self_service: bool) -> None:
        """The menu ended the call (its message has played); ``self_service``: it informed."""
        ...


class ExternalHandoff(Protocol):
    """Who carries out a redirect to an organisation (R7): the calls layer."""

    def redirect(
        self, call_id: CallId, leg_id: str, codec: str, transfer: TransferExternal
    ) -> None:
        """Start the redirect; a failure comes back as :meth:`IvrRunner.external_failed`."""
        ...

    def end(self, call_id: CallId) -> None:
        """The call ended (either side, or the system): drop the organisation's leg."""
        ...


class BotHandoff(Protocol):
    """The voice assistant (:class:`hotline.calls.ctl_bot.BotCalls`), as the menu sees it."""

    def start(self, call_id: CallId, leg_id: str, codec: str, topic: str | None) -> bool:
        """Take the call on media leg ``leg_id``; False: it cannot (the flow's fallback)."""
        ...

    def on_media_event(self, call_id: CallId, event: MediaEvent) -> None:
        """A media event of the call's caller leg (keys, playback ends)."""
        ...

    def end(self, call_id: CallId) -> None:
        """The call ended while with the assistant."""
        ...


def prompt_text(flow: Flow, prompt: Prompt) -> str | None:
    """What the synthesiser says for ``prompt``: its text, else its library text."""
    if prompt.text is not None:
        return prompt.text
    return flow.prompt_text(prompt.prompt_id) if prompt.prompt_id is not None else None


def _prompts_of(node: Node) -> tuple[Prompt, ...]:
    if isinstance(node, MenuNode | CollectNode):
        return (*node.prompts, *node.invalid_prompts, *node.timeout_prompts)
    if isinstance(node, PlayNode | IncidentNode | HangupNode):
        return node.prompts
    if isinstance(node, BotNode | ExternalNode):
        return node.fallback_prompts
    return ()


def flow_prompt_texts(flow: Flow) -> tuple[str, ...]:
    """Every text ``flow`` may say, once each, in the flow's order (what to pre-render)."""
    texts: dict[str, None] = {}
    for node in flow.nodes:
        for prompt in _prompts_of(node):
            text = prompt_text(flow, prompt)
            if text is not None:
                texts.setdefault(text, None)
    return tuple(texts)


@dataclass(frozen=True, slots=True)
class RenderedPrompts:
    """Encoded prompts by (text, codec name): what the synthesiser rendered at start-up."""

    encoded: Mapping[tuple[str, str], EncodedPrompt] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoded", MappingProxyType(dict(self.encoded)))

    def get(self, text: str, codec: str) -> EncodedPrompt | None:
        return self.encoded.get((text, codec))

    def texts(self) -> frozenset[str]:
        return frozenset(text for text, _codec in self.encoded)


@dataclass(slots=True, eq=False)
class _MenuCall:
    """One call in the menu."""

    call_id: CallId
    leg_id: str
    codec: str
    session: IvrSession
    flow: Flow  # the flow the call started on (a new flow is for new calls)
    timer: TimerHandle | None = None
    timer_at: float | None = None
    bye_item: str | None = None
    bye_self_service: bool = False
    bye_deadline: float | None = None
    choices: list[IvrChoiceMade] = field(default_factory=list)
    external: bool = False  # handed to ExternalHandoff; keys and playback ends are ignored
    bot: RouteToBot | None = None  # with the voice assistant; media events go to it


class IvrRunner:
    """Runs ``flow`` for every call handed to it; see the module docstring.

    ``call_later(delay_s, callback)`` schedules the one timer of a call (the
    event loop's ``call_later``); ``fallback_queue`` takes a call whose menu
    broke (an error of ours), so the caller still reaches a person.
    """

    def __init__(
        self,
        flow: Flow,
        *,
        media: IvrMedia,
        clock: IvrClock,
        call_later: Callable[[float, Callable[[], None]], TimerHandle],
        fallback_queue: QueueId,
        prompts: RenderedPrompts | None = None,
        external: ExternalHandoff | None = None,
        bot: BotHandoff | None = None,
    ) -> None:
        self._flow = flow
        self._external = external
        self.bot = bot
        self._media = media
        self._clock = clock
        self._call_later = call_later
        self._fallback_queue = fallback_queue
        self._prompts = prompts if prompts is not None else RenderedPrompts()
        self._host: IvrHost | None = None
        self._calls: dict[CallId, _MenuCall] = {}
        self.incidents: frozenset[str] = frozenset()
        self.render_prompts: Callable[[tuple[str, ...]], None] | None = None
        """Asked for the texts a new flow says that have no rendering (:meth:`set_flow`);
        the renderer hands them back through :meth:`add_prompts`."""
        self.recordings: Callable[[str, str], EncodedPrompt | None] | None = None
        """Uploaded recordings by (prompt id, codec name); one found is played instead
        of the prompt's text rendering (``stored_config.UploadedPrompts.get``)."""
        self.missing_prompts = 0
        self.errors = 0

    # -- wiring --------------------------------------------------------------------------
    def attach(self, host: IvrHost) -> None:
        """Give the runner its call controller (made with the runner in its routes)."""
        self._host = host

    @property
    def host(self) -> IvrHost:
        if self._host is None:
            raise LocalProtocolError("voice menu runner has no host attached")
        return self._host

    @property
    def flow(self) -> Flow:
        return self._flow

    def set_prompts(self, prompts: RenderedPrompts) -> None:
        """Use ``prompts`` from now on (rendered at start-up)."""
        self._prompts = prompts

    def add_prompts(self, prompts: RenderedPrompts) -> None:
        """Add renderings (of a new flow's texts); the ones already there are kept."""
        self._prompts = RenderedPrompts({**self._prompts.encoded, **prompts.encoded})

    def missing_texts(self, flow: Flow | None = None) -> tuple[str, ...]:
        """The texts ``flow`` (default: the current one) says that have no rendering yet."""
        have = self._prompts.texts()
        return tuple(t for t in flow_prompt_texts(flow or self._flow) if t not in have)

    def set_flow(self, flow: Flow, prompts: RenderedPrompts | None = None) -> None:
        """Run ``flow`` for the calls that start from now on (an administrator's change).

        Calls in the menu finish on the flow they started with (their
        sessions, prompt texts and hand-off rules stay theirs).  ``prompts``
        are added to the renderings; texts still missing are asked of
        :attr:`render_prompts` (until they arrive they play as a short silence).
        """
        old, self._flow = self._flow, flow
        if prompts is not None:
            self.add_prompts(prompts)
        missing = self.missing_texts(flow)
        log.info(
            "voice menu flow replaced",
            old=old.name,
            flow=flow.name,
            nodes=len(flow.nodes),
            calls_on_old_flow=len(self._calls),
            texts_to_render=len(missing),
        )
        if missing and self.render_prompts is not None:
            self.render_prompts(missing)

    def active(self) -> int:
        """Calls in the menu right now."""
        return len(self._calls)

    # -- what the controller calls -------------------------------------------------------
    def start(self, call_id: CallId, leg_id: str, codec: str) -> None:
        """The call is answered: walk the flow from its start node on media leg ``leg_id``."""
        if call_id in self._calls:
            raise LocalProtocolError(f"call {call_id} is in the menu already")
        now = self._clock.monotonic()
        session = IvrSession(
            self._flow, call_id, now, local_time=self._clock.utcnow(), incidents=self.incidents
        )
        call = _MenuCall(call_id, leg_id, codec, session, self._flow)
        self._calls[call_id] = call
        log.info("call in the voice menu", call_id=call_id, flow=self._flow.name)
        self._guarded(call, lambda: None)

    def on_media_event(self, call_id: CallId, event: MediaEvent) -> None:
        """A media event of the call's caller leg (keys, playback ends); others are ignored."""
        call = self._calls.get(call_id)
        if call is None or call.external or getattr(event, "leg_id", None) != call.leg_id:
            return
        if call.bot is not None:
            if self.bot is not None:
                self.bot.on_media_event(call_id, event)
            return
        now = self._clock.monotonic()
        if isinstance(event, LegDtmfReceived):
            digit = event.dtmf.digit.upper()
            self._guarded(call, lambda: call.session.dtmf(digit, now))
        elif isinstance(event, PlaybackFinished):
            if event.item_id == call.bye_item:
                self._finish_bye(call)
            else:
                self._guarded(call, lambda: call.session.playback_finished(event.item_id, now))

    def end(self, call_id: CallId) -> None:
        """The call ended while in the menu (the caller hung up, a media time-out, shutdown)."""
        call = self._drop(call_id)
        if call is None:
            return
        if call.external and self._external is not None:
            self._external.end(call_id)
            return
        if call.bot is not None:
            if self.bot is not None:
                self.bot.end(call_id)
            return
        call.session.caller_hung_up(self._clock.monotonic())

    def external_failed(self, call_id: CallId) -> None:
        """The redirect to an organisation failed: the flow goes on at its fallback."""
        call = self._calls.get(call_id)
        if call is None or not call.external:
            return
        call.external = False
        log.info("external redirect failed", call_id=call_id)
        self._guarded(call, lambda: call.session.route_failed(self._clock.monotonic()))

    def bot_handed_over(self, call_id: CallId) -> None:
        """The assistant passes the call to an operator: the topic's queue (its arrival time kept)."""
        call = self._calls.get(call_id)
        if call is None or call.bot is None:
            return
        queue = self._bot_queue(call.flow, call.bot)
        self._drop(call_id)
        log.info("assistant hands over", call_id=call_id, queue=queue)
        self.host.menu_to_queue(call_id, queue)

    def bot_finished(self, call_id: CallId) -> None:
        """The assistant helped the caller and said goodbye: the call ends."""
        call = self._calls.get(call_id)
        if call is not None and call.bot is not None:
            self._drop(call_id)
            self.host.menu_hang_up(call_id, False)

    def _bot_queue(self, flow: Flow, route: RouteToBot) -> QueueId:
        """The queue of the call's topic if its flow has one, else where the fallback leads."""
        queues = {node.queue for node in flow.nodes if isinstance(node, QueueNode)}
        if route.topic is not None and QueueId(route.topic) in queues:
            return QueueId(route.topic)
        node_id: str | None = route.fallback
        for _ in range(len(flow.nodes)):
            if node_id is None:
                break
            node = flow.node(node_id)
            if isinstance(node, QueueNode):
                return node.queue
            node_id = getattr(node, "next", None)
        return self._fallback_queue

    # -- driving a session -----------------------------------------------------------------
    def _guarded(self, call: _MenuCall, step: Callable[[], None]) -> None:
        """Run ``step`` on the session, then carry out what it asked for; errors → a person."""
        try:
            step()
            self._pump(call)
        except HotlineError as exc:  # our bug, or the media leg is gone
            self.errors += 1
            log.error("voice menu step failed", call_id=call.call_id, error=repr(exc))
            if self._drop(call.call_id) is call:
                self.host.menu_to_queue(call.call_id, self._fallback_queue)

    def _pump(self, call: _MenuCall) -> None:
        session = call.session
        while (event := session.next_event()) is not None:
            if self._calls.get(call.call_id) is not call:
                return  # the host ended the call while it was being reported to
            if isinstance(event, IvrChoiceMade):
                call.choices.append(event)
            elif isinstance(event, TopicSet):
                self.host.menu_topic(call.call_id, event.topic)
            elif isinstance(event, StopPlayback):
                self._media.stop_playback(call.leg_id, event.item_id)
            elif isinstance(event, PlayPrompts):
                self._report_choices(call)
                self._play(call, event.item_id, event.prompts, event.barge_in)
            elif isinstance(event, TransferExternal) and self._external is not None:
                self._report_choices(call)
                call.external = True
                self._disarm(call)
                self._external.redirect(call.call_id, call.leg_id, call.codec, event)
                return
            elif isinstance(event, RouteToBot) and self._to_bot(call, event):
                return
            elif isinstance(event, RouteToBot | TransferExternal):
                self._report_choices(call)
                log.info("hand-off not available", call_id=call.call_id, to=type(event).__name__)
                session.route_failed(self._clock.monotonic())
            elif isinstance(event, RouteToQueue):
                self._report_choices(call)
                self._drop(call.call_id)
                log.info("call leaves the menu", call_id=call.call_id, queue=event.queue_id)
                self.host.menu_to_queue(call.call_id, event.queue_id)
                return
            elif isinstance(event, Hangup):
                self._report_choices(call)
                self._hang_up(call, event)
            else:
                log.debug("voice menu", call_id=call.call_id, fact=type(event).__name__)
        self._report_choices(call)
        if self._calls.get(call.call_id) is call:
            self._arm(call)

    def _to_bot(self, call: _MenuCall, route: RouteToBot) -> bool:
        """Hand the call to the assistant; False when there is none or it cannot take it."""
        self._report_choices(call)
        if self.bot is None or self._calls.get(call.call_id) is not call:
            return False
        call.bot = route
        self._disarm(call)
        if self.bot.start(call.call_id, call.leg_id, call.codec, route.topic):
            return True
        call.bot = None
        return False

    def _report_choices(self, call: _MenuCall) -> None:
        while call.choices and self._calls.get(call.call_id) is call:
            choice = call.choices.pop(0)
            self.host.menu_choice(call.call_id, choice.node, choice.digit, choice.info_message)

    def _item(
        self, call: _MenuCall, item_id: str, prompts: Iterable[Prompt], barge_in: bool
    ) -> PlaybackItem:
        parts: list[PlaybackPart] = []
        for prompt in prompts:
            text = prompt_text(call.flow, prompt)
            encoded = None
            if prompt.prompt_id is not None and self.recordings is not None:
                encoded = self.recordings(prompt.prompt_id, call.codec)
            if encoded is None and text is not None:
                encoded = self._prompts.get(text, call.codec)
            if encoded is None:
                self.missing_prompts += 1
                log.error(
                    "prompt not rendered", call_id=call.call_id, prompt=prompt.prompt_id or text
                )
                parts.append(SilencePart(MISSING_PROMPT_MS))
            else:
                parts.append(PromptPart(encoded))
        if not parts:
            parts.append(SilencePart(MISSING_PROMPT_MS))
        return PlaybackItem(item_id, tuple(parts), barge_in=barge_in)

    def _play(
        self, call: _MenuCall, item_id: str, prompts: tuple[Prompt, ...], barge_in: bool
    ) -> None:
        self._media.play(call.leg_id, self._item(call, item_id, prompts, barge_in))

    def _hang_up(self, call: _MenuCall, command: Hangup) -> None:
        call.bye_self_service = command.self_service
        if not command.message:
            self._finish_bye(call)
            return
        item = self._item(call, f"{call.call_id}.ivr.bye", command.message, False)
        length_s = sum(
            part.prompt.duration_s if isinstance(part, PromptPart) else MISSING_PROMPT_MS / 1000
            for part in item.parts
        )
        call.bye_item = item.item_id
        call.bye_deadline = self._clock.monotonic() + length_s + BYE_GUARD_S
        self._media.play(call.leg_id, item)

    def _finish_bye(self, call: _MenuCall) -> None:
        if self._drop(call.call_id) is call:
            log.info("menu ends the call", call_id=call.call_id, informed=call.bye_self_service)
            self.host.menu_hang_up(call.call_id, call.bye_self_service)

    # -- the one timer of a call -----------------------------------------------------------
    def _arm(self, call: _MenuCall) -> None:
        due = call.bye_deadline if call.bye_item is not None else call.session.get_timer()
        if due == call.timer_at and call.timer is not None:
            return
        self._disarm(call)
        if due is None:
            return
        delay = max(0.0, due - self._clock.monotonic())
        call.timer_at = due
        call.timer = self._call_later(delay, lambda: self._on_timer(call))

    def _disarm(self, call: _MenuCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
        call.timer = None
        call.timer_at = None

    def _on_timer(self, call: _MenuCall) -> None:
        call.timer = None
        call.timer_at = None
        if self._calls.get(call.call_id) is not call:
            return
        now = self._clock.monotonic()
        if call.bye_item is not None:
            if call.bye_deadline is not None and now >= call.bye_deadline:
                self._finish_bye(call)
            else:
                self._arm(call)
            return
        self._guarded(call, lambda: call.session.handle_timer(now))

    def _drop(self, call_id: CallId) -> _MenuCall | None:
        call = self._calls.pop(call_id, None)
        if call is not None:
            self._disarm(call)
        return call
