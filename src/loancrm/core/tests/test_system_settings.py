"""设置 → 系统参数: admins change them, code reads them with setting_value, every change is audited."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from loancrm.audit.models import Action, AuditEntry
from loancrm.conftest import login
from loancrm.core.models import SETTINGS_SPEC, SystemSetting, setting_value
from loancrm.core.services import system_setting_update

pytestmark = pytest.mark.django_db

URL = reverse("core:system_settings")


def _form(**values):
    return {key: str(values.get(key, setting_value(key))) for key in SETTINGS_SPEC}


def test_page_shows_every_parameter_with_current_value(client, users):
    login(client, users["admin"])
    resp = client.get(URL)
    assert resp.status_code == 200
    body = resp.content.decode()
    for key, (label, default, help_text) in SETTINGS_SPEC.items():
        assert str(label) in body and str(help_text) in body
        assert f'name="{key}"' in body
        assert f"默认值：{default}" in body
    assert resp.context["form"]["pool_idle_days"].value() == 30


def test_admin_saves_pool_idle_days(client, users):
    login(client, users["admin"])
    resp = client.post(URL, _form(pool_idle_days=45))
    assert resp.status_code == 302 and resp.url == URL
    assert setting_value("pool_idle_days") == 45
    assert setting_value("attachment_max_mb") == SETTINGS_SPEC["attachment_max_mb"][1]
    assert not SystemSetting.objects.filter(key="attachment_max_mb").exists()  # unchanged: not written
    entry = AuditEntry.objects.get(action=Action.SETTING_UPDATE)
    assert entry.actor == users["admin"] and entry.object_id == "pool_idle_days"
    assert entry.changes == {"value": [30, 45]}
    assert entry.extra["key"] == "pool_idle_days"
    assert client.get(URL).context["form"]["pool_idle_days"].value() == 45
    # A second change records the stored value as "before".
    client.post(URL, _form(pool_idle_days=7))
    assert setting_value("pool_idle_days") == 7
    assert AuditEntry.objects.filter(action=Action.SETTING_UPDATE).latest("id").changes == {"value": [45, 7]}


def test_saving_unchanged_values_writes_nothing(client, users):
    login(client, users["admin"])
    resp = client.post(URL, _form(), follow=True)
    assert "没有修改" in resp.content.decode()
    assert not SystemSetting.objects.exists()
    assert not AuditEntry.objects.filter(action=Action.SETTING_UPDATE).exists()


@pytest.mark.parametrize(
    "value,message",
    [
        ("0", "不能小于 1"),
        ("-3", "不能小于 1"),
        ("abc", "请输入整数"),
        ("1.5", "请输入整数"),
        ("", "请填写此项"),
    ],
)
def test_invalid_values_are_refused_in_chinese(client, users, value, message):
    login(client, users["admin"])
    resp = client.post(URL, _form(pool_idle_days=value))
    assert resp.status_code == 200
    assert resp.context["form"].errors["pool_idle_days"] == [message]
    body = resp.content.decode()
    assert 'data-field-error="pool_idle_days"' in body and message in body
    assert setting_value("pool_idle_days") == 30
    assert not AuditEntry.objects.filter(action=Action.SETTING_UPDATE).exists()


def test_service_checks_value_and_key(users):
    admin = users["admin"]
    for bad in (0, -1, "5", 2.5, True, None, 10**9):
        with pytest.raises(ValidationError):
            system_setting_update(by=admin, key="pool_idle_days", value=bad)
    with pytest.raises(ValidationError):
        system_setting_update(by=admin, key="no_such_key", value=5)
    assert not SystemSetting.objects.exists()
    row = system_setting_update(by=admin, key="attachment_max_mb", value=50)
    assert row.value == 50 and setting_value("attachment_max_mb") == 50
    entry = AuditEntry.objects.get(action=Action.SETTING_UPDATE)
    assert entry.changes == {"value": [20, 50]}


def test_service_refuses_non_admin_and_audits(users):
    with pytest.raises(PermissionDenied):
        system_setting_update(by=users["manager1"], key="pool_idle_days", value=5)
    assert setting_value("pool_idle_days") == 30
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=users["manager1"]).exists()


@pytest.mark.parametrize("username", ["manager1", "sales1", "auditor1"])
def test_non_admins_are_refused_and_audited(client, users, username):
    login(client, users[username])
    for resp in (client.get(URL), client.post(URL, _form(pool_idle_days=3))):
        assert resp.status_code == 403
        assert "无权访问" in resp.content.decode()
    denials = AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=users[username])
    assert denials.count() == 2
    assert denials.first().extra == {"permission": "settings.manage", "path": URL}
    assert setting_value("pool_idle_days") == 30
