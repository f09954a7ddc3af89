"""Applying administration changes to the running node, without a restart.

The administration routes save a change in the database and then hand it to
a :class:`LiveConfiguration`, if the node installed one
(:func:`install_live_configuration`, an ``extra`` hook of ``create_web_app``):

* queues → the ACD router (a new queue is added, an existing one updated in
  place: waiting calls keep their places); a disabled queue is taken out of
  routing and its waiting calls move, keeping their places, to its overflow
  target, else to the general queue (:meth:`AcdService.remove_queue
  <hotline.acd.service.AcdService.remove_queue>`);
* operators (accounts, skills, enabled) → the ACD's operator profiles, and at
  once to the logged-in operators (new skills route the next call; a disabled
  operator is logged out, or set not ready while talking);
* SIP passwords (HA1) and trunks' trusted networks → the SIP service's
  ``reload_accounts``;
* a voice-menu flow → the IVR runner's ``set_flow``: calls that start from
  then on take the new flow, calls in the menu finish on the old one;
* the organisations directory → the numbers that the menu's and the
  operators' redirects dial (``directory``, a blocking re-read);
* the standard answers → the voice assistant's answer matcher, rebuilt in
  the background and swapped in when ready (``answers``, non-blocking: it
  only asks for the rebuild, on the event loop);
* trunks (host, port, numbers, limits) → the trunk table of outbound calls
  and redirects, and the providers' registrations (``trunks``, a blocking
  re-read; calls in progress keep their trunk slots).

:class:`AcdLiveConfiguration` is the implementation over
:class:`~hotline.acd.service.AcdService` and the IVR runner.  Without an
installed target (tests of the pages, a node without calls) the database
still changes and the answer says ``applied: false``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import structlog
from fastapi import FastAPI
from starlette.requests import HTTPConnection

from hotline.acd.model import MAX_LEVEL, MIN_LEVEL, OperatorProfile, QueueConfig
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import OperatorId, QueueId
from hotline.ivr.flow import Flow
from hotline.store.accounts import Operator

__all__ = [
    "GENERAL_QUEUE",
    "OPERATOR_DISABLED",
    "AcdLiveConfiguration",
    "AdminPaths",
    "LiveConfiguration",
    "SpeechRenderer",
    "admin_paths_of",
    "install_admin_paths",
    "install_live_configuration",
    "live_of",
    "profile_of",
]

log = structlog.get_logger("hotline.web.admin")

GENERAL_QUEUE: Final = QueueId("general")
"""Where a disabled queue's waiting calls go when it has no overflow target."""
OPERATOR_DISABLED: Final = "disabled by the administrator"
"""The not-ready reason of an operator disabled while talking (from the end of the call)."""
_LIVE_ATTR: Final = "live_configuration"
_PATHS_ATTR: Final = "admin_paths"


class LiveConfiguration(Protocol):
    """What the running node can take without a restart."""

    def apply_queue(self, config: QueueConfig) -> None:
        """Add the queue, or update it in place if the router has it."""
        ...

    def remove_queue(self, queue_id: QueueId) -> bool:
        """Take the queue out of routing (disabled); False when its calls have nowhere to go."""
        ...

    def apply_operators(self, operators: Sequence[Operator]) -> None:
        """Every operator account as stored (disabled ones are dropped from routing)."""
        ...

    def apply_flow(self, flow: Flow) -> bool:
        """Use ``flow`` for new calls; False when only a restart can apply it."""
        ...

    def reload_accounts(self) -> bool:
        """Re-read SIP credentials and trunks' networks (blocking); False: not possible."""
        ...

    def reload_directory(self) -> bool:
        """Re-read the organisations directory for redirects (blocking); False: not possible."""
        ...

    def reload_answers(self) -> bool:
        """Rebuild the voice assistant's matcher in the background (call on the event loop).

        True: the rebuild is asked for (the assistant takes the new answers
        when it is ready); False: not possible.
        """
        ...

    def reload_trunks(self) -> bool:
        """Re-read the trunks for calls and registrations (blocking); False: not possible."""
        ...


class SpeechRenderer(Protocol):
    """Text to a WAV file (the TTS prompt cache, ``hotline.bot.prompt_cache.PromptCache``)."""

    async def render(self, text: str, voice: str | None = None) -> Path: ...


@dataclass(frozen=True, slots=True)
class AdminPaths:
    """Directories the administration writes to (``None``: that feature is off)."""

    prompts_dir: Path | None = None  # uploaded and rendered prompts (8 kHz mono WAV)
    recordings_dir: Path | None = None  # recordings are served only from inside it
    tts: SpeechRenderer | None = None  # renders a prompt from text


