"""Customer center web pages: create/edit forms, reveal, history, scope of every write, follow-ups,
attachments, pool and hand-over, list filters, saved filters and bulk actions."""

import hashlib
import re
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from loancrm.audit.models import AuditEntry
from loancrm.conftest import login
from loancrm.customers import services
from loancrm.customers.models import Attachment, Customer, CustomerTransfer, FollowUp, Tag

pytestmark = pytest.mark.django_db

ID_1234 = "640104199001191234"
PHONE = "13812345678"
CARD = "6222021234567890128"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256))


def make(user, name: str, phone: str, **data) -> Customer:
    return services.customer_create(by=user, data={"name": name, "phone": phone, **data})


@pytest.fixture
def mine(users) -> Customer:
    return make(
        users["sales1"],
        "王小明",
        PHONE,
        id_number=ID_1234,
        bank_account=CARD,
        stage="contacted",
        channel="referral",
        monthly_income="8000",
    )


@pytest.fixture
def foreign(users) -> Customer:
    return make(users["sales3"], "二部客户", "13900000003")


@pytest.fixture
def private_files(settings, tmp_path):
    """Attachments go to a throw-away private folder; STATIC_ROOT stays where the settings put it."""
    settings.PRIVATE_FILES_DIR = tmp_path / "private"
    return settings.PRIVATE_FILES_DIR


