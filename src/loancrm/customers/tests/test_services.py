"""Customer services: numbers, the one cleaning path, 撞单, encryption at rest, blind-index search, pool sweep.

Check characters and expected values are worked out here independently of the product's helpers.
"""

import re
from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from loancrm.audit.models import AuditEntry
from loancrm.core.models import setting_value
from loancrm.customers import numbers, services
from loancrm.customers.models import Customer, CustomerTransfer, Sequence
from loancrm.customers.selectors import customer_list, customers_visible_to, pool_customers_for
from loancrm.customers.validators import uscc_check_char

pytestmark = pytest.mark.django_db

# Valid identifiers, checked by hand: 17th digit 3 (odd) means male, born 1990-01-19 / 1990-01-01.
ID_1234 = "640104199001191234"
ID_X = "64010419900101123X"
ID_X_TYPED = "640104 19900101 123x"
ID_15 = "640104900101123"  # first generation: becomes ID_X
PHONE = "13812345678"
BACKUP_PHONE = "15987654321"
CARD = "6222021234567890128"  # Luhn-valid
CUSTOMER_NO_RE = re.compile(r"^KH(\d{4})(\d{6})-([0-9X])$")


@pytest.fixture(autouse=True)
def _chinese():
    with translation.override("zh-hans"):
        yield


def uscc(n: int) -> str:
    first17 = f"91640100MA{n:07d}"
    return first17 + uscc_check_char(first17)


BAD_USCC = uscc(1)[:-1] + ("1" if uscc(1).endswith("0") else "0")


def ref_mod11_2(digits: str) -> str:
    """ISO 7064 MOD 11-2 from the standard's weights: digit i (of n) weighs 2^(n-i) mod 11."""
    n = len(digits)
    total = sum(int(d) * pow(2, n - i, 11) for i, d in enumerate(digits))
    return "0123456789X"[(12 - total % 11) % 11]


def seq_of(customer_no: str) -> int:
    return int(CUSTOMER_NO_RE.match(customer_no).group(2))


def create(user, **data) -> Customer:
    data.setdefault("name", "测试客户")
    return services.customer_create(by=user, data=data)


def refused(user, **data) -> dict[str, list[str]]:
    before = Customer.objects.count()
    with pytest.raises(ValidationError) as exc:
        create(user, **data)
    assert Customer.objects.count() == before
    return exc.value.message_dict


# --- customer numbers ----------------------------------------------------------------------------


def test_customer_no_format_and_check_character(users):
    customer = create(users["sales1"], phone=PHONE)
    m = CUSTOMER_NO_RE.match(customer.customer_no)
    assert m, customer.customer_no
    assert m.group(1) == timezone.localtime().strftime("%y%m")
    assert m.group(3) == ref_mod11_2(m.group(1) + m.group(2))
    assert numbers.is_valid_customer_no(customer.customer_no)
    assert numbers.is_valid_customer_no(f" {customer.customer_no.lower()} ")


def test_customer_numbers_unique_and_never_reused(users):
    sales1 = users["sales1"]
    first = create(sales1, phone="13900000001")
    second = create(sales1, phone="13900000002")
    assert first.customer_no != second.customer_no
    assert seq_of(second.customer_no) > seq_of(first.customer_no)
    gone = second.customer_no
    second.delete()
    third = create(sales1, phone="13900000002")  # the same person entered again after the delete
    assert third.customer_no != gone
    assert seq_of(third.customer_no) > seq_of(gone)
    assert Sequence.objects.get(name=numbers.SEQUENCE).value >= seq_of(third.customer_no)


def test_customer_no_check_character_catches_typos():
    digits = "2611000123"
    good = f"KH{digits}-{ref_mod11_2(digits)}"
    assert good == "KH2611000123-8"
    assert numbers.format_customer_no(123, timezone.make_aware(datetime(2026, 11, 5))) == good
    assert numbers.is_valid_customer_no(good)
    for i, ch in enumerate(digits):
        for other in "0123456789":
            if other != ch:
                typo = f"KH{digits[:i]}{other}{digits[i + 1 :]}-{good[-1]}"
                assert not numbers.is_valid_customer_no(typo), typo
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1]:
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            assert not numbers.is_valid_customer_no(f"KH{swapped}-{good[-1]}"), swapped
    for wrong in ["", "KH", "KH2611000123", "XX2611000123-8", "KH2611000123-9", "KH26110A0123-8"]:
        assert not numbers.is_valid_customer_no(wrong), wrong


