"""Shared fixtures: the demo organisation and a few customers per salesperson."""

import os
import shutil

import pytest

from loancrm.accounts.models import User
from loancrm.core.demo.customers import ensure_customers
from loancrm.core.demo.org import ensure_org

PASSWORD = "Test@2026pw"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # Argon2 is the production hasher (asserted in test_auth); tests hash with MD5 for speed.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # No collectstatic in tests: serve assets straight from the apps' static folders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    # Cached reference data (dictionaries) must not leak from one test's rolled-back transaction.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def org(db) -> dict[str, User]:
    return ensure_org(PASSWORD)


@pytest.fixture
def users(org) -> dict[str, User]:
    return org


@pytest.fixture
def customers(org):
    ensure_customers(60, seed=7)
    from loancrm.customers.models import Customer

    return Customer.objects.all()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium is required in CI (make system-deps installs it)")
        pytest.skip("chromium not installed (run make test to install it)")
    return path


@pytest.fixture
def huey_immediate():
    """Background tasks run at once, in the test (the worker is the test)."""
    from huey.contrib.djhuey import HUEY

    was = HUEY.immediate
    HUEY.immediate = True
    yield
    HUEY.immediate = was
