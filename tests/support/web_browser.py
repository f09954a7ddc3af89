"""A real node for browser tests, and a watch over what a page logs.

``running_node`` runs ``hotline init --demo`` in a temporary data directory
with one known password for every demo account, then ``hotline serve`` as a
subprocess on free loopback ports, waits for ``/healthz`` and stops it on
exit (the log stays in the working directory, its tail is shown on failure).

``PageWatch`` fails a test on any console error, uncaught exception or
Content-Security-Policy violation of a page (Playwright's ``console`` and
``pageerror`` events, plus a ``securitypolicyviolation`` listener added
before any page script runs).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect

from hotline.web.i18n import MESSAGES_RU
from hotline.web.workplace_i18n import WORKPLACE_MESSAGES_RU
from support.nodeenv import TEST_NODE_CAPACITY

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "CSP_LISTENER",
    "DEMO_PASSWORD",
    "LiveNode",
    "PageWatch",
    "Web",
    "free_tcp_port",
    "ru",
    "running_node",
]

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-component-update",
    "--disable-background-networking",
    "--no-first-run",
)
DEMO_PASSWORD: Final = "browser-demo-122"
HOTLINE: Final = Path(sys.executable).with_name("hotline")
# Injected before any page script (outside the page's CSP): a violation becomes a console error.
CSP_LISTENER: Final = (
    "document.addEventListener('securitypolicyviolation', (e) => console.error("
    "'CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));"
)


def free_tcp_port() -> int:
    """A TCP port free right now on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class LiveNode:
    """A running ``hotline serve`` with the demo loaded."""

    base_url: str
    sip_port: int
    data_dir: Path
    log_path: Path
    env: dict[str, str]
    password: str

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def metric(self, name: str) -> float | None:
        """The value of a Prometheus metric without labels (None when absent)."""
        text = httpx.get(f"{self.base_url}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        return None


def _node_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    rtp_first = 46000 + 2 * random.randrange(0, 4000)
    env.update(
        {
            "HOTLINE_DATA_DIR": str(workdir / "var"),
            "HOTLINE_HTTP_HOST": "127.0.0.1",
            "HOTLINE_HTTP_PORT": str(free_tcp_port()),
            "HOTLINE_SIP_HOST": "127.0.0.1",
            "HOTLINE_SIP_PORT": str(_free_udp_port()),
            "HOTLINE_MEDIA_HOST": "127.0.0.1",
            "HOTLINE_RTP_PORTS": f"{rtp_first}-{rtp_first + 199}",
            "HOTLINE_LOG_FORMAT": "json",
            # Many tests log in from 127.0.0.1: only the per-user lockout is under test.
            "HOTLINE_WEB__LOCKOUT_SOURCE_FAILURES": "10000",
            **TEST_NODE_CAPACITY,
        }
    )
    return env


def _wait_healthy(base_url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hotline serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/healthz not ready within {timeout_s:.0f} s")


@contextmanager
def running_node(
    workdir: Path, *, password: str = DEMO_PASSWORD, timeout_s: float = 90.0
) -> Iterator[LiveNode]:
    """``hotline init --demo`` then ``hotline serve`` in ``workdir``; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = _node_env(workdir)
    init = subprocess.run(
        [str(HOTLINE), "init", "--demo", "--demo-password", password],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        raise AssertionError(f"hotline init --demo failed:\n{init.stdout}\n{init.stderr}")
    log_path = workdir / "serve.log"
    node = LiveNode(
        base_url=f"http://127.0.0.1:{env['HOTLINE_HTTP_PORT']}",
        sip_port=int(env["HOTLINE_SIP_PORT"]),
        data_dir=Path(env["HOTLINE_DATA_DIR"]),
        log_path=log_path,
        env=env,
        password=password,
    )
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(HOTLINE), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        try:
            _wait_healthy(node.base_url, proc, timeout_s)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; log {log_path}:\n{node.log()[-3000:]}") from None
        yield node
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@dataclass(slots=True)
class PageWatch:
    """Console errors, uncaught exceptions and CSP violations of one page."""

    page: Page
    name: str
    problems: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def attach(self) -> PageWatch:
        # Playwright tags the handlers it is given: plain functions, not bound methods.
        def on_console(message: ConsoleMessage) -> None:
            self._on_console(message)

        def on_error(error: Error) -> None:
            self._on_error(error)

        self.page.on("console", on_console)
        self.page.on("pageerror", on_error)
        return self

    def allow(self, fragment: str) -> None:
        """Tolerate console errors containing ``fragment`` (an expected 4xx answer)."""
        self.allowed.append(fragment)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        if any(fragment in text for fragment in self.allowed):
            return
        where = message.location.get("url", "")
        self.problems.append(f"[{self.name}] console error at {self.page.url} ({where}): {text}")

    def _on_error(self, error: Error) -> None:
        self.problems.append(f"[{self.name}] uncaught error at {self.page.url}: {error}")


def ru(key: str, /, **params: object) -> str:
    """A Russian text of the web catalogues, as the pages show it."""
    texts = {**MESSAGES_RU, **WORKPLACE_MESSAGES_RU}
    return texts[key].format(**params) if params else texts[key]


class Web:
    """The pages of one test: one browser context per user, screenshots, console watches."""

    def __init__(self, browser: Browser, node: LiveNode, artifacts: Path) -> None:
        self.browser = browser
        self.node = node
        self.artifacts = artifacts
        self.pages: dict[str, Page] = {}
        self.watches: dict[str, PageWatch] = {}
        self._contexts: list[BrowserContext] = []
        self._shots = 0

    def open(self, name: str) -> Page:
        """A page in a fresh context (own cookies): one user's browser."""
        context = self.browser.new_context(
            base_url=self.node.base_url,
            locale="ru-RU",
            timezone_id="Europe/Moscow",
            viewport={"width": 1280, "height": 900},
        )
        self._contexts.append(context)
        context.set_default_timeout(20_000)
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        self.pages[name] = page
        self.watches[name] = PageWatch(page, name).attach()
        return page

    def shot(self, name: str, step: str) -> Path:
        """A full-page screenshot of page ``name``, numbered in the order of the steps."""
        self._shots += 1
        path = self.artifacts / f"{self._shots:02d}-{name}-{step}.png"
        self.pages[name].screenshot(path=str(path), full_page=True)
        return path

    def shoot_all(self, step: str) -> None:
        for name, page in self.pages.items():
            if page.is_closed():
                continue
            try:
                self.shot(name, step)
            except Error:
                continue  # a page that cannot be photographed any more: keep the others

    def fill_login(self, name: str, username: str, password: str, next_page: str = "") -> Page:
        """Open the login page in page ``name`` (a new user's browser) and submit the form."""
        page = self.pages.get(name) or self.open(name)
        page.goto(f"/login?next={next_page}" if next_page else "/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(password)
        page.locator("form.login-form button[type=submit]").click()
        return page

    def login(self, name: str, username: str, next_page: str = "") -> Page:
        """Log ``username`` in with the demo password; wait until the first page is shown."""
        page = self.fill_login(name, username, self.node.password, next_page)
        expect(page.locator("header .who")).to_be_visible()
        expect(page).not_to_have_url(re.compile(r"/login"))
        return page

    def problems(self) -> list[str]:
        """Console problems seen and not yet reported."""
        return [p for watch in self.watches.values() for p in watch.problems]

    def raise_problems(self) -> None:
        """Fail (AssertionError) on the console problems seen so far; they count as reported."""
        problems = self.problems()
        for watch in self.watches.values():
            watch.problems.clear()
        if problems:
            raise AssertionError("console problems in the browser:\n" + "\n".join(problems))

    def close(self) -> list[str]:
        """Close every context; the console problems seen and not yet reported."""
        problems = self.problems()
        for context in self._contexts:
            try:
                context.close()
            except Error:
                continue
        self._contexts.clear()
        return problems
