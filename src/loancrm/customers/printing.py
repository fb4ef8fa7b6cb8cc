"""The customer profile on paper: a print view (A4, print CSS) and the same page as a PDF (WeasyPrint).

Both show what the 360 page shows (filled-in field groups, related persons, assets, the latest follow-ups),
masked unless `?full=1` is asked by a role that may reveal; every print and every PDF is audited.
"""

import functools
import time
import unicodedata
from pathlib import Path
from urllib.parse import quote
from urllib.request import url2pathname

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import Department, User
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.dictionaries.selectors import dictionary_labels

from . import selectors
from .fields import SENSITIVE, groups_for
from .models import Customer
from .views import _display_value, _labels_for

FORMATS = ("pdf", "print")
FOLLOW_UPS = 20
WIDE_VALUE = 30  # columns (a Chinese character counts two): a longer value spans the whole table row
HEADER_NAME = 24  # characters of the name in the running page header
# Files WeasyPrint may read (a future logo or stylesheet); anything else, and every network URL, is refused.
LOCAL_ROOT = Path(__file__).resolve().parent.parent


def customer_profile_printed(*, by: User, customer: Customer, fmt: str, revealed: bool) -> None:
    """Record that `by` printed (or made a PDF of) the customer's profile; unmasked only with reveal."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    require_perm(by, Perm.CUSTOMER_VIEW)
    if revealed:
        require_perm(by, Perm.CUSTOMER_REVEAL)
    with transaction.atomic():
        audit_record(
            action=Action.CUSTOMER_PRINT,
            actor=by,
            obj=customer,
            extra={"format": fmt, "revealed": revealed},
        )


def _css_string(text: str) -> str:
    """`text` as a quoted CSS string that is also safe inside <style> (no quote, backslash or tag break)."""
    out = []
    for ch in str(text):
        if ch.isalnum() or ch in " :：·/-_.,，、()（）":
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):x} ")
    return '"' + "".join(out) + '"'


def _page_counter_css() -> str:
    """'第 X 页 / 共 Y 页' (translated) as the `content` of a page margin box."""
    marker = "\x00"
    template = _("第 %(page)s 页 / 共 %(pages)s 页") % {
        "page": marker + "page" + marker,
        "pages": marker + "pages" + marker,
    }
    parts = []
    for i, piece in enumerate(template.split(marker)):
        if i % 2:
            parts.append(f"counter({piece})")
        elif piece:
            parts.append(_css_string(piece))
    return " ".join(parts)


def _agency_name(customer: Customer) -> str:
    """The company at the root of the customer's department (the letterhead)."""
    dept = customer.department
    if dept is None:
        return ""
    root_id = next((int(p) for p in dept.path.split("/") if p), None)
    if root_id is None or root_id == dept.pk:
        return dept.name
    return Department.objects.filter(pk=root_id).values_list("name", flat=True).first() or dept.name


def _groups(customer: Customer, labels: dict, *, reveal: bool) -> list[tuple]:
    """The 360 page's groups (filled-in fields only, same display values), without groups left blank."""
    groups = []
    for key, title, names in groups_for(customer.customer_type):
        rows = []
        for n in names:
            revealed = reveal and n in SENSITIVE
            value = getattr(customer, n) if revealed else _display_value(customer, n, labels)
            if value not in ("", None):
                rows.append((str(customer._meta.get_field(n).verbose_name), n, value))
        if rows:
            groups.append((key, title, _paired(rows), len(names) - len(rows)))
    return groups


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _paired(rows: list[tuple]) -> list[list[tuple]]:
    """Table rows of two label/value pairs each; a long or multi-line value gets a row of its own."""
    out: list[list[tuple]] = []
    pending: list[tuple] = []
    for label, name, value in rows:
        text = str(value)
        if _columns(text) > WIDE_VALUE or "\n" in text:
            if pending:
                out.append(pending)
                pending = []
            out.append([(label, name, value)])
        else:
            pending.append((label, name, value))
            if len(pending) == 2:
                out.append(pending)
                pending = []
    if pending:
        out.append(pending)
    return out