def post_data(form) -> dict:
    """What the browser would send back for an unchanged form."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value == []:
            continue
        if isinstance(value, datetime):
            value = timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")
        elif isinstance(value, date):
            value = value.isoformat()
        elif not isinstance(value, list):
            value = str(value)
        data[name] = value
    return data


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def listed(response) -> set[int]:
    return {c.pk for c in response.context["page"].paginator.object_list}


# --- create form and 撞单 --------------------------------------------------------------------------


def test_create_form_creates_and_redirects(client, users):
    login(client, users["sales1"])
    resp = client.post(
        reverse("customers:create"),
        {
            "customer_type": "individual",
            "name": "新客户",
            "phone": "138 1234 5678",
            "monthly_income": "15000",
        },
    )
    customer = Customer.objects.get(name="新客户")
    assert resp.status_code == 302
    assert resp["Location"] == reverse("customers:detail", args=[customer.pk])
    assert (customer.phone, customer.monthly_income, customer.owner) == (
        PHONE,
        Decimal("15000"),
        users["sales1"],
    )


def test_create_form_duplicate_outside_scope_keeps_typed_values(client, users, foreign):
    login(client, users["sales1"])
    typed = {
        "customer_type": "individual",
        "name": "重复录入的人",
        "phone": "139-0000-0003",
        "employer": "银川某建材公司",
        "monthly_income": "6500",
    }
    resp = client.post(reverse("customers:create"), typed)
    assert resp.status_code == 200
    errors = resp.context["form"].errors
    assert list(errors) == ["phone"]
    assert "撞单" in errors["phone"][0]
    html = resp.content.decode()
    assert errors["phone"][0] in html
    for value in typed.values():
        assert f'value="{value}"' in html
    for secret in (foreign.customer_no, foreign.name, users["sales3"].display_name):
        assert secret not in html
    assert not Customer.objects.filter(name="重复录入的人").exists()
    entry = AuditEntry.objects.get(action="customer.duplicate")
    assert (entry.actor, entry.object_id) == (users["sales1"], str(foreign.pk))


def test_create_form_duplicate_in_scope_names_customer(client, users, mine):
    login(client, users["manager1"])
    resp = client.post(
        reverse("customers:create"),
        {"customer_type": "individual", "name": "又一个", "phone": "13900000009", "id_number": ID_1234},
    )
    assert resp.status_code == 200
    message = resp.context["form"].errors["id_number"][0]
    assert mine.customer_no in message
    assert mine.customer_no in resp.content.decode()


def test_create_form_invalid_values_shown_at_fields(client, users):
    login(client, users["sales1"])
    resp = client.post(
        reverse("customers:create"),
        {
            "customer_type": "individual",
            "name": "填错了",
            "phone": "1381234",
            "id_number": ID_1234[:-1] + "5",
        },
    )
    assert resp.status_code == 200
    errors = resp.context["form"].errors
    assert set(errors) == {"phone", "id_number"}
    assert "校验位" in errors["id_number"][0]
    assert 'value="填错了"' in resp.content.decode()


# --- reveal --------------------------------------------------------------------------------------


def test_detail_page_is_masked(client, users, mine):
    login(client, users["sales1"])
    html = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert "138****5678" in html and "640104********1234" in html
    for secret in (PHONE, ID_1234, CARD):
        assert secret not in html
    assert "查看完整信息" not in html


def test_web_reveal_for_manager_is_audited(client, users, mine):
    login(client, users["manager1"])
    assert "查看完整信息" in client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    resp = client.post(reverse("customers:reveal", args=[mine.pk]))
    assert resp.status_code == 200
    html = resp.content.decode()
    for secret in (PHONE, ID_1234, CARD):
        assert secret in html
    entry = AuditEntry.objects.get(action="reveal")
    assert (entry.actor, entry.object_id) == (users["manager1"], str(mine.pk))


def test_web_reveal_refused_for_salesperson(client, users, mine):
    login(client, users["sales1"])
    resp = client.post(reverse("customers:reveal", args=[mine.pk]))
    assert resp.status_code == 403
    assert PHONE not in resp.content.decode()
    assert AuditEntry.objects.filter(action="permission.denied", actor=users["sales1"]).exists()
    assert not AuditEntry.objects.filter(action="reveal").exists()


# --- concurrent edits and history ----------------------------------------------------------------


def test_concurrent_edit_second_save_refused_and_history_kept(client, users, mine):
    login(client, users["sales1"])
    url = reverse("customers:edit", args=[mine.pk])
    first = post_data(client.get(url).context["form"])
    second = post_data(client.get(url).context["form"])
    assert first["version"] == second["version"] == "1"
    assert "phone" not in first  # a stored sensitive value is never put back into the page

    first.update(name="王小明已核实", monthly_income="9000")
    resp = client.post(url, first)
    assert resp.status_code == 302

    second.update(name="第二个窗口的名字", employer="第二个窗口的单位")
    resp = client.post(url, second)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "保存失败" in html
    assert 'value="第二个窗口的名字"' in html and 'value="第二个窗口的单位"' in html

    mine.refresh_from_db()
    assert (mine.name, mine.monthly_income, mine.employer, mine.version) == (
        "王小明已核实",
        Decimal("9000"),
        "",
        2,
    )
    # Blank sensitive fields kept what was stored; derived values survived the round trip.
    assert (mine.phone, mine.id_number, mine.bank_account) == (PHONE, ID_1234, CARD)
    assert (mine.gender, mine.birth_date, mine.stage, mine.channel) == (
        "male",
        date(1990, 1, 19),
        "contacted",
        "referral",
    )
    versions = list(mine.history.order_by("history_date", "history_id"))
    assert [v.history_type for v in versions] == ["+", "~"]
    assert [v.name for v in versions] == ["王小明", "王小明已核实"]
    assert [v.history_user for v in versions] == [users["sales1"], users["sales1"]]


def test_history_page_shows_the_change(client, users, mine):
    login(client, users["sales1"])
    url = reverse("customers:edit", args=[mine.pk])
    data = post_data(client.get(url).context["form"])
    data.update(name="王小明已核实", phone="15987654321")
    assert client.post(url, data).status_code == 302
    resp = client.get(reverse("customers:history", args=[mine.pk]))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "姓名/名称" in html
    assert re.search(r"王小明</del>\s*→\s*<ins[^>]*>王小明已核实</ins>", html)
    # A sensitive change is listed, masked.
    assert "手机号码" in html and "138****5678" in html and "159****4321" in html
    assert PHONE not in html and "15987654321" not in html
    changes = resp.context["versions"][0]["changes"]
    assert {"field": "姓名/名称", "old": "王小明", "new": "王小明已核实"} in changes


# --- scope of every write ------------------------------------------------------------------------


def test_salesperson_cannot_write_to_other_team_customer(client, users, foreign, private_files):
    attachment = services.attachment_upload(
        by=users["sales3"],
        customer=foreign,
        upload=SimpleUploadedFile("a.png", PNG, content_type="image/png"),
        kind="id_card",
    )
    login(client, users["sales1"])
    pk = foreign.pk
    edit = reverse("customers:edit", args=[pk])
    assert client.get(edit).status_code == 404
    assert client.post(edit, {"customer_type": "individual", "name": "越权", "version": 1}).status_code == 404
    assert client.post(reverse("customers:reveal", args=[pk])).status_code == 404
    assert client.get(reverse("customers:history", args=[pk])).status_code == 404
    follow = {"way": "phone", "content": "越权跟进", "stage": "lost"}
    assert client.post(reverse("customers:follow_up_add", args=[pk]), follow).status_code == 404
    upload = {"kind": "other", "file": SimpleUploadedFile("b.png", PNG, content_type="image/png")}
    assert client.post(reverse("customers:attachment_upload", args=[pk]), upload).status_code == 404
    download = reverse("customers:attachment_download", args=[pk, attachment.pk])
    assert client.get(download).status_code == 404
    related = {"relation": "spouse", "name": "越权关联人"}
    assert client.post(reverse("customers:related_add", args=[pk]), related).status_code == 404

    foreign.refresh_from_db()
    assert (foreign.name, foreign.stage, foreign.version) == ("二部客户", "new", 1)
    assert not FollowUp.objects.exists()
    assert list(Attachment.objects.values_list("pk", flat=True)) == [attachment.pk]
    assert not foreign.related_persons.exists()
    assert not AuditEntry.objects.filter(action__in=["reveal", "attachment.download"]).exists()


def test_bulk_assign_outside_scope_changes_nothing(client, users, customers):
    sales3_ids = list(Customer.objects.filter(owner=users["sales3"]).values_list("pk", flat=True))
    sales2_one = Customer.objects.filter(owner=users["sales2"]).first()
    login(client, users["manager1"])
    form = {"action": "assign", "to_owner": users["sales1"].pk, "reason": "调整"}
    resp = client.post(reverse("customers:bulk"), {**form, "ids": sales3_ids})
    assert resp.status_code == 302
    assert Customer.objects.filter(pk__in=sales3_ids, owner=users["sales3"]).count() == len(sales3_ids)
    assert not CustomerTransfer.objects.exists()
    # Mixed in-scope and out-of-scope ids: only the in-scope one moves.
    client.post(reverse("customers:bulk"), {**form, "ids": [*sales3_ids, sales2_one.pk]})
    assert Customer.objects.filter(pk__in=sales3_ids, owner=users["sales3"]).count() == len(sales3_ids)
    sales2_one.refresh_from_db()
    assert sales2_one.owner == users["sales1"]
    assert list(CustomerTransfer.objects.values_list("customer_id", flat=True)) == [sales2_one.pk]


def test_bulk_by_salesperson_stays_in_scope(client, users, customers):
    sales3_ids = list(Customer.objects.filter(owner=users["sales3"]).values_list("pk", flat=True))
    own = Customer.objects.filter(owner=users["sales1"]).first()
    login(client, users["sales1"])
    client.post(reverse("customers:bulk"), {"action": "tag", "tags": "越权", "ids": sales3_ids})
    assert not Customer.objects.filter(tags__name="越权").exists()
    # sales1 may not assign at all, even their own customers.
    resp = client.post(
        reverse("customers:bulk"),
        {"action": "assign", "to_owner": users["sales1"].pk, "reason": "x", "ids": [own.pk]},
    )
    assert resp.status_code == 403
    assert not CustomerTransfer.objects.exists()


def test_bulk_redirect_stays_on_site(client, users, mine):
    login(client, users["sales1"])
    resp = client.post(
        reverse("customers:bulk"),
        {"action": "tag", "tags": "VIP", "ids": [mine.pk], "next": "https://evil.example/phish"},
    )
    assert resp.status_code == 302
    assert resp["Location"] == reverse("customers:list")
    resp = client.post(
        reverse("customers:bulk"),
        {"action": "tag", "tags": "VIP", "ids": [mine.pk], "next": "/customers/?stage=new"},
    )
    assert resp["Location"] == "/customers/?stage=new"


# --- follow-ups ----------------------------------------------------------------------------------


def test_follow_up_updates_customer_and_timeline(client, users, mine):
    login(client, users["sales1"])
    resp = client.post(
        reverse("customers:follow_up_add", args=[mine.pk]),
        {
            "way": "phone",
            "content": "电话沟通，客户有贷款意向",
            "next_step": "约周五面谈",
            "next_follow_up_at": "2030-03-05T10:30",
            "stage": "collecting",
        },
    )
    assert resp.status_code == 302
    assert resp["Location"].endswith("#follow-ups")
    mine.refresh_from_db()
    follow = FollowUp.objects.get(customer=mine)
    assert mine.last_follow_up_at == follow.at
    assert abs(timezone.now() - mine.last_follow_up_at) < timedelta(minutes=1)
    assert timezone.localtime(mine.next_follow_up_at).replace(tzinfo=None) == datetime(2030, 3, 5, 10, 30)
    assert mine.stage == "collecting"
    assert (follow.by, follow.way) == (users["sales1"], "phone")

    detail = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert reverse("customers:timeline", args=[mine.pk]) in detail  # the page loads its timeline next
    resp = client.get(reverse("customers:timeline", args=[mine.pk]))
    events = [e for e in resp.context["timeline"] if e.kind == "follow_up"]
    assert len(events) == 1 and "电话沟通，客户有贷款意向" in events[0].body
    html = resp.content.decode()
    assert "电话沟通，客户有贷款意向" in html and "约周五面谈" in html
    assert AuditEntry.objects.filter(action="followup.create", object_id=str(mine.pk)).exists()


def test_follow_up_without_content_is_refused(client, users, mine):
    login(client, users["sales1"])
    resp = client.post(reverse("customers:follow_up_add", args=[mine.pk]), {"way": "phone", "content": ""})
    assert resp.status_code == 302
    assert any("跟进内容" in m for m in messages_of(resp))
    assert not FollowUp.objects.exists()
    mine.refresh_from_db()
    assert mine.last_follow_up_at is None


def test_follow_up_stage_change_makes_open_edit_form_stale(client, users, mine):
    login(client, users["sales1"])
    url = reverse("customers:edit", args=[mine.pk])
    data = post_data(client.get(url).context["form"])
    client.post(
        reverse("customers:follow_up_add", args=[mine.pk]),
        {"way": "phone", "content": "已收资料", "stage": "reviewing"},
    )
    data["employer"] = "某公司"
    client.post(url, data)
    mine.refresh_from_db()
    assert mine.stage == "reviewing"


# --- attachments ---------------------------------------------------------------------------------


def upload(client, customer, name: str, content: bytes):
    return client.post(
        reverse("customers:attachment_upload", args=[customer.pk]),
        {"kind": "id_card", "file": SimpleUploadedFile(name, content, content_type="image/png")},
    )


def test_attachment_stored_privately_and_download_audited(client, users, mine, private_files):
    login(client, users["sales1"])
    resp = upload(client, mine, "身份证正面.png", PNG)
    assert resp.status_code == 302
    attachment = Attachment.objects.get(customer=mine)
    assert (attachment.original_name, attachment.content_type, attachment.size) == (
        "身份证正面.png",
        "image/png",
        len(PNG),
    )
    assert attachment.sha256 == hashlib.sha256(PNG).hexdigest()
    stored = [p for p in private_files.rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert stored[0].read_bytes() == PNG
    assert stored[0].name == attachment.stored_name and "身份证" not in stored[0].name
    assert not stored[0].resolve().is_relative_to(settings.STATIC_ROOT.resolve())
    assert not list(settings.STATIC_ROOT.rglob(attachment.stored_name))
    assert client.get(f"{settings.STATIC_URL}attachments/{attachment.stored_name}").status_code == 404

    url = reverse("customers:attachment_download", args=[mine.pk, attachment.pk])
    resp = client.get(url)
    assert resp.status_code == 200
    assert b"".join(resp.streaming_content) == PNG  # exhausting it closes the file
    assert resp["Content-Type"] == "image/png"
    assert resp["X-Content-Type-Options"] == "nosniff"
    entry = AuditEntry.objects.get(action="attachment.download")
    assert (entry.actor, entry.object_id, entry.extra["attachment"]) == (
        users["sales1"],
        str(mine.pk),
        attachment.pk,
    )
    assert AuditEntry.objects.filter(action="attachment.upload", object_id=str(mine.pk)).count() == 1

    login(client, users["sales3"])
    assert client.get(url).status_code == 404
    assert AuditEntry.objects.filter(action="attachment.download").count() == 1


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("photo.png", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), "文件内容与扩展名不符"),
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), "不支持的文件类型"),
    ],
    ids=["renamed-exe", "exe"],
)
def test_attachment_refused(client, users, mine, private_files, name, content, words):
    login(client, users["sales1"])
    resp = upload(client, mine, name, content)
    assert resp.status_code == 302
    assert any(words in m for m in messages_of(resp))
    assert not Attachment.objects.exists()
    assert not [p for p in private_files.rglob("*") if p.is_file()]


# --- pool and hand-over --------------------------------------------------------------------------


def test_pool_visible_to_department_and_claimable(client, users, customers):
    team1 = set(Customer.objects.filter(department=users["sales1"].department).values_list("pk", flat=True))
    team2 = set(Customer.objects.filter(department=users["sales3"].department).values_list("pk", flat=True))
    services.pool_sweep(now=timezone.now() + timedelta(days=3650))

    login(client, users["sales1"])
    resp = client.get(reverse("customers:pool"))
    assert resp.status_code == 200
    assert listed(resp) == team1
    target = Customer.objects.filter(pk__in=team1).order_by("pk").first()
    assert client.get(reverse("customers:detail", args=[target.pk])).status_code == 404

    resp = client.post(reverse("customers:claim", args=[target.pk]))
    assert resp.status_code == 302
    assert resp["Location"] == reverse("customers:detail", args=[target.pk])
    target.refresh_from_db()
    assert (target.owner, target.pooled_at) == (users["sales1"], None)
    transfer = CustomerTransfer.objects.filter(customer=target).order_by("-id").first()
    assert (transfer.from_owner, transfer.to_owner, transfer.by) == (None, users["sales1"], users["sales1"])
    assert client.get(reverse("customers:detail", args=[target.pk])).status_code == 200

    login(client, users["sales3"])
    assert listed(client.get(reverse("customers:pool"))) == team2
    other = Customer.objects.filter(pk__in=team1 - {target.pk}).first()
    assert client.post(reverse("customers:claim", args=[other.pk])).status_code == 404
    other.refresh_from_db()
    assert other.owner_id is None
    assert client.post(reverse("customers:claim", args=[target.pk])).status_code == 404


def test_manager_hands_over_all_customers(client, users, customers):
    sales1, sales2 = users["sales1"], users["sales2"]
    theirs = set(Customer.objects.filter(owner=sales2).values_list("pk", flat=True))
    already = Customer.objects.filter(owner=sales1).count()
    assert theirs
    login(client, users["manager1"])
    resp = client.get(reverse("customers:handover"))
    assert resp.status_code == 200
    assert resp.context["counts"][sales2.pk] == len(theirs)
    resp = client.post(
        reverse("customers:handover"),
        {"from_owner": sales2.pk, "to_owner": sales1.pk, "reason": "李志强离职"},
    )
    assert resp.status_code == 302
    assert not Customer.objects.filter(owner=sales2).exists()
    assert Customer.objects.filter(owner=sales1).count() == already + len(theirs)
    transfers = CustomerTransfer.objects.all()
    assert {t.customer_id for t in transfers} == theirs and transfers.count() == len(theirs)
    assert len({t.batch for t in transfers}) == 1
    assert {(t.from_owner_id, t.to_owner_id, t.reason, t.by_id) for t in transfers} == {
        (sales2.pk, sales1.pk, "李志强离职", users["manager1"].pk)
    }
    assert {c.version for c in Customer.objects.filter(pk__in=theirs)} == {2}


def test_handover_to_someone_outside_scope_moves_nothing(client, users, customers):
    sales2 = users["sales2"]
    theirs = Customer.objects.filter(owner=sales2).count()
    login(client, users["manager1"])
    resp = client.post(
        reverse("customers:handover"),
        {"from_owner": sales2.pk, "to_owner": users["sales3"].pk, "reason": "调岗"},
    )
    assert resp.status_code == 200
    assert "只能转给自己范围内在职的业务员" in resp.content.decode()
    assert Customer.objects.filter(owner=sales2).count() == theirs
    assert not CustomerTransfer.objects.exists()
    # Handing over another team's salesperson is not possible either.
    resp = client.post(
        reverse("customers:handover"),
        {"from_owner": users["sales3"].pk, "to_owner": users["sales1"].pk, "reason": "调岗"},
    )
    assert resp.status_code == 404
    assert not CustomerTransfer.objects.exists()


def test_handover_forbidden_without_assign_permission(client, users, customers):
    login(client, users["sales1"])
    assert client.get(reverse("customers:handover")).status_code == 403
    resp = client.post(
        reverse("customers:handover"),
        {"from_owner": users["sales2"].pk, "to_owner": users["sales1"].pk, "reason": "x"},
    )
    assert resp.status_code == 403
    assert not CustomerTransfer.objects.exists()
    assert AuditEntry.objects.filter(action="permission.denied", actor=users["sales1"]).count() == 2


# --- list: filters, stage tabs, saved filters, highlighting, bulk tag ----------------------------


def test_list_filters(client, users, customers):
    enterprise = services.customer_create(
        by=users["sales1"],
        data={"customer_type": "enterprise", "name": "宁夏测试商贸有限公司", "uscc": "91640100MA76543219"},
    )
    login(client, users["admin"])
    url = reverse("customers:list")
    everyone = Customer.objects.all()
    now = timezone.now()
    today = timezone.localdate()
    start, end = today - timedelta(days=120), today - timedelta(days=30)
    cases = [
        ({"stage": "contacted"}, everyone.filter(stage="contacted")),
        ({"channel": "douyin"}, everyone.filter(channel="douyin")),
        ({"stage": "new", "channel": "referral"}, everyone.filter(stage="new", channel="referral")),
        ({"follow": "overdue"}, everyone.filter(next_follow_up_at__lt=now)),
        ({"type": "enterprise"}, everyone.filter(customer_type="enterprise")),
        (
            {"from": start.isoformat(), "to": end.isoformat()},
            [c for c in everyone if start <= timezone.localtime(c.created_at).date() <= end],
        ),
    ]
    for params, expected in cases:
        ids = {c.pk for c in expected}
        assert ids, params  # every case really filters something
        resp = client.get(url, params)
        assert resp.status_code == 200
        assert listed(resp) == ids, params
    assert enterprise.pk in listed(client.get(url, {"type": "enterprise"}))
    # The same filters never widen a salesperson's scope.
    login(client, users["sales1"])
    own = set(Customer.objects.filter(owner=users["sales1"]).values_list("pk", flat=True))
    assert listed(client.get(url, {"follow": "overdue"})) == {
        c.pk for c in Customer.objects.filter(pk__in=own, next_follow_up_at__lt=now)
    }


def test_stage_tab_counts(client, users, customers):
    login(client, users["sales1"])
    own = Customer.objects.filter(owner=users["sales1"])
    expected = Counter(own.values_list("stage", flat=True))
    url = reverse("customers:stage_counts")
    assert client.get(url).json() == {"counts": dict(expected), "total": own.count()}
    # Counts ignore the chosen stage (so every tab shows its number) but follow the other filters.
    assert client.get(url, {"stage": "new"}).json()["counts"] == dict(expected)
    resp = client.get(reverse("customers:list"), {"stage": "new"})
    assert listed(resp) == set(own.filter(stage="new").values_list("pk", flat=True))
    assert client.get(url, {"channel": "referral"}).json()["counts"] == dict(
        Counter(own.filter(channel="referral").values_list("stage", flat=True))
    )
    # The list page asks for them with its own filters.
    page = client.get(reverse("customers:list"), {"channel": "referral"}).content.decode()
    assert 'data-counts-url="/customers/stage-counts/?channel=referral"' in page


def test_saved_filters_are_per_user(client, users, customers):
    login(client, users["sales1"])
    resp = client.post(
        reverse("customers:filter_save"), {"name": "我的逾期", "query": "follow=overdue&stage=new"}
    )
    assert resp.status_code == 302
    assert resp["Location"] == reverse("customers:list") + "?follow=overdue&stage=new"
    resp = client.get(resp["Location"])
    assert [s.name for s in resp.context["saved"]] == ["我的逾期"]
    assert "我的逾期" in resp.content.decode()
    # Saving the same name again replaces the query.
    client.post(reverse("customers:filter_save"), {"name": "我的逾期", "query": "follow=overdue"})
    assert [(s.name, s.query) for s in client.get(reverse("customers:list")).context["saved"]] == [
        ("我的逾期", "follow=overdue")
    ]
    login(client, users["sales2"])
    assert list(client.get(reverse("customers:list")).context["saved"]) == []


def test_overdue_follow_up_rows_highlighted(client, users):
    sales1 = users["sales1"]
    late = make(sales1, "逾期客户", "13900000021")
    soon = make(sales1, "未到期客户", "13900000022")
    never = make(sales1, "未安排客户", "13900000023")
    Customer.objects.filter(pk=late.pk).update(next_follow_up_at=timezone.now() - timedelta(hours=2))
    Customer.objects.filter(pk=soon.pk).update(next_follow_up_at=timezone.now() + timedelta(days=1))
    login(client, sales1)
    html = client.get(reverse("customers:list")).content.decode()
    rows = {}
    for attrs, body in re.findall(r"<tr([^>]*)>(.*?)</tr>", html, re.S):
        for c in (late, soon, never):
            if f'href="{reverse("customers:detail", args=[c.pk])}"' in body:
                rows[c.pk] = attrs
    assert set(rows) == {late.pk, soon.pk, never.pk}
    assert 'class="table-warning"' in rows[late.pk]
    assert "table-warning" not in rows[soon.pk] and "table-warning" not in rows[never.pk]


def test_bulk_tag_and_untag(client, users, customers):
    own = list(Customer.objects.filter(owner=users["sales1"]).values_list("pk", flat=True)[:3])
    login(client, users["sales1"])
    resp = client.post(reverse("customers:bulk"), {"action": "tag", "tags": "VIP", "ids": own})
    assert resp.status_code == 302
    vip = Tag.objects.get(name="VIP")
    assert set(vip.customers.values_list("pk", flat=True)) == set(own)
    client.post(reverse("customers:bulk"), {"action": "tag", "tags": "VIP, 高意向", "ids": own[:1]})
    assert Tag.objects.filter(name="VIP").count() == 1
    assert set(Customer.objects.get(pk=own[0]).tags.values_list("name", flat=True)) == {"VIP", "高意向"}
    assert listed(client.get(reverse("customers:list"), {"tag": vip.pk})) == set(own)
    client.post(reverse("customers:bulk"), {"action": "untag", "tags": "VIP", "ids": own})
    assert not vip.customers.exists()
    assert AuditEntry.objects.filter(action="customer.tag").count() == 3


def test_asset_added_on_the_360_page(client, users, mine):
    login(client, users["sales1"])
    resp = client.post(
        reverse("customers:asset_add", args=[mine.pk]),
        {
            "kind": "house",
            "description": "金凤区某小区 120㎡",
            "estimated_value": "860000",
            "encumbered": "on",
        },
    )
    assert resp.status_code == 302
    asset = mine.assets.get()
    assert asset.encumbered and asset.estimated_value == 860000
    page = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert "金凤区某小区 120㎡" in page and "860,000.00" in page


# --- the 360 page --------------------------------------------------------------------------------


def test_detail_page_shows_tags_related_persons_assets_and_attachments(client, users, mine, private_files):
    sales = users["sales1"]
    services.customers_tag(by=sales, customers=[mine], tag_names=["重点客户"])
    person = {"relation": "spouse", "name": "李小红", "phone": "13900001111", "note": "<b>晚上联系</b>"}
    services.related_person_save(by=sales, customer=mine, person=None, data=person)
    asset = {"kind": "vehicle", "description": "2020款大众朗逸", "estimated_value": Decimal("80000")}
    services.asset_add(by=sales, customer=mine, data=asset)
    login(client, sales)
    assert upload(client, mine, "征信报告.png", PNG).status_code == 302
    html = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert "重点客户" in html
    assert "李小红" in html and "配偶" in html and "139****1111" in html and "13900001111" not in html
    assert "&lt;b&gt;晚上联系&lt;/b&gt;" in html
    assert "2020款大众朗逸" in html and "车辆" in html and "80,000.00" in html
    assert "征信报告.png" in html and "身份证正反面" in html
    for empty in ("暂无关联人", "暂无资产记录", "暂无附件"):
        assert empty not in html


def test_detail_page_skips_the_queries_of_empty_lists(client, users, mine):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, users["sales1"])
    client.get(reverse("customers:detail", args=[mine.pk]))  # warm: session, dictionaries
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert "暂无关联人" in html and "暂无资产记录" in html and "暂无附件" in html
    tables = ("customers_relatedperson", "customers_customerasset", "customers_attachment", "customers_tag")
    assert not [q["sql"] for q in queries if any(f'SELECT "{t}".' in q["sql"] for t in tables)]
    assert sum("EXISTS" in q["sql"] for q in queries) == 1  # one check for the four lists


def test_detail_page_fields_escaped_with_line_breaks(client, users, mine):
    Customer.objects.filter(pk=mine.pk).update(special_notes="第一行\n<script>x</script>")
    login(client, users["sales1"])
    html = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert 'data-field="special_notes">第一行<br>&lt;script&gt;x&lt;/script&gt;</dd>' in html
    assert 'data-field="phone">138****5678</dd>' in html


def test_detail_page_follow_up_form_follows_dictionary_and_stage(client, users, mine):
    from loancrm.dictionaries.models import DictionaryItem

    login(client, users["sales1"])
    html = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert '<option value="contacted" selected>' in html and "视频通话" not in html
    DictionaryItem.objects.create(kind="follow_up_way", code="video", label="视频通话", sort_order=99)
    Customer.objects.filter(pk=mine.pk).update(stage="collecting")
    html = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert '<option value="video">视频通话</option>' in html  # a new item shows at once
    assert '<option value="collecting" selected>' in html and '<option value="contacted">' in html
    client.cookies["django_language"] = "en"
    assert "Follow-up method" in client.get(reverse("customers:detail", args=[mine.pk])).content.decode()


def test_detail_page_has_no_forms_for_a_role_that_may_not_edit(client, users, mine):
    login(client, users["auditor1"])
    html = client.get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert "王小明" in html
    assert reverse("customers:follow_up_add", args=[mine.pk]) not in html
    assert reverse("customers:attachment_upload", args=[mine.pk]) not in html
    assert reverse("customers:edit", args=[mine.pk]) not in html
