"""A voice-menu flow: named nodes, a start node, flow-wide settings; checked as a whole.

A :class:`Flow` cannot be built broken.  Besides each node's own checks
(:mod:`hotline.ivr.flow_nodes`), building one checks the graph and raises
:class:`~hotline.ivr.flow_checks.FlowError` naming the node at fault:

* duplicate node ids, references to unknown nodes, too many nodes;
* unreachable nodes (no path from the start node, the operator node or the
  fallback node leads there);
* loops without an exit: a node from which no path reaches a terminal node
  (queue, bot, external, hang-up), counting every key, time-out and fallback;
* loops without caller input: a cycle of ``play``/``set_topic``/``incident``/
  ``time_condition`` nodes would spin without the caller ever pressing a key;
* chains of more than :data:`MAX_DEPTH` such nodes in a row;
* key clashes with the flow's operator key, and menus without any fallback.

What depends on the rest of the configuration -- uploaded prompts, known
topics, queues and organisations -- is checked by :func:`validate_flow`,
which the loaders call before a flow is stored or used.

Flow-wide settings
    ``operator_node`` with ``operator_key`` ("0"): the key that leads to an
    operator from any menu (unless the menu maps that key itself) and from any
    collect node (as the first key).  ``fallback``: where menus and collect
    nodes go after their last failed retry (None: ``operator_node``).
    ``max_steps``: at most this many node visits, repeats and retries per call;
    past it the call goes to the operator queue (see
    :class:`~hotline.ivr.interpreter.IvrSession`).
"""

from __future__ import annotations

