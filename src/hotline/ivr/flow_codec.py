"""The dict form of a flow: JSON-able, stable, for the database and for YAML files.

:func:`flow_to_dict` gives every field of every node in a fixed order (keys
of the flow, then of each node in its dataclass order), so storing the same
flow twice stores the same JSON; ``compact=True`` leaves out fields that hold
their default value, for files people read (docs/ivr.md).  :func:`flow_from_dict`
accepts both, refuses unknown fields (a typo must not be silently ignored)
and raises :class:`~hotline.ivr.flow_checks.FlowError` naming the node.

``flow_from_dict(flow_to_dict(f)) == f`` for every flow ``f``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from hotline.ivr.flow import DEFAULT_MAX_STEPS, Flow
from hotline.ivr.flow_checks import FlowError
from hotline.ivr.flow_nodes import (
    BotNode,
    CollectNode,
    ExternalNode,
    ExternalTarget,
    HangupNode,
    IncidentNode,
    MenuNode,
    Node,
    NodeKind,
    PlayNode,
    Prompt,
    QueueNode,
    SetTopicNode,
    TimeConditionNode,
)
from hotline.ivr.flow_time import TimeRange

__all__ = ["FORMAT_VERSION", "flow_from_dict", "flow_to_dict"]

FORMAT_VERSION: Final = 1

_CLASSES: Final[Mapping[NodeKind, type[Node]]] = {
    NodeKind.PLAY: PlayNode,
    NodeKind.MENU: MenuNode,
    NodeKind.COLLECT: CollectNode,
    NodeKind.SET_TOPIC: SetTopicNode,
    NodeKind.INCIDENT: IncidentNode,
    NodeKind.TIME_CONDITION: TimeConditionNode,
    NodeKind.QUEUE: QueueNode,
    NodeKind.BOT: BotNode,
    NodeKind.EXTERNAL: ExternalNode,
    NodeKind.HANGUP: HangupNode,
}
_PROMPT_FIELDS: Final = frozenset(
    {"prompts", "invalid_prompts", "timeout_prompts", "fallback_prompts"}
)
_KEY_FIELDS: Final = frozenset({"repeat_key", "terminator"})
_FLOW_FIELDS: Final = (
    "format",
    "name",
    "start",
    "operator",
    "fallback",
    "max_steps",
    "prompts",
    "nodes",
)


# -- export --------------------------------------------------------------------
def flow_to_dict(flow: Flow, *, compact: bool = False) -> dict[str, Any]:
    """The flow as plain dicts, lists, strings, numbers and booleans (module docstring)."""
    data: dict[str, Any] = {"format": FORMAT_VERSION, "name": flow.name, "start": flow.start}
    if flow.operator_node is not None:
        data["operator"] = {"key": flow.operator_key, "node": flow.operator_node}
    elif not compact:
        data["operator"] = None
    if flow.fallback is not None or not compact:
        data["fallback"] = flow.fallback
    if flow.max_steps != DEFAULT_MAX_STEPS or not compact:
        data["max_steps"] = flow.max_steps
    if flow.prompts or not compact:
        data["prompts"] = dict(flow.prompts)
    data["nodes"] = [_node_to_dict(node, compact) for node in flow.nodes]
    return data


def _node_to_dict(node: Node, compact: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.id, "kind": node.KIND.value}
    for f in dataclasses.fields(node):
        if f.name == "id" or f.name.startswith("_"):
            continue
        value = getattr(node, f.name)
        if f.name == "target" and isinstance(value, ExternalTarget):
            if value.organisation is not None:
                out["organisation"] = value.organisation
            if value.number is not None:
                out["number"] = value.number
            continue
        if compact and f.default is not dataclasses.MISSING and value == f.default:
            continue
        out[f.name] = _value_to_plain(f.name, value)
    return out


def _value_to_plain(name: str, value: object) -> object:
    if name in _PROMPT_FIELDS and isinstance(value, tuple):
        return [_prompt_to_plain(p) for p in value if isinstance(p, Prompt)]
    if name == "branches" and isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if name == "ranges" and isinstance(value, tuple):
        return [
            {"days": r.days_text, "time": r.time_text} for r in value if isinstance(r, TimeRange)
        ]
    return value


def _prompt_to_plain(prompt: Prompt) -> str | dict[str, str]:
    if prompt.text is None and prompt.prompt_id is not None:
        return prompt.prompt_id
    out: dict[str, str] = {}
    if prompt.prompt_id is not None:
        out["prompt"] = prompt.prompt_id
    if prompt.text is not None:
        out["text"] = prompt.text
    return out


# -- import --------------------------------------------------------------------
def flow_from_dict(data: object) -> Flow:
    """Build a flow from its dict form (full or compact); FlowError names what is wrong."""
    if not isinstance(data, Mapping):
        raise FlowError(None, "a flow must be a mapping with name, start and nodes")
    unknown = sorted(str(k) for k in data if k not in _FLOW_FIELDS)
    if unknown:
        raise FlowError(None, f"unknown field {unknown[0]!r} (allowed: {', '.join(_FLOW_FIELDS)})")
    version = data.get("format", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise FlowError(
            None, f"format {version!r} is not supported (this version reads {FORMAT_VERSION})"
        )
    for required in ("name", "start", "nodes"):
        if required not in data:
            raise FlowError(None, f"missing field {required!r}")
    raw_nodes = data["nodes"]
    if not isinstance(raw_nodes, list | tuple):
        raise FlowError(None, "nodes must be a list")
    operator_node, operator_key = _operator(data.get("operator"))
    prompts = data.get("prompts") or {}
    if not isinstance(prompts, Mapping):
        raise FlowError(None, "prompts must map prompt ids to text")
    return Flow(
        name=data["name"],
        start=data["start"],
        nodes=tuple(_node_from_dict(raw, index) for index, raw in enumerate(raw_nodes)),
        prompts=dict(prompts),
        operator_node=operator_node,
        operator_key=operator_key,
        fallback=data.get("fallback"),
        max_steps=data.get("max_steps", DEFAULT_MAX_STEPS),
    )


def _operator(raw: object) -> tuple[str | None, str]:
    if raw is None:
        return None, "0"
    if not isinstance(raw, Mapping) or "node" not in raw or not set(raw) <= {"key", "node"}:
        raise FlowError(None, "operator must be a mapping with node (and optionally key)")
    return raw["node"], _key(None, "operator key", raw.get("key", "0"))


def _node_from_dict(raw: object, index: int) -> Node:
    if not isinstance(raw, Mapping):
        raise FlowError(None, f"node #{index + 1} must be a mapping")
    node_id = raw.get("id")
    if not isinstance(node_id, str):
        raise FlowError(None, f"node #{index + 1} needs an id (text)")
    try:
        kind = NodeKind(raw.get("kind"))
    except ValueError:
        kinds = ", ".join(k.value for k in NodeKind)
        raise FlowError(node_id, f"kind must be one of {kinds}") from None
    cls = _CLASSES[kind]
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "id"}
    allowed = {"id", "kind", *fields}
    if cls is ExternalNode:
        allowed = (allowed - {"target"}) | {"organisation", "number"}
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise FlowError(
            node_id,
            f"unknown field {unknown[0]!r} for a {kind.value} node "
            f"(allowed: {', '.join(sorted(allowed - {'id', 'kind'}))})",
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name == "target":
            kwargs[name] = _target(node_id, raw)
        elif name in raw:
            kwargs[name] = _value_from_plain(node_id, name, raw[name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise FlowError(node_id, f"missing field {name!r} for a {kind.value} node")
    node: Node = cls(id=node_id, **kwargs)
    return node


def _value_from_plain(node: str, name: str, value: object) -> object:
    if name in _PROMPT_FIELDS:
        return _prompts(node, name, value)
    if name in _KEY_FIELDS:
        return None if value is None else _key(node, name, value)
    if name == "branches":
        if not isinstance(value, Mapping):
            raise FlowError(node, "branches must map keys to node ids")
        return {_key(node, "branch key", k): v for k, v in value.items()}
    if name == "ranges":
        if not isinstance(value, list | tuple):
            raise FlowError(node, "ranges must be a list of {days, time}")
        return tuple(_time_range(node, r) for r in value)
    return value


def _key(node: str | None, what: str, value: object) -> str:
    """A DTMF key; YAML reads an unquoted 0-9 as a number, so take small ints too."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return str(value)
    if isinstance(value, str):
        return value
    raise FlowError(node, f"{what} {value!r} is not a DTMF key (quote * and # in YAML)")


