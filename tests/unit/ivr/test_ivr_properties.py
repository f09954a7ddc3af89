"""Property tests: random valid flows, random callers.

For any flow that loads and any sequence of keys, timer firings and playback
reports, the session never raises, keeps to the flow's step limit, and --
driven on by timers and playback reports alone -- always ends in exactly one
terminal command (or the caller's hang-up).  Random flows also survive the
YAML and dict round trips.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.core.ids import CallId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_codec import flow_from_dict, flow_to_dict
from hotline.ivr.flow_nodes import BotNode, CollectNode, ExternalNode, MenuNode
from hotline.ivr.flow_yaml import flow_from_yaml, flow_to_yaml
from hotline.ivr.interpreter import IvrSession, SessionState
from hotline.ivr.ivr_events import (
    TERMINAL_COMMANDS,
    InputFailed,
    IvrChoiceMade,
    IvrEvent,
    PlayPrompts,
    RouteToQueue,
    StopPlayback,
    TopicSet,
)

KEYS = "0123456789*#"
AUTOMATIC = ("play", "incident", "set_topic", "time_condition")
TERMINALS = ("queue", "hangup", "bot", "external")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def flow_data(draw: st.DrawFn) -> dict[str, Any]:
    """A random flow in dict form that is valid by construction (see the module docstring).

    Automatic nodes only link forward (no loop without input, always an exit);
    menus and collect nodes link anywhere, loops included, and always have a
    fallback (the flow's operator queue or an explicit terminal).
    """
    inner = [f"n{i}" for i in range(draw(st.integers(1, 7)))]
    terminals = [f"t{i}" for i in range(draw(st.integers(1, 3)))]
    with_operator = draw(st.booleans())
    every = [*inner, *terminals, *(["op"] if with_operator else [])]
    nodes: list[dict[str, Any]] = []
    text = [{"text": "Текст"}]
    for i, node_id in enumerate(inner):
        forward = [*inner[i + 1 :], *terminals]
        kind = draw(st.sampled_from((*AUTOMATIC, "menu", "collect")))
        node: dict[str, Any] = {"id": node_id, "kind": kind}
        if kind == "play":
            node |= {"prompts": text, "next": draw(st.sampled_from(forward))}
            node["barge_in"] = draw(st.booleans())
        elif kind == "incident":
            node |= {"flag": "storm", "prompts": text, "next": draw(st.sampled_from(forward))}
            node["barge_in"] = draw(st.booleans())
        elif kind == "set_topic":
            topic = draw(st.sampled_from(("social", "health", "military")))
            node |= {"topic": topic, "next": draw(st.sampled_from(forward))}
        elif kind == "time_condition":
            node |= {
                "ranges": [{"days": "mon-fri", "time": "09:00-18:00"}],
                "if_true": draw(st.sampled_from(forward)),
                "if_false": draw(st.sampled_from(forward)),
            }
        else:
            node |= _input_node(draw, kind, every, terminals, with_operator)
        nodes.append(node)
    for node_id in terminals:
        kind = draw(st.sampled_from(TERMINALS))
        node = {"id": node_id, "kind": kind}
        if kind == "queue":
            node["queue"] = "q_" + node_id
        elif kind == "hangup":
            if draw(st.booleans()):
                node |= {"prompts": text, "informational": True}
        elif kind == "bot":
            node |= {"fallback": draw(st.sampled_from(every)), "fallback_prompts": text}
        else:
            node["number"] = "112"
            if draw(st.booleans()):
                node["fallback"] = draw(st.sampled_from(every))
        nodes.append(node)
    data: dict[str, Any] = {"name": "random", "start": "n0", "nodes": nodes}
    data["max_steps"] = draw(st.integers(10, 60))
    if with_operator:
        nodes.append({"id": "op", "kind": "queue", "queue": "general"})
        data["operator"] = {"key": "0", "node": "op"}
    else:
        data["fallback"] = draw(st.sampled_from(terminals))
    return _reachable_only(data)


def _input_node(
    draw: st.DrawFn, kind: str, every: list[str], terminals: list[str], with_operator: bool
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "prompts": [{"text": "Вопрос"}],
        "timeout_s": draw(st.sampled_from((1, 4.5, 10))),
        "max_retries": draw(st.integers(0, 3)),
        "invalid_prompts": [{"text": "Неверно"}],
        "barge_in": draw(st.booleans()),
    }
    if draw(st.booleans()):
        node["fallback"] = draw(st.sampled_from(terminals))
    if kind == "menu":
        repeat = draw(st.sampled_from((None, "*", "#")))
        keys = draw(
            st.sets(st.sampled_from([k for k in KEYS if k != repeat]), min_size=1, max_size=4)
        )
        node["branches"] = {k: draw(st.sampled_from(every)) for k in sorted(keys)}
        node["repeat_key"] = repeat
        return node
    low = draw(st.integers(1, 3))
    node |= {
        "variable": "value",
        "next": draw(st.sampled_from(every)),
        "min_digits": low,
        "max_digits": draw(st.integers(low, 5)),
        "terminator": draw(st.sampled_from((None, "#"))),
        "inter_digit_timeout_s": 2,
        "pattern": draw(st.sampled_from((None, "[0-9]+", "1.*"))),
        "operator_key": draw(st.booleans()) if with_operator else False,
    }
    return node


def _reachable_only(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the nodes no path reaches (the flow would refuse them)."""
    by_id = {n["id"]: n for n in data["nodes"]}
    operator = data.get("operator", {}).get("node")
    roots = [r for r in ("n0", operator, data.get("fallback")) if r is not None]
    seen, todo = set(roots), deque(roots)
    while todo:
        n = by_id[todo.popleft()]
        links = [n.get(k) for k in ("next", "if_true", "if_false", "fallback")]
        links += list(n.get("branches", {}).values())
        if n["kind"] in ("menu", "collect"):
            links += [data.get("fallback"), operator]
        for target in links:
            if target is not None and target not in seen:
                seen.add(target)
                todo.append(target)
    data["nodes"] = [n for n in data["nodes"] if n["id"] in seen]
    return data


@dataclass
class Model:
    """What the events said so far, checked as they come."""

    flow: Flow
    playing: str | None = None
    terminals: int = 0
    resumes: int = 0
    topic: str | None = None
    events: list[IvrEvent] = field(default_factory=list)

    def take(self, session: IvrSession) -> None:
        while (event := session.next_event()) is not None:
            assert self.terminals == self.resumes, f"{event} after the call left the menu"
            self.events.append(event)
            if isinstance(event, PlayPrompts):
                assert self.playing is None, "a new item started over a playing one"
                self.playing = event.item_id
            elif isinstance(event, StopPlayback):
                assert event.item_id == self.playing
                self.playing = None
            elif isinstance(event, TopicSet):
                self.topic = event.topic
            elif isinstance(event, RouteToQueue):
                assert event.topic == self.topic
            elif isinstance(event, IvrChoiceMade | InputFailed):
                assert isinstance(self.flow.node(event.node), MenuNode | CollectNode)
            if isinstance(event, TERMINAL_COMMANDS):
                assert self.playing is None
                self.terminals += 1


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(("key", "key", "key", "timer", "finish", "stale", "fail", "hangup")),
        st.sampled_from(KEYS),
        st.floats(0.0, 15.0),
    ),
    max_size=40,
)


