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
rendered from text).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError

from hotline.acd.model import OperatorProfile, QueueConfig
from hotline.bot.prompt_cache import PromptCache as SpeechCache
from hotline.bot.tts import SynthesisError
from hotline.calls.ctl_bot import BotCalls
from hotline.calls.ctl_external import DirectoryMap, OrganisationDirectory
from hotline.core.errors import ConfigurationError, HotlineError
from hotline.core.ids import QueueId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_yaml import flow_from_yaml
from hotline.ivr.runner import IvrRunner, RenderedPrompts
from hotline.store.accounts import AccountsRepository, Operator
from hotline.store.db import Database
from hotline.store.organisations import OrganisationsRepository
from hotline.store.proposals import FlowsRepository
from hotline.store.queues import QueuesRepository
from hotline.web.admin_live import GENERAL_QUEUE, profile_of
from hotline.web.admin_queues import MAIN_FLOW, queue_config_of

__all__ = [
    "MAIN_FLOW",
    "OPERATOR_ROLE",
    "AgentProfiles",
    "AssistantSpeech",
    "DirectoryReload",
    "FlowRenderer",
    "LivePrompts",
    "staff_user_ids",
    "start_queues",
    "stored_flow",
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

    def load(self, repo: AccountsRepository) -> None:
        """Read which users are staff (blocking: call in a thread)."""
        self.staff_users = staff_user_ids(repo)

    def __call__(self, operator: Operator) -> OperatorProfile | None:
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
