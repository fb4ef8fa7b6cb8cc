"""Administration pages: users, departments, roles: who may use them, and what each change records."""

import pytest
from django.urls import reverse

from loancrm.accounts.models import Department, Role, User
from loancrm.audit.models import Action, AuditEntry
from loancrm.conftest import login
from loancrm.customers.models import Customer

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    ("accounts:user_list", []),
    ("accounts:user_create", []),
    ("accounts:department_list", []),
    ("accounts:department_create", []),
    ("accounts:role_list", []),
]


@pytest.mark.parametrize("name,args", ADMIN_PAGES)
def test_admin_pages_open_for_admin(client, users, name, args):
    login(client, users["admin"])
    assert client.get(reverse(name, args=args)).status_code == 200


@pytest.mark.parametrize("username", ["manager1", "sales1", "risk1", "approver1", "finance1", "auditor1"])
@pytest.mark.parametrize("name,args", ADMIN_PAGES)
def test_admin_pages_refused_and_audited(client, users, username, name, args):
    login(client, users[username])
    resp = client.get(reverse(name, args=args))
    assert resp.status_code == 403
    assert "无权访问" in resp.content.decode()
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=users[username]).exists()


def test_admin_creates_user_with_audit(client, users):
    login(client, users["admin"])
    dept = Department.objects.get(name="银川二部")
    role = Role.objects.get(code="salesperson")
    resp = client.post(
        reverse("accounts:user_create"),
        {
            "username": "sales9",
            "full_name": "马小龙",
            "phone": "13995000000",
            "email": "",
            "department": dept.pk,
            "role": role.pk,
            "password1": "Newuser#2026",
            "password2": "Newuser#2026",
        },
    )
    assert resp.status_code == 302
    user = User.objects.get(username="sales9")
    assert user.department == dept and user.role == role and user.check_password("Newuser#2026")
    entry = AuditEntry.objects.get(action=Action.USER_CREATE, object_id=str(user.pk))
    assert entry.actor == users["admin"]
    assert entry.changes["username"] == [None, "sales9"]


def test_user_create_errors_are_chinese_and_keep_input(client, users):
    login(client, users["admin"])
    resp = client.post(
        reverse("accounts:user_create"),
        {"username": "sales1", "full_name": "重复用户", "password1": "a", "password2": "b"},
    )
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "两次输入的密码不一致" in body
    assert "已存在" in body  # the username is taken
    assert 'value="重复用户"' in body


def test_admin_edits_user_and_diff_is_audited(client, users):
    login(client, users["admin"])
    target = users["sales3"]
    new_dept = Department.objects.get(name="银川一部")
    resp = client.post(
        reverse("accounts:user_edit", args=[target.pk]),
        {
            "username": "sales3",
            "full_name": "张海燕",
            "phone": "",
            "email": target.email,
            "department": new_dept.pk,
            "role": target.role_id,
        },
    )
    assert resp.status_code == 302
    entry = AuditEntry.objects.filter(action=Action.USER_UPDATE, object_id=str(target.pk)).latest("id")
    assert entry.changes == {"department": ["银川二部", "银川一部"]}


def test_deactivation_keeps_customers_for_handover(client, users, customers):
    login(client, users["admin"])
    target = users["sales2"]
    owned = Customer.objects.filter(owner=target).count()
    resp = client.post(reverse("accounts:user_action", args=[target.pk, "deactivate"]), follow=True)
    assert "已停用" in resp.content.decode()
    target.refresh_from_db()
    assert not target.is_active
    assert Customer.objects.filter(owner=target).count() == owned
    assert AuditEntry.objects.filter(action=Action.USER_DEACTIVATE, object_id=str(target.pk)).exists()
    # Admin cannot lock themselves out.
    resp = client.post(reverse("accounts:user_action", args=[users["admin"].pk, "deactivate"]), follow=True)
    assert "不能停用自己的账户" in resp.content.decode()


def test_department_tree_and_move(client, users):
    login(client, users["admin"])
    branch = Department.objects.get(name="银川分公司")
    resp = client.post(
        reverse("accounts:department_create"),
        {"name": "银川三部", "kind": "team", "parent": branch.pk, "region": "银川", "is_active": "on"},
    )
    assert resp.status_code == 302
    team = Department.objects.get(name="银川三部")
    assert team.path == f"{branch.path}{team.pk:06d}/"
    assert team.pk in branch.subtree_ids()
    # Move 银川分公司 under 石嘴山分公司: its whole subtree follows.
    other = Department.objects.get(name="石嘴山分公司")
    resp = client.post(
        reverse("accounts:department_edit", args=[branch.pk]),
        {"name": "银川分公司", "kind": "branch", "parent": other.pk, "region": "银川", "is_active": "on"},
    )
    assert resp.status_code == 302
    team.refresh_from_db()
    assert team.path.startswith(other.path)
    assert AuditEntry.objects.filter(action=Action.DEPARTMENT_UPDATE, object_id=str(branch.pk)).exists()


def test_department_cannot_move_under_itself(users):
    from loancrm.accounts.services import department_update

    branch = Department.objects.get(name="银川分公司")
    child = Department.objects.get(name="银川一部")
    with pytest.raises(ValueError):
        department_update(by=users["admin"], department=branch, data={"parent": child})


def test_department_list_shows_tree(client, users):
    login(client, users["admin"])
    body = client.get(reverse("accounts:department_list")).content.decode()
    assert body.index("银川分公司") < body.index("银川一部") < body.index("银川二部")


def test_role_edit_changes_scope_and_permissions(client, users, customers):
    login(client, users["admin"])
    role = Role.objects.get(code="salesperson")
    resp = client.post(
        reverse("accounts:role_edit", args=[role.pk]),
        {"name": "业务员", "data_scope": "department", "description": "", "permissions": ["customer.view"]},
    )
    assert resp.status_code == 302
    role.refresh_from_db()
    assert role.data_scope == "department" and role.permissions == ["customer.view"]
    entry = AuditEntry.objects.filter(action=Action.ROLE_UPDATE).latest("id")
    assert entry.changes["data_scope"] == ["own", "department"]
    # The scope change takes effect: sales1 now sees the whole 银川一部.
    from loancrm.customers.selectors import customers_visible_to

    sales1 = User.objects.get(username="sales1")
    assert set(customers_visible_to(sales1)) == set(
        Customer.objects.filter(owner__username__in=["sales1", "sales2"])
    )
    # And the permission change: no more customer.create.
    login(client, sales1)
    assert client.get(reverse("customers:create")).status_code == 403


def test_auditor_reads_but_changes_nothing(client, users, customers):
    from loancrm.accounts.permissions import Perm

    auditor = users["auditor1"]
    writes = [p for p in Perm if p.value.split(".")[1] not in ("view",) and p is not Perm.REPORTS_VIEW]
    assert not any(auditor.has_perm_code(p) for p in writes)
    login(client, auditor)
    assert client.get(reverse("audit:list")).status_code == 200
    assert client.get(reverse("customers:list")).status_code == 200
    c = Customer.objects.first()
    assert client.get(reverse("customers:detail", args=[c.pk])).status_code == 200
    assert client.post(reverse("customers:edit", args=[c.pk]), {"name": "x"}).status_code == 403
    assert client.post(reverse("customers:create"), {"name": "x"}).status_code == 403
    c.refresh_from_db()
    assert c.name != "x"
