"""Wiring of the call path into the node: media engine, ACD service, call controller, events.

:class:`CallService` is one node component.  On start it runs the media
engine, loads the queues and the operators (SIP accounts) into the ACD,
puts a :class:`~hotline.sip.useragent.UserAgent` with the
:class:`~hotline.calls.controller.CallController` on the SIP endpoint (until
then INVITEs get 480), starts the event store's writer, and watches the
registrar: operators whose phone registers become READY when automatic
readiness is on (``acd.auto_ready_on_register``, or a demo database).

The called number ``122`` goes through the voice menu (the administrator's
stored ``main`` flow, else the demo flow, :mod:`hotline.app.stored_config`; run by an
:class:`~hotline.ivr.runner.IvrRunner`) to a per-topic queue or to ``general``
(every operator serves it).  Its Russian prompts are rendered once at start-up
(:func:`render_flow_prompts`: normalised, synthesised by espeak-ng, cached as
WAV under the data directory, encoded for PCMA and PCMU), before the node takes
calls, so that a call never waits for speech synthesis.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

import structlog
from sqlalchemy.exc import SQLAlchemyError

from hotline.acd.model import OperatorProfile, QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.cli_kb import build_matcher, stored_to_entries
from hotline.app.demo import DEMO_TOPICS
from hotline.app.settings import Settings
from hotline.app.sipservice import SipService
from hotline.app.stored_config import (
    AgentProfiles,
    LiveAnswers,
    LivePrompts,
    UploadedPrompts,
    start_queues,
    stored_flow,
    stored_trunks,
)
from hotline.bot.asr import AsrConfig
from hotline.bot.asr_vosk import VoskRecognizer
from hotline.bot.normalize import Normalizer
from hotline.bot.ports import AnswerMatcher
from hotline.bot.prompt_cache import PromptCache as SpeechCache
from hotline.bot.tts import EngineName, EngineUnavailableError
from hotline.bot.tts_engines import create_synthesizer
from hotline.bot.vad import VadConfig, VadEngine
from hotline.bot.vad_engines import create_vad
from hotline.calls.actions import LiveActions
from hotline.calls.bot_detectors import DetectorPool
from hotline.calls.capacity import CapacityGuard, CapacityLimits
from hotline.calls.capacity_gate import BUSY_MESSAGE, CapacityGate, pacer_counters
from hotline.calls.controller import CallController
from hotline.calls.ctl_bot import BotCalls, BotEngines
from hotline.calls.ctl_callback import RestoreResult
from hotline.calls.ctl_dialout import wire_outbound
from hotline.calls.ctl_external import DirectoryMap, ExternalRedirector
from hotline.calls.ctl_org_transfer import wire_org_transfers
from hotline.calls.ctl_ports import EventSink, FixedRouting, PhoneContact, Route
from hotline.calls.ctl_queue import build_queue_phrases
from hotline.calls.ctl_queue_bot import QueueBot
from hotline.calls.ctl_queue_external import QueueExternal
from hotline.calls.trunks import TrunkTable
from hotline.core.bus import EventBus
from hotline.core.clock import Clock
from hotline.core.errors import HotlineError, RemoteProtocolError
from hotline.core.ids import OperatorId, QueueId, TopicId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_yaml import load_demo_flow
from hotline.ivr.runner import IvrRunner, RenderedPrompts, flow_prompt_texts
from hotline.media.codecs import get_codec
from hotline.media.eng_events import MediaEvent
from hotline.media.engine import MediaEngine
from hotline.media.prompts import EncodedPrompt, PromptCache, PromptError
from hotline.reports.projection import EventProjector
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.uri import SipUri, parse_uri
from hotline.sip.useragent import UserAgent
from hotline.store.accounts import AccountsRepository
from hotline.store.callback_queries import CallbackBacklog, CallbackQueries
from hotline.store.db import Database
from hotline.store.events import DEFAULT_JOURNAL_NAME, EventStore
from hotline.store.kb import StandardAnswersRepository, StoredAnswer
from hotline.store.organisations import OrganisationsRepository
from hotline.store.projections import Projections
from hotline.web.live_events import PublishingSink
from hotline.web.reports_data import metrics_config

__all__ = [
    "GENERAL_QUEUE",
    "CallService",
    "RegistrarPhones",
    "default_queues",
    "media_address",
    "operator_profiles",
    "render_flow_prompts",
]

log = structlog.get_logger("hotline.calls.service")

GENERAL_QUEUE: Final = QueueId("general")
SERVICE_NUMBER: Final = "122"
OPERATOR_ROLE: Final = "operator"
"""The user role whose SIP accounts are ACD agents (:func:`operator_profiles`)."""
PHONE_POLL_S: Final = 1.0
PROMPT_CODECS: Final = ("PCMA", "PCMU")
TTS_CACHE_DIR: Final = Path("prompts") / "tts"
"""Rendered speech, under the data directory."""
BOT_EMBEDDINGS: Final = Path("prompts") / "kb-embeddings.npz"
"""The standard answers' sentence embeddings, cached under the data directory."""
JOURNAL_REPLAY_WAIT_S: Final = 30.0
"""How long start-up waits for the event journal's replay before reading open call-backs."""
VAD_PREWARM: Final = 2
"""Detectors made at start-up (more are made, and kept, as calls need them)."""