# --- validation and normalisation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"id_number": ID_1234[:-1] + "5", "phone": PHONE}, "id_number", "校验位"),
        ({"phone": "1381234567"}, "phone", "手机号码"),
        ({"phone": "23812345678"}, "phone", "手机号码"),
        ({"customer_type": "enterprise", "uscc": BAD_USCC}, "uscc", "统一社会信用代码"),
        ({"phone": PHONE, "bank_account": CARD[:-1] + "3"}, "bank_account", "银行卡号"),
        ({"phone": PHONE, "bank_account": "12345"}, "bank_account", "银行卡号"),
    ],
    ids=["id-check", "phone-short", "phone-prefix", "uscc-check", "card-luhn", "card-short"],
)
def test_invalid_identifier_refused_at_its_field(users, data, field, words):
    errors = refused(users["sales1"], **data)
    assert list(errors) == [field]
    assert words in errors[field][0]
    assert re.search(r"[\u4e00-\u9fff]", errors[field][0])


def test_missing_name_and_phone_reported_together(users):
    errors = refused(users["sales1"], name="")
    assert set(errors) == {"name", "phone"}


def test_id_number_normalised_gender_and_birth_date_derived(users):
    customer = create(users["sales1"], id_number=ID_X_TYPED, phone=PHONE)
    customer.refresh_from_db()
    assert customer.id_number == ID_X
    assert customer.id_type == "resident_id"
    assert customer.gender == "male"
    assert customer.birth_date == date(1990, 1, 1)


def test_fifteen_digit_id_upgraded(users):
    customer = create(users["sales1"], id_number=ID_15, phone=PHONE)
    customer.refresh_from_db()
    assert customer.id_number == ID_X
    assert (customer.gender, customer.birth_date) == ("male", date(1990, 1, 1))


def test_contradicting_gender_or_birth_date_refused(users):
    errors = refused(users["sales1"], id_number=ID_1234, phone=PHONE, gender="female")
    assert list(errors) == ["gender"]
    assert "性别与身份证号码不符" in errors["gender"][0]
    errors = refused(users["sales1"], id_number=ID_1234, phone=PHONE, birth_date="1991-01-19")
    assert list(errors) == ["birth_date"]
    assert "出生日期与身份证号码不符" in errors["birth_date"][0]
    # Agreeing values are fine.
    ok = create(users["sales1"], id_number=ID_1234, phone=PHONE, gender="male", birth_date="1990年1月19日")
    assert (ok.gender, ok.birth_date) == ("male", date(1990, 1, 19))


# --- 撞单 ----------------------------------------------------------------------------------------

DUPLICATES = {
    "id_number": ({"id_number": ID_1234, "phone": PHONE}, {"id_number": "640104 19900119 1234", "phone": BACKUP_PHONE}),
    "phone": ({"phone": PHONE}, {"phone": "+86 138-1234-5678"}),
    "uscc": (
        {"customer_type": "enterprise", "name": "宁夏测试商贸有限公司", "uscc": uscc(7)},
        {"customer_type": "enterprise", "name": "宁夏测试商贸公司", "uscc": uscc(7).lower()},
    ),
}  # fmt: skip


@pytest.mark.parametrize("field", list(DUPLICATES))
def test_duplicate_outside_scope_does_not_name_the_owner(users, field):
    first, again = DUPLICATES[field]
    existing = create(users["sales3"], **{"name": "撞单原客户", **first})
    sales1 = users["sales1"]
    with pytest.raises(services.DuplicateCustomer) as exc:
        create(sales1, **{"name": "撞单新客户", **again})
    assert exc.value.field == field
    message = exc.value.message_dict[field][0]
    assert "撞单" in message
    for secret in (existing.customer_no, existing.name, users["sales3"].display_name, "sales3"):
        assert secret not in message
    assert Customer.objects.filter(name="撞单新客户").count() == 0
    entry = AuditEntry.objects.get(action="customer.duplicate")
    assert entry.actor == sales1
    assert entry.object_id == str(existing.pk)
    assert entry.extra["field"] == field


@pytest.mark.parametrize("field", list(DUPLICATES))
def test_duplicate_in_scope_names_the_customer_number(users, field):
    first, again = DUPLICATES[field]
    existing = create(users["sales1"], **{"name": "撞单原客户", **first})
    for who in ("sales1", "manager1"):
        with pytest.raises(services.DuplicateCustomer) as exc:
            create(users[who], **{"name": "撞单新客户", **again})
        message = exc.value.message_dict[field][0]
        assert existing.customer_no in message
        assert users["sales1"].display_name in message
    assert AuditEntry.objects.filter(action="customer.duplicate", object_id=str(existing.pk)).count() == 2


def test_update_to_an_existing_phone_is_a_duplicate(users):
    sales1 = users["sales1"]
    create(sales1, name="甲", phone=PHONE)
    other = create(sales1, name="乙", phone=BACKUP_PHONE)
    with pytest.raises(services.DuplicateCustomer):
        services.customer_update(by=sales1, customer=other, data={"phone": PHONE}, expected_version=1)
    other.refresh_from_db()
    assert (other.phone, other.version) == (BACKUP_PHONE, 1)


