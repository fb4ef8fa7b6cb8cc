"""The demo organisation: departments, the nine demo users and their roles."""

from django.db import transaction

from loancrm.accounts.models import Department, Role, User
from loancrm.accounts.permissions import RoleCode
from loancrm.accounts.services import roles_ensure_defaults

COMPANY = "宁夏银川助贷服务有限公司"
# (name, kind, parent name, region)
DEPARTMENTS = [
    (COMPANY, Department.Kind.COMPANY, None, "银川"),
    ("银川分公司", Department.Kind.BRANCH, COMPANY, "银川"),
    ("银川一部", Department.Kind.TEAM, "银川分公司", "银川"),
    ("银川二部", Department.Kind.TEAM, "银川分公司", "银川"),
    ("石嘴山分公司", Department.Kind.BRANCH, COMPANY, "石嘴山"),
    ("吴忠分公司", Department.Kind.BRANCH, COMPANY, "吴忠"),
    ("固原分公司", Department.Kind.BRANCH, COMPANY, "固原"),
    ("中卫分公司", Department.Kind.BRANCH, COMPANY, "中卫"),
    ("风控部", Department.Kind.BRANCH, COMPANY, "银川"),
    ("财务部", Department.Kind.BRANCH, COMPANY, "银川"),
    ("审计部", Department.Kind.BRANCH, COMPANY, "银川"),
]
# (username, full name, role, department)
USERS = [
    ("admin", "系统管理员", RoleCode.ADMIN, COMPANY),
    ("manager1", "马建国", RoleCode.MANAGER, "银川一部"),
    ("sales1", "王丽娟", RoleCode.SALESPERSON, "银川一部"),
    ("sales2", "李志强", RoleCode.SALESPERSON, "银川一部"),
    ("sales3", "张海燕", RoleCode.SALESPERSON, "银川二部"),
    ("risk1", "杨文华", RoleCode.RISK_OFFICER, "风控部"),
    ("approver1", "丁永红", RoleCode.APPROVER, COMPANY),
    ("finance1", "田秀英", RoleCode.FINANCE, "财务部"),
    ("auditor1", "苏明亮", RoleCode.AUDITOR, "审计部"),
]
SALES_USERNAMES = ["sales1", "sales2", "sales3"]
SALES_WEIGHTS = [40, 35, 25]


@transaction.atomic
def ensure_org(password: str) -> dict[str, User]:
    """Create or refresh the demo organisation; running it again changes nothing but passwords."""
    roles_ensure_defaults()
    roles = {r.code: r for r in Role.objects.all()}
    departments: dict[str, Department] = {}
    for name, kind, parent_name, region in DEPARTMENTS:
        parent = departments.get(parent_name) if parent_name else None
        dept = Department.objects.filter(name=name, parent=parent).first()
        if dept is None:
            dept = Department(name=name, kind=kind, parent=parent, region=region)
            dept.save()
        departments[name] = dept
    users: dict[str, User] = {}
    for username, full_name, role_code, dept_name in USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                full_name=full_name,
                role=roles[role_code],
                department=departments[dept_name],
                email=f"{username}@demo.loancrm.local",
                phone="",
                is_staff=role_code == RoleCode.ADMIN,
                is_superuser=role_code == RoleCode.ADMIN,
            )
        user.set_password(password)
        user.save()
        users[username] = user
    return users
