"""YAML import/export, the stable dict form, YAML hardening, docs/ivr.md examples, public surface."""

from __future__ import annotations

import importlib
import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from hotline.ivr.flow import Flow, validate_flow
from hotline.ivr.flow_checks import FlowError
from hotline.ivr.flow_codec import flow_from_dict, flow_to_dict
from hotline.ivr.flow_nodes import NodeKind
from hotline.ivr.flow_yaml import (
    MAX_YAML_CHARS,
    demo_flow_yaml,
    flow_from_yaml,
    flow_to_yaml,
    load_demo_flow,
    load_flow_yaml,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "ivr.md"


def doc_flows() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    return [b for b in blocks if re.search(r"^nodes:", b, re.M)]


@pytest.fixture(scope="module")
def demo() -> Flow:
    return load_demo_flow()


def test_the_demo_flow_has_the_menu_of_architecture_md(demo: Flow) -> None:
    menu = demo.node("main_menu")
    assert menu.KIND is NodeKind.MENU
    assert dict(menu.branches) == {  # type: ignore[union-attr]
        "1": "topic_social",
        "2": "topic_health",
        "3": "topic_education",
        "4": "topic_military",
        "5": "topic_services",
        "9": "assistant",
    }
    assert (demo.operator_key, demo.operator_node) == ("0", "operator")
    assert demo.prompt_text("greeting") == (
        "Здравствуйте! Вы позвонили на единую линию 122. Разговор записывается."
    )
    assert "Разговор записывается" in demo_flow_yaml()


def test_yaml_round_trip_gives_an_equal_flow(demo: Flow) -> None:
    text = flow_to_yaml(demo)
    assert flow_from_yaml(text) == demo
    assert "Здравствуйте!" in text  # Unicode kept readable, not escaped
    assert flow_to_yaml(flow_from_yaml(text)) == text


@pytest.mark.parametrize("compact", [False, True])
def test_the_dict_form_is_json_and_round_trips(demo: Flow, compact: bool) -> None:
    data = flow_to_dict(demo, compact=compact)
    stored = json.dumps(data, ensure_ascii=False)
    assert flow_from_dict(json.loads(stored)) == demo
    assert json.dumps(flow_to_dict(flow_from_dict(json.loads(stored)), compact=compact)) == (
        json.dumps(data)
    )


def test_the_full_dict_form_names_every_field_in_a_fixed_order(demo: Flow) -> None:
    data = flow_to_dict(demo)
    assert list(data) == [
        "format",
        "name",
        "start",
        "operator",
        "fallback",
        "max_steps",
        "prompts",
        "nodes",
    ]
    menu = next(n for n in data["nodes"] if n["id"] == "main_menu")
    assert list(menu) == [
        "id",
        "kind",
        "prompts",
        "branches",
        "timeout_s",
        "max_retries",
        "invalid_prompts",
        "timeout_prompts",
        "repeat_key",
        "barge_in",
        "fallback",
    ]
    assert menu["timeout_s"] == 7.0
    assert menu["fallback"] is None
    compact = next(n for n in flow_to_dict(demo, compact=True)["nodes"] if n["id"] == "main_menu")
    assert "fallback" not in compact
    assert "repeat_key" not in compact  # "*" is the default


@pytest.mark.parametrize("text", doc_flows(), ids=lambda t: t.split("name: ")[1].split()[0])
def test_the_examples_of_docs_ivr_md_load_and_round_trip(text: str) -> None:
    flow = load_flow_yaml(text, known_prompts=())
    assert flow_from_yaml(flow_to_yaml(flow)) == flow
    assert flow_from_dict(flow_to_dict(flow)) == flow


def test_docs_show_every_node_kind() -> None:
    kinds = {n.KIND for text in doc_flows() for n in flow_from_yaml(text).nodes}
    assert kinds == set(NodeKind)
    assert len(doc_flows()) >= 3


SMALL = """
    name: small
    start: bye
    nodes:
      - id: bye
        kind: hangup
"""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: x\nname: y\nstart: bye\nnodes: []\n", "line 2: duplicate key 'name'"),
        ("a: &x 1\nb: *x\n", "anchors and aliases are not allowed"),
        ("a: *x\n", "anchors and aliases are not allowed"),
        ("a: " + "[" * 20 + "]" * 20 + "\n", "nested deeper than 12 levels"),
        ("a: " + "[" * 200_000 + "\n", "nested deeper than 12 levels"),
        ("---\nname: a\n---\nname: b\n", "one YAML document"),
        ("name: [unclosed\n", "not valid YAML"),
        ("- 1\n- 2\n", "a flow must be a mapping"),
        ("? [1, 2]\n: x\n", "line 1: a mapping key must be plain text"),
        ("name: !!python/object:os.system x\n", "not valid YAML"),
        ("name: x\nstart: bye\nnodes: []\n", "at least one node"),
        ("name: x\nstart: bye\n", "missing field 'nodes'"),
    ],
)
def test_bad_yaml_is_refused_with_a_flow_error(text: str, problem: str) -> None:
    with pytest.raises(FlowError, match=re.escape(problem)) as caught:
        flow_from_yaml(text)
    assert caught.value.node is None


def test_oversized_yaml_is_refused_before_parsing() -> None:
    with pytest.raises(FlowError, match="longer than"):
        flow_from_yaml("#" * (MAX_YAML_CHARS + 1))


def test_unquoted_digit_keys_are_read_as_keys() -> None:
    text = textwrap.dedent(
        """
        name: digits
        start: menu
        operator: {key: 0, node: op}
        nodes:
          - id: menu
            kind: menu
            prompts: [{text: Меню}]
            branches: {1: op, 9: op}
          - id: op
            kind: queue
            queue: general
        """
    )
    flow = flow_from_yaml(text)
    assert flow.operator_key == "0"
    assert dict(flow.node("menu").branches) == {"1": "op", "9": "op"}  # type: ignore[union-attr]


def test_load_flow_yaml_checks_the_configuration() -> None:
    text = textwrap.dedent(SMALL).replace("kind: hangup", "kind: hangup\n    prompts: [rec]")
    with pytest.raises(FlowError, match="prompt 'rec'") as caught:
        load_flow_yaml(text)
    assert caught.value.node == "bye"
    assert load_flow_yaml(text, known_prompts={"rec"}).name == "small"
    validate_flow(flow_from_yaml(textwrap.dedent(SMALL)))


def test_yaml_safe_dump_of_the_export_is_plain() -> None:
    data = yaml.safe_load(flow_to_yaml(flow_from_yaml(textwrap.dedent(SMALL))))
    assert data == {
        "format": 1,
        "name": "small",
        "start": "bye",
        "nodes": [{"id": "bye", "kind": "hangup"}],
    }


@pytest.mark.parametrize(
    "module",
    [
        "hotline.ivr.flow",
        "hotline.ivr.flow_checks",
        "hotline.ivr.flow_codec",
        "hotline.ivr.flow_nodes",
        "hotline.ivr.flow_time",
        "hotline.ivr.flow_yaml",
        "hotline.ivr.interpreter",
        "hotline.ivr.ivr_events",
    ],
)
def test_public_surface(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__, key=lambda n: (not n.isupper(), n))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
