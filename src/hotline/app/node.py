"""The running node: wires components, serves HTTP, drains on SIGTERM/SIGINT.

Shutdown order (style.md): stop accepting new work, drain what is active for
at most ``drain_timeout_s``, then stop.  A second signal skips the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hotline import __version__
from hotline.app.call_metrics import CallCollector
from hotline.app.callservice import CallService
from hotline.app.feedservice import FeedPublisher, feed_routes
from hotline.app.retention import RetentionJob
from hotline.app.secrets import load_or_create_secret
from hotline.app.settings import Settings
from hotline.app.sipservice import SipCollector, SipService
from hotline.app.stored_config import (
    AssistantSpeech,
    DirectoryReload,
    TrunksReload,
    stored_trunks,
)
from hotline.core.bus import EventBus
from hotline.core.clock import Clock, SystemClock
from hotline.store.audit import audit_chain_key
from hotline.store.db import Database
from hotline.web.admin_live import (
    AcdLiveConfiguration,
    AdminPaths,
    install_admin_paths,
    install_live_configuration,
)
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig, check_transport
from hotline.web.workplace import workplace_hook

__all__ = ["Component", "Node", "NodeState", "apply_realtime_priority", "run_node", "web_config"]

log = structlog.get_logger("hotline.node")


class Component(Protocol):
    """A long-running part of the node (SIP transport, media engine, ...)."""

    name: str

    async def start(self) -> None: ...

    def refuse_new(self) -> None:
        """Stop taking new work (new calls get 503); active work goes on."""
        ...

    def active(self) -> int:
        """How much work (calls) is still active."""
        ...

    async def stop(self) -> None: ...


class NodeState:
    """running → draining → stopped."""

    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


class _BusCollector(Collector):
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        published = CounterMetricFamily(
            "hotline_bus_published", "Events published on the in-process bus"
        )
        published.add_metric([], self._bus.published)
        yield published
        dropped = CounterMetricFamily(
            "hotline_bus_dropped",
            "Events dropped for a subscriber whose queue was full",
            labels=["subscriber"],
        )
        dropped.add_metric(["all"], self._bus.dropped_total)
        by_name: dict[str, int] = {}  # one series per subscriber name (e.g. all live sockets)
        for stats in self._bus.stats():
            by_name[stats.name] = by_name.get(stats.name, 0) + stats.dropped
        for name, count in sorted(by_name.items()):
            dropped.add_metric([name], count)
        yield dropped


def web_config(settings: Settings) -> WebConfig:
    """The web layer's configuration from the ``[web]`` settings."""
    web = settings.web
    return WebConfig(
        tls_cert=web.tls_cert,
        tls_key=web.tls_key,
        behind_proxy=web.behind_proxy,
        session_ttl_s=web.session_ttl_s,
        session_idle_s=web.session_idle_s,
        lockout_user_failures=web.lockout_user_failures,
        lockout_source_failures=web.lockout_source_failures,
        lockout_window_s=web.lockout_window_s,
        api_docs=web.api_docs,
        tz=ZoneInfo(settings.timezone),  # report days and times (HOTLINE_TIMEZONE)
    )


def _uvicorn_options(settings: Settings, config: WebConfig) -> dict[str, Any]:
    """HTTPS when a certificate is configured; forwarded headers behind a proxy."""
    options: dict[str, Any] = {"proxy_headers": False}
    if config.tls_cert is not None and config.tls_key is not None:
        options |= {"ssl_certfile": str(config.tls_cert), "ssl_keyfile": str(config.tls_key)}
    if config.behind_proxy:
        options |= {"proxy_headers": True, "forwarded_allow_ips": settings.web.proxy_ips}
    return options