def profile_of(
    operator: Operator, queue_levels: Mapping[QueueId, int] | None = None
) -> OperatorProfile | None:
    """The ACD profile of an enabled operator (skills outside 1..10 are ignored)."""
    if not operator.enabled:
        return None
    skills = {
        name: level
        for name, level in operator.skills.items()
        if isinstance(level, int)
        and not isinstance(level, bool)
        and MIN_LEVEL <= level <= MAX_LEVEL
    }
    return OperatorProfile(
        operator_id=OperatorId(operator.sip_username),
        skills=skills,
        queue_levels=dict(queue_levels or {}),
    )


class _Acd(Protocol):
    """The ACD as configuration sees it (:class:`~hotline.acd.service.AcdService`)."""

    def has_queue(self, queue_id: QueueId) -> bool: ...

    def add_queue(self, config: QueueConfig) -> None: ...

    def update_queue(self, config: QueueConfig) -> None: ...

    def remove_queue(self, queue_id: QueueId, *, fallback: QueueId) -> QueueId | None: ...

    def update_operators(self, profiles: Iterable[OperatorProfile], *, reason: str) -> None: ...


class _Menu(Protocol):
    """The voice menu (:class:`~hotline.ivr.runner.IvrRunner`)."""

    def set_flow(self, flow: Flow) -> None: ...


class _Sip(Protocol):
    """The SIP service (:class:`~hotline.app.sipservice.SipService`)."""

    def reload_accounts(self) -> None: ...


class AcdLiveConfiguration:
    """:class:`LiveConfiguration` over the node's ACD service and IVR runner."""

    def __init__(
        self,
        acd: _Acd,
        *,
        menu: _Menu | None = None,
        sip: _Sip | None = None,
        queue_levels: Mapping[QueueId, int] | None = None,
        profile: Callable[[Operator], OperatorProfile | None] | None = None,
        fallback_queue: QueueId = GENERAL_QUEUE,
        directory: Callable[[], None] | None = None,
        answers: Callable[[], bool] | None = None,
        trunks: Callable[[], bool] | None = None,
    ) -> None:
        self._acd = acd
        self._menu = menu
        self._sip = sip
        self._queue_levels = dict(queue_levels or {})
        self._profile = profile or (lambda op: profile_of(op, self._queue_levels))
        self._fallback = fallback_queue
        self._directory = directory
        self._answers = answers
        self._trunks = trunks

    def apply_queue(self, config: QueueConfig) -> None:
        if self._acd.has_queue(config.queue_id):
            self._acd.update_queue(config)
        else:
            self._acd.add_queue(config)

    def remove_queue(self, queue_id: QueueId) -> bool:
        if not self._acd.has_queue(queue_id):
            return True  # not routed now: nothing to take out
        try:
            self._acd.remove_queue(queue_id, fallback=self._fallback)
        except LocalProtocolError as exc:
            log.warning("queue stays in routing", queue=queue_id, error=str(exc))
            return False
        return True

    def apply_operators(self, operators: Sequence[Operator]) -> None:
        profiles = [p for p in (self._profile(op) for op in operators) if p is not None]
        self._acd.update_operators(profiles, reason=OPERATOR_DISABLED)

    def apply_flow(self, flow: Flow) -> bool:
        if self._menu is None:
            return False
        self._menu.set_flow(flow)
        return True

    def reload_accounts(self) -> bool:
        if self._sip is None:
            return False
        self._sip.reload_accounts()
        return True

    def reload_directory(self) -> bool:
        if self._directory is None:
            return False
        self._directory()
        return True

    def reload_answers(self) -> bool:
        return self._answers() if self._answers is not None else False

    def reload_trunks(self) -> bool:
        return self._trunks() if self._trunks is not None else False


def install_live_configuration(target: LiveConfiguration) -> Callable[[FastAPI], None]:
    """An ``extra`` hook for ``create_web_app``: administration changes go to ``target``."""

    def hook(app: FastAPI) -> None:
        setattr(app.state, _LIVE_ATTR, target)

    return hook


def install_admin_paths(paths: AdminPaths) -> Callable[[FastAPI], None]:
    """An ``extra`` hook for ``create_web_app``: where prompts and recordings live."""

    def hook(app: FastAPI) -> None:
        setattr(app.state, _PATHS_ATTR, paths)

    return hook


def live_of(request: HTTPConnection) -> LiveConfiguration | None:
    found = getattr(request.app.state, _LIVE_ATTR, None)
    return found if found is not None else None


def admin_paths_of(request: HTTPConnection) -> AdminPaths:
    found = getattr(request.app.state, _PATHS_ATTR, None)
    return found if isinstance(found, AdminPaths) else AdminPaths()
