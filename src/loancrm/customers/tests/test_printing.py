"""Customer profile on paper: the print view and the PDF (scope, masking, reveal, audit, Chinese fonts)."""

import os
import re
import shutil
import subprocess
import zlib
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from loancrm.audit.models import Action, AuditEntry
from loancrm.conftest import login
from loancrm.core.demo.org import COMPANY
from loancrm.customers import printing, services
from loancrm.customers.models import Customer

pytestmark = pytest.mark.django_db

ID_1234 = "640104199001191234"
PHONE = "13812345678"
CARD = "6222021234567890128"
SPOUSE_PHONE = "13995081234"
MASKED = {"phone": "138****5678", "id_number": "640104********1234", "bank_account": "**** 0128"}
VIEWS = ["customers:print", "customers:pdf"]


@pytest.fixture
def mine(users) -> Customer:
    sales1 = users["sales1"]
    customer = services.customer_create(
        by=sales1,
        data={
            "name": "王小明",
            "phone": PHONE,
            "id_number": ID_1234,
            "bank_account": CARD,
            "stage": "contacted",
            "channel": "referral",
            "monthly_income": "8000",
            "current_address": "银川市金凤区北京中路 166 号 3 单元 502",
            "special_notes": "第一行备注\n第二行：<b>不是标签</b>",
        },
    )
    services.related_person_save(
        by=sales1,
        customer=customer,
        person=None,
        data={"relation": "spouse", "name": "李秀兰", "phone": SPOUSE_PHONE, "id_number": "", "note": "配偶"},
    )
    services.asset_add(
        by=sales1,
        customer=customer,
        data={
            "kind": "house",
            "description": "金凤区阅海万家 128㎡",
            "estimated_value": "1350000",
            "encumbered": True,
        },
    )
    start = timezone.now() - timedelta(days=30)
    for i in range(1, 26):
        services.follow_up_create(
            by=sales1,
            customer=customer,
            data={"way": "phone", "content": f"第{i}次跟进", "at": start + timedelta(days=i)},
        )
    customer.refresh_from_db()
    return customer


@pytest.fixture
def foreign(users) -> Customer:
    return services.customer_create(by=users["sales3"], data={"name": "二部客户", "phone": "13900000003"})


def get(client, name: str, customer_id: int, **params):
    return client.get(reverse(name, args=[customer_id]), params)


def print_entries(customer=None):
    qs = AuditEntry.objects.filter(action=Action.CUSTOMER_PRINT)
    return qs.filter(object_id=str(customer.pk)) if customer is not None else qs