class RegistrarPhones:
    """Operators' phones: the registrar's live bindings (the operator id is the SIP user),
    else the operator's fixed contact URI (R4 "fixed SIP URIs").

    An operator with a fixed URI is left out of :meth:`registered`: its
    readiness comes from the desk/API, never from a registration.
    """

    def __init__(self, endpoint: SipEndpoint) -> None:
        self._endpoint = endpoint
        self._fixed: dict[OperatorId, PhoneContact] = {}

    def set_fixed(self, operator_id: OperatorId, contact_uri: str | None) -> None:
        """Use ``contact_uri`` when the operator has no registration (None: forget it)."""
        contact = fixed_contact(contact_uri) if contact_uri is not None else None
        if contact is None:
            self._fixed.pop(operator_id, None)
        else:
            self._fixed[operator_id] = contact

    def contacts(self, operator_id: OperatorId) -> Sequence[PhoneContact]:
        found = []
        for binding in self._endpoint.registrar.bindings(operator_id, self._endpoint.wall_now()):
            try:
                found.append(PhoneContact(parse_uri(binding.contact), binding.source))
            except RemoteProtocolError:
                continue
        if not found and (fixed := self._fixed.get(operator_id)) is not None:
            found.append(fixed)
        return found

    def registered(self) -> set[OperatorId]:
        registrar, wall = self._endpoint.registrar, self._endpoint.wall_now()
        return {
            OperatorId(u)
            for u in registrar.users()
            if registrar.bindings(u, wall) and OperatorId(u) not in self._fixed
        }


def fixed_contact(contact_uri: str) -> PhoneContact | None:
    """The phone at a fixed ``sip:``/``sips:`` URI (next hop: its host, port and transport)."""
    try:
        uri = SipUri.parse(contact_uri, "contact_uri")
    except RemoteProtocolError as exc:
        log.warning("fixed contact refused", uri=contact_uri[:80], error=str(exc))
        return None
    name = uri.params.get("transport")
    kind = TransportKind.TLS if uri.secure else TransportKind.UDP
    if name is not None and name.upper() in TransportKind.__members__:
        kind = TransportKind(name.upper())
    default = 5061 if kind is TransportKind.TLS else 5060
    return PhoneContact(uri, Peer(kind, uri.host, uri.port or default))


def default_queues() -> list[QueueConfig]:
    """The general queue (every operator) and one queue per demo topic (by skill)."""
    queues = [QueueConfig(queue_id=GENERAL_QUEUE, name="General", topic=TopicId("general"))]
    queues += [
        QueueConfig(queue_id=QueueId(topic), name=topic.capitalize(), topic=TopicId(topic))
        for topic in DEMO_TOPICS
    ]
    return queues


def operator_profiles(repo: AccountsRepository) -> list[OperatorProfile]:
    """ACD profiles of the enabled operators (blocking: call in a thread).

    A SIP account linked to a user whose role is not ``operator`` (a
    supervisor's phone, rung for monitoring) is not an ACD agent: it is left
    out.  An account linked to no user (a fixed phone) is an operator.
    """
    roles = {user.id: user.role for user in repo.users()}
    profiles = []
    for op in repo.operators():
        if not op.enabled:
            continue
        if op.user_id is not None and roles.get(op.user_id, OPERATOR_ROLE) != OPERATOR_ROLE:
            continue
        skills = {
            name: level
            for name, level in op.skills.items()
            if isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 10
        }
        profiles.append(
            OperatorProfile(
                operator_id=OperatorId(op.sip_username),
                skills=skills,
                queue_levels={GENERAL_QUEUE: 5},
            )
        )
    return profiles


