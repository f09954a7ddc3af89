"""Fixtures of the browser tier: a real node, headless Chromium, screenshots, a console watch.

Each test module gets its own node (``hotline init --demo`` + ``hotline
serve`` on free loopback ports) and its own Chromium; each test gets a
:class:`Web` that opens pages in fresh browser contexts (one per user),
saves screenshots into ``test-artifacts/browser/<test>/`` under the repo
root (always on failure) and fails the test on any console error, uncaught
exception or CSP violation of its pages.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from support.web_browser import CHROMIUM, CHROMIUM_ARGS, LiveNode, Web, running_node

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
# Generous waits (a loaded CI machine, a live call): assertions wait, they never time the app.
expect.set_options(timeout=20_000)


CHROMIUM_MISSING = (
    f"{CHROMIUM} is missing: run 'bash scripts/system-deps.sh' as root "
    "(Debian packages chromium, chromium-driver)"
)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip before any fixture starts a node when there is no browser to drive."""
    if item.get_closest_marker("browser") is not None and not CHROMIUM.exists():
        pytest.skip(CHROMIUM_MISSING)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item: the ``web`` fixture photographs failures."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Console problems of a test that passed fail it in its own call phase (so xfail applies)."""
    result = yield
    session = getattr(item, "funcargs", {}).get("web")
    if isinstance(session, Web):
        session.raise_problems()
    return result


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    """A demo node for the module's tests (every demo account has the password ``node.password``)."""
    with running_node(tmp_path_factory.mktemp("node")) as live:
        yield live


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(CHROMIUM_MISSING)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


def _artifact_dir(item: pytest.Item) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", item.name).strip("-")
    path = ARTIFACTS / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def web(request: pytest.FixtureRequest, chromium: Browser, node: LiveNode) -> Iterator[Web]:
    """Pages of one test; console problems fail it, screenshots are kept."""
    session = Web(chromium, node, _artifact_dir(request.node))
    try:
        yield session
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        failed = any(r.failed or hasattr(r, "wasxfail") for r in reports.values())
        if failed or session.problems():
            session.shoot_all("failure")
            shutil.copy(node.log_path, session.artifacts / "serve.log")
        late = session.close()  # problems after the test's own check (its teardown)
        print(f"browser artefacts: {session.artifacts}; node log: {node.log_path}")
        if late:
            message = "console problems in the browser:\n" + "\n".join(late)
            if failed:
                print(message)
            else:
                pytest.fail(message)
