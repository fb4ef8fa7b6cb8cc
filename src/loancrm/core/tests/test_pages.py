import pytest
from django.core.management import call_command
from django.urls import reverse

from loancrm.conftest import login
from loancrm.customers.models import Customer

pytestmark = pytest.mark.django_db


def test_healthz_checks_the_database(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["database"] == "ok"


def test_anonymous_is_sent_to_login(client):
    resp = client.get("/")
    assert resp.status_code == 302 and resp.url.startswith("/accounts/login/")


def test_navigation_follows_permissions(client, users):
    login(client, users["sales1"])
    labels = [str(i["label"]) for i in client.get("/").context["nav_items"]]
    assert labels == ["工作台", "客户", "进件", "我的待办", "贷款", "设置"]
    login(client, users["admin"])
    labels = [str(i["label"]) for i in client.get("/").context["nav_items"]]
    assert labels == ["工作台", "客户", "进件", "我的待办", "贷款", "催收", "规则", "报表", "设置"]


def test_workbench_shows_own_numbers(client, users, customers):
    login(client, users["sales1"])
    stats = client.get("/").context["stats"]
    assert stats["own"]["total"] == Customer.objects.filter(owner=users["sales1"]).count()
    assert stats["team"] is None
    login(client, users["manager1"])
    stats = client.get("/").context["stats"]
    assert stats["team"]["total"] == Customer.objects.filter(owner__username__in=["sales1", "sales2"]).count()


def test_customer_create_and_edit_through_pages(client, users):
    login(client, users["sales1"])
    resp = client.post(
        reverse("customers:create"),
        {"customer_type": "individual", "name": "海东", "phone": "13709510000", "current_address": ""},
    )
    assert resp.status_code == 302
    c = Customer.objects.get(name="海东")
    assert c.owner == users["sales1"] and c.department.name == "银川一部"
    resp = client.post(
        reverse("customers:edit", args=[c.pk]),
        {"customer_type": "individual", "name": "海东东", "version": c.version},
    )
    assert resp.status_code == 302
    c.refresh_from_db()
    assert c.name == "海东东"


def test_customer_list_sorts_and_paginates(client, users, customers):
    login(client, users["admin"])
    resp = client.get(reverse("customers:list"), {"sort": "name"})
    names = [c.name for c in resp.context["page"]]
    assert names == sorted(names) and len(names) == 20
    assert resp.context["page"].paginator.num_pages == 3
    # htmx asks for the table only.
    part = client.get(
        reverse("customers:list"), {"page": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-table"
    )
    assert b'<nav class="navbar' not in part.content and b"customer-table" in part.content


def test_demo_data_is_idempotent_and_deterministic(db, capsys):
    call_command("demo_data", customers=30, seed=5, password="Demo#pass2026")
    first = list(Customer.objects.order_by("id").values_list("name", "phone", "owner__username"))
    call_command("demo_data", customers=30, seed=5, password="Demo#pass2026")
    assert Customer.objects.count() == 30
    out = capsys.readouterr().out
    assert "sales1" in out and "auditor1" in out
    from loancrm.intake.models import LoanApplication
    from loancrm.loans.models import Allocation, Loan, Repayment

    # Loans, their ledger and applications hold their customers (PROTECT): clear them first.
    Allocation.objects.all().delete()
    Repayment.objects.all().delete()
    Loan.objects.all().delete()
    LoanApplication.objects.all().delete()
    Customer.objects.all().delete()
    call_command("demo_data", customers=30, seed=5, password="Demo#pass2026")
    again = list(Customer.objects.order_by("id").values_list("name", "phone", "owner__username"))
    assert again == first
    phones = [p for _, p, _ in first]
    assert len(set(phones)) == 30 and all(len(p) == 11 and p[0] == "1" for p in phones)


def test_createadmin(db):
    from loancrm.accounts.models import User

    call_command("createadmin", username="boss", password="Boss#2026pw")
    boss = User.objects.get(username="boss")
    assert boss.role.code == "admin" and boss.is_superuser and boss.department is not None


def test_edit_form_never_shows_full_phone_without_reveal(client, users, customers):
    own = Customer.objects.filter(owner=users["sales1"]).first()
    original_phone = own.phone
    login(client, users["sales1"])
    page = client.get(reverse("customers:edit", args=[own.pk])).content.decode()
    assert own.phone not in page and own.masked_phone in page
    # Leaving it blank keeps the stored number.
    resp = client.post(
        reverse("customers:edit", args=[own.pk]),
        {"customer_type": "individual", "name": own.name, "phone": "", "version": own.version},
    )
    assert resp.status_code == 302
    own.refresh_from_db()
    assert own.phone == original_phone
    # Not even a manager gets it in the form: seeing it is the explicit, audited 查看完整信息 action.
    login(client, users["manager1"])
    assert own.phone not in client.get(reverse("customers:edit", args=[own.pk])).content.decode()


def test_big_lists_stop_counting_at_the_cap(client, users, customers, monkeypatch):
    from loancrm.core import pagination

    monkeypatch.setattr(pagination, "COUNT_CAP", 10)
    login(client, users["admin"])
    resp = client.get(reverse("customers:list"))
    assert resp.context["page"].paginator.capped
    assert "超过 10 条" in resp.content.decode()
    narrow = client.get(reverse("customers:list"), {"q": Customer.objects.first().phone})
    assert not narrow.context["page"].paginator.capped and "共 1 条" in narrow.content.decode()