async def render_flow_prompts(
    flow: Flow,
    directory: Path,
    *,
    engine: str = EngineName.ESPEAK_NG,
    extra_texts: Sequence[str] = (),
) -> RenderedPrompts:
    """Every prompt text of ``flow`` rendered (or found in the cache at ``directory``) and encoded.

    ``extra_texts`` are rendered too (the queues' announcements and messages).

    A text that cannot be rendered is logged and left out (the menu plays a
    short silence in its place); a missing engine is logged once with its
    install hint.  The CPU-heavy steps run in threads, the engine in subprocesses.
    """
    normalizer = await asyncio.to_thread(Normalizer)
    synthesizer = create_synthesizer(engine)
    speech = await asyncio.to_thread(SpeechCache, directory, synthesizer, normalizer=normalizer)
    rendered: dict[str, Path] = {}
    try:
        for text in dict.fromkeys((*flow_prompt_texts(flow), *extra_texts)):
            try:
                rendered[text] = await speech.render(text)
            except EngineUnavailableError as exc:
                log.error("no speech engine: menu prompts are silent", error=str(exc))
                break
            except HotlineError as exc:
                log.error("prompt not rendered", text=text[:80], error=str(exc))
    finally:
        await speech.aclose()
        await synthesizer.aclose()
    encoded = await asyncio.to_thread(_encode_prompts, rendered)
    log.info("menu prompts ready", flow=flow.name, texts=len(rendered), directory=str(directory))
    return RenderedPrompts(encoded)


def _encode_prompts(rendered: dict[str, Path]) -> dict[tuple[str, str], EncodedPrompt]:
    frames = PromptCache()
    encoded: dict[tuple[str, str], EncodedPrompt] = {}
    for text, path in rendered.items():
        for codec in PROMPT_CODECS:
            try:
                encoded[(text, codec)] = frames.get(path, get_codec(codec))
            except PromptError as exc:
                log.error("prompt not loaded", text=text[:80], error=str(exc))
    return encoded


def _approved_answers(db: Database) -> list[StoredAnswer]:
    """The enabled standard answers (blocking: call in a thread)."""
    try:
        return StandardAnswersRepository(db).list(enabled_only=True)
    except SQLAlchemyError as exc:  # an older database without the table: no answers
        log.error("standard answers not loaded", error=str(exc))
        return []


def _open_callbacks(db: Database, clock: Clock) -> CallbackBacklog:
    """The call-back requests a restart left open (blocking: call in a thread)."""
    try:
        return CallbackQueries(db).open_requests(clock.utcnow())
    except SQLAlchemyError as exc:  # the calls still start; the events keep the requests
        log.error("call-back requests not read", error=str(exc))
        return CallbackBacklog((), ())


def _enabled_answers(db: Database) -> list[StoredAnswer]:
    """The enabled standard answers (blocking; a database error propagates)."""
    return StandardAnswersRepository(db).list(enabled_only=True)


def _answer_matcher(cache: Path, stored: Sequence[StoredAnswer]) -> AnswerMatcher:
    """The standard answers' matcher (blocking: embeds only texts not in ``cache``)."""
    return build_matcher(stored_to_entries(stored), cache)