def _admin_hooks(
    settings: Settings, db: Database, calls: CallService, sip: SipService
) -> list[Callable[[FastAPI], None]]:
    """Administration changes applied to the running node; where prompts and recordings live."""
    live = AcdLiveConfiguration(
        calls.acd,
        menu=calls.menu,
        sip=sip,
        profile=calls.agents,
        directory=DirectoryReload(db, calls.external),
        answers=calls.answers.request,
        trunks=TrunksReload(
            functools.partial(stored_trunks, db), calls.trunks, asyncio.get_running_loop()
        ),
    )
    paths = AdminPaths(
        prompts_dir=settings.data_dir / "prompts",
        recordings_dir=settings.recordings_path,
        tts=AssistantSpeech(calls),
    )
    return [install_live_configuration(live), install_admin_paths(paths)]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Node:
    """Everything one ``hotline serve`` process runs."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.bus = EventBus()
        self.registry = CollectorRegistry()
        self.registry.register(_BusCollector(self.bus))
        self._state_gauge = Gauge(
            "hotline_node_state",
            "1 for the node's current state",
            ["state"],
            registry=self.registry,
        )
        self.components: list[Component] = []
        self._started: list[Component] = []
        self.state = NodeState.RUNNING
        self._set_state(NodeState.RUNNING)
        self._stop = asyncio.Event()
        self._force = False

    def _set_state(self, state: str) -> None:
        self.state = state
        for s in (NodeState.RUNNING, NodeState.DRAINING, NodeState.STOPPED):
            self._state_gauge.labels(state=s).set(1 if s == state else 0)

    def health(self) -> tuple[bool, dict[str, str]]:
        components = {"node": self.state} | {c.name: "up" for c in self.components}
        return self.state == NodeState.RUNNING, components

    def request_stop(self) -> None:
        """First call: drain. Second call: stop without waiting."""
        if self._stop.is_set():
            self._force = True
            log.warning("second stop signal: stopping now")
        self._stop.set()

    def _bind_http(self) -> socket.socket:
        host, port = self.settings.http_host, self.settings.http_port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise OSError(f"HTTP {host}:{port}: {exc.strerror} (HOTLINE_HTTP_PORT)") from None
        sock.listen(128)
        sock.setblocking(False)
        return sock

    async def run(self) -> None:
        """Serve until asked to stop; then drain and stop."""
        web = web_config(self.settings)
        check_transport(self.settings.http_host, web)
        db = Database(self.settings.database_url)
        await asyncio.to_thread(db.migrate)
        secret = load_or_create_secret(self.settings.data_dir)
        sip = SipService(self.settings, db, self.clock, secret)
        self.components.append(sip)
        self.registry.register(SipCollector(sip))
        calls = CallService(self.settings, db, self.clock, sip, bus=self.bus)
        self.components.append(calls)
        self.registry.register(CallCollector(calls))
        self.components.append(RetentionJob(db, self.settings, self.clock))
        feed = self._feed(db)
        app = create_web_app(
            web,
            db,
            self.clock,
            calls=calls.actions,
            queues=calls.actions,
            health=self,
            registry=self.registry,
            version=__version__,
            extra=[
                workplace_hook(self.bus),
                *([feed_routes(feed.outbox)] if feed else []),
                *_admin_hooks(self.settings, db, calls, sip),
            ],
            audit_key=audit_chain_key(secret),
        )
        sock = self._bind_http()
        config = uvicorn.Config(
            app,
            log_config=None,
            lifespan="off",
            access_log=False,
            **_uvicorn_options(self.settings, web),
        )
        server = _Server(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            for component in self.components:
                await component.start()
                self._started.append(component)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(server.serve(sockets=[sock]), name="http")
                log.info(
                    "node started",
                    version=__version__,
                    http=f"{'https' if web.tls else 'http'}://"
                    f"{self.settings.http_host}:{self.settings.http_port}",
                    sip_port=self.settings.sip_port,
                )
                await self._stop.wait()
                await self._drain()
                server.should_exit = True
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            for component in reversed(self._started):
                await component.stop()
            sock.close()
            db.dispose()
            self._set_state(NodeState.STOPPED)
            log.info("node stopped")

    def _feed(self, db: Database) -> FeedPublisher | None:
        """The Situational Centre feed (R12g) when ``[feed] enabled``."""
        cfg = self.settings.feed
        if not cfg.enabled or cfg.key is None:
            return None
        feed = FeedPublisher(
            db,
            node_id=cfg.node_id,
            key=cfg.key.get_secret_value().encode("utf-8"),
            url=cfg.url,
            clock=self.clock,
            interval_min=cfg.interval_min,
        )
        self.components.append(feed)
        return feed

    async def _drain(self) -> None:
        self._set_state(NodeState.DRAINING)
        for component in self.components:
            component.refuse_new()
        deadline = self.clock.monotonic() + self.settings.drain_timeout_s
        active = sum(c.active() for c in self.components)
        if active:
            log.info("draining", active=active, timeout_s=self.settings.drain_timeout_s)
        while active and not self._force and self.clock.monotonic() < deadline:
            await asyncio.sleep(0.2)
            active = sum(c.active() for c in self.components)
        if active:
            log.warning("drain time over, stopping with active work", active=active)


def apply_realtime_priority(priority: int | None) -> bool:
    """Run this process (and the threads it starts later) under SCHED_RR at ``priority``.

    The media engine paces every call's packets every 20 ms; on a host where
    other work competes for the CPU, real-time scheduling keeps its jitter
    down (docs/benchmarks.md, media engine).  Without the privilege
    (CAP_SYS_NICE, or ``CPUSchedulingPolicy=rr`` in the service unit) the node
    runs on with normal scheduling and says so.  Returns whether it applied.
    """
    if priority is None:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(priority))
    except (PermissionError, OSError) as exc:
        log.warning(
            "real-time scheduling not applied; running with normal scheduling",
            priority=priority,
            error=str(exc),
        )
        return False
    log.info("real-time scheduling applied", policy="SCHED_RR", priority=priority)
    return True


def run_node(settings: Settings) -> None:
    """Run a node on uvloop until it stops."""
    import uvloop

    apply_realtime_priority(settings.realtime_priority)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(Node(settings).run())
