"""Customer API: masking, audited reveal, create/update through the service layer, search, optimistic locking."""

import re

import pytest

from loancrm.audit.models import AuditEntry
from loancrm.customers import numbers, services
from loancrm.customers.models import Customer

pytestmark = pytest.mark.django_db

ID_1234 = "640104199001191234"
ID_X = "64010419900101123X"
PHONE = "13812345678"
BACKUP_PHONE = "15987654321"
CARD = "6222021234567890128"
FIELDS = [
    "id", "customer_no", "customer_type", "name", "id_type", "id_number", "gender", "birth_date", "age",
    "phone", "owner", "department", "stage", "channel", "monthly_income", "expected_amount",
    "expected_term_months", "version",
]  # fmt: skip
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def mine(users) -> Customer:
    """A sales1 customer (银川一部) with every sensitive value filled in."""
    return services.customer_create(
        by=users["sales1"],
        data={
            "name": "接口测试客户",
            "id_number": ID_1234,
            "phone": PHONE,
            "backup_phone": BACKUP_PHONE,
            "bank_account": CARD,
        },
    )


@pytest.fixture
def foreign(users) -> Customer:
    """A sales3 customer (银川二部)."""
    return services.customer_create(by=users["sales3"], data={"name": "二部客户", "phone": "13900000003"})


