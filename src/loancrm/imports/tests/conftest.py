"""Import tests: Huey runs tasks at once (the worker is the test), Chinese is active."""

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _huey_immediate(huey_immediate):
    yield


@pytest.fixture(autouse=True)
def _chinese():
    with translation.override("zh-hans"):
        yield
