from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models, transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .permissions import DataScope, Perm, RoleCode


class Department(models.Model):
    """A node of the organisation tree: company → 分公司/部门 → 团队."""

    class Kind(models.TextChoices):
        COMPANY = "company", _("公司")
        BRANCH = "branch", _("分公司/部门")
        TEAM = "team", _("团队")

    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, default=Kind.BRANCH)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    region = models.CharField(
        _("地区"), max_length=50, blank=True, help_text=_("如 银川、石嘴山、吴忠、固原、中卫")
    )
    # Materialised path "/000001/000004/000009/": a subtree is one prefix query, and the
    # zero-padded ids make ordering by path a depth-first walk of the tree.
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("部门")
        verbose_name_plural = _("部门")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():
            super().save(*args, **kwargs)
            old_path = self.path
            new_path = f"{self.parent.path if self.parent_id else '/'}{self.pk:06d}/"
            if new_path != old_path:
                Department.objects.filter(pk=self.pk).update(path=new_path)
                if old_path:
                    # A move: re-root every descendant's path.
                    for child in Department.objects.filter(path__startswith=old_path).exclude(pk=self.pk):
                        Department.objects.filter(pk=child.pk).update(
                            path=new_path + child.path[len(old_path) :]
                        )
                self.path = new_path

    @property
    def depth(self) -> int:
        return max(self.path.count("/") - 2, 0)

    def subtree_ids(self) -> list[int]:
        return list(Department.objects.filter(path__startswith=self.path).values_list("id", flat=True))


class Role(models.Model):
    code = models.SlugField(_("代码"), max_length=50, unique=True)
    name = models.CharField(_("名称"), max_length=50)
    data_scope = models.CharField(
        _("数据范围"), max_length=20, choices=DataScope.CHOICES, default=DataScope.OWN
    )
    permissions = models.JSONField(_("权限"), default=list, blank=True)
    require_2fa = models.BooleanField(_("强制双因素认证"), default=False)
    description = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("角色")
        verbose_name_plural = _("角色")
        ordering = ["id"]

    def __str__(self) -> str:
        # Built-in role names are in the translation catalogue; a name an admin typed is shown as typed.
        return gettext(self.name)

    def has(self, perm: str) -> bool:
        # The admin role always holds every permission, so nobody can lock the system out of itself.
        return self.code == RoleCode.ADMIN or perm in self.permissions


class UserManager(DjangoUserManager):
    # Every request reads the user's role and department (permissions, scope, navbar): load them with it.
    def get_queryset(self):
        return super().get_queryset().select_related("role", "department")


class User(AbstractUser):
    full_name = models.CharField(_("姓名"), max_length=50, blank=True)
    phone = models.CharField(_("手机号码"), max_length=20, blank=True)
    department = models.ForeignKey(
        Department,
        verbose_name=_("部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    role = models.ForeignKey(
        Role, verbose_name=_("角色"), null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )

    objects = UserManager()

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")
        ordering = ["username"]

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    def has_perm_code(self, perm: Perm | str) -> bool:
        if not self.is_active:
            return False
        if self.role is None:
            return bool(self.is_superuser)
        return self.role.has(str(perm))

    @property
    def data_scope(self) -> str | None:
        if not self.is_active:
            return None
        if self.role is None:
            return DataScope.ALL if self.is_superuser else None
        if self.role.code == RoleCode.ADMIN:
            return DataScope.ALL
        return self.role.data_scope
