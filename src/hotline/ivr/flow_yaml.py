"""YAML import and export of flows (docs/ivr.md), and the demo flow shipped with the package.

Import is bounded and strict: at most :data:`MAX_YAML_CHARS` characters and
:data:`MAX_YAML_DEPTH` levels of nesting, no anchors or aliases (no
"billion laughs"), no duplicate keys (YAML would silently keep the last one),
only plain YAML types (``yaml.SafeLoader``).  Every problem is a
:class:`~hotline.ivr.flow_checks.FlowError`: the YAML parser's own message
(with line and column), or the node at fault.

Export writes the compact dict form (:func:`~hotline.ivr.flow_codec.flow_to_dict`)
with Unicode text as is (Russian prompts stay readable); importing the export
gives an equal flow.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from importlib import resources
from typing import Any, Final

import yaml

from hotline.ivr.flow import DEFAULT_TOPICS, Flow, validate_flow
from hotline.ivr.flow_checks import FlowError
from hotline.ivr.flow_codec import flow_from_dict, flow_to_dict

__all__ = [
    "DEMO_FLOW_RESOURCE",
    "MAX_YAML_CHARS",
    "MAX_YAML_DEPTH",
    "demo_flow_yaml",
    "flow_from_yaml",
    "flow_to_yaml",
    "load_demo_flow",
    "load_flow_yaml",
]

MAX_YAML_CHARS: Final = 1_000_000
MAX_YAML_DEPTH: Final = 12
DEMO_FLOW_RESOURCE: Final = "demo_flow.yaml"
DEMO_QUEUES: Final = ("social", "health", "education", "military", "services", "general")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate and unhashable mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                duplicate = key in seen
            except TypeError:
                raise FlowError(None, f"line {line}: a mapping key must be plain text") from None
            if duplicate:
                raise FlowError(None, f"line {line}: duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def flow_from_yaml(text: str) -> Flow:
    """Parse a flow from YAML (checks of the flow itself; see :func:`load_flow_yaml`)."""
    return flow_from_dict(_parse(text))


def load_flow_yaml(
    text: str,
    *,
    known_prompts: Collection[str] = (),
    known_topics: Collection[str] = DEFAULT_TOPICS,
    known_queues: Collection[str] | None = None,
    known_organisations: Collection[str] | None = None,
) -> Flow:
    """Parse a flow from YAML and check it against the configuration (``validate_flow``)."""
    flow = flow_from_yaml(text)
    validate_flow(
        flow,
        known_prompts=known_prompts,
        known_topics=known_topics,
        known_queues=known_queues,
        known_organisations=known_organisations,
    )
    return flow


def flow_to_yaml(flow: Flow) -> str:
    """The flow as YAML an administrator can read and edit (compact: defaults left out)."""
    return yaml.safe_dump(
        flow_to_dict(flow, compact=True),
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )


def demo_flow_yaml() -> str:
    """The text of the demo flow (architecture.md, "The demo service")."""
    return resources.files("hotline.ivr").joinpath(DEMO_FLOW_RESOURCE).read_text(encoding="utf-8")


def load_demo_flow() -> Flow:
    """The demo flow, checked against the demo's topics and queues."""
    return load_flow_yaml(demo_flow_yaml(), known_queues=DEMO_QUEUES)


def _parse(text: str) -> object:
    if not isinstance(text, str):
        raise FlowError(None, "a YAML flow must be text")
    if len(text) > MAX_YAML_CHARS:
        raise FlowError(None, f"the YAML text is longer than {MAX_YAML_CHARS} characters")
    try:
        _check_events(text)
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise FlowError(None, f"not valid YAML: {exc}") from None


def _check_events(text: str) -> None:
    """Refuse anchors, aliases, deep nesting and several documents before building objects."""
    depth = 0
    documents = 0
    for event in yaml.parse(text, Loader=_StrictLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1 if event.start_mark is not None else 0
            raise FlowError(None, f"line {line}: YAML anchors and aliases are not allowed")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise FlowError(None, f"YAML nested deeper than {MAX_YAML_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise FlowError(None, "a flow file holds one YAML document")
