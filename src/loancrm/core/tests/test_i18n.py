"""English translations: the language switch works, and the catalogue is complete and compiled."""

import ast
import gettext
import re
from pathlib import Path

import pytest

from loancrm.conftest import login

LC_MESSAGES = Path(__file__).resolve().parents[2] / "locale" / "en" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _nav(html: str) -> str:
    """The main navigation list only, so that page content cannot satisfy the assertions."""
    match = re.search(r'<ul[^>]*data-testid="main-nav"[^>]*>(.*?)</ul>', html, re.S)
    assert match, "main navigation not found"
    return match.group(1)


def _po_entries(path: Path) -> list[dict]:
    """A tiny .po parser: one dict per entry with its flags and unescaped msgid/msgid_plural/msgstr*."""
    entries: list[dict] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"flags": set()}
        key = None
        for line in block.strip().splitlines():
            if line.startswith("#,"):
                entry["flags"].update(f.strip() for f in line[2:].split(","))
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry[key] += ast.literal_eval(line)
            else:
                key, _, value = line.partition(" ")
                entry[key] = ast.literal_eval(value)
        if "msgid" in entry:
            entries.append(entry)
    return entries


@pytest.mark.django_db
def test_workbench_defaults_to_chinese(client, users):
    login(client, users["sales1"])
    resp = client.get("/")
    assert resp.status_code == 200
    nav = _nav(resp.content.decode())
    assert "工作台" in nav and "客户" in nav


@pytest.mark.django_db
def test_language_switch_to_english(client, users):
    login(client, users["sales1"])
    resp = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert resp.status_code == 302
    html = client.get("/").content.decode()
    nav = _nav(html)
    assert "Workbench" in nav and "Customers" in nav
    assert "工作台" not in html
    assert '<html lang="en">' in html
    assert "My customers" in html and "Log out" in html


def test_po_is_complete():
    entries = _po_entries(LC_MESSAGES / "django.po")
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == ""
    assert "fuzzy" not in header["flags"]
    assert "Language: en\n" in header["msgstr"]
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header["msgstr"]
    assert len(messages) > 200
    for entry in messages:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        translations = [v for k, v in entry.items() if k.startswith("msgstr")]
        assert translations and all(t.strip() for t in translations), f"untranslated: {entry['msgid']!r}"
        if "msgid_plural" in entry:
            assert {"msgstr[0]", "msgstr[1]"} <= entry.keys(), entry["msgid"]
        for t in translations:
            assert set(PLACEHOLDER.findall(t)) == set(PLACEHOLDER.findall(entry["msgid"])), entry["msgid"]


def test_mo_is_compiled_from_the_po():
    with open(LC_MESSAGES / "django.mo", "rb") as fp:
        catalog = gettext.GNUTranslations(fp)
    assert catalog.info()["language"] == "en"
    for entry in _po_entries(LC_MESSAGES / "django.po")[1:]:
        if "msgid_plural" in entry:
            one = catalog.ngettext(entry["msgid"], entry["msgid_plural"], 1)
            many = catalog.ngettext(entry["msgid"], entry["msgid_plural"], 2)
            assert (one, many) == (entry["msgstr[0]"], entry["msgstr[1]"]), "django.mo is stale"
        elif "msgctxt" in entry:
            assert catalog.pgettext(entry["msgctxt"], entry["msgid"]) == entry["msgstr"], "django.mo is stale"
        else:
            assert catalog.gettext(entry["msgid"]) == entry["msgstr"], "django.mo is stale"
    assert catalog.gettext("工作台") == "Workbench"
