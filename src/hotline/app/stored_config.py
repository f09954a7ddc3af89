"""The administrator's stored configuration at start-up, and a new flow's prompts while running.

At start the node routes with what the administration saved
(``hotline.web.admin_queues``): the enabled stored queues
(:func:`start_queues`) and the stored ``main`` voice-menu flow
(:func:`stored_flow`).  A database without them (an empty one, or a store
the administration never touched) runs the built-in defaults: the general
queue and the demo topics' queues, and the demo flow.  The general queue is
always there, because the menu's and the router's fall-backs lead to it.

While the node runs, a flow saved in the administration reaches the IVR
runner at once (``IvrRunner.set_flow``); the texts it says that have no
rendering yet are rendered in the background by :class:`LivePrompts` and
then added to the runner's prompts.  The other live targets of the
administration (``hotline.web.admin_live``) made here: :class:`AgentProfiles`
(a stored SIP account → its ACD profile), :class:`DirectoryReload` (the
organisations the redirects dial) and :class:`AssistantSpeech` (prompts
rendered from text), :class:`LiveAnswers` (the voice assistant's answer
matcher, rebuilt in the background) and :class:`TrunksReload` (the trunk
table of outbound calls and redirects).  :class:`UploadedPrompts` are the administrator's
uploaded recordings, which the menu plays instead of a prompt's text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final, Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError

from hotline.acd.model import OperatorProfile, QueueConfig
from hotline.bot.ports import AnswerMatcher
from hotline.bot.prompt_cache import PromptCache as SpeechCache
from hotline.bot.tts import SynthesisError
from hotline.calls.ctl_bot import BotCalls
from hotline.calls.ctl_external import DirectoryMap, OrganisationDirectory
from hotline.calls.trunks import TrunkConfig, TrunkCredentials, TrunkTable
from hotline.core.errors import ConfigurationError, HotlineError
from hotline.core.ids import OperatorId, QueueId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_yaml import flow_from_yaml
from hotline.ivr.runner import IvrRunner, RenderedPrompts
from hotline.media.codecs import get_codec
from hotline.media.prompts import EncodedPrompt, PromptCache, PromptError
from hotline.store.accounts import AccountsRepository, Operator
from hotline.store.db import Database
from hotline.store.kb import StoredAnswer
from hotline.store.organisations import OrganisationsRepository
from hotline.store.proposals import FlowsRepository
from hotline.store.queues import QueuesRepository
from hotline.store.trunk_credentials import TrunkCredentialsRepository
from hotline.web.admin_live import GENERAL_QUEUE, profile_of
from hotline.web.admin_prompts import CUSTOM_DIR, prompt_ids
from hotline.web.admin_queues import MAIN_FLOW, queue_config_of

__all__ = [
    "MAIN_FLOW",
    "OPERATOR_ROLE",
    "AgentProfiles",
    "AnswerTexts",
    "AssistantSpeech",
    "DirectoryReload",
    "FlowRenderer",
    "LiveAnswers",
    "LivePrompts",
    "TrunksReload",
    "UploadedPrompts",
    "staff_user_ids",
    "start_queues",
    "stored_flow",
    "stored_trunks",
]

log = structlog.get_logger("hotline.app.config")

OPERATOR_ROLE: Final = "operator"


def start_queues(
    db: Database, defaults: Sequence[QueueConfig], general: QueueId = GENERAL_QUEUE
) -> list[QueueConfig]:
    """The queues to route at start (blocking: call in a thread).

    The enabled stored queues when any queue is stored (one the ACD refuses
    is logged and left out), plus ``general`` from ``defaults`` if it is not
    among them; else ``defaults``.
    """
    try:
        stored = QueuesRepository(db).all()
    except SQLAlchemyError as exc:  # an older database without the table
        log.error("stored queues not read: using the defaults", error=str(exc))
        return list(defaults)
    if not stored:
        return list(defaults)
    configs: list[QueueConfig] = []
    for queue in stored:
        if not queue.enabled:
            continue
        try:
            configs.append(queue_config_of(queue))
        except ConfigurationError as exc:
            log.error(
                "stored queue not loaded", queue=queue.queue_id, setting=exc.setting, error=str(exc)
            )
    if all(c.queue_id != general for c in configs):
        configs[:0] = [c for c in defaults if c.queue_id == general]
    log.info("stored queues loaded", queues=[c.queue_id for c in configs])
    return configs


def stored_flow(db: Database, name: str = MAIN_FLOW) -> Flow | None:
    """The stored voice-menu flow ``name``, None when there is none or it no longer parses."""
    try:
        stored = FlowsRepository(db).get(name)
    except SQLAlchemyError as exc:
        log.error("stored flow not read: using the demo flow", error=str(exc))
        return None
    if stored is None:
        return None
    try:
        flow = flow_from_yaml(stored.yaml_text)
    except ConfigurationError as exc:
        log.error("stored flow refused: using the demo flow", flow=name, error=str(exc))
        return None
    log.info("stored flow loaded", flow=flow.name, nodes=len(flow.nodes))
    return flow


def staff_user_ids(repo: AccountsRepository) -> frozenset[str]:
    """Users whose SIP accounts are not ACD agents (role other than operator; blocking)."""
    return frozenset(user.id for user in repo.users() if user.role != OPERATOR_ROLE)


class AgentProfiles:
    """A stored SIP account's ACD profile, for the administration's live changes.

    As ``callservice.operator_profiles`` at start: a disabled account, or the
    phone of a user whose role is not operator (a supervisor's), is no agent.
    The roles are read at start (:meth:`load`).
    """

    def __init__(self, queue_levels: Mapping[QueueId, int]) -> None:
        self._levels = dict(queue_levels)
        self.staff_users: frozenset[str] = frozenset()
        self.fixed_contacts: Callable[[OperatorId, str | None], None] | None = None
        """Told each account's fixed contact URI (``RegistrarPhones.set_fixed``): an
        administration change of the URI reaches the phone directory at once."""

    def load(self, repo: AccountsRepository) -> None:
        """Read which users are staff (blocking: call in a thread)."""
        self.staff_users = staff_user_ids(repo)

    def __call__(self, operator: Operator) -> OperatorProfile | None:
        if self.fixed_contacts is not None:
            contact = operator.contact_uri if operator.enabled else None
            self.fixed_contacts(OperatorId(operator.sip_username), contact)
        if operator.user_id is not None and operator.user_id in self.staff_users:
            return None
        return profile_of(operator, self._levels)


class _Redirects(Protocol):
    directory: OrganisationDirectory


class DirectoryReload:
    """Re-reads the enabled organisations into the redirects' directory (blocking: a thread).

    The new map replaces the old one in one assignment: a redirect under way
    keeps the number it resolved.
    """

    def __init__(self, db: Database, external: _Redirects) -> None:
        self._db = db
        self._external = external

    def __call__(self) -> None:
        organisations = OrganisationsRepository(self._db).all()
        self._external.directory = DirectoryMap(
            {o.organisation_id: o.number for o in organisations if o.enabled}
        )
        log.info("organisations directory reloaded", organisations=len(organisations))


class _WithBot(Protocol):
    bot: BotCalls | None


class AssistantSpeech:
    """The administration's text-to-prompt renderer: the voice assistant's TTS prompt cache.

    The call service makes that cache at start; until then (and without an
    assistant) rendering fails with :class:`~hotline.bot.tts.SynthesisError`
    (the prompts page answers "unavailable").
    """

    def __init__(self, calls: _WithBot) -> None:
        self._calls = calls

    async def render(self, text: str, voice: str | None = None) -> Path:
        bot = self._calls.bot
        speech = bot.engines.speech if bot is not None else None
        if not isinstance(speech, SpeechCache):
            raise SynthesisError("tts", "speech synthesis is not ready")
        return await speech.render(text, voice)


class FlowRenderer(Protocol):
    """Renders a flow's texts and ``extra_texts`` (``callservice.render_flow_prompts``)."""

    async def __call__(
        self, flow: Flow, directory: Path, *, extra_texts: Sequence[str] = ()
    ) -> RenderedPrompts: ...


class LivePrompts:
    """Renders the texts of a flow changed while running, then adds them to the menu.

    :meth:`request` is the runner's ``render_prompts`` hook; each request is
    one owned task (cancelled by :meth:`aclose`).  Texts already rendered come
    from the disk cache at once.
    """

    def __init__(self, menu: IvrRunner, directory: Path, render: FlowRenderer) -> None:
        self._menu = menu
        self._directory = directory
        self._render = render
        self._tasks: set[asyncio.Task[None]] = set()
        self.rendered = 0
        """Texts rendered for flows changed while running."""

    def request(self, texts: Collection[str]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(tuple(texts)), name="menu-prompts")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, texts: tuple[str, ...]) -> None:
        try:
            prompts = await self._render(self._menu.flow, self._directory, extra_texts=texts)
        except (HotlineError, OSError) as exc:
            log.error("new menu prompts not rendered", texts=len(texts), error=str(exc))
            return
        self._menu.add_prompts(prompts)
        self.rendered += len(set(texts) & prompts.texts())
        log.info("new menu prompts ready", texts=len(texts), flow=self._menu.flow.name)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


