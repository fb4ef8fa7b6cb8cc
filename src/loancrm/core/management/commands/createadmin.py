import getpass

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from loancrm.accounts.models import Department, Role, User
from loancrm.accounts.permissions import RoleCode
from loancrm.accounts.services import roles_ensure_defaults, user_create


class Command(BaseCommand):
    help = "Create an administrator (管理员) account; asks for the password unless --password is given."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", help="Password (default: asked interactively).")
        parser.add_argument("--full-name", default="系统管理员")
        parser.add_argument("--company", default="总公司", help="Top department created if none exists.")

    def handle(self, *args, username, password, full_name, company, **options):
        if User.objects.filter(username=username).exists():
            raise CommandError(f"用户 {username} 已存在")
        if not password:
            password = getpass.getpass("密码: ")
            if password != getpass.getpass("再次输入: "):
                raise CommandError("两次输入的密码不一致")
        roles_ensure_defaults()
        with transaction.atomic():
            top = Department.objects.filter(parent=None).order_by("id").first()
            if top is None:
                top = Department(name=company, kind=Department.Kind.COMPANY)
                top.save()
            user_create(
                by=None,
                data={
                    "username": username,
                    "full_name": full_name,
                    "department": top,
                    "role": Role.objects.get(code=RoleCode.ADMIN),
                    "is_staff": True,
                    "is_superuser": True,
                },
                password=password,
            )
        self.stdout.write(self.style.SUCCESS(f"管理员 {username} 已创建"))
