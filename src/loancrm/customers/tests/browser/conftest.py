"""Browser fixtures: one headless Debian chromium for the module, a fresh context (cookies) per test."""

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def _browser_holder():
    """Playwright and chromium, started by the first test that asks (after chromium_path could skip).

    Playwright's sync API keeps an asyncio loop running in this thread for as long as it is started,
    and Django refuses ORM calls while a loop runs. So allow them, and only while the browser lives:
    stopping Playwright at the end of the module leaves the rest of the session's tests untouched.
    """
    holder: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield holder
        if "browser" in holder:
            holder["browser"].close()
        if "playwright" in holder:
            holder["playwright"].stop()


@pytest.fixture
def browser(chromium_path, _browser_holder):
    if "browser" not in _browser_holder:
        from playwright.sync_api import sync_playwright

        _browser_holder["playwright"] = pw = sync_playwright().start()
        _browser_holder["browser"] = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
    return _browser_holder["browser"]


@pytest.fixture
def new_page(browser):
    """new_page(viewport=...) opens a page in a fresh context (own cookies) with a Chinese browser locale."""
    contexts = []

    def make(viewport: dict | None = None):
        context = browser.new_context(viewport=viewport or DESKTOP, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()