# --- optimistic locking --------------------------------------------------------------------------


def test_update_with_stale_version_changes_nothing(users):
    sales1 = users["sales1"]
    customer = create(sales1, name="原名", phone=PHONE)
    services.customer_update(by=sales1, customer=customer, data={"name": "新名"}, expected_version=1)
    assert (customer.name, customer.version) == ("新名", 2)
    with pytest.raises(services.StaleEdit) as exc:
        services.customer_update(by=sales1, customer=customer, data={"name": "旧表单"}, expected_version=1)
    assert "保存失败" in exc.value.messages[0]
    customer.refresh_from_db()
    assert (customer.name, customer.version) == ("新名", 2)
    assert [h.history_type for h in customer.history.order_by("history_date", "history_id")] == ["+", "~"]


# --- encryption at rest and blind index ----------------------------------------------------------


def test_sensitive_values_encrypted_at_rest(users):
    customer = create(
        users["sales1"], id_number=ID_1234, phone=PHONE, backup_phone=BACKUP_PHONE, bank_account=CARD
    )
    plain = [ID_1234, PHONE, BACKUP_PHONE, CARD]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_number, phone, backup_phone, bank_account FROM customers_customer WHERE id = %s",
            [customer.pk],
        )
        row = cursor.fetchone()
        history_table = Customer.history.model._meta.db_table
        cursor.execute(
            f"SELECT id_number, phone, backup_phone, bank_account FROM {history_table} WHERE id = %s",
            [customer.pk],
        )
        history_rows = cursor.fetchall()
    assert history_rows
    for stored in [*row, *(v for r in history_rows for v in r)]:
        assert stored
        for value in plain:
            assert value not in stored
            assert value[-8:] not in stored
    # The model reads them back in clear; the audit log never holds them.
    fresh = Customer.objects.get(pk=customer.pk)
    assert [fresh.id_number, fresh.phone, fresh.backup_phone, fresh.bank_account] == plain
    entry = AuditEntry.objects.get(action="customer.create", object_id=str(customer.pk))
    dump = str(entry.changes) + str(entry.extra) + entry.object_repr
    assert not any(value in dump for value in plain)
    assert entry.changes["phone"] == ["", "***"]


def test_blind_index_search_finds_exact_phone_and_id(users):
    sales1 = users["sales1"]
    customer = create(sales1, id_number=ID_X, phone=PHONE)
    for text in (PHONE, "138 1234 5678", "+8613812345678", ID_X, ID_X_TYPED, ID_15):
        assert list(customer_list(sales1, search=text)) == [customer], text
    for text in ("1381234567", PHONE[:7], ID_X[:-1]):
        assert customer not in customer_list(sales1, search=text), text
    # Found only inside the searcher's scope.
    assert not customer_list(users["sales3"], search=PHONE).exists()
    assert list(customer_list(users["manager1"], search=ID_X_TYPED)) == [customer]


# --- pool ----------------------------------------------------------------------------------------


def test_pool_sweep_moves_idle_customers(users, customers):
    owners = dict(Customer.objects.values_list("pk", "owner_id"))
    now = timezone.now() + timedelta(days=3650)
    moved = services.pool_sweep(now=now)
    assert moved == len(owners) == 60
    assert not Customer.objects.filter(owner__isnull=False).exists()
    assert Customer.objects.filter(pooled_at=now).count() == 60
    transfers = CustomerTransfer.objects.all()
    assert transfers.count() == 60
    assert len({t.batch for t in transfers}) == 1
    for t in transfers:
        assert t.to_owner_id is None
        assert t.from_owner_id == owners[t.customer_id]
    assert AuditEntry.objects.get(action="customer.pool").extra["count"] == 60
    # Gone from the salesperson's list, waiting in their department's pool.
    sales1 = users["sales1"]
    assert not customers_visible_to(sales1).exists()
    team = {pk for pk, owner_id in owners.items() if owner_id != users["sales3"].pk}  # 银川一部
    assert set(pool_customers_for(sales1).values_list("pk", flat=True)) == team


def test_pool_sweep_keeps_recently_followed_customers(users):
    sales1 = users["sales1"]
    idle_days = int(setting_value("pool_idle_days"))
    old = create(sales1, name="久未跟进", phone="13900000011")
    fresh = create(sales1, name="刚跟进", phone="13900000012")
    Customer.objects.filter(pk__in=[old.pk, fresh.pk]).update(created_at=timezone.now() - timedelta(days=400))
    services.follow_up_create(by=sales1, customer=fresh, data={"way": "phone", "content": "电话沟通"})
    moved = services.pool_sweep(now=timezone.now() + timedelta(days=idle_days - 1))
    assert moved == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.owner_id is None and old.pooled_at is not None
    assert fresh.owner_id == sales1.pk and fresh.pooled_at is None
