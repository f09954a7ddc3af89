"""Properties of the staffing view: logged-in figures and headcounts on random logs."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.acd import erlang
from hotline.reports.metrics_config import Interval, MetricsConfig
from hotline.reports.metrics_facts import OperatorSpan, SpanKind
from hotline.reports.staffing import compute_staffing, logged_in_by_interval
from unit.reports.reports_log import Log, at

_spans = st.lists(
    st.tuples(st.integers(0, 3), st.integers(-600, 7200), st.integers(1, 5000)),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(_spans)
def test_logged_in_average_is_operator_time_over_interval_time(
    raw: list[tuple[int, int, int]],
) -> None:
    spans = [
        OperatorSpan(f"op{o}", SpanKind.LOGGED_IN, at(s), at(s) + timedelta(seconds=d))
        for o, s, d in raw
    ]
    result = logged_in_by_interval(
        spans, start=at(0), end=at(3600), interval=Interval.MIN30, config=MetricsConfig()
    )
    assert list(result) == [at(0), at(1800)]
    for lo in (0, 1800):
        clipped = sum(max(0, min(s + d, lo + 1800) - max(s, lo)) for _o, s, d in raw)
        figure = result[at(lo)]
        assert abs(figure.average - clipped / 1800) < 1e-9
        assert figure.average <= figure.maximum + 1e-9
        assert figure.maximum <= len(raw)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60), st.integers(30, 600))
def test_erlang_c_need_exceeds_the_traffic(calls: int, aht: int) -> None:
    log = Log()
    step = 1800 / calls
    for i in range(calls):
        log.arrive(f"c{i}", i * step)
        log.enter(f"c{i}", "q", i * step)
        log.answer(f"c{i}", "q", "op", i * step, 0.0)
        log.end(f"c{i}", i * step + aht)
    (row,) = compute_staffing(log.events, erlang=erlang, start=at(0), end=at(1800))
    assert row.offered == calls
    assert row.traffic_erlangs is not None and row.erlang_c_agents is not None
    assert row.erlang_c_agents > row.traffic_erlangs
    assert row.scheduled_agents is not None and row.scheduled_agents >= row.erlang_c_agents
