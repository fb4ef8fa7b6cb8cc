from django.db import models
from django.utils.translation import gettext_lazy as _

# key: (label, default, help)
SETTINGS_SPEC: dict[str, tuple] = {
    "pool_idle_days": (
        _("公海回收天数"),
        30,
        _("客户超过这么多天没有任何跟进记录，可由主管或定时任务退回公海，由同部门业务员认领。"),
    ),
    "attachment_max_mb": (_("附件大小上限（MB）"), 20, _("单个附件允许的最大体积。")),
    "customer_link_hours": (
        _("客户上传链接有效期（小时）"),
        72,
        _("发给客户补充材料的免登录链接，超过这么多小时失效。"),
    ),
    "collection_contact_from": (_("催收联系开始时间（点）"), 8, _("早于此时不得电话、短信或上门联系客户。")),
    "collection_contact_until": (
        _("催收联系结束时间（点）"),
        21,
        _("晚于此时不得电话、短信或上门联系客户。"),
    ),
}


class SystemSetting(models.Model):
    """A value an admin can change at 设置 → 系统参数; code reads it with `setting_value(key)`."""

    key = models.CharField(max_length=50, primary_key=True)
    value = models.JSONField()

    class Meta:
        verbose_name = _("系统参数")
        verbose_name_plural = _("系统参数")

    def __str__(self) -> str:
        return self.key


def setting_value(key: str):
    row = SystemSetting.objects.filter(key=key).values_list("value", flat=True).first()
    return SETTINGS_SPEC[key][1] if row is None else row