UPLOADED_REFRESH_S: Final = 2.0
"""How often the uploaded recordings are looked at again (a new upload plays within it)."""


class UploadedPrompts:
    """The recordings uploaded in the administration (``<prompts>/custom/<id>.wav``), encoded.

    :meth:`refresh` (blocking: a thread; :meth:`watch` runs it periodically)
    encodes each recording once per codec through the media prompt cache,
    which loads a file again only when its modification time or size
    changed; :meth:`get` is the menu runner's ``recordings`` lookup and only
    reads the last table, so it never touches the disk on the event loop.
    """

    def __init__(self, prompts_dir: Path, codecs: Sequence[str]) -> None:
        self._dir = prompts_dir
        self._codecs = tuple(codecs)
        self._frames = PromptCache()
        self._encoded: Mapping[tuple[str, str], EncodedPrompt] = {}
        self._refused: set[tuple[str, int]] = set()

    def get(self, prompt_id: str, codec: str) -> EncodedPrompt | None:
        return self._encoded.get((prompt_id, codec))

    def ids(self) -> frozenset[str]:
        return frozenset(prompt_id for prompt_id, _codec in self._encoded)

    def refresh(self) -> int:
        """Encode the recordings now on disk (blocking); the number of recordings usable."""
        encoded: dict[tuple[str, str], EncodedPrompt] = {}
        for prompt_id in prompt_ids(self._dir):
            path = self._dir / CUSTOM_DIR / f"{prompt_id}.wav"
            for codec in self._codecs:
                try:
                    encoded[(prompt_id, codec)] = self._frames.get(path, get_codec(codec))
                except PromptError as exc:
                    self._refuse(prompt_id, path, str(exc))
        self._encoded = encoded
        return len(self.ids())

    def _refuse(self, prompt_id: str, path: Path, error: str) -> None:
        try:
            key = (prompt_id, path.stat().st_mtime_ns)
        except OSError:
            return  # removed meanwhile
        if key not in self._refused:
            self._refused.add(key)
            log.error("uploaded prompt not usable", prompt=prompt_id, error=error)

    async def watch(self, interval_s: float = UPLOADED_REFRESH_S) -> None:
        """Refresh every ``interval_s`` until cancelled (a new upload plays without a restart)."""
        known = -1
        while True:
            try:
                count = await asyncio.to_thread(self.refresh)
            except OSError as exc:
                log.error("uploaded prompts not read", error=str(exc))
            else:
                if count != known:
                    log.info("uploaded prompts ready", prompts=count)
                    known = count
            await asyncio.sleep(interval_s)


