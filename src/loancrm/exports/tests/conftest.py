"""Export tests: Huey runs tasks at once, export files go to a throw-away data dir, Chinese is active."""

import csv
import io
from pathlib import Path

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _huey_immediate(huey_immediate):
    yield


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


@pytest.fixture(autouse=True)
def _chinese():
    with translation.override("zh-hans"):
        yield


@pytest.fixture
def grant(users):
    """grant("sales1", "customer.export"): give the user's role a permission for this test."""

    def give(username: str, *perms: str):
        user = users[username]
        user.role.permissions = [*user.role.permissions, *perms]
        user.role.save(update_fields=["permissions"])
        return user

    return give


def read_csv(content: bytes | Path) -> list[list[str]]:
    data = content.read_bytes() if isinstance(content, Path) else content
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_xlsx(content: bytes | Path) -> list[list]:
    from python_calamine import CalamineWorkbook

    data = content.read_bytes() if isinstance(content, Path) else content
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    assert book.sheet_names == ["客户"]
    return book.get_sheet_by_index(0).to_python(skip_empty_area=False)
