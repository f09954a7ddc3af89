"""Logging in, out and around the workplace in headless Chromium, in Russian, as every demo role.

The node is a real ``hotline serve`` with the demo loaded (conftest.py); every
page a role may open must render without console errors or CSP violations.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from support.web_browser import Web, ru

# The module's first test also starts the node (init, prompts, serve): give it time.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# (login, display name, role key, the pages of its navigation in order)
ROLES = (
    ("operator1", "Анна Иванова", "role.operator", ("/desk",)),
    ("supervisor", "Старший смены", "role.supervisor", ("/wallboard", "/reports", "/recordings")),
    ("admin", "Администратор", "role.administrator", ("/wallboard", "/reports", "/admin")),
    ("auditor", "Аудитор министерства", "role.auditor", ("/reports", "/audit")),
)
ALL_PAGES = ("/desk", "/wallboard", "/reports", "/recordings", "/audit", "/admin")
# What each page shows once its script ran (an element that only the page has).
PAGE_MARKS = {
    "/desk": "#op-state",
    "/wallboard": "#wallboard",
    "/reports": "main h1",
    "/recordings": "main h1",
    "/audit": "#chain-result",
    "/admin": "main h1",
}


def _nav(page: Page) -> list[str]:
    hrefs = page.locator("nav.mainnav a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    return [str(h) for h in hrefs]


@pytest.mark.parametrize(("login", "name", "role_key", "pages"), ROLES, ids=[r[0] for r in ROLES])
def test_each_role_logs_in_to_its_first_page_in_russian(
    web: Web, login: str, name: str, role_key: str, pages: tuple[str, ...]
) -> None:
    page = web.open(login)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("section.login h1")).to_have_text(ru("login.title"))
    expect(page.locator("label[for=username]")).to_have_text(ru("login.username"))
    web.shot(login, "login-form")
    web.login(login, login)
    expect(page).to_have_url(re.compile(re.escape(pages[0]) + "$"))
    expect(page.locator("header .who")).to_have_text(ru("nav.user", name=name, role=ru(role_key)))
    expect(page.locator("header form.logout button")).to_have_text(ru("nav.logout"))
    expect(page).to_have_title(re.compile(re.escape(ru("app.title")) + "$"))
    assert _nav(page) == list(pages)
    expect(page.locator(PAGE_MARKS[pages[0]]).first).to_be_visible()
    page.wait_for_load_state("networkidle")  # the page's scripts have connected
    web.shot(login, "first-page")


def test_a_wrong_password_is_refused_with_a_russian_message(web: Web) -> None:
    page = web.open("operator3")
    web.watches["operator3"].allow("status of 401")
    web.fill_login("operator3", "operator3", "not-the-password")
    expect(page.locator("section.login .error[role=alert]")).to_have_text(
        ru("error.invalid_credentials")
    )
    expect(page.locator("#username")).to_have_value("operator3")
    expect(page.locator("header .who")).to_have_count(0)
    web.shot("operator3", "wrong-password")
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/login\?next=/desk$"))


def test_repeated_failures_lock_the_account_out(web: Web) -> None:
    page = web.open("operator5")
    watch = web.watches["operator5"]
    watch.allow("status of 401")
    watch.allow("status of 429")
    watch.allow("status of 403")
    for attempt in range(5):
        web.fill_login("operator5", "operator5", f"wrong-{attempt}")
        expect(page.locator(".error[role=alert]")).to_have_text(ru("error.invalid_credentials"))
    web.shot("operator5", "fifth-failure")
    # Even the right password is refused now, with the lockout message.
    web.fill_login("operator5", "operator5", web.node.password)
    expect(page.locator(".error[role=alert]")).to_have_text(ru("error.locked_out", minutes=15))
    expect(page.locator("header .who")).to_have_count(0)
    web.shot("operator5", "locked-out")


def test_logout_ends_the_session(web: Web) -> None:
    page = web.login("operator2", "operator2")
    web.shot("operator2", "logged-in")
    page.locator("header form.logout button").click()
    expect(page).to_have_url(re.compile(r"/login\?out=1$"))
    expect(page.locator(".notice[role=status]")).to_have_text(ru("login.logged_out"))
    expect(page.locator("header .who")).to_have_count(0)
    web.shot("operator2", "logged-out")
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/login\?next=/desk$"))


def test_the_auditor_sees_the_audit_log_and_its_chain_verified(web: Web) -> None:
    web.login("operator4", "operator4")  # something to find in the log
    page = web.login("auditor", "auditor")
    page.locator("nav.mainnav a[href='/audit']").click()
    expect(page).to_have_url(re.compile(r"/audit$"))
    expect(page.locator("main h1")).to_have_text(ru("audit.title"))
    chain = page.locator("#chain")
    expect(chain).to_have_class(re.compile(r"\bchain-ok\b"))
    checked = ru("audit.chain.ok", checked=999_999).split("999")[0]
    expect(page.locator("#chain-result")).to_contain_text(checked)
    expect(chain.locator(".hash")).to_contain_text(re.compile(r"[0-9a-f]{64}"))
    rows = page.locator("table.audit tbody tr")
    expect(rows.filter(has_text="operator4").first).to_be_visible()
    expect(rows.filter(has_text="auditor").first).to_be_visible()
    web.shot("auditor", "audit-log")


def test_the_auditor_filters_the_audit_log_by_actor(web: Web) -> None:
    web.login("operator4", "operator4")
    page = web.login("auditor", "auditor", next_page="/audit")
    page.locator("form.filters input[name=actor]").fill("operator4")
    page.locator("form.filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"actor=operator4"))
    page.wait_for_load_state()
    # A server-rendered page that has loaded: no need to wait long for its heading.
    expect(page.locator("main h1")).to_have_text(ru("audit.title"), timeout=5_000)
    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_be_visible()
    for text in rows.locator("td:nth-child(3)").all_inner_texts():
        assert text == "operator4"
    expect(page.locator("form.filters input[name=actor]")).to_have_value("operator4")
    web.shot("auditor", "audit-filtered")


def test_an_unreadable_audit_filter_shows_the_page_with_a_russian_message(web: Web) -> None:
    page = web.login("auditor", "auditor", next_page="/audit")
    web.watches["auditor"].allow("status of 400")
    response = page.goto("/audit?since=yesterday&until=&actor=&action=")
    assert response is not None and response.status == 400
    expect(page.locator("main h1")).to_have_text(ru("audit.title"))
    problem = ru("audit.filter.invalid", field=ru("audit.filter.since"))
    expect(page.locator("#filter-problem")).to_have_text(problem)
    expect(page.locator("#chain-result")).to_be_visible()
    web.shot("auditor", "audit-bad-filter")


def test_the_favicon_is_served(web: Web) -> None:
    page = web.open("anonymous")
    response = page.goto("/favicon.ico")
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("image/svg+xml")


def test_the_administrator_wallboard_polls_without_the_live_socket(web: Web) -> None:
    """queues.view without calls.view: no socket at all (no refused handshake), REST polling."""
    page = web.login("admin", "admin")
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto("/wallboard")
    board = page.get_by_test_id("wallboard")
    expect(board).to_have_attribute("data-live", "no")
    first = page.locator("#wb-at").inner_text()
    expect(page.locator("#wb-at")).not_to_have_text(first, timeout=5_000)  # polled again
    expect(page.get_by_test_id("queue-rows").get_by_test_id("queue-row").first).to_be_visible()
    assert sockets == []


@pytest.mark.parametrize(("login", "name", "role_key", "pages"), ROLES, ids=[r[0] for r in ROLES])
def test_every_page_of_the_navigation_renders_cleanly(
    web: Web, login: str, name: str, role_key: str, pages: tuple[str, ...]
) -> None:
    page = web.login(login, login)
    for path in pages:
        page.locator(f"nav.mainnav a[href='{path}']").click()
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        expect(page.locator(f"nav.mainnav a[href='{path}']")).to_have_attribute(
            "aria-current", "page"
        )
        expect(page.locator(PAGE_MARKS[path]).first).to_be_visible()
        page.wait_for_load_state("networkidle")
        expect(page.locator("main [role=alert]:visible")).to_have_count(0)
        web.shot(login, path.strip("/"))


@pytest.mark.parametrize(("login", "name", "role_key", "pages"), ROLES, ids=[r[0] for r in ROLES])
def test_pages_outside_the_role_are_refused(
    web: Web, login: str, name: str, role_key: str, pages: tuple[str, ...]
) -> None:
    page = web.login(login, login, next_page=pages[-1])
    web.watches[login].allow("status of 403")
    for path in ALL_PAGES:
        if path in pages:
            continue
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.locator("main h1")).to_have_text(ru("page.forbidden.title"))
    web.shot(login, "forbidden")


def test_the_console_watch_catches_csp_violations_and_uncaught_errors(web: Web) -> None:
    """The watch every test relies on can fail: an inline script and a throw on a real page."""
    page = web.open("anonymous")
    page.goto("/login")
    watch = web.watches["anonymous"]
    assert watch.problems == []
    page.evaluate(
        """() => {
        const s = document.createElement("script");
        s.textContent = "window.inlineRan = true;";
        document.body.append(s);
        setTimeout(() => { throw new Error("deliberate failure"); }, 0);
    }"""
    )
    for _ in range(100):  # the events arrive asynchronously
        if len(watch.problems) >= 2:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("() => window.inlineRan === undefined")  # the CSP blocked it
    assert any("CSP violation: script-src" in p for p in watch.problems), watch.problems
    assert any("deliberate failure" in p for p in watch.problems), watch.problems
    watch.problems.clear()  # seen and expected: do not fail the test at teardown
