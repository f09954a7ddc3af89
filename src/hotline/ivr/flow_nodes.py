"""The nodes of a voice-menu flow: frozen dataclasses, each checked when it is built.

A flow (:class:`hotline.ivr.flow.Flow`) is a set of named nodes.  Each node
checks its own fields in ``__post_init__`` and raises
:class:`~hotline.ivr.flow_checks.FlowError` naming itself; checks that need
the whole flow (references, reachability, loops) live in
:mod:`hotline.ivr.flow_graph`.

Kinds, and where each one goes next:

=================  ==========================================================
``play``           plays prompts, then ``next``
``menu``           plays a prompt, waits for one key: ``branches`` maps keys to
                   nodes; time-outs and wrong keys are retried, then ``fallback``
``collect``        reads several digits into ``variable``, then ``next``
``set_topic``      sets the call's topic (social, health, …), then ``next``
``incident``       plays its announcement if ``flag`` is on, then ``next``
``time_condition`` ``if_true`` when the call arrived within ``ranges``, else ``if_false``
``queue``          hands the call to a queue (terminal)
``bot``            hands the call to the voice assistant (terminal; ``fallback``
                   if the assistant cannot take it)
``external``       transfers the call to an organisation (terminal)
``hangup``         ends the call with an optional message (terminal)
=================  ==========================================================
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Final

from hotline.core.ids import QueueId, TopicId
from hotline.ivr.flow_checks import (
    MAX_COLLECT_DIGITS,
    MAX_PROMPTS_PER_NODE,
    FlowError,
    check_bool,
    check_id,
    check_key,
    check_number,
    check_retries,
    check_text,
    check_timeout,
    check_variable,
    compile_digit_pattern,
)
from hotline.ivr.flow_time import MAX_TIME_RANGES, TimeRange, check_timezone

__all__ = [
    "AUTOMATIC_KINDS",
    "DEFAULT_TIMEZONE",
    "INPUT_KINDS",
    "TERMINAL_KINDS",
    "BotNode",
    "CollectNode",
    "ExternalNode",
    "ExternalTarget",
    "HangupNode",
    "IncidentNode",
    "MenuNode",
    "Node",
    "NodeKind",
    "PlayNode",
    "Prompt",
    "QueueNode",
    "SetTopicNode",
    "TimeConditionNode",
]

DEFAULT_TIMEZONE: Final = "Europe/Moscow"


class NodeKind(enum.Enum):
    """The kind of a node, as written in the flow's ``kind`` field."""

    PLAY = "play"
    MENU = "menu"
    COLLECT = "collect"
    SET_TOPIC = "set_topic"
    INCIDENT = "incident"
    TIME_CONDITION = "time_condition"
    QUEUE = "queue"
    BOT = "bot"
    EXTERNAL = "external"
    HANGUP = "hangup"


TERMINAL_KINDS: Final = frozenset(
    {NodeKind.QUEUE, NodeKind.BOT, NodeKind.EXTERNAL, NodeKind.HANGUP}
)
"""Nodes that take the call out of the voice menu."""

INPUT_KINDS: Final = frozenset({NodeKind.MENU, NodeKind.COLLECT})
"""Nodes that wait for the caller's keys."""

AUTOMATIC_KINDS: Final = frozenset(
    {NodeKind.PLAY, NodeKind.SET_TOPIC, NodeKind.INCIDENT, NodeKind.TIME_CONDITION}
)
"""Nodes that move on by themselves, without the caller's input."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One thing to say: a prompt library entry (``prompt_id``), inline ``text``, or both.

    With both, ``prompt_id`` names the recording to use if one was uploaded,
    and ``text`` is what the speech synthesiser says otherwise.
    """

    prompt_id: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.prompt_id is None and self.text is None:
            raise FlowError(None, "a prompt needs a prompt id or text")
        if self.prompt_id is not None:
            check_id(None, "prompt id", self.prompt_id)
        if self.text is not None:
            check_text(None, "prompt text", self.text)


