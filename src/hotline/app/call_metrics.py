"""The call service's figures for /metrics: calls, media, ACD, events, the voice assistant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hotline.app.capacity_metrics import capacity_families

if TYPE_CHECKING:
    from hotline.app.callservice import CallService

__all__ = ["CallCollector"]


@dataclass(frozen=True, slots=True)
class _IdleBot:
    """The voice assistant's figures before it is made (start-up)."""

    sessions_total: int = 0
    sessions_refused: int = 0
    errors: int = 0

    def active(self) -> int:
        return 0


_NO_BOT: Final = _IdleBot()


class CallCollector(Collector):
    """Call-path figures for /metrics."""

    def __init__(self, service: CallService) -> None:
        self._service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self._service
        ctl, media, store = s.controller, s.media.metrics, s.events
        bot = s.bot if s.bot is not None else _NO_BOT
        counters = {
            "hotline_calls": ("Inbound calls accepted", ctl.calls_total),
            "hotline_calls_refused": ("Inbound calls refused at the node limit", ctl.calls_refused),
            "hotline_call_internal_errors": ("Call steps that failed", ctl.internal_errors),
            "hotline_media_legs_created": ("Media legs created", media.legs_created),
            "hotline_media_packets_in": ("RTP/RTCP packets received", media.packets_in),
            "hotline_media_packets_out": ("RTP/RTCP packets sent", media.packets_out),
            "hotline_media_pacer_late_ticks": ("Pacer ticks started late", media.pacer_late_ticks),
            "hotline_recordings_stored": ("Recordings stored", media.recordings_stored),
            "hotline_recordings_failed": ("Recordings that failed", media.recordings_failed),
            "hotline_acd_decisions": ("ACD decisions delivered", s.acd.decisions_total),
            "hotline_ivr_prompts_missing": (
                "Menu prompts played as silence",
                s.menu.missing_prompts,
            ),
            "hotline_events_written": ("Events written to the database", store.written_total),
            "hotline_events_journaled": ("Events written to the journal", store.journaled_total),
            "hotline_bot_sessions": ("Calls taken by the voice assistant", bot.sessions_total),
            "hotline_bot_sessions_refused": (
                "Calls the voice assistant could not take (capacity)",
                bot.sessions_refused,
            ),
            "hotline_bot_errors": ("Voice assistant steps that failed", bot.errors),
        }
        for name, (help_text, value) in counters.items():
            family = CounterMetricFamily(name, help_text)
            family.add_metric([], value)
            yield family
        gauges = {
            "hotline_calls_active": ("Calls in progress", ctl.active()),
            "hotline_ivr_calls_active": ("Calls in the voice menu", s.menu.active()),
            "hotline_bot_calls_active": ("Calls with the voice assistant", bot.active()),
            "hotline_media_legs_active": ("Open media legs", media.legs_active),
            "hotline_acd_waiting_calls": ("Calls waiting in queues", s.acd.active()),
            "hotline_events_pending": ("Events waiting for the writer", store.pending),
            "hotline_events_journal_backlog": ("Events in the journal", store.journal_backlog),
        }
        for name, (help_text, value) in gauges.items():
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], value)
            yield gauge
        yield from capacity_families(s.capacity)