# -- standard answers and trunks (administration, live) -------------------------------


class AnswerTexts:
    """The approved text of a standard answer by id: the voice assistant's ``answers``.

    One object for the node's life; :meth:`replace` swaps the whole table in
    one assignment, so a call in progress reads the new texts from its next
    answer on (a disabled answer is never spoken: its id finds no text).
    """

    def __init__(self, answers: Iterable[StoredAnswer] = ()) -> None:
        self._texts: Mapping[str, str] = {}
        self.replace(answers)

    def __call__(self, answer_id: str) -> str | None:
        return self._texts.get(answer_id)

    def __len__(self) -> int:
        return len(self._texts)

    def replace(self, answers: Iterable[StoredAnswer]) -> None:
        self._texts = {a.id: a.answer for a in answers if a.enabled}


class LiveAnswers:
    """The voice assistant's answer matcher, rebuilt when the standard answers change (R12b).

    ``load`` reads the enabled answers and ``build`` indexes them (both
    blocking: they run in a thread, off the event loop; the matcher's
    embeddings cache means only new or changed texts are embedded).  When
    a rebuild is ready, :attr:`texts` and the matcher (given to ``install``)
    are swapped together in one step on the loop: a call in progress keeps
    the old matcher until its next question.  No answers: ``install(None)``
    (the assistant hands every call over).  A failing rebuild keeps the old
    matcher and texts and is logged.

    :meth:`start` makes the first build (the call service, once the speech
    recogniser is up); before it :meth:`request` only notes nothing (the
    first build reads the database as it is then).  Requests while a rebuild
    runs coalesce into one more rebuild after it.
    """

    def __init__(
        self,
        load: Callable[[], Sequence[StoredAnswer]],
        build: Callable[[Sequence[StoredAnswer]], AnswerMatcher],
        install: Callable[[AnswerMatcher | None], None],
    ) -> None:
        self._load = load
        self._build = build
        self._install = install
        self.texts = AnswerTexts()
        self._started = False
        self._again = False
        self._task: asyncio.Task[None] | None = None
        self.rebuilds = 0
        """Rebuilds that swapped a new matcher in."""
        self.failures = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """The first build (waits for it); from then on :meth:`request` rebuilds."""
        self._started = True
        self.request()
        await self.wait()

    async def wait(self) -> None:
        """Until no rebuild runs or is due (the caller's cancellation leaves the rebuild be)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def request(self) -> bool:
        """Rebuild in the background (on the event loop's thread); False: no running loop."""
        if not self._started:
            return True
        if self.running:
            self._again = True
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._task = loop.create_task(self._run(), name="answers-rebuild")
        return True

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await self._rebuild()

    async def _rebuild(self) -> None:
        try:
            stored = await asyncio.to_thread(self._load)
            matcher = await asyncio.to_thread(self._build, stored) if stored else None
        except Exception as exc:  # noqa: BLE001 - a failing rebuild keeps the old matcher
            self.failures += 1
            log.error("answer matcher not rebuilt: the old one stays", error=str(exc))
            return
        self.texts.replace(stored)  # the texts and the matcher change in one loop step
        self._install(matcher)
        self.rebuilds += 1
        log.info("answer matcher ready", answers=len(self.texts))

    async def aclose(self) -> None:
        self._started = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def stored_trunks(db: Database) -> list[TrunkConfig]:
    """The stored trunks as the call path's configs (blocking: call in a thread).

    A trunk with stored credentials answers the provider's challenges with
    them and registers there when its ``register`` is set
    (``hotline.store.trunk_credentials``).
    """
    secrets = TrunkCredentialsRepository(db).secrets()
    configs: list[TrunkConfig] = []
    for trunk in AccountsRepository(db).trunks():
        config = TrunkConfig.from_record(trunk)
        stored = secrets.get(trunk.id)
        if stored is not None:
            config = replace(
                config,
                credentials=TrunkCredentials(stored.username, stored.password),
                register=stored.register,
                register_expires_s=stored.register_expires_s,
            )
        configs.append(config)
    return configs


class TrunksReload:
    """Re-reads the trunks into the call path's table (the administration; blocking).

    Called in a worker thread: ``read`` runs there, the whole new table is
    validated there (a bad trunk keeps the old table: False), then
    :meth:`TrunkTable.reconfigure <hotline.calls.trunks.TrunkTable.reconfigure>`
    runs on ``loop`` (the table's listeners, e.g. the provider registrations,
    are not thread-safe).  Calls in progress keep their slots; the per-trunk
    call counters carry over for trunks that still exist.  Without ``loop``
    (or when called on it) the table changes in place at once.
    """

    def __init__(
        self,
        read: Callable[[], Sequence[TrunkConfig]],
        table: TrunkTable,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self._read = read
        self._table = table
        self._loop = loop
        self._timeout_s = timeout_s

    def __call__(self) -> bool:
        try:
            configs = list(self._read())
            TrunkTable(configs, plan=self._table.plan)  # validates the whole table
        except (ConfigurationError, SQLAlchemyError) as exc:
            log.error("trunks not reloaded: the old table stays", error=str(exc))
            return False
        loop = self._loop
        if loop is None or _running_loop() is loop:
            return self._apply(configs)
        future = asyncio.run_coroutine_threadsafe(self._apply_on_loop(configs), loop)
        try:
            return future.result(timeout=self._timeout_s)
        except TimeoutError:
            future.cancel()
            log.error("trunks not reloaded: the event loop did not answer")
            return False

    async def _apply_on_loop(self, configs: Sequence[TrunkConfig]) -> bool:
        return self._apply(configs)

    def _apply(self, configs: Sequence[TrunkConfig]) -> bool:
        try:
            self._table.reconfigure(configs)
        except (HotlineError, OSError) as exc:  # a listener failed: the table has changed
            log.error("trunks reloaded with an error", error=str(exc))
            return False
        log.info("trunks reloaded", trunks=len(configs))
        return True


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
