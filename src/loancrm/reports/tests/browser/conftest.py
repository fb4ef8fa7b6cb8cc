"""The customer center's browser fixtures (one headless Debian chromium per module, a context per test)."""

from loancrm.customers.tests.browser.conftest import _browser_holder, browser, new_page, page  # noqa: F401