def profile_context(request, customer: Customer, *, reveal: bool, pdf: bool) -> dict:
    labels = _labels_for(customer)
    persons = [
        (
            p,
            p.phone if reveal else p.masked_phone,
            p.id_number if reveal else p.masked_id_number,
        )
        for p in customer.related_persons.all()
    ]
    printed_at = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    printed_by = request.user.display_name
    agency = _agency_name(customer)
    footer = _("打印人：%(who)s　打印时间：%(at)s") % {"who": printed_by, "at": printed_at}
    return {
        "customer": customer,
        "agency": agency,
        "groups": _groups(customer, labels, reveal=reveal),
        "labels": labels,
        "persons": persons,
        "assets": list(customer.assets.all()),
        "follow_ups": list(customer.follow_ups.select_related("by")[:FOLLOW_UPS]),
        "follow_up_limit": FOLLOW_UPS,
        "relation_labels": dictionary_labels("relation"),
        "asset_labels": dictionary_labels("asset_kind"),
        "way_labels": dictionary_labels("follow_up_way"),
        "stage_labels": dictionary_labels("stage"),
        "revealed": reveal,
        "can_reveal": selectors.can_reveal(request.user),
        "pdf": pdf,
        "printed_by": printed_by,
        "printed_at": printed_at,
        "css_footer": mark_safe(_css_string(footer)),
        "css_page_counter": mark_safe(_page_counter_css()),
        "css_header": mark_safe(
            _css_string(f"{customer.customer_no}  {Truncator(customer.name).chars(HEADER_NAME)}")
        ),
        "css_agency": mark_safe(_css_string(agency)),
    }


def _prepare(request, customer_id: int, fmt: str) -> tuple[Customer, bool]:
    """Scope, reveal decision and audit entry, before anything is rendered."""
    require_perm(request.user, Perm.CUSTOMER_VIEW, path=request.path)
    customer = selectors.customer_get_for(request.user, customer_id)
    reveal = request.GET.get("full") == "1"
    if reveal:
        require_perm(request.user, Perm.CUSTOMER_REVEAL, path=request.path)  # refusal audited, 403
    customer_profile_printed(by=request.user, customer=customer, fmt=fmt, revealed=reveal)
    return customer, reveal


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def customer_print(request, customer_id: int):
    customer, reveal = _prepare(request, customer_id, "print")
    context = profile_context(request, customer, reveal=reveal, pdf=False)
    return _private(render(request, "customers/print.html", context))


@functools.cache
def _local_fetcher_class():
    """WeasyPrint's URL fetcher limited to data: URLs and files inside the package (imported lazily)."""
    from weasyprint.urls import URLFetcher

    class LocalOnlyFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith("file:"):
                path = Path(url2pathname(url.split("?")[0].removeprefix("file:"))).resolve()
                if not path.is_relative_to(LOCAL_ROOT):
                    raise ValueError(f"refused (outside the application): {url}")
            elif not url.startswith("data:"):
                raise ValueError(f"refused (no network access): {url}")
            return super().fetch(url, headers)

    return LocalOnlyFetcher


def local_only_fetcher():
    return _local_fetcher_class()(allowed_protocols={"data", "file"}, allow_redirects=False)


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, base_url=str(LOCAL_ROOT) + "/", url_fetcher=local_only_fetcher()).write_pdf()


def _content_disposition(filename: str, fallback: str) -> str:
    """RFC 6266 / RFC 5987: an ASCII fallback name and the UTF-8 name for every client that reads it."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@login_required
def customer_pdf(request, customer_id: int):
    customer, reveal = _prepare(request, customer_id, "pdf")
    html = render_to_string(
        "customers/print.html", profile_context(request, customer, reveal=reveal, pdf=True), request
    )
    started = time.perf_counter()
    pdf = render_pdf(html)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = _content_disposition(
        _("客户档案-%(no)s.pdf") % {"no": customer.customer_no},
        f"customer-{customer.customer_no}.pdf",
    )
    response["Server-Timing"] = f"pdf;dur={(time.perf_counter() - started) * 1000:.0f}"
    return _private(response)
