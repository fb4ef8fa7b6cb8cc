"""设置 → 数据字典: admins add, rename, reorder and retire items; nobody else may; every change is audited."""

import pytest
from django.urls import reverse

from loancrm.audit.models import Action, AuditEntry
from loancrm.conftest import login
from loancrm.dictionaries.kinds import KINDS
from loancrm.dictionaries.models import DictionaryItem
from loancrm.dictionaries.selectors import dictionary_choices, dictionary_labels

pytestmark = pytest.mark.django_db

KIND_URL = reverse("dictionaries:kind_detail", args=["channel"])


def _add(client, code="xiaohongshu", label="小红书"):
    return client.post(KIND_URL, {"code": code, "label": label})


def _item_pages(kind="channel", code="douyin"):
    item = DictionaryItem.objects.get(kind=kind, code=code)
    return [
        ("get", reverse("dictionaries:kind_list")),
        ("get", reverse("dictionaries:kind_detail", args=[kind])),
        ("post", reverse("dictionaries:kind_detail", args=[kind])),
        ("get", reverse("dictionaries:item_edit", args=[kind, item.pk])),
        ("post", reverse("dictionaries:item_edit", args=[kind, item.pk])),
        ("post", reverse("dictionaries:item_action", args=[kind, item.pk, "deactivate"])),
    ]


def test_admin_lists_kinds_with_counts(client, users):
    login(client, users["admin"])
    resp = client.get(reverse("dictionaries:kind_list"))
    assert resp.status_code == 200
    body = resp.content.decode()
    for name, _items in KINDS.values():
        assert str(name) in body
    channel = next(k for k in resp.context["kinds"] if k["code"] == "channel")
    assert (
        channel["total"] == DictionaryItem.objects.filter(kind="channel").count() == len(KINDS["channel"][1])
    )
    assert channel["active"] == channel["total"] and channel["retired"] == 0


def test_settings_hub_links_for_admin_only(client, users):
    login(client, users["admin"])
    body = client.get(reverse("core:settings")).content.decode()
    assert reverse("dictionaries:kind_list") in body and reverse("core:system_settings") in body
    login(client, users["manager1"])
    body = client.get(reverse("core:settings")).content.decode()
    assert reverse("dictionaries:kind_list") not in body and reverse("core:system_settings") not in body


def test_kind_page_lists_items_and_explains_why_no_delete(client, users):
    login(client, users["admin"])
    resp = client.get(KIND_URL)
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "抖音" in body and "douyin" in body
    assert "不能删除" in body and "旧记录" in body


def test_unknown_kind_is_404(client, users):
    login(client, users["admin"])
    assert client.get(reverse("dictionaries:kind_detail", args=["nope"])).status_code == 404


def test_admin_adds_item_which_becomes_a_choice(client, users):
    login(client, users["admin"])
    resp = _add(client, code=" XiaoHongShu ", label=" 小红书 ")
    assert resp.status_code == 302 and resp.url == KIND_URL
    item = DictionaryItem.objects.get(kind="channel", code="xiaohongshu")
    assert item.label == "小红书" and item.is_active
    assert item.sort_order > max(
        DictionaryItem.objects.filter(kind="channel").exclude(pk=item.pk).values_list("sort_order", flat=True)
    )
    assert ("xiaohongshu", "小红书") in dictionary_choices("channel")
    assert dictionary_choices("channel")[-1] == ("xiaohongshu", "小红书")  # added at the end
    entry = AuditEntry.objects.get(action=Action.DICTIONARY_UPDATE, object_id=str(item.pk))
    assert entry.actor == users["admin"]
    assert entry.changes["code"] == [None, "xiaohongshu"] and entry.changes["label"] == [None, "小红书"]
    assert "小红书" in client.get(KIND_URL).content.decode()


def test_duplicate_code_is_refused_at_the_field(client, users):
    login(client, users["admin"])
    resp = _add(client, code="douyin", label="抖音二号")
    assert resp.status_code == 200
    assert resp.context["form"].errors["code"] == ["该字典中已有代码“douyin”，请换一个"]
    body = resp.content.decode()
    assert 'data-field-error="code"' in body and "已有代码" in body
    assert 'value="抖音二号"' in body  # the input is kept
    assert DictionaryItem.objects.filter(kind="channel", code="douyin").count() == 1
    # The same code in another kind is fine: codes are unique per kind.
    assert (
        client.post(
            reverse("dictionaries:kind_detail", args=["loan_type"]), {"code": "douyin", "label": "抖音"}
        ).status_code
        == 302
    )


@pytest.mark.parametrize(
    "code,label,field,message",
    [
        ("小红书", "小红书", "code", "代码只能由小写英文字母、数字、下划线或连字符组成"),
        ("has space", "小红书", "code", "代码只能由小写英文字母、数字、下划线或连字符组成"),
        ("", "小红书", "code", "请填写代码"),
        ("xiaohongshu", "", "label", "请填写名称"),
        ("xiaohongshu", "   ", "label", "请填写名称"),
        ("xiaohongshu", "抖音", "label", "该字典中已有名称“抖音”"),
    ],
)
def test_bad_new_items_are_refused_in_chinese(client, users, code, label, field, message):
    login(client, users["admin"])
    before = DictionaryItem.objects.count()
    resp = _add(client, code=code, label=label)
    assert resp.status_code == 200
    assert any(message in e for e in resp.context["form"].errors[field])
    assert DictionaryItem.objects.count() == before
    assert not AuditEntry.objects.filter(action=Action.DICTIONARY_UPDATE).exists()