def pdf_text(data: bytes) -> str | None:
    """The PDF's text via poppler's pdftotext; None (skip) only when it is missing outside CI."""
    exe = shutil.which("pdftotext")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftotext is required in CI (make system-deps installs poppler-utils)")
        return None
    return subprocess.run(
        [exe, "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


def pdf_font_names(data: bytes) -> list[str]:
    """/BaseFont names, also from the compressed object streams WeasyPrint writes."""
    chunks = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            chunks.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    names = set()
    for chunk in chunks:
        names.update(n.decode("latin-1") for n in re.findall(rb"/BaseFont\s*/([^\s/<>\[\]()]+)", chunk))
    return sorted(names)


def field_cells(html: str, tag: str) -> dict[str, str]:
    return {
        name: value.strip()
        for name, value in re.findall(rf'<{tag} [^>]*?data-field="(\w+)"[^>]*>(.*?)</{tag}>', html, re.S)
    }


# --- answers -------------------------------------------------------------------------------------------


def test_pdf_for_own_customer(client, users, mine):
    response = get(login(client, users["sales1"]), "customers:pdf", mine.pk)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="customer-{mine.customer_no}.pdf"' in disposition
    assert f"filename*=UTF-8''{quote(f'客户档案-{mine.customer_no}.pdf')}" in disposition
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("name", VIEWS)
def test_other_salespersons_customer_and_missing_id_are_404(client, users, mine, foreign, name):
    login(client, users["sales1"])
    assert get(client, name, foreign.pk).status_code == 404
    assert get(client, name, 999_999).status_code == 404
    assert not print_entries().exists()


@pytest.mark.parametrize("name", VIEWS)
def test_login_required(client, mine, name):
    response = get(client, name, mine.pk)
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


# --- what the page shows ----------------------------------------------------------------------------------


def test_print_page_is_masked_and_shows_the_profile(client, users, mine):
    html = get(login(client, users["sales1"]), "customers:print", mine.pk).content.decode()
    for masked in MASKED.values():
        assert masked in html
    for full in (PHONE, ID_1234, CARD, SPOUSE_PHONE):
        assert full not in html
    assert "139****1234" in html  # the related person, masked too
    assert COMPANY in html and mine.customer_no in html and "王小明" in html
    assert 'onclick="window.print()"' in html
    assert "counter(page)" in html and "counter(pages)" in html  # 第 X 页 / 共 Y 页
    assert "王丽娟" in html  # 打印人
    assert "金凤区阅海万家 128㎡" in html
    # The last 20 follow-ups, newest first.
    assert "第25次跟进" in html and "第6次跟进" in html
    assert "第5次跟进" not in html
    assert html.index("第25次跟进") < html.index("第6次跟进")
    # Multi-line notes keep their lines and stay escaped.
    assert "第一行备注<br>第二行：&lt;b&gt;不是标签&lt;/b&gt;" in html
    # Standalone: no navigation, nothing fetched from elsewhere.
    assert "main-nav" not in html and "<link" not in html and "<script src" not in html
    assert "http://" not in html and "https://" not in html


def test_print_page_shows_the_fields_as_the_360_page_does(client, users, mine):
    login(client, users["sales1"])
    detail = field_cells(get(client, "customers:detail", mine.pk).content.decode(), "dd")
    printed = field_cells(get(client, "customers:print", mine.pk).content.decode(), "td")
    printed.pop("name")  # the heading of the sheet
    assert detail and printed == detail


def test_pdf_is_masked_by_default(client, users, mine):
    response = get(login(client, users["sales1"]), "customers:pdf", mine.pk)
    text = pdf_text(response.content)
    if text is not None:
        assert MASKED["phone"] in text and MASKED["id_number"] in text
        assert PHONE not in text and ID_1234 not in text and CARD not in text
        assert "王小明" in text
        pages = re.findall(r"第\s*(\d+)\s*页\s*/\s*共\s*(\d+)\s*页", text)
        assert pages and pages == [(str(i), str(len(pages))) for i in range(1, len(pages) + 1)]


def test_chinese_is_set_in_a_cjk_font(client, users, mine):
    data = get(login(client, users["sales1"]), "customers:pdf", mine.pk).content
    fonts = pdf_font_names(data)
    assert fonts, "no fonts found in the PDF"
    squeezed = [name.replace("-", "") for name in fonts]
    assert any("NotoSansCJK" in n or "NotoSerifCJK" in n for n in squeezed), fonts
    # Every font is a Noto CJK face: no fallback font (where tofu boxes come from) was needed.
    assert all(re.search(r"NotoS(ans|erif)CJK", n) for n in squeezed), fonts


# --- reveal and audit -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VIEWS)
def test_full_is_refused_to_a_role_without_reveal(client, users, mine, name):
    response = get(login(client, users["sales1"]), name, mine.pk, full="1")
    assert response.status_code == 403
    assert PHONE.encode() not in response.content
    assert not print_entries().exists()
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=users["sales1"]).exists()


def test_full_reveals_for_a_manager_and_is_audited(client, users, mine):
    login(client, users["manager1"])
    masked = get(client, "customers:print", mine.pk).content.decode()
    assert PHONE not in masked and MASKED["phone"] in masked
    assert "?full=1" in masked  # the manager is offered the unmasked print

    html = get(client, "customers:print", mine.pk, full="1").content.decode()
    for full in (PHONE, ID_1234, CARD, SPOUSE_PHONE):
        assert full in html
    assert 'data-testid="revealed-notice"' in html

    pdf = get(client, "customers:pdf", mine.pk, full="1")
    assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    if text is not None:
        assert PHONE in text and ID_1234 in text

    entries = list(print_entries(mine).order_by("id").values_list("actor__username", "extra"))
    assert entries == [
        ("manager1", {"format": "print", "revealed": False}),
        ("manager1", {"format": "print", "revealed": True}),
        ("manager1", {"format": "pdf", "revealed": True}),
    ]


def test_every_print_and_pdf_is_audited(client, users, mine):
    login(client, users["sales1"])
    get(client, "customers:print", mine.pk)
    get(client, "customers:pdf", mine.pk)
    get(client, "customers:pdf", mine.pk)
    entries = print_entries(mine).order_by("id")
    assert [e.extra for e in entries] == [
        {"format": "print", "revealed": False},
        {"format": "pdf", "revealed": False},
        {"format": "pdf", "revealed": False},
    ]
    assert {e.actor_id for e in entries} == {users["sales1"].pk}
    assert entries[0].object_type == "customer" and entries[0].get_action_display() == "打印/导出客户档案"


def test_service_refuses_reveal_without_permission(users, mine):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        printing.customer_profile_printed(by=users["sales1"], customer=mine, fmt="pdf", revealed=True)
    assert not print_entries().exists()


# --- pieces -----------------------------------------------------------------------------------------------


def test_360_page_links_to_print_and_pdf(client, users, mine):
    html = get(login(client, users["sales1"]), "customers:detail", mine.pk).content.decode()
    assert reverse("customers:print", args=[mine.pk]) in html
    assert reverse("customers:pdf", args=[mine.pk]) in html


def test_pdf_fetcher_refuses_the_network_and_files_outside_the_app():
    fetcher = printing.local_only_fetcher()
    for url in ("https://cdn.jsdelivr.net/npm/bootstrap.css", "http://127.0.0.1/x.css", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            fetcher(url)
    assert fetcher("data:text/css,p{}").read() == b"p{}"


def test_css_strings_cannot_break_out_of_the_style_element():
    css = printing._css_string('王</style><script>"\\')
    assert "<" not in css and ">" not in css and css.count('"') == 2 and "王" in css


def test_long_values_get_a_row_of_their_own():
    rows = [("a", "a", "短"), ("b", "b", "长" * 20), ("c", "c", "x"), ("d", "d", "y"), ("e", "e", "1\n2")]
    assert [[cell[0] for cell in row] for row in printing._paired(rows)] == [["a"], ["b"], ["c", "d"], ["e"]]
