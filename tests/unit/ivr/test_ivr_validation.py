"""Broken flows are refused on load with an error naming the node at fault."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from hotline.core.errors import ConfigurationError, HotlineError
from hotline.core.ids import QueueId
from hotline.ivr.flow import MAX_DEPTH, MAX_NODES, Flow, flow_problems, validate_flow
from hotline.ivr.flow_checks import FlowError, compile_digit_pattern
from hotline.ivr.flow_codec import flow_from_dict
from hotline.ivr.flow_nodes import PlayNode, Prompt, QueueNode
from hotline.ivr.flow_time import TimeRange, in_ranges

Data = dict[str, Any]


def good() -> Data:
    return {
        "name": "test",
        "start": "hello",
        "operator": {"key": "0", "node": "operator"},
        "prompts": {"hello": "Здравствуйте"},
        "nodes": [
            {"id": "hello", "kind": "play", "prompts": ["hello"], "next": "menu"},
            {
                "id": "menu",
                "kind": "menu",
                "prompts": [{"text": "Меню"}],
                "branches": {"1": "ask", "2": "topic", "3": "hours"},
            },
            {
                "id": "ask",
                "kind": "collect",
                "prompts": [{"text": "Номер"}],
                "variable": "number",
                "next": "operator",
            },
            {"id": "topic", "kind": "set_topic", "topic": "health", "next": "operator"},
            {
                "id": "hours",
                "kind": "time_condition",
                "ranges": [{"days": "mon-fri", "time": "09:00-18:00"}],
                "if_true": "operator",
                "if_false": "bye",
            },
            {"id": "bye", "kind": "hangup"},
            {"id": "operator", "kind": "queue", "queue": "general"},
        ],
    }


def node(data: Data, node_id: str) -> Data:
    found: Data = next(n for n in data["nodes"] if n["id"] == node_id)
    return found


def with_change(change: Callable[[Data], object]) -> Data:
    data = copy.deepcopy(good())
    change(data)
    return data


def add(data: Data, *nodes: Data) -> Data:
    data["nodes"].extend(nodes)
    return data


CASES: list[tuple[str, Callable[[Data], object], str | None, str]] = [
    (
        "unknown-branch",
        lambda d: node(d, "menu")["branches"].update({"4": "nowhere"}),
        "menu",
        "branch 4 names unknown node 'nowhere'",
    ),
    (
        "unknown-next",
        lambda d: node(d, "hello").update(next="nope"),
        "hello",
        "next names unknown node 'nope'",
    ),
    ("unknown-start", lambda d: d.update(start="nope"), None, "start names unknown node"),
    (
        "unknown-operator",
        lambda d: d.update(operator={"node": "nope"}),
        None,
        "operator_node names unknown",
    ),
    (
        "unreachable",
        lambda d: add(d, {"id": "orphan", "kind": "hangup"}),
        "orphan",
        "unreachable",
    ),
    (
        "duplicate-id",
        lambda d: add(d, {"id": "bye", "kind": "hangup"}),
        "bye",
        "duplicate node id",
    ),
    (
        "loop-without-exit",
        lambda d: (
            d.update(operator=None),
            node(d, "menu")["branches"].update({"4": "spin"}),
            node(d, "menu").update(fallback="bye"),
            node(d, "ask").update(fallback="bye"),
            add(
                d,
                {
                    "id": "spin",
                    "kind": "menu",
                    "prompts": [{"text": "Круг"}],
                    "branches": {"1": "round"},
                    "fallback": "round",
                },
                {"id": "round", "kind": "play", "prompts": [{"text": "И снова"}], "next": "spin"},
            ),
        ),
        "spin",
        "loop without exit",
    ),
    (
        "loop-without-input",
        lambda d: (
            node(d, "hours").update(if_true="again"),
            add(d, {"id": "again", "kind": "play", "prompts": ["hello"], "next": "hours"}),
        ),
        "hours",
        "loop without caller input: hours -> again -> hours",
    ),
    (
        "too-deep",
        lambda d: (
            node(d, "hello").update(next="p0"),
            add(
                d,
                *(
                    {"id": f"p{i}", "kind": "play", "prompts": ["hello"], "next": f"p{i + 1}"}
                    for i in range(MAX_DEPTH)
                ),
                {"id": f"p{MAX_DEPTH}", "kind": "play", "prompts": ["hello"], "next": "menu"},
            ),
        ),
        "p0",
        f"more than {MAX_DEPTH} nodes in a row",
    ),
    (
        "no-fallback",
        lambda d: d.update(operator=None),
        "menu",
        "no fallback",
    ),
    (
        "bad-branch-key",
        lambda d: node(d, "menu")["branches"].update({"12": "bye"}),
        "menu",
        "branch key '12' is not a DTMF key",
    ),
    (
        "bad-branch-letter",
        lambda d: node(d, "menu")["branches"].update({"x": "bye"}),
        "menu",
        "not a DTMF key",
    ),
    ("bad-repeat-key", lambda d: node(d, "menu").update(repeat_key="**"), "menu", "repeat_key"),
    (
        "repeat-is-a-branch",
        lambda d: node(d, "menu").update(repeat_key="1"),
        "menu",
        "also a branch key",
    ),
    (
        "repeat-is-operator",
        lambda d: node(d, "menu").update(repeat_key="0"),
        "menu",
        "operator key",
    ),
    (
        "bad-operator-key",
        lambda d: d.update(operator={"node": "operator", "key": "X"}),
        None,
        "operator_key 'X' is not a DTMF key",
    ),
    (
        "digit-terminator",
        lambda d: node(d, "ask").update(terminator="5"),
        "ask",
        "terminator must not be a digit",
    ),
    (
        "terminator-is-operator",
        lambda d: d.update(operator={"node": "operator", "key": "#"}),
        "ask",
        "terminator is the flow's operator key",
    ),
    (
        "bad-regex",
        lambda d: node(d, "ask").update(pattern="[0-9"),
        "ask",
        "not a valid regular expression",
    ),
    ("regex-letters", lambda d: node(d, "ask").update(pattern="[a-z]+"), "ask", "is not allowed"),
    (
        "regex-group-repeat",
        lambda d: node(d, "ask").update(pattern="(1+)+"),
        "ask",
        "group may not be repeated",
    ),
    (
        "regex-backtracking",
        lambda d: node(d, "ask").update(pattern="1?1?1?1?1?11111"),
        "ask",
        "variable repetitions",
    ),
    ("regex-escape", lambda d: node(d, "ask").update(pattern=r"\+1"), "ask", "may be escaped"),
    (
        "digits-range",
        lambda d: node(d, "ask").update(min_digits=5, max_digits=3),
        "ask",
        "min_digits <= max_digits",
    ),
    ("digits-limit", lambda d: node(d, "ask").update(max_digits=33), "ask", "<= 32"),
    ("bad-variable", lambda d: node(d, "ask").update(variable="Номер"), "ask", "variable"),
    (
        "zero-timeout",
        lambda d: node(d, "menu").update(timeout_s=0),
        "menu",
        "timeout_s must be above 0",
    ),
    ("huge-timeout", lambda d: node(d, "menu").update(timeout_s=3600), "menu", "at most 120 s"),
    (
        "bool-timeout",
        lambda d: node(d, "menu").update(timeout_s=True),
        "menu",
        "timeout_s must be a number",
    ),
    ("retries", lambda d: node(d, "menu").update(max_retries=11), "menu", "max_retries"),
    (
        "time-syntax",
        lambda d: node(d, "hours")["ranges"].append({"time": "9-18"}),
        "hours",
        "must look like 09:00-18:00",
    ),
    (
        "time-values",
        lambda d: node(d, "hours")["ranges"].append({"time": "25:00-26:00"}),
        "hours",
        "not a valid span",
    ),
    (
        "time-empty",
        lambda d: node(d, "hours")["ranges"].append({"time": "10:00-10:00"}),
        "hours",
        "empty",
    ),
    (
        "weekday",
        lambda d: node(d, "hours")["ranges"].append({"days": "funday", "time": "10:00-11:00"}),
        "hours",
        "unknown weekday 'funday'",
    ),
    (
        "timezone",
        lambda d: node(d, "hours").update(timezone="Mars/Olympus_Mons"),
        "hours",
        "timezone 'Mars/Olympus_Mons' is unknown",
    ),
    (
        "timezone-path",
        lambda d: node(d, "hours").update(timezone="../../etc/passwd"),
        "hours",
        "not an IANA zone name",
    ),
    ("no-ranges", lambda d: node(d, "hours").update(ranges=[]), "hours", "at least one time range"),
    (
        "info-without-message",
        lambda d: node(d, "bye").update(informational=True),
        "bye",
        "needs a message",
    ),
    (
        "empty-prompts",
        lambda d: node(d, "hello").update(prompts=[]),
        "hello",
        "at least one prompt",
    ),
    (
        "bad-prompt",
        lambda d: node(d, "hello").update(prompts=[{"txt": "x"}]),
        "hello",
        "must be an id or {prompt, text}",
    ),
    (
        "blank-text",
        lambda d: node(d, "hello").update(prompts=[{"text": "  "}]),
        "hello",
        "non-blank",
    ),
    (
        "long-text",
        lambda d: node(d, "hello").update(prompts=[{"text": "а" * 2001}]),
        "hello",
        "longer than 2000",
    ),
    (
        "many-prompts",
        lambda d: node(d, "hello").update(prompts=["hello"] * 17),
        "hello",
        "more than 16 prompts",
    ),
    ("bad-id", lambda d: node(d, "bye").update(id="bye bye"), None, "must start with a letter"),
    (
        "unknown-field",
        lambda d: node(d, "menu").update(tmeout_s=5),
        "menu",
        "unknown field 'tmeout_s'",
    ),
    ("missing-field", lambda d: node(d, "hello").pop("next"), "hello", "missing field 'next'"),
    (
        "unknown-kind",
        lambda d: node(d, "hello").update(kind="dance"),
        "hello",
        "kind must be one of",
    ),
    ("unknown-flow-field", lambda d: d.update(colour="red"), None, "unknown field 'colour'"),
    ("format", lambda d: d.update(format=2), None, "format 2 is not supported"),
    ("max-steps", lambda d: d.update(max_steps=5), None, "max_steps must be from 10"),
    (
        "external-both",
        lambda d: add(d, {"id": "x", "kind": "external", "number": "112", "organisation": "mfc"}),
        "x",
        "exactly one",
    ),
    (
        "external-number",
        lambda d: add(d, {"id": "x", "kind": "external", "number": "8-800"}),
        "x",
        "number '8-800'",
    ),
    (
        "library-text",
        lambda d: d["prompts"].update(empty=""),
        None,
        "prompt 'empty' must be non-blank",
    ),
]


@pytest.mark.parametrize(
    ("change", "at", "problem"),
    [pytest.param(change, at, problem, id=name) for name, change, at, problem in CASES],
)
def test_a_broken_flow_is_refused_naming_the_node(
    change: Callable[[Data], object], at: str | None, problem: str
) -> None:
    data = with_change(change)
    with pytest.raises(FlowError, match=re.escape(problem)) as caught:
        flow_from_dict(data)
    assert caught.value.node == at
    where = "flow" if at is None else f"node {at!r}"
    assert str(caught.value).startswith(f"{where}: ")
    assert isinstance(caught.value, ConfigurationError)
    assert isinstance(caught.value, HotlineError)


def test_the_good_flow_is_accepted() -> None:
    flow = flow_from_dict(good())
    assert [n.id for n in flow.nodes][:2] == ["hello", "menu"]
    assert flow.edges(flow.node("menu")) == ("ask", "topic", "hours", "operator")


def test_too_many_nodes_is_refused() -> None:
    nodes = [PlayNode(id=f"p{i}", prompts=(Prompt(text="x"),), next="q") for i in range(MAX_NODES)]
    with pytest.raises(FlowError, match=f"at most {MAX_NODES} nodes"):
        Flow(name="big", start="p0", nodes=(*nodes, QueueNode(id="q", queue=QueueId("general"))))


def test_references_to_the_rest_of_the_configuration_are_checked_on_validation() -> None:
    data = good()
    node(data, "hello")["prompts"] = ["hello", "uploaded", "missing"]
    node(data, "topic")["topic"] = "weather"
    flow = flow_from_dict(data)
    problems = flow_problems(flow, known_prompts={"uploaded"}, known_queues={"social"})
    assert [(p.node, p.problem) for p in problems] == [
        ("hello", "prompt 'missing' is neither in the library nor uploaded"),
        ("topic", "unknown topic 'weather'"),
        ("operator", "unknown queue 'general'"),
    ]
    with pytest.raises(FlowError, match="'missing'") as caught:
        validate_flow(flow, known_prompts={"uploaded"})
    assert caught.value.node == "hello"
    validate_flow(flow, known_prompts={"uploaded", "missing"}, known_topics={"health", "weather"})


@pytest.mark.parametrize(
    "pattern", ["[0-9]{11}", r"8\d{10}", "(7|8)[0-9]{10}", "1*2?3+4{2,5}", r"\*[0-9]+#?"]
)
def test_ordinary_digit_patterns_compile(pattern: str) -> None:
    assert compile_digit_pattern("n", pattern).pattern == pattern


@pytest.mark.parametrize(
    ("days", "span", "text"),
    [
        ("mon-fri", "09:00-18:00", ("mon-fri", "09:00-18:00")),
        ("fri-mon", "22:00-00:00", ("mon,fri-sun", "22:00-24:00")),
        ("daily", "00:00-24:00", ("daily", "00:00-24:00")),
        ("SAT, sun", "10:00-14:30", ("sat-sun", "10:00-14:30")),
    ],
)
def test_time_ranges_parse_to_a_canonical_form(days: str, span: str, text: tuple[str, str]) -> None:
    r = TimeRange.parse("n", days, span)
    assert (r.days_text, r.time_text) == text
    assert TimeRange.parse("n", *text) == r


def test_in_ranges_needs_an_aware_time() -> None:
    from datetime import datetime

    from hotline.core.errors import LocalProtocolError

    r = TimeRange.parse("n", "daily", "00:00-24:00")
    with pytest.raises(LocalProtocolError):
        in_ranges((r,), "Europe/Moscow", datetime(2025, 1, 1, 12, 0))