def test_deactivate_hides_choice_but_keeps_label(client, users):
    login(client, users["admin"])
    _add(client)
    item = DictionaryItem.objects.get(kind="channel", code="xiaohongshu")
    resp = client.post(reverse("dictionaries:item_action", args=["channel", item.pk, "deactivate"]))
    assert resp.status_code == 302
    item.refresh_from_db()
    assert not item.is_active
    assert "xiaohongshu" not in dict(dictionary_choices("channel"))
    assert dictionary_labels("channel")["xiaohongshu"] == "小红书"
    # A record that still holds the code keeps it as a choice when edited.
    assert ("xiaohongshu", "小红书") in dictionary_choices("channel", keep="xiaohongshu")
    entry = AuditEntry.objects.filter(action=Action.DICTIONARY_UPDATE, object_id=str(item.pk)).latest("id")
    assert entry.changes == {"is_active": [True, False]}
    assert "已停用" in client.get(KIND_URL).content.decode()
    # … and it can come back.
    client.post(reverse("dictionaries:item_action", args=["channel", item.pk, "activate"]))
    assert "xiaohongshu" in dict(dictionary_choices("channel"))


def test_no_delete_only_deactivate(client, users):
    login(client, users["admin"])
    item = DictionaryItem.objects.get(kind="channel", code="douyin")
    resp = client.post(reverse("dictionaries:item_action", args=["channel", item.pk, "delete"]))
    assert resp.status_code == 404
    assert DictionaryItem.objects.filter(pk=item.pk).exists()


def test_rename_inline_keeps_code_and_active(client, users):
    login(client, users["admin"])
    item = DictionaryItem.objects.get(kind="channel", code="douyin")
    url = reverse("dictionaries:item_edit", args=["channel", item.pk])
    resp = client.post(url, {"inline": "1", "label": "抖音短视频", "sort_order": "5"})
    assert resp.status_code == 302 and resp.url == KIND_URL
    item.refresh_from_db()
    assert (item.code, item.label, item.sort_order, item.is_active) == ("douyin", "抖音短视频", 5, True)
    assert dictionary_labels("channel")["douyin"] == "抖音短视频"
    assert dictionary_choices("channel", include_blank=False)[0] == ("douyin", "抖音短视频")  # order 5 first
    entry = AuditEntry.objects.filter(action=Action.DICTIONARY_UPDATE, object_id=str(item.pk)).latest("id")
    assert entry.changes == {"label": ["抖音", "抖音短视频"], "sort_order": [40, 5]}


def test_inline_errors_show_in_the_row(client, users):
    login(client, users["admin"])
    item = DictionaryItem.objects.get(kind="channel", code="douyin")
    url = reverse("dictionaries:item_edit", args=["channel", item.pk])
    resp = client.post(url, {"inline": "1", "label": "微信/朋友圈", "sort_order": "-1"})
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "排序不能小于 0" in body
    assert 'value="微信/朋友圈"' in body
    resp = client.post(url, {"inline": "1", "label": "微信/朋友圈", "sort_order": "1"})
    assert "该字典中已有名称“微信/朋友圈”" in resp.content.decode()
    item.refresh_from_db()
    assert item.label == "抖音"


def test_edit_page_saves_all_fields(client, users):
    login(client, users["admin"])
    item = DictionaryItem.objects.get(kind="stage", code="lost")
    url = reverse("dictionaries:item_edit", args=["stage", item.pk])
    resp = client.get(url)
    assert resp.status_code == 200 and "lost" in resp.content.decode()
    resp = client.post(url, {"label": "已流失（不再跟进）", "sort_order": "200"})  # is_active unticked
    assert resp.status_code == 302
    item.refresh_from_db()
    assert (item.label, item.sort_order, item.is_active) == ("已流失（不再跟进）", 200, False)
    resp = client.post(url, {"label": "", "sort_order": "x", "is_active": "on"})
    assert resp.status_code == 200
    assert resp.context["form"].errors == {"label": ["请填写名称"], "sort_order": ["排序须为整数"]}


def test_unchanged_save_writes_no_audit_entry(client, users):
    login(client, users["admin"])
    item = DictionaryItem.objects.get(kind="channel", code="douyin")
    url = reverse("dictionaries:item_edit", args=["channel", item.pk])
    client.post(url, {"inline": "1", "label": item.label, "sort_order": str(item.sort_order)})
    assert not AuditEntry.objects.filter(action=Action.DICTIONARY_UPDATE).exists()


def test_item_of_another_kind_is_404(client, users):
    login(client, users["admin"])
    item = DictionaryItem.objects.get(kind="channel", code="douyin")
    assert client.get(reverse("dictionaries:item_edit", args=["stage", item.pk])).status_code == 404


@pytest.mark.parametrize("username", ["manager1", "sales1", "auditor1"])
def test_non_admins_are_refused_and_audited(client, users, username):
    login(client, users[username])
    pages = _item_pages()
    for method, url in pages:
        data = {"code": "hack", "label": "黑", "sort_order": "1", "inline": "1"} if method == "post" else None
        resp = getattr(client, method)(url, data)
        assert resp.status_code == 403, url
        assert "无权访问" in resp.content.decode()
    denials = AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=users[username])
    assert denials.count() == len(pages)
    assert {e.extra["permission"] for e in denials} == {"settings.manage"}
    assert not DictionaryItem.objects.filter(code="hack").exists()
    assert DictionaryItem.objects.get(kind="channel", code="douyin").is_active


def test_anonymous_is_sent_to_login(client):
    resp = client.get(reverse("dictionaries:kind_list"))
    assert resp.status_code == 302 and "/accounts/login/" in resp.url