def _call_later(delay_s: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(delay_s, callback)


def media_address(sip_host: str, media_host: str | None = None) -> str:
    """The address media binds to and SDP announces.

    ``HOTLINE_MEDIA_HOST`` when set; else the SIP host unless it is a wildcard
    or a name; else loopback, so the demo works on one machine out of the box
    (phones on other machines need HOTLINE_MEDIA_HOST or HOTLINE_SIP_HOST set
    to the server's address; start-up logs a warning).
    """
    if media_host:
        return media_host
    try:
        if not ipaddress.ip_address(sip_host).is_unspecified:
            return sip_host
    except ValueError:  # a host name: media needs an IP literal
        pass
    log.warning(
        "media on 127.0.0.1: set HOTLINE_MEDIA_HOST to the server's address for phones and "
        "trunks on other machines",
        sip_host=sip_host,
    )
    return "127.0.0.1"


class CallService:
    """The node component of the call path."""

    name = "calls"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        sip: SipService,
        *,
        bus: EventBus | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._db = db
        self._sip = sip
        self.media = MediaEngine(
            clock,
            settings.rtp_ports,
            media_address(settings.sip_host, settings.media_host),
            settings.recordings_path,
            on_event=self._on_media_event,
        )
        self.acd = AcdService(
            AcdEngine(), clock, auto_ready_on_register=settings.acd.auto_ready_on_register
        )
        # Call records and interval rollups are kept in the same transaction as
        # each event batch, so reports of long periods never rescan raw events.
        self.events = EventStore(
            db,
            settings.data_dir / DEFAULT_JOURNAL_NAME,
            clock=clock,
            projections=Projections(EventProjector(metrics_config(db))),
        )
        # Every event also goes on the bus, for the web workplace's live socket.
        sink: EventSink = PublishingSink(self.events, bus) if bus is not None else self.events
        self.phones = RegistrarPhones(sip.endpoint)
        self.trunks = TrunkTable()
        self.trunks.listeners.append(sip.registrations.sync)  # REGISTER where a trunk asks
        self.external = ExternalRedirector(
            media=self.media,
            trunks=self.trunks,
            directory=DirectoryMap(),
            events=sink,
            clock=clock,
        )
        self.menu = IvrRunner(
            load_demo_flow(),
            media=self.media,
            clock=clock,
            call_later=_call_later,
            fallback_queue=GENERAL_QUEUE,
            external=self.external,
        )
        self.controller = CallController(
            media=self.media,
            acd=self.acd,
            phones=self.phones,
            routing=FixedRouting(
                {SERVICE_NUMBER: Route(GENERAL_QUEUE, TopicId("general"), menu=self.menu)}
            ),
            events=sink,
            clock=clock,
            max_calls=settings.max_calls,
        )
        self.acd.handler = self.controller
        self.menu.attach(self.controller)
        self.capacity = CapacityGate(
            CapacityGuard(
                CapacityLimits(
                    max_calls=settings.max_calls,
                    busy_lateness_ms=settings.capacity.busy_lateness_ms,
                    reject_lateness_ms=settings.capacity.reject_lateness_ms,
                    clear_lateness_ms=settings.capacity.clear_lateness_ms,
                )
            ),
            media=self.media, events=self.controller.events, clock=clock,
            spawn=self.controller.hooks.spawn, sig=lambda: self.controller.sig,
        )  # fmt: skip
        self.controller.capacity = self.capacity
        self.controller.external = self.external
        self.controller.queue_external = QueueExternal(  # queue exits to a number (R7)
            external=self.external, host=self.controller, media=self.media
        )
        self.outbound = wire_outbound(
            self.controller, acd=self.acd, media=self.media, phones=self.phones,
            trunks=self.trunks, clock=clock,
        )  # fmt: skip
        organisations = wire_org_transfers(
            self.external, self.controller.transfers, self.acd, self.controller
        )
        self.actions = LiveActions(
            controller=self.controller, acd=self.acd, clock=clock, outbound=self.outbound,
            consult=self.controller.attended, monitor=self.controller.monitors,
            organisations=organisations,
        )  # fmt: skip
        """The web workplace's :class:`~hotline.calls.api.CallActions` and ``QueueActions``."""
        self.ua: UserAgent | None = None
        self.bot: BotCalls | None = None  # the voice assistant (ctl_bot), made on start
        self.answers = LiveAnswers(
            functools.partial(_enabled_answers, db),
            functools.partial(_answer_matcher, settings.data_dir / BOT_EMBEDDINGS),
            self._install_matcher,
        )  # the assistant's matcher, rebuilt when the administrator changes an answer
        self._bot_closers: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.agents = AgentProfiles({GENERAL_QUEUE: 5})  # stored accounts → ACD (admin, live)
        self.live_prompts: LivePrompts | None = None  # renders a flow changed while running
        self.uploaded = UploadedPrompts(settings.data_dir / TTS_CACHE_DIR.parent, PROMPT_CODECS)
        """The administrator's uploaded recordings, played instead of the texts they name."""

    def _install_matcher(self, matcher: AnswerMatcher | None) -> None:
        if self.bot is not None:  # calls in progress take it from their next question
            self.bot.engines = replace(self.bot.engines, matcher=matcher)

    def _on_media_event(self, event: MediaEvent) -> None:
        self.controller.on_media_event(event)

    async def start(self) -> None:
        repo = AccountsRepository(self._db)
        profiles = await asyncio.to_thread(operator_profiles, repo)
        await asyncio.to_thread(self.agents.load, repo)
        self.agents.fixed_contacts = self.phones.set_fixed
        for op in await asyncio.to_thread(repo.operators):  # phones at a fixed URI (R4)
            self.phones.set_fixed(
                OperatorId(op.sip_username), op.contact_uri if op.enabled else None
            )
        demo = await asyncio.to_thread(repo.get_meta, "demo_loaded_at")
        self.acd.auto_ready_on_register = self._settings.acd.auto_ready_on_register or bool(demo)
        await self.media.start()
        for queue in await asyncio.to_thread(start_queues, self._db, default_queues()):
            self.acd.add_queue(queue)
        self.acd.set_operators(profiles)
        await self.acd.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.events.run(), name="event-writer"))
        self._tasks.append(loop.create_task(self._watch_phones(), name="phone-presence"))
        prompts_dir = self._settings.data_dir / TTS_CACHE_DIR
        phrases = await asyncio.to_thread(build_queue_phrases)
        if (flow := await asyncio.to_thread(stored_flow, self._db)) is not None:
            self.menu.set_flow(flow)  # the administrator's flow, else the demo flow
        prompts = await render_flow_prompts(
            self.menu.flow, prompts_dir, extra_texts=(*phrases.texts(), BUSY_MESSAGE)
        )
        self.menu.set_prompts(prompts)
        self.live_prompts = LivePrompts(self.menu, prompts_dir, render_flow_prompts)
        self.menu.render_prompts = self.live_prompts.request
        await asyncio.to_thread(self.uploaded.refresh)
        self.menu.recordings = self.uploaded.get
        self._tasks.append(loop.create_task(self.uploaded.watch(), name="uploaded-prompts"))
        await self._start_bot(prompts_dir)
        self.controller.voice.set_prompts(phrases, prompts)
        self.capacity.set_prompts(prompts)
        if not await self._journal_replayed():  # a completion may still be in the journal
            log.warning("call-backs read before the event journal was replayed",
                        backlog=self.events.journal_backlog)  # fmt: skip
        callbacks = await asyncio.to_thread(_open_callbacks, self._db, self._clock)
        self.ua = UserAgent(
            self._sip.endpoint, self.controller, max_legs=2 * self._settings.max_calls
        )
        self.controller.attach(self.ua)
        await self._load_redirects(repo)
        self.external.attach(
            self.ua, menu=self.menu, calls=self.controller, recordings=self.controller.events
        )
        # Once the trunks are loaded (a call-back dials out at its first free operator); a
        # call arriving meanwhile does not jump the line: a request keeps its original place.
        self._restore_callbacks(callbacks)
        self._tasks.append(loop.create_task(self._guard_media(), name="capacity-guard"))
        log.info(
            "calls ready",
            media_host=self.media.host,
            operators=len(profiles),
            auto_ready=self.acd.auto_ready_on_register,
        )

    async def _journal_replayed(self) -> bool:
        """Wait (bounded) until events journalled in an outage are in the database."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + JOURNAL_REPLAY_WAIT_S
        # The writer task replays the journal and owns the counter: poll it, bounded.
        while self.events.journal_backlog and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        return not self.events.journal_backlog

    def _restore_callbacks(self, backlog: CallbackBacklog) -> None:
        """Park again the call-back requests a restart left open (ctl_callback)."""
        restored = self.outbound.callbacks.restore(
            backlog.open, expired=backlog.expired, now=self._clock.monotonic(),
            wall=self._clock.utcnow(), fallback_queue=GENERAL_QUEUE,
        )  # fmt: skip
        if restored != RestoreResult():
            log.info("call-backs restored", restored=restored.restored,
                     failed=restored.failed, skipped=restored.skipped)  # fmt: skip

    async def _guard_media(self) -> None:
        """Feed the capacity guard with the media loop's lateness once start-up is over.

        Loading the speech engines (in the background after "calls ready") stalls
        the loop for a while: that is start-up, not an overload, and is not judged.
        """
        loading = [t for t in self._tasks if t.get_name() == "bot-engines"]
        if loading:
            await asyncio.wait(loading)
        await self.capacity.watch(
            lambda: pacer_counters(self.media.metrics),
            late_tick_ms=self.media.config.late_tick_s * 1000.0,
        )

    async def _start_bot(self, directory: Path) -> None:
        """The voice assistant behind the menu's ``bot`` node; its engines load in the background.

        Until the recogniser, the detector and the matcher are ready (and when
        one is missing) the assistant tells the caller it is unavailable and
        hands the call to an operator.
        """
        stored = await asyncio.to_thread(_approved_answers, self._db)
        normalizer = await asyncio.to_thread(Normalizer)
        synthesizer = create_synthesizer(EngineName.ESPEAK_NG)
        speech = await asyncio.to_thread(SpeechCache, directory, synthesizer, normalizer=normalizer)
        self._bot_closers += [speech.aclose, synthesizer.aclose]
        self.answers.texts.replace(stored)
        self.bot = BotCalls(
            media=self.media,
            engines=BotEngines(speech=speech, answers=self.answers.texts),
            clock=self._clock,
            call_later=_call_later,
            calls=self.controller.call,
            events=self.controller.events,
        )
        queue_bot = QueueBot(
            bots=self.bot, menu=self.menu, host=self.controller, calls=self.controller.call,
            media=self.media, voice=self.controller.voice, has_queue=self.acd.has_queue,
        )  # fmt: skip
        self.controller.queue_bot = queue_bot
        self.bot.attach(queue_bot)  # the menu's calls pass on to the menu runner
        self.menu.bot = self.bot
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._load_bot(self.bot), name="bot-engines"))

    async def _load_bot(self, bot: BotCalls) -> None:
        """Render the assistant's phrases, load the recogniser and the matcher, then use them."""
        await bot.warm_up()
        cfg = self._settings.bot
        recognizer = VoskRecognizer(
            self._settings.asr_model_dir,
            AsrConfig(max_sessions=cfg.asr_max_sessions, workers=cfg.asr_workers),
        )
        self._bot_closers.append(recognizer.aclose)
        listening = await recognizer.start()
        detectors = DetectorPool(
            functools.partial(
                create_vad,
                VadEngine(cfg.vad_engine),
                VadConfig(
                    end_silence_ms=cfg.end_silence_ms,
                    min_speech_ms=cfg.vad_min_speech_ms,
                    max_utterance_ms=cfg.vad_max_utterance_ms,
                ),
                webrtc_mode=cfg.vad_webrtc_mode,
            ),
            max_idle=cfg.asr_max_sessions,
        )
        if listening:  # the first calls need not load a detector model
            try:
                await asyncio.to_thread(detectors.prewarm, VAD_PREWARM)
            except HotlineError as exc:  # neither engine loads: each call then hands over
                log.error("no voice activity detector", error=str(exc))
        bot.engines = replace(
            bot.engines,
            recognizer=recognizer,
            vad=detectors.acquire,
            vad_release=detectors.release,
        )
        if listening:  # the matcher (rebuilt from then on when an answer changes)
            await self.answers.start()
        log.info(
            "voice assistant ready",
            answers=len(self.answers.texts),
            listening=bot.engines.complete,
            problem=recognizer.problem,
        )

    async def _load_redirects(self, repo: AccountsRepository) -> None:
        """Trunks and the directory of organisations for external redirects (R7)."""
        self.trunks.reconfigure(await asyncio.to_thread(stored_trunks, self._db))
        organisations = await asyncio.to_thread(OrganisationsRepository(self._db).all)
        self.external.directory = DirectoryMap(
            {o.organisation_id: o.number for o in organisations if o.enabled}
        )

    async def _watch_phones(self) -> None:
        while True:
            self.acd.sync_phones(self.phones.registered())
            await asyncio.sleep(PHONE_POLL_S)

    def refuse_new(self) -> None:
        self.controller.refuse_new()
        self.media.refuse_new()

    def active(self) -> int:
        busy = self.capacity.active_announcements()
        return self.controller.active() + self.outbound.dialer.active() + busy

    async def stop(self) -> None:
        self.outbound.callbacks.close()  # first: ending calls parks no new request
        await self.outbound.dialer.close()
        await self.controller.close()
        await self.external.settle()
        await self.acd.stop()
        if self.live_prompts is not None:
            await self.live_prompts.aclose()
        for task in self._tasks[1:]:
            task.cancel()
        outcomes = await asyncio.gather(*self._tasks[1:], return_exceptions=True)
        for task, outcome in zip(self._tasks[1:], outcomes, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, asyncio.CancelledError
            ):  # it failed before the stop: say so, and stop the rest all the same
                log.error(
                    "a call-service task had failed", task=task.get_name(), error=repr(outcome)
                )
        await self.answers.aclose()
        if self.bot is not None:  # its engines' loader was cancelled above
            await self.bot.aclose()
        for close in self._bot_closers:
            await close()
        await self.media.close()  # recordings finished: their events are appended
        self.events.stop()
        if self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._tasks[0], timeout=10.0)
        self._tasks.clear()
        self.events.close()