def run(flow: Flow, actions: list[tuple[str, str, float]], when: datetime, *, lossy: bool) -> None:
    session = IvrSession(flow, CallId("p"), 0.0, local_time=when, incidents={"storm"})
    model = Model(flow)
    model.take(session)
    now = 0.0
    hung_up = False
    for kind, key, dt in actions:
        now += dt
        if kind == "key":
            session.dtmf(key, now)
        elif kind == "timer":
            deadline = session.get_timer()
            if deadline is not None:
                now = max(now, deadline)
                session.handle_timer(now)
        elif kind == "finish" and model.playing is not None:
            item, model.playing = model.playing, None
            session.playback_finished(item, now)
        elif kind == "stale":
            session.playback_finished("p.ivr.0", now)
        elif kind == "fail" and session.state is SessionState.ROUTED:
            if isinstance(flow.node(session.node_id), BotNode | ExternalNode):
                model.resumes += 1
                session.route_failed(now)
        elif kind == "hangup" and key == "#":  # rarely
            session.caller_hung_up(now)
            hung_up = True
        model.take(session)
        assert session.steps <= flow.max_steps
        if session.finished:
            assert session.get_timer() is None
            if hung_up or session.state is SessionState.ENDED:
                break
    # Drive on with playback reports and timers alone (``lossy``: the driver never
    # reports a playback end, the guard timer must do): the call must leave the menu.
    for _ in range(3 * flow.max_steps + 10):
        if session.finished:
            break
        if model.playing is not None and not lossy:
            item, model.playing = model.playing, None
            session.playback_finished(item, now)
        else:
            deadline = session.get_timer()
            assert deadline is not None, f"stuck at {session.node_id} in {session.state}"
            now = deadline
            session.handle_timer(now)
        model.take(session)
    assert session.finished
    assert session.steps <= flow.max_steps
    if not hung_up:
        assert model.terminals == model.resumes + 1
        assert isinstance(model.events[-1], TERMINAL_COMMANDS)


@SETTINGS
@given(
    data=flow_data(),
    actions=ACTIONS,
    when=st.sampled_from(
        (datetime(2025, 3, 3, 8, 0, tzinfo=UTC), datetime(2025, 3, 8, 8, 0, tzinfo=UTC))
    ),
    lossy=st.booleans(),
)
def test_random_callers_on_random_flows_always_leave_the_menu(
    data: dict[str, Any], actions: list[tuple[str, str, float]], when: datetime, lossy: bool
) -> None:
    flow = flow_from_dict(data)
    run(flow, actions, when, lossy=lossy)


@settings(max_examples=100, deadline=None)
@given(data=flow_data())
def test_random_flows_survive_yaml_and_dict_round_trips(data: dict[str, Any]) -> None:
    flow = flow_from_dict(data)
    assert flow_from_yaml(flow_to_yaml(flow)) == flow
    assert flow_from_dict(flow_to_dict(flow)) == flow
