import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _chinese():
    # The panels are called directly here: a language left active by an earlier test's request
    # (English) must not rename their rows.
    with translation.override("zh-hans"):
        yield