def _prompts(node: str, what: str, value: object) -> tuple[Prompt, ...]:
    if isinstance(value, str | Mapping):
        value = [value]
    if not isinstance(value, list | tuple):
        raise FlowError(node, f"{what} must be a list of prompt ids or {{text: ...}}")
    out: list[Prompt] = []
    for item in value:
        try:
            if isinstance(item, str):
                out.append(Prompt(prompt_id=item))
            elif isinstance(item, Mapping) and item and set(item) <= {"prompt", "text"}:
                out.append(Prompt(prompt_id=item.get("prompt"), text=item.get("text")))
            else:
                raise FlowError(None, f"a prompt in {what} must be an id or {{prompt, text}}")
        except FlowError as exc:
            raise FlowError(node, exc.problem) from None
    return tuple(out)


def _time_range(node: str, raw: object) -> TimeRange:
    if not isinstance(raw, Mapping) or not set(raw) <= {"days", "time"} or "time" not in raw:
        raise FlowError(node, "a time range is {days: mon-fri, time: '09:00-18:00'}")
    return TimeRange.parse(node, raw.get("days", "daily"), raw["time"])


def _target(node: str, raw: Mapping[Any, Any]) -> ExternalTarget:
    try:
        return ExternalTarget(organisation=raw.get("organisation"), number=raw.get("number"))
    except FlowError as exc:
        raise FlowError(node, exc.problem) from None
