"""Data scope, role by role, on every way in: list, detail, search, API list, API detail."""

import pytest
from django.urls import reverse

from loancrm.accounts.scope import department_subtree_ids
from loancrm.conftest import login
from loancrm.customers.models import Customer
from loancrm.customers.selectors import customer_list, customers_visible_to

pytestmark = pytest.mark.django_db


def expected_ids(users, username: str) -> set[int]:
    """What each demo user may see, computed from the org chart rather than through the product's helper."""
    user = users[username]
    if username in ("admin", "auditor1", "risk1", "approver1", "finance1"):
        return set(Customer.objects.values_list("id", flat=True))
    if username == "manager1":
        team = department_subtree_ids(user.department_id)
        return set(Customer.objects.filter(department_id__in=team).values_list("id", flat=True))
    return set(Customer.objects.filter(owner=user).values_list("id", flat=True))


ROLES = ["admin", "manager1", "sales1", "sales2", "sales3", "risk1", "approver1", "finance1", "auditor1"]


def test_fixture_spreads_customers_over_both_teams(users, customers):
    owners = set(customers.values_list("owner__username", flat=True))
    assert owners == {"sales1", "sales2", "sales3"}


@pytest.mark.parametrize("username", ROLES)
def test_selector_list_matches_scope(users, customers, username):
    assert set(customers_visible_to(users[username]).values_list("id", flat=True)) == expected_ids(
        users, username
    )


def test_scope_figures(users, customers):
    """sales1 sees only own; manager1 sees 银川一部 (sales1 + sales2); admin and auditor see all."""
    own = set(Customer.objects.filter(owner=users["sales1"]).values_list("id", flat=True))
    team = set(Customer.objects.filter(owner__username__in=["sales1", "sales2"]).values_list("id", flat=True))
    assert expected_ids(users, "sales1") == own
    assert expected_ids(users, "manager1") == team
    assert len(expected_ids(users, "admin")) == len(expected_ids(users, "auditor1")) == 60
    assert not team & set(Customer.objects.filter(owner=users["sales3"]).values_list("id", flat=True))


@pytest.mark.parametrize("username", ROLES)
def test_web_list_shows_only_scope(client, users, customers, username):
    login(client, users[username])
    resp = client.get(reverse("customers:list"), {"page_size": 100})
    assert resp.status_code == 200
    shown = {c.pk for c in resp.context["page"].paginator.object_list}
    assert shown == expected_ids(users, username)


@pytest.mark.parametrize("username", ROLES)
def test_web_detail_404_outside_scope(client, users, customers, username):
    login(client, users[username])
    visible = expected_ids(users, username)
    for customer in Customer.objects.all()[:60]:
        resp = client.get(reverse("customers:detail", args=[customer.pk]))
        assert resp.status_code == (200 if customer.pk in visible else 404), (username, customer.pk)
        if resp.status_code == 404:
            assert customer.customer_no.encode() not in resp.content


@pytest.mark.parametrize("username", ROLES)
def test_search_stays_in_scope(client, users, customers, username):
    """Searching by another team's customer's exact phone finds nothing outside scope."""
    login(client, users[username])
    visible = expected_ids(users, username)
    for customer in Customer.objects.filter(owner__username__in=["sales1", "sales3"])[:6]:
        found = {c.pk for c in customer_list(users[username], search=customer.phone)}
        assert found == ({customer.pk} if customer.pk in visible else set())
        resp = client.get(reverse("customers:list"), {"q": customer.phone})
        assert {c.pk for c in resp.context["page"]} == found


@pytest.mark.parametrize("username", ROLES)
def test_api_list_and_detail_scope(api_client, users, customers, username):
    api_client.force_authenticate(users[username])
    visible = expected_ids(users, username)
    resp = api_client.get("/api/v1/customers/", {"page_size": 200})
    assert resp.status_code == 200
    assert resp.data["count"] == len(visible)
    assert {row["id"] for row in resp.data["results"]} == visible
    for customer in Customer.objects.all()[:60]:
        r = api_client.get(f"/api/v1/customers/{customer.pk}/")
        assert r.status_code == (200 if customer.pk in visible else 404)


@pytest.mark.parametrize("username", ROLES)
def test_api_search_scope(api_client, users, customers, username):
    api_client.force_authenticate(users[username])
    visible = expected_ids(users, username)
    target = Customer.objects.filter(owner__username="sales3").first()
    resp = api_client.get("/api/v1/customers/", {"search": target.phone})
    assert {row["id"] for row in resp.data["results"]} == ({target.pk} & visible)


def test_sales1_asking_for_sales3_customer_gets_404_web_and_api(client, api_client, users, customers):
    foreign = Customer.objects.filter(owner=users["sales3"]).first()
    login(client, users["sales1"])
    assert client.get(reverse("customers:detail", args=[foreign.pk])).status_code == 404
    assert client.get(reverse("customers:edit", args=[foreign.pk])).status_code == 404
    api_client.force_authenticate(users["sales1"])
    resp = api_client.get(f"/api/v1/customers/{foreign.pk}/")
    assert resp.status_code == 404
    assert foreign.customer_no not in resp.content.decode()
    # A missing id answers exactly the same.
    missing = api_client.get("/api/v1/customers/99999999/")
    assert missing.status_code == 404 and missing.data == resp.data


def test_deactivated_user_sees_nothing_and_keeps_customers(users, customers):
    sales2 = users["sales2"]
    owned = Customer.objects.filter(owner=sales2).count()
    sales2.is_active = False
    sales2.save()
    assert customers_visible_to(sales2).count() == 0
    assert Customer.objects.filter(owner=sales2).count() == owned > 0


def test_subdepartment_is_inside_manager_scope(users, customers):
    from loancrm.accounts.models import Department
    from loancrm.customers.services import customer_create

    team = Department(name="银川一部一组", kind=Department.Kind.TEAM, parent=users["manager1"].department)
    team.save()
    sales1 = users["sales1"]
    sales1.department = team
    sales1.save()
    c = customer_create(by=sales1, data={"name": "测试子部门", "phone": "13900000001"})
    assert c.department_id == team.pk
    assert customers_visible_to(users["manager1"]).filter(pk=c.pk).exists()
    assert not customers_visible_to(users["sales3"]).filter(pk=c.pk).exists()
