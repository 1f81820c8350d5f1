"""End to end in a real browser: `streamlit run app.py` on a free port, driven by Debian's
Chromium through Playwright, on a desktop window and a 375 px phone screen. Screenshots go
to test-output/screenshots/ for a person to look at."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assistant.chroma_server import free_port, stop
from assistant.settings import PROJECT_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "375": {"width": 375, "height": 812}}
FIRST_ANSWER_MS = 120_000  # the first answer waits for the model to load
ANSWER_MS = 60_000


def _wait_healthy(url: str, server: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not become healthy:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def app_url(real_settings):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (install it with `make browser`)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ, ASSISTANT_CORPUS=str(real_settings.corpus_dir),
               ASSISTANT_INDEX=str(real_settings.index_dir), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    env.pop("ASSISTANT_FEEDBACK_DB", None)
    log = SCREENSHOTS.parent / "streamlit-server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, server, log)
        yield url
    finally:
        stop(server, timeout=15)


@pytest.fixture(scope="module")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def open_page(browser, app_url):
    contexts = []

    def _open(viewport: str):
        context = browser.new_context(viewport=VIEWPORTS[viewport])
        # Never reach the real neutral site from a test: answer it with a stand-in page.
        context.route("https://www.bbc.com/**", lambda route: route.fulfill(
            status=200, content_type="text/html",
            body="<!doctype html><title>Weather</title><h1>Weather</h1>"))
        contexts.append(context)
        page = context.new_page()
        page.goto(app_url)
        page.get_by_role("heading", name="Peer support guide").wait_for()
        return page

    yield _open
    for context in contexts:
        context.close()


def _ask(page, question: str, timeout: float) -> None:
    box = page.get_by_placeholder("Ask a question about peer support")
    box.fill(question)
    box.press("Enter")
    # The user's own message; `first`, since an answer may quote the question (a cited
    # document titled "What is peer support?") and may already be on the page.
    page.get_by_test_id("stChatMessage").filter(has_text=question).first.wait_for(
        timeout=timeout)


def _screenshot(page, name: str) -> None:
    """The whole conversation: the window is made as tall as the page's scrolling area, since
    Streamlit scrolls inside it and a full-page screenshot would not."""
    time.sleep(0.5)  # let expanders and fonts settle
    size = page.viewport_size
    height = page.evaluate("""() => Math.max(...[...document.querySelectorAll(
        '[data-testid="stAppScrollToBottomContainer"], [data-testid="stMainBlockContainer"]')]
        .map(e => e.scrollHeight))""") + 120
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]),
                                                                   6000)})
    time.sleep(0.5)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size(size)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_question_gets_an_answer_with_its_sources(open_page, viewport):
    page = open_page(viewport)
    # The help panel, or on a phone the strip that stands in for it, shows the crisis line.
    page.locator(".contacts a.contact:visible", has_text="Call 988").first.wait_for()

    _ask(page, "What is peer support?", FIRST_ANSWER_MS)
    reply = page.get_by_test_id("stChatMessage").last
    sources = reply.get_by_text(re.compile(r"^Sources \(\d+\)$"))
    sources.wait_for(timeout=FIRST_ANSWER_MS)
    assert "[1]" in reply.inner_text()
    sources.click()
    reply.get_by_text(re.compile(r"^\[1\] ")).wait_for()
    reviewed = reply.get_by_text(re.compile(r"^Reviewed on \d{4}-\d{2}-\d{2}$")).first
    assert reviewed.is_visible()
    assert _contrast(reviewed) >= 4.5
    assert _contrast(reply.locator("blockquote p").first) >= 4.5  # a quoted passage
    _screenshot(page, f"answer-{viewport}")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_crisis_message_shows_tappable_crisis_lines(open_page, viewport):
    page = open_page(viewport)
    _ask(page, "I want to kill myself", FIRST_ANSWER_MS)
    callout = page.locator('[class*="st-key-crisis-"]').last
    callout.wait_for(timeout=FIRST_ANSWER_MS)
    call = callout.locator('a[href="tel:988"]')
    assert call.is_visible()
    assert callout.locator('a[href="tel:911"]').is_visible()
    assert callout.locator('a[href="sms:741741"]').is_visible()
    hrefs = callout.locator("a.contact").evaluate_all("links => links.map(a => a.href)")
    assert hrefs and all(re.fullmatch(r"(tel|sms):\d+", h) for h in hrefs)
    size = float(call.evaluate("a => parseFloat(getComputedStyle(a).fontSize)"))
    box = call.bounding_box()
    assert size >= 18 and box["height"] >= 44  # large enough to read and to tap
    assert callout.get_by_text("danger right now").is_visible()
    _screenshot(page, f"crisis-{viewport}")


def _contrast(locator) -> float:
    """WCAG contrast of an element's text against the first opaque background behind it. Read
    again while it is not a number: once in CI the intro's styles were read before they were
    computed (NaN)."""
    locator.wait_for()
    for _ in range(20):
        ratio = _contrast_once(locator)
        if ratio == ratio:  # not NaN
            return ratio
        time.sleep(0.25)
    return ratio


def _contrast_once(locator) -> float:
    return locator.evaluate("""e => {
        const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => {
            const f = v => {
                v /= 255;
                return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        let bg = null;
        for (let n = e; n && !bg; n = n.parentElement) {
            const c = rgb(getComputedStyle(n).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] === 1)) bg = c.slice(0, 3);
        }
        bg = bg || [255, 255, 255];
        const fg = rgb(getComputedStyle(e).color);
        const a = fg.length === 4 ? fg[3] : 1;
        const mixed = fg.slice(0, 3).map((v, i) => v * a + bg[i] * (1 - a));
        const [hi, lo] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
        return (hi + 0.05) / (lo + 0.05);
    }""")


def test_text_contrast_passes_wcag_aa(open_page):
    page = open_page("desktop")
    checks = {
        "intro": page.get_by_text("automated guide to peer support").first,
        "privacy note": page.get_by_text("stored on our server").first,
        "crisis button": page.locator(".contacts a.contact-call").first,
        "text button": page.locator(".contacts a.contact-text").first,
        "quick exit": page.locator("a.quick-exit"),
        "hours": page.get_by_test_id("stSidebar").get_by_text("Crisis Text Line: 24/7"),
        "starter": page.get_by_role("button", name="What is peer support?"),
    }
    for name, locator in checks.items():
        assert _contrast(locator) >= 4.5, name


def test_leave_quickly_goes_to_a_neutral_page_and_back_is_empty(open_page):
    page = open_page("desktop")
    _ask(page, "What is a sponsor?", FIRST_ANSWER_MS)
    page.get_by_text(re.compile(r"^Sources \(\d+\)$")).wait_for(timeout=FIRST_ANSWER_MS)
    page.get_by_role("link", name="Leave this page quickly").click()
    page.wait_for_url("https://www.bbc.com/weather**")
    assert page.title() == "Weather"
    page.go_back()
    page.get_by_role("heading", name="Peer support guide").wait_for()
    page.get_by_role("button", name="What is peer support?").wait_for()
    assert page.get_by_text("What is a sponsor?").count() == 0
