"""/metrics families of the capacity guard (issue 6 item 11), for the call service's collector."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from hotline.calls.capacity import CapacityState
from hotline.calls.capacity_gate import CapacityGate

__all__ = ["capacity_families"]


def capacity_families(gate: CapacityGate) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    """The capacity guard: its state, lateness, calls counted and calls turned away."""
    stats = gate.stats()
    state = GaugeMetricFamily(
        "hotline_capacity_state",
        "Capacity guard state (1 for the current one): normal, busy, overloaded",
        labels=["state"],
    )
    for level in CapacityState:
        state.add_metric([level.value], 1 if stats.state is level else 0)
    yield state
    gauges = {
        "hotline_capacity_lateness_ms": ("Smoothed media pacer lateness", stats.lateness_ms),
        "hotline_capacity_calls": ("Calls counted by the capacity guard", stats.active_calls),
        "hotline_capacity_max_calls": ("The node's limit of concurrent calls", stats.max_calls),
        "hotline_capacity_busy_announcements_active": (
            "Calls hearing the all-lines-busy announcement",
            stats.active_announcements,
        ),
    }
    for name, (help_text, value) in gauges.items():
        gauge = GaugeMetricFamily(name, help_text)
        gauge.add_metric([], value)
        yield gauge
    refused = CounterMetricFamily(
        "hotline_capacity_refused",
        "New calls the capacity guard turned away (play_busy or reject = 503), by reason",
        labels=["decision", "reason"],
    )
    for (decision, reason), count in sorted(gate.refusals.items()):
        refused.add_metric([decision, reason], count)
    yield refused
    changes = CounterMetricFamily("hotline_capacity_state_changes", "Capacity guard state changes")
    changes.add_metric([], stats.state_changes_total)
    yield changes