@dataclass(frozen=True, slots=True)
class ExternalTarget:
    """Where an external transfer goes: an organisation of the directory, or a number."""

    organisation: str | None = None
    number: str | None = None

    def __post_init__(self) -> None:
        if (self.organisation is None) == (self.number is None):
            raise FlowError(None, "an external target needs exactly one of organisation, number")
        if self.organisation is not None:
            check_id(None, "organisation", self.organisation)
        if self.number is not None:
            check_number(None, self.number)


def _prompts(node: str, what: str, value: object, *, required: bool) -> tuple[Prompt, ...]:
    if not isinstance(value, tuple | list):
        raise FlowError(node, f"{what} must be a list of prompts")
    prompts = tuple(value)
    if required and not prompts:
        raise FlowError(node, f"{what} must name at least one prompt")
    if len(prompts) > MAX_PROMPTS_PER_NODE:
        raise FlowError(node, f"{what} has more than {MAX_PROMPTS_PER_NODE} prompts")
    if not all(isinstance(p, Prompt) for p in prompts):
        raise FlowError(node, f"{what} must hold Prompt values")
    return prompts


def _optional_id(node: str, what: str, value: str | None) -> None:
    if value is not None:
        check_id(node, what, value)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayNode:
    """Play ``prompts`` back to back, then go to ``next``; ``barge_in``: a key cuts it short."""

    KIND: ClassVar[NodeKind] = NodeKind.PLAY
    id: str
    prompts: tuple[Prompt, ...]
    next: str
    barge_in: bool = False

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        _set(self, "prompts", _prompts(self.id, "prompts", self.prompts, required=True))
        check_id(self.id, "next", self.next)
        check_bool(self.id, "barge_in", self.barge_in)

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuNode:
    """Say ``prompts`` and wait ``timeout_s`` for one key from ``branches`` (key → node).

    A wrong key plays ``invalid_prompts``, silence plays ``timeout_prompts``,
    and the menu is said again, up to ``max_retries`` more times; then the
    call goes to ``fallback`` (None: the flow's fallback).  ``repeat_key``
    says the menu again without counting a retry.
    """

    KIND: ClassVar[NodeKind] = NodeKind.MENU
    id: str
    prompts: tuple[Prompt, ...]
    branches: Mapping[str, str]
    timeout_s: float = 5.0
    max_retries: int = 2
    invalid_prompts: tuple[Prompt, ...] = ()
    timeout_prompts: tuple[Prompt, ...] = ()
    repeat_key: str | None = "*"
    barge_in: bool = True
    fallback: str | None = None

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        _set(self, "prompts", _prompts(self.id, "prompts", self.prompts, required=True))
        if not isinstance(self.branches, Mapping) or not self.branches:
            raise FlowError(self.id, "branches must map at least one key to a node")
        for key, target in self.branches.items():
            check_key(self.id, "branch key", key)
            check_id(self.id, f"branch {key}", target)
        _set(self, "branches", MappingProxyType(dict(self.branches)))
        _set(self, "timeout_s", check_timeout(self.id, "timeout_s", self.timeout_s))
        check_retries(self.id, self.max_retries)
        for name in ("invalid_prompts", "timeout_prompts"):
            _set(self, name, _prompts(self.id, name, getattr(self, name), required=False))
        if self.repeat_key is not None:
            check_key(self.id, "repeat_key", self.repeat_key)
            if self.repeat_key in self.branches:
                raise FlowError(self.id, f"repeat_key {self.repeat_key!r} is also a branch key")
        check_bool(self.id, "barge_in", self.barge_in)
        _optional_id(self.id, "fallback", self.fallback)

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        found = tuple((f"branch {key}", target) for key, target in self.branches.items())
        return found if self.fallback is None else (*found, ("fallback", self.fallback))


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectNode:
    """Say ``prompts`` and read ``min_digits``..``max_digits`` keys into ``variable``.

    Input ends with ``terminator``, at ``max_digits``, or after
    ``inter_digit_timeout_s`` without a key; it must then match ``pattern``
    (whole input).  Nothing within ``timeout_s`` after the prompt, or input
    that does not fit, is retried as in a menu, then ``fallback``.
    ``operator_key``: the flow's operator key, pressed as the first key, goes
    to the operator (switch it off when the first digit may be that key).
    """

    KIND: ClassVar[NodeKind] = NodeKind.COLLECT
    id: str
    prompts: tuple[Prompt, ...]
    variable: str
    next: str
    min_digits: int = 1
    max_digits: int = 16
    terminator: str | None = "#"
    timeout_s: float = 5.0
    inter_digit_timeout_s: float = 3.0
    pattern: str | None = None
    max_retries: int = 2
    invalid_prompts: tuple[Prompt, ...] = ()
    timeout_prompts: tuple[Prompt, ...] = ()
    barge_in: bool = True
    fallback: str | None = None
    operator_key: bool = True
    _compiled: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        _set(self, "prompts", _prompts(self.id, "prompts", self.prompts, required=True))
        check_variable(self.id, self.variable)
        check_id(self.id, "next", self.next)
        for name in ("min_digits", "max_digits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise FlowError(self.id, f"{name} must be an integer")
        if not 1 <= self.min_digits <= self.max_digits <= MAX_COLLECT_DIGITS:
            raise FlowError(self.id, f"need 1 <= min_digits <= max_digits <= {MAX_COLLECT_DIGITS}")
        if self.terminator is not None:
            check_key(self.id, "terminator", self.terminator)
            if self.terminator.isdigit():
                raise FlowError(self.id, "terminator must not be a digit (use # or *)")
        _set(self, "timeout_s", check_timeout(self.id, "timeout_s", self.timeout_s))
        _set(
            self,
            "inter_digit_timeout_s",
            check_timeout(self.id, "inter_digit_timeout_s", self.inter_digit_timeout_s),
        )
        if self.pattern is not None:
            _set(self, "_compiled", compile_digit_pattern(self.id, self.pattern))
        check_retries(self.id, self.max_retries)
        for name in ("invalid_prompts", "timeout_prompts"):
            _set(self, name, _prompts(self.id, name, getattr(self, name), required=False))
        check_bool(self.id, "barge_in", self.barge_in)
        check_bool(self.id, "operator_key", self.operator_key)
        _optional_id(self.id, "fallback", self.fallback)

    def accepts(self, digits: str) -> bool:
        """True if ``digits`` (terminator removed) is a complete, valid input."""
        if not self.min_digits <= len(digits) <= self.max_digits:
            return False
        return self._compiled is None or self._compiled.fullmatch(digits) is not None

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        found = (("next", self.next),)
        return found if self.fallback is None else (*found, ("fallback", self.fallback))


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTopicNode:
    """Set the call's topic (it travels into statistics and the operator's screen)."""

    KIND: ClassVar[NodeKind] = NodeKind.SET_TOPIC
    id: str
    topic: TopicId
    next: str

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        check_id(self.id, "topic", self.topic)
        check_id(self.id, "next", self.next)

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentNode:
    """An announcement switch: while incident ``flag`` is on, play ``prompts``; then ``next``."""

    KIND: ClassVar[NodeKind] = NodeKind.INCIDENT
    id: str
    flag: str
    prompts: tuple[Prompt, ...]
    next: str
    barge_in: bool = False

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        check_id(self.id, "flag", self.flag)
        _set(self, "prompts", _prompts(self.id, "prompts", self.prompts, required=True))
        check_id(self.id, "next", self.next)
        check_bool(self.id, "barge_in", self.barge_in)

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeConditionNode:
    """Go to ``if_true`` when the call arrived within any of ``ranges`` in ``timezone``."""

    KIND: ClassVar[NodeKind] = NodeKind.TIME_CONDITION
    id: str
    ranges: tuple[TimeRange, ...]
    if_true: str
    if_false: str
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        if not isinstance(self.ranges, tuple | list) or not self.ranges:
            raise FlowError(self.id, "ranges must hold at least one time range")
        if len(self.ranges) > MAX_TIME_RANGES:
            raise FlowError(self.id, f"more than {MAX_TIME_RANGES} time ranges")
        if not all(isinstance(r, TimeRange) for r in self.ranges):
            raise FlowError(self.id, "ranges must hold TimeRange values")
        _set(self, "ranges", tuple(self.ranges))
        check_id(self.id, "if_true", self.if_true)
        check_id(self.id, "if_false", self.if_false)
        check_timezone(self.id, self.timezone)

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        return (("if_true", self.if_true), ("if_false", self.if_false))


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueNode:
    """Hand the call to queue ``queue`` with the topic set so far (terminal)."""

    KIND: ClassVar[NodeKind] = NodeKind.QUEUE
    id: str
    queue: QueueId

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        check_id(self.id, "queue", self.queue)

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BotNode:
    """Hand the call to the voice assistant (terminal).

    If the assistant cannot take the call (not installed, busy, failed), the
    call layer reports it and the menu plays ``fallback_prompts`` ("the
    assistant is not available, connecting you to an operator") and goes on
    at ``fallback``.  ``topic`` (None: the topic set so far) tells the
    assistant what the caller chose.
    """

    KIND: ClassVar[NodeKind] = NodeKind.BOT
    id: str
    fallback: str
    topic: TopicId | None = None
    fallback_prompts: tuple[Prompt, ...] = ()

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        check_id(self.id, "fallback", self.fallback)
        _optional_id(self.id, "topic", self.topic)
        _set(
            self,
            "fallback_prompts",
            _prompts(self.id, "fallback_prompts", self.fallback_prompts, required=False),
        )

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        return (("fallback", self.fallback),)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalNode:
    """Transfer the call to an organisation or number (terminal, R7).

    If the transfer fails, ``fallback_prompts`` play and the call goes on at
    ``fallback`` (None: the flow's fallback; without one the call ends).
    """

    KIND: ClassVar[NodeKind] = NodeKind.EXTERNAL
    id: str
    target: ExternalTarget
    fallback: str | None = None
    fallback_prompts: tuple[Prompt, ...] = ()

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        if not isinstance(self.target, ExternalTarget):
            raise FlowError(self.id, "target must be an ExternalTarget")
        _optional_id(self.id, "fallback", self.fallback)
        _set(
            self,
            "fallback_prompts",
            _prompts(self.id, "fallback_prompts", self.fallback_prompts, required=False),
        )

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        return () if self.fallback is None else (("fallback", self.fallback),)


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupNode:
    """End the call after ``prompts`` (terminal).

    ``informational``: the message answered the caller's question, so the
    call counts as IVR self-service (docs/metrics.md); it needs a message.
    """

    KIND: ClassVar[NodeKind] = NodeKind.HANGUP
    id: str
    prompts: tuple[Prompt, ...] = field(default=())
    informational: bool = False

    def __post_init__(self) -> None:
        check_id(None, "node id", self.id)
        _set(self, "prompts", _prompts(self.id, "prompts", self.prompts, required=False))
        check_bool(self.id, "informational", self.informational)
        if self.informational and not self.prompts:
            raise FlowError(self.id, "an informational hang-up needs a message (prompts)")

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The nodes this one refers to, as (field, node id) pairs."""
        return ()


Node = (
    PlayNode
    | MenuNode
    | CollectNode
    | SetTopicNode
    | IncidentNode
    | TimeConditionNode
    | QueueNode
    | BotNode
    | ExternalNode
    | HangupNode
)
