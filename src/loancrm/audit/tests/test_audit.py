import pytest
from django.urls import reverse

from loancrm.audit.models import Action, AuditEntry
from loancrm.audit.services import audit_record
from loancrm.conftest import login
from loancrm.customers.services import customer_create, customer_update

pytestmark = pytest.mark.django_db


def test_customer_changes_record_before_and_after(users):
    c = customer_create(by=users["sales1"], data={"name": "马小花", "phone": "13895001234"})
    customer_update(by=users["sales1"], customer=c, data={"name": "马小华"}, expected_version=c.version)
    entry = AuditEntry.objects.filter(action=Action.CUSTOMER_UPDATE, object_id=str(c.pk)).get()
    assert entry.changes == {"name": ["马小花", "马小华"]}
    created = AuditEntry.objects.get(action=Action.CUSTOMER_CREATE, object_id=str(c.pk))
    assert created.changes["phone"] == ["", "***"]  # never the number itself
    assert entry.actor == users["sales1"] and entry.object_type == "customer"


def test_auditor_and_admin_browse_and_filter(client, users):
    audit_record(action=Action.LOGIN_FAILURE, actor_username="nobody")
    audit_record(action=Action.LOGIN_SUCCESS, actor=users["sales1"])
    for username in ("auditor1", "admin"):
        login(client, users[username])
        resp = client.get(reverse("audit:list"), {"action": "login.failure"})
        assert resp.status_code == 200
        rows = list(resp.context["page"])
        assert rows and all(r.action == "login.failure" for r in rows)
        resp = client.get(reverse("audit:list"), {"actor": "sales1"})
        assert all(r.actor_username == "sales1" for r in resp.context["page"])


@pytest.mark.parametrize("username", ["manager1", "sales1", "risk1", "approver1", "finance1"])
def test_others_cannot_read_the_audit_log(client, users, username):
    login(client, users[username])
    assert client.get(reverse("audit:list")).status_code == 403


def test_entries_carry_the_client_ip(client, users):
    client.post("/accounts/login/", {"username": "sales1", "password": "bad"}, REMOTE_ADDR="10.1.2.3")
    entry = AuditEntry.objects.filter(action=Action.LOGIN_FAILURE).latest("id")
    assert entry.ip == "10.1.2.3" and entry.actor_username == "sales1"


def test_audit_api_filter_by_action(api_client, users):
    audit_record(action=Action.LOGIN_FAILURE, actor_username="x")
    api_client.force_authenticate(users["auditor1"])
    data = api_client.get("/api/v1/audit/", {"action": "login.failure"}).json()
    assert data["count"] >= 1 and all(r["action"] == "login.failure" for r in data["results"])
    bad = api_client.get("/api/v1/audit/", {"date_from": "yesterday"})
    assert bad.status_code == 400 and "date_from" in bad.json()