def as_user(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def reveal_url(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/reveal/"


# --- masking and reveal --------------------------------------------------------------------------


def test_detail_masks_sensitive_values(api_client, users, mine):
    resp = as_user(api_client, users["sales1"]).get(f"/api/v1/customers/{mine.pk}/")
    assert resp.status_code == 200
    assert set(FIELDS) <= set(resp.data)
    assert resp.data["phone"] == "138****5678"
    assert resp.data["id_number"] == "640104********1234"
    assert resp.data["owner"] == "sales1"
    assert resp.data["department"] == "银川一部"
    body = resp.content.decode()
    for secret in (ID_1234, PHONE, BACKUP_PHONE, CARD):
        assert secret not in body


def test_list_masks_sensitive_values(api_client, users, mine):
    resp = as_user(api_client, users["manager1"]).get("/api/v1/customers/", {"search": PHONE})
    assert [row["phone"] for row in resp.data["results"]] == ["138****5678"]
    assert PHONE not in resp.content.decode()


def test_reveal_refused_for_salesperson_and_audited(api_client, users, mine):
    resp = as_user(api_client, users["sales1"]).post(reveal_url(mine))
    assert resp.status_code == 403
    for secret in (ID_1234, PHONE, CARD):
        assert secret not in resp.content.decode()
    denial = AuditEntry.objects.get(action="permission.denied")
    assert denial.actor == users["sales1"]
    assert denial.extra["permission"] == "customer.reveal"
    assert not AuditEntry.objects.filter(action="reveal").exists()


@pytest.mark.parametrize("username", ["admin", "manager1", "risk1"])
def test_reveal_allowed_roles_get_full_values(api_client, users, mine, username):
    resp = as_user(api_client, users[username]).post(reveal_url(mine))
    assert resp.status_code == 200
    assert resp.data == {
        "id_number": ID_1234,
        "phone": PHONE,
        "backup_phone": BACKUP_PHONE,
        "bank_account": CARD,
    }
    entry = AuditEntry.objects.get(action="reveal")
    assert entry.actor == users[username]
    assert entry.object_id == str(mine.pk)
    assert set(entry.extra["fields"]) == {"id_number", "phone", "backup_phone", "bank_account"}


def test_manager_reveal_outside_department_is_404(api_client, users, foreign):
    resp = as_user(api_client, users["manager1"]).post(reveal_url(foreign))
    assert resp.status_code == 404
    assert "13900000003" not in resp.content.decode()
    assert not AuditEntry.objects.filter(action="reveal").exists()
    assert as_user(api_client, users["sales1"]).post(reveal_url(foreign)).status_code == 404


@pytest.mark.parametrize("username", ["admin", "auditor1"])
def test_audit_api_lists_reveals(api_client, users, mine, username):
    as_user(api_client, users["risk1"]).post(reveal_url(mine))
    as_user(api_client, users["manager1"]).post(reveal_url(mine))
    as_user(api_client, users["sales1"]).post(reveal_url(mine))  # refused: not a reveal
    resp = as_user(api_client, users[username]).get("/api/v1/audit/", {"action": "reveal"})
    assert resp.status_code == 200
    rows = resp.data["results"]
    assert resp.data["count"] == 2
    assert {r["action"] for r in rows} == {"reveal"}
    assert [r["actor"] for r in rows] == ["manager1", "risk1"]
    assert {r["object_id"] for r in rows} == {str(mine.pk)}
    assert PHONE not in resp.content.decode()


def test_audit_api_refused_for_salesperson(api_client, users):
    assert as_user(api_client, users["sales1"]).get("/api/v1/audit/", {"action": "reveal"}).status_code == 403


# --- create --------------------------------------------------------------------------------------


def test_create_valid_customer(api_client, users):
    payload = {
        "customer_type": "individual",
        "name": "接口新建",
        "id_number": "640104 19900101 123x",
        "phone": "138-1234-5678",
        "stage": "contacted",
        "channel": "douyin",
        "monthly_income": "8000",
        "expected_amount": "200000.00",
        "expected_term_months": 36,
    }
    resp = as_user(api_client, users["sales1"]).post("/api/v1/customers/", payload, format="json")
    assert resp.status_code == 201, resp.data
    assert set(FIELDS) <= set(resp.data)
    assert numbers.is_valid_customer_no(resp.data["customer_no"])
    assert resp.data["owner"] == "sales1"
    assert resp.data["department"] == "银川一部"
    assert resp.data["gender"] == "male"
    assert resp.data["birth_date"] == "1990-01-01"
    assert isinstance(resp.data["age"], int) and resp.data["age"] >= 36
    assert resp.data["id_number"] == "640104********123X"
    assert resp.data["phone"] == "138****5678"
    assert resp.data["version"] == 1
    customer = Customer.objects.get(pk=resp.data["id"])
    assert (customer.id_number, customer.phone, customer.data_source) == (ID_X, PHONE, "api")
    assert (customer.stage, customer.channel, customer.expected_term_months) == ("contacted", "douyin", 36)
    assert customer.customer_no == resp.data["customer_no"]


def test_create_invalid_phone_is_400_at_the_field(api_client, users):
    resp = as_user(api_client, users["sales1"]).post(
        "/api/v1/customers/", {"name": "错号", "phone": "1381234567"}, format="json"
    )
    assert resp.status_code == 400
    assert list(resp.data) == ["phone"]
    assert CJK.search(str(resp.data["phone"][0]))
    assert not Customer.objects.filter(name="错号").exists()


def test_create_unknown_dictionary_value_is_400(api_client, users):
    resp = as_user(api_client, users["sales1"]).post(
        "/api/v1/customers/", {"name": "怪渠道", "phone": PHONE, "channel": "no-such"}, format="json"
    )
    assert resp.status_code == 400
    assert list(resp.data) == ["channel"]


def test_create_duplicate_is_400_without_owner(api_client, users, foreign):
    resp = as_user(api_client, users["sales1"]).post(
        "/api/v1/customers/", {"name": "撞单", "phone": "139 0000 0003"}, format="json"
    )
    assert resp.status_code == 400
    message = resp.data["phone"][0]
    assert "撞单" in message
    assert foreign.customer_no not in message and users["sales3"].display_name not in message
    assert AuditEntry.objects.filter(action="customer.duplicate", actor=users["sales1"]).count() == 1


# --- search --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "search",
    ["接口测", "接口测试客户", "customer_no", "customer_no_lower", PHONE, "138 1234 5678", ID_1234, "640104 19900119 1234"],
)  # fmt: skip
def test_search(api_client, users, customers, mine, search):
    if search.startswith("customer_no"):
        search = mine.customer_no.lower() if search.endswith("lower") else mine.customer_no
    resp = as_user(api_client, users["sales1"]).get("/api/v1/customers/", {"search": search})
    assert resp.status_code == 200
    assert [row["id"] for row in resp.data["results"]] == [mine.pk]


def test_search_outside_scope_finds_nothing(api_client, users, mine):
    resp = as_user(api_client, users["sales3"]).get("/api/v1/customers/", {"search": PHONE})
    assert resp.data["count"] == 0


# --- update and optimistic locking ---------------------------------------------------------------


def test_patch_with_current_version_then_stale_version(api_client, users, mine):
    client = as_user(api_client, users["sales1"])
    url = f"/api/v1/customers/{mine.pk}/"
    resp = client.patch(url, {"name": "改过的名字", "stage": "collecting", "version": 1}, format="json")
    assert resp.status_code == 200, resp.data
    assert (resp.data["name"], resp.data["stage"], resp.data["version"]) == ("改过的名字", "collecting", 2)
    stale = client.patch(url, {"name": "旧版本的改动", "version": 1}, format="json")
    assert stale.status_code == 409
    assert "保存失败" in stale.data["version"][0]
    mine.refresh_from_db()
    assert (mine.name, mine.stage, mine.version) == ("改过的名字", "collecting", 2)
    # Sensitive values not sent are kept.
    assert (mine.phone, mine.id_number, mine.bank_account) == (PHONE, ID_1234, CARD)
    assert client.patch(url, {"expected_amount": "50000", "version": 2}, format="json").data["version"] == 3


def test_patch_invalid_value_is_400_and_changes_nothing(api_client, users, mine):
    resp = as_user(api_client, users["sales1"]).patch(
        f"/api/v1/customers/{mine.pk}/", {"phone": "12345", "name": "不该保存", "version": 1}, format="json"
    )
    assert resp.status_code == 400
    assert list(resp.data) == ["phone"]
    mine.refresh_from_db()
    assert (mine.name, mine.phone, mine.version) == ("接口测试客户", PHONE, 1)


def test_patch_outside_scope_is_404(api_client, users, foreign):
    resp = as_user(api_client, users["sales1"]).patch(
        f"/api/v1/customers/{foreign.pk}/", {"name": "越权修改", "version": 1}, format="json"
    )
    assert resp.status_code == 404
    foreign.refresh_from_db()
    assert (foreign.name, foreign.version) == ("二部客户", 1)


def test_patch_refused_without_edit_permission(api_client, users, mine):
    resp = as_user(api_client, users["risk1"]).patch(
        f"/api/v1/customers/{mine.pk}/", {"name": "风控改名", "version": 1}, format="json"
    )
    assert resp.status_code == 403
    mine.refresh_from_db()
    assert mine.name == "接口测试客户"
    assert AuditEntry.objects.filter(action="permission.denied", actor=users["risk1"]).exists()


def test_amounts_as_people_type_them(api_client, users):
    as_user(api_client, users["sales1"])
    resp = api_client.post(
        "/api/v1/customers/",
        {"name": "马万里", "phone": "13995001111", "expected_amount": "3.5万", "monthly_income": "8,000元"},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["expected_amount"] == "35000.00" and resp.json()["monthly_income"] == "8000.00"
    bad = api_client.post(
        "/api/v1/customers/", {"name": "马", "phone": "13995001112", "expected_amount": "很多"}, format="json"
    )
    assert bad.status_code == 400 and "expected_amount" in bad.json()