import graphlib
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from hotline.core.errors import LocalProtocolError
from hotline.core.ids import TopicId
from hotline.ivr.flow_checks import FlowError, check_id, check_key, check_text
from hotline.ivr.flow_nodes import (
    AUTOMATIC_KINDS,
    TERMINAL_KINDS,
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

__all__ = [
    "DEFAULT_MAX_STEPS",
    "DEFAULT_TOPICS",
    "MAX_DEPTH",
    "MAX_LIBRARY_PROMPTS",
    "MAX_NODES",
    "MAX_STEPS_LIMIT",
    "MIN_STEPS",
    "Flow",
    "flow_problems",
    "validate_flow",
]

MAX_NODES: Final = 500
MAX_DEPTH: Final = 32
"""Most nodes in a row the caller passes without pressing a key."""
MAX_LIBRARY_PROMPTS: Final = 1000
DEFAULT_MAX_STEPS: Final = 100
MIN_STEPS: Final = 10
MAX_STEPS_LIMIT: Final = 1000
DEFAULT_TOPICS: Final[tuple[TopicId, ...]] = (
    TopicId("social"),
    TopicId("health"),
    TopicId("education"),
    TopicId("military"),
    TopicId("services"),
)
"""The topics of the 122 service (mission.md, R2)."""

_NODE_TYPES: Final = (
    PlayNode,
    MenuNode,
    CollectNode,
    SetTopicNode,
    IncidentNode,
    TimeConditionNode,
    QueueNode,
    BotNode,
    ExternalNode,
    HangupNode,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """A voice menu: ``nodes`` in the administrator's order, entered at ``start``."""

    name: str
    start: str
    nodes: tuple[Node, ...]
    prompts: Mapping[str, str] = field(default_factory=dict)
    operator_node: str | None = None
    operator_key: str = "0"
    fallback: str | None = None
    max_steps: int = DEFAULT_MAX_STEPS
    _index: Mapping[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_id(None, "flow name", self.name)
        steps = self.max_steps
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise FlowError(None, "max_steps must be an integer")
        if not MIN_STEPS <= steps <= MAX_STEPS_LIMIT:
            raise FlowError(None, f"max_steps must be from {MIN_STEPS} to {MAX_STEPS_LIMIT}")
        self._build_index()
        self._check_library()
        check_key(None, "operator_key", self.operator_key)
        for what, target in (
            ("start", self.start),
            ("operator_node", self.operator_node),
            ("fallback", self.fallback),
        ):
            if target is not None and target not in self._index:
                raise FlowError(None, f"{what} names unknown node {target!r}")
        for node in self.nodes:
            self._check_node_links(node)
        self._check_reachable()
        self._check_exits()
        self._check_automatic_chains()

    # -- lookups -----------------------------------------------------------
    def node(self, node_id: str) -> Node:
        """The node called ``node_id`` (LocalProtocolError if there is none)."""
        try:
            return self._index[node_id]
        except KeyError:
            raise LocalProtocolError(f"flow {self.name!r} has no node {node_id!r}") from None

    def prompt_text(self, prompt_id: str) -> str | None:
        """The text of prompt library entry ``prompt_id``, or None."""
        return self.prompts.get(prompt_id)

    def fallback_of(self, node: Node) -> str | None:
        """Where ``node`` goes when input fails or a hand-off fails (None: nowhere)."""
        if isinstance(node, BotNode):
            return node.fallback
        if isinstance(node, MenuNode | CollectNode | ExternalNode):
            if node.fallback is not None:
                return node.fallback
            return self.fallback if self.fallback is not None else self.operator_node
        return None

    def operator_target(self, node: Node) -> str | None:
        """Where the operator key leads from ``node`` (None: it is not special there)."""
        if self.operator_node is None:
            return None
        if isinstance(node, MenuNode) and self.operator_key not in node.branches:
            return self.operator_node
        if isinstance(node, CollectNode) and node.operator_key:
            return self.operator_node
        return None

    def edges(self, node: Node) -> tuple[str, ...]:
        """Every node ``node`` may lead to: its own links, fallback and operator key."""
        found = [target for _, target in node.targets()]
        extras = (self.fallback_of(node), self.operator_target(node))
        found.extend(extra for extra in extras if extra is not None)
        return tuple(dict.fromkeys(found))

    # -- checks ------------------------------------------------------------
    def _build_index(self) -> None:
        if not isinstance(self.nodes, tuple | list) or not self.nodes:
            raise FlowError(None, "a flow needs at least one node")
        if len(self.nodes) > MAX_NODES:
            raise FlowError(None, f"a flow may have at most {MAX_NODES} nodes")
        index: dict[str, Node] = {}
        for node in self.nodes:
            if not isinstance(node, _NODE_TYPES):
                raise FlowError(None, f"not a flow node: {type(node).__name__}")
            if node.id in index:
                raise FlowError(node.id, "duplicate node id")
            index[node.id] = node
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "_index", MappingProxyType(index))

    def _check_library(self) -> None:
        if not isinstance(self.prompts, Mapping):
            raise FlowError(None, "prompts must map prompt ids to text")
        if len(self.prompts) > MAX_LIBRARY_PROMPTS:
            raise FlowError(None, f"more than {MAX_LIBRARY_PROMPTS} prompts in the library")
        for prompt_id, text in self.prompts.items():
            check_id(None, "prompt id", prompt_id)
            check_text(None, f"prompt {prompt_id!r}", text)
        object.__setattr__(self, "prompts", MappingProxyType(dict(self.prompts)))

    def _check_node_links(self, node: Node) -> None:
        for label, target in node.targets():
            if target not in self._index:
                raise FlowError(node.id, f"{label} names unknown node {target!r}")
        operator = self.operator_target(node)
        if isinstance(node, MenuNode) and operator and node.repeat_key == self.operator_key:
            raise FlowError(node.id, "repeat_key is the flow's operator key")
        if isinstance(node, CollectNode) and operator and node.terminator == self.operator_key:
            raise FlowError(node.id, "terminator is the flow's operator key")
        if isinstance(node, MenuNode | CollectNode) and self.fallback_of(node) is None:
            raise FlowError(
                node.id, "no fallback: set fallback here, or the flow's fallback or operator_node"
            )

    def _check_reachable(self) -> None:
        roots = [n for n in (self.start, self.operator_node, self.fallback) if n is not None]
        seen = set(roots)
        todo = deque(roots)
        while todo:
            for target in self.edges(self._index[todo.popleft()]):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        for node in self.nodes:
            if node.id not in seen:
                raise FlowError(node.id, "unreachable: no path from the start node leads here")

    def _check_exits(self) -> None:
        incoming: dict[str, list[str]] = {node.id: [] for node in self.nodes}
        for node in self.nodes:
            for target in self.edges(node):
                incoming[target].append(node.id)
        exits = {node.id for node in self.nodes if node.KIND in TERMINAL_KINDS}
        todo = deque(exits)
        while todo:
            for source in incoming[todo.popleft()]:
                if source not in exits:
                    exits.add(source)
                    todo.append(source)
        for node in self.nodes:
            if node.id not in exits:
                raise FlowError(
                    node.id,
                    "loop without exit: no key, time-out or fallback from here ever reaches "
                    "a queue, the bot, an external transfer or a hang-up",
                )

    def _check_automatic_chains(self) -> None:
        automatic = {node.id: node for node in self.nodes if node.KIND in AUTOMATIC_KINDS}
        graph = {
            node_id: {t for t in self.edges(node) if t in automatic}
            for node_id, node in automatic.items()
        }
        sorter = graphlib.TopologicalSorter(graph)
        try:
            order = tuple(sorter.static_order())  # successors come before their sources
        except graphlib.CycleError as exc:
            cycle = [str(n) for n in exc.args[1]]
            raise FlowError(
                cycle[-1], f"loop without caller input: {' -> '.join(reversed(cycle))}"
            ) from None
        depth: dict[str, int] = {}
        for node_id in order:
            depth[node_id] = 1 + max((depth[t] for t in graph[node_id]), default=0)
            if depth[node_id] > MAX_DEPTH:
                raise FlowError(
                    node_id, f"more than {MAX_DEPTH} nodes in a row without caller input"
                )


def flow_problems(
    flow: Flow,
    *,
    known_prompts: Collection[str] = (),
    known_topics: Collection[str] = DEFAULT_TOPICS,
    known_queues: Collection[str] | None = None,
    known_organisations: Collection[str] | None = None,
) -> tuple[FlowError, ...]:
    """What ``flow`` refers to that the rest of the configuration lacks, node by node.

    ``known_prompts``: ids of uploaded recordings (the flow's own prompt
    library counts too); ``known_queues`` / ``known_organisations``: None
    skips that check.
    """
    problems: list[FlowError] = []
    for node in flow.nodes:
        for prompt in _prompts_of(node):
            pid = prompt.prompt_id
            if pid is None or prompt.text is not None:
                continue
            if pid not in flow.prompts and pid not in known_prompts:
                problems.append(
                    FlowError(node.id, f"prompt {pid!r} is neither in the library nor uploaded")
                )
        topic = node.topic if isinstance(node, SetTopicNode | BotNode) else None
        if topic is not None and topic not in known_topics:
            problems.append(FlowError(node.id, f"unknown topic {topic!r}"))
        if (
            isinstance(node, QueueNode)
            and known_queues is not None
            and node.queue not in known_queues
        ):
            problems.append(FlowError(node.id, f"unknown queue {node.queue!r}"))
        if isinstance(node, ExternalNode) and known_organisations is not None:
            org = node.target.organisation
            if org is not None and org not in known_organisations:
                problems.append(FlowError(node.id, f"unknown organisation {org!r}"))
    return tuple(problems)


def validate_flow(
    flow: Flow,
    *,
    known_prompts: Collection[str] = (),
    known_topics: Collection[str] = DEFAULT_TOPICS,
    known_queues: Collection[str] | None = None,
    known_organisations: Collection[str] | None = None,
) -> None:
    """Raise the first of :func:`flow_problems` (a FlowError naming the node), if any."""
    problems = flow_problems(
        flow,
        known_prompts=known_prompts,
        known_topics=known_topics,
        known_queues=known_queues,
        known_organisations=known_organisations,
    )
    if problems:
        raise problems[0]


def _prompts_of(node: Node) -> tuple[Prompt, ...]:
    if isinstance(node, MenuNode | CollectNode):
        return (*node.prompts, *node.invalid_prompts, *node.timeout_prompts)
    if isinstance(node, PlayNode | IncidentNode | HangupNode):
        return node.prompts
    if isinstance(node, BotNode | ExternalNode):
        return node.fallback_prompts
    return ()
