"""The import wizard's pages: upload, mapping and options, dry run, import, results, files, undo, scope."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from python_calamine import CalamineWorkbook

from loancrm.audit.models import Action, AuditEntry
from loancrm.conftest import login
from loancrm.customers.models import Customer
from loancrm.imports.models import BatchStatus, ImportBatch, ImportTemplate

from .sheets import resident_id, write_xlsx

pytestmark = pytest.mark.django_db

ID_A = resident_id("64010419900307123")
ROWS = [
    ["2026年客户台账"],
    ["客户姓名", "身份证号码", "客户手机", "贷款金额", "来源"],
    ["甲", ID_A, "13800000001", "5万", "抖音"],
    ["", "", "", "", ""],
    ["乙", "640104199003071230", "13800000002", "3万", "抖音"],  # wrong check character
]


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()


def upload(client, tmp_path, rows=ROWS, name="台账.xlsx"):
    book = tmp_path / name
    write_xlsx(book, rows)
    with open(book, "rb") as fh:
        response = client.post(reverse("imports:list"), {"file": SimpleUploadedFile(name, fh.read())})
    return response


def post_options(client, batch, action, mapping=None, **extra):
    mapping = batch.mapping if mapping is None else mapping
    data = {f"map_{i}": m or "" for i, m in enumerate(mapping)}
    data.update(
        on_duplicate="skip", on_error="skip_rows", use_owner_column="on", default_owner=batch.created_by_id,
        action=action, **extra,
    )  # fmt: skip
    return client.post(reverse("imports:detail", args=[batch.pk]), data)


def test_upload_finds_the_header_below_the_title_and_maps_columns(client, users, tmp_path):
    login(client, users["sales1"])
    response = upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("imports:detail", args=[batch.pk])
    assert batch.header_row == 2
    assert batch.mapping == ["name", "id_number", None, "expected_amount", "channel"]  # 客户手机 not known
    html = client.get(response["Location"]).content.decode()
    assert "表头在第 2 行" in html and "13800000001" in html  # the preview shows the sheet's values
    assert 'name="map_2"' in html and "— 不导入 —" in html


def test_wrong_file_type_is_refused_at_the_field(client, users):
    login(client, users["sales1"])
    response = client.post(reverse("imports:list"), {"file": SimpleUploadedFile("a.pdf", b"%PDF-1.4")})
    assert response.status_code == 200
    assert "不支持的文件类型" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_dry_run_then_fix_mapping_then_import_then_undo(
    client, users, tmp_path, django_capture_on_commit_callbacks
):
    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        post_options(client, batch, "dry_run")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.VALIDATED and batch.dry_run
    # 客户手机 is not mapped yet: every row lacks the required phone; 乙's ID is wrong as well.
    assert batch.counts["created"] == 0 and batch.counts["failed"] == 2 and batch.counts["blank"] == 1
    assert not Customer.objects.filter(name__in=["甲", "乙"]).exists()
    html = client.get(reverse("imports:detail", args=[batch.pk])).content.decode()
    assert "试导入结果" in html and "第 3 行" in html and "请填写手机号码" in html
    assert "第 5 行" in html and "校验位不正确" in html

    mapping = ["name", "id_number", "phone", "expected_amount", "channel"]  # the user maps 客户手机
    with django_capture_on_commit_callbacks(execute=True):
        post_options(client, batch, "import", mapping=mapping)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DONE and batch.mapping == mapping
    assert batch.counts["created"] == 1 and batch.counts["failed"] == 1
    jia = Customer.objects.get(name="甲")
    assert jia.phone == "13800000001" and jia.owner == users["sales1"]

    errors = client.get(reverse("imports:file", args=[batch.pk, "errors"]))
    assert errors.status_code == 200 and errors["Content-Disposition"].startswith("attachment")
    rows = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(errors.streaming_content))).get_sheet_by_index(
        0
    )
    rows = rows.to_python()
    assert [r[0] for r in rows[1:]] == ["乙"] and "校验位" in rows[1][-1]
    assert AuditEntry.objects.filter(action=Action.IMPORT_FILE_DOWNLOAD, object_id=str(batch.pk)).exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:undo", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.UNDONE and batch.undo_counts["deleted"] == 1
    assert not Customer.objects.filter(name="甲").exists()
    assert "撤销了本批导入" in client.get(reverse("imports:detail", args=[batch.pk])).content.decode()


def test_mapping_errors_keep_what_the_user_chose(client, users, tmp_path):
    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    mapping = [None, "id_number", "phone", "phone", "channel"]  # no name, phone twice
    html = post_options(client, batch, "dry_run", mapping=mapping).content.decode()
    assert "请为“姓名”选择一列" in html and "同时对应了" in html
    assert '<option value="phone" selected>' in html.split('name="map_3"')[1].split("</select>")[0]
    batch.refresh_from_db()
    assert batch.status == BatchStatus.UPLOADED and batch.mapping[0] == "name"  # nothing saved


def test_template_saved_then_used_by_the_next_upload(client, users, tmp_path):
    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    mapping = ["name", "id_number", "phone", "expected_amount", "channel"]
    post_options(client, batch, "save_template", mapping=mapping, template_name="渠道台账")
    assert ImportTemplate.objects.get(name="渠道台账").mapping["客户手机"] == "phone"
    upload(client, tmp_path, name="第二份.xlsx")
    assert ImportBatch.objects.latest("pk").mapping == mapping
    assert "渠道台账" in client.get(reverse("imports:list")).content.decode()


def test_progress_partial_polls_while_running_and_refreshes_when_done(client, users, tmp_path):
    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    ImportBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.IMPORTING, rows_total=3)
    (tmp_path / "data" / "imports" / str(batch.pk) / "progress.json").write_text(
        '{"rows_done": 2, "counts": {"created": 1}}'
    )
    html = client.get(reverse("imports:progress", args=[batch.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in html and "66%" in html and "已处理 2 / 约 3 行" in html
    assert "mapping-form" not in client.get(reverse("imports:detail", args=[batch.pk])).content.decode()
    ImportBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.DONE)
    response = client.get(reverse("imports:progress", args=[batch.pk]))
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_batches_are_scoped_and_only_the_uploader_runs_them(client, users, tmp_path):
    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    url = reverse("imports:detail", args=[batch.pk])
    login(client, users["sales3"])  # another department's salesperson: as if it did not exist
    assert client.get(url).status_code == 404
    assert client.get(reverse("imports:file", args=[batch.pk, "source"])).status_code == 404
    login(client, users["manager1"])  # sales1's manager sees it, cannot run it
    html = client.get(url).content.decode()
    assert "只有上传人可以修改设置和运行导入" in html and "mapping-form" not in html
    post_options(client, batch, "import")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.UPLOADED
    login(client, users["risk1"])  # no import permission
    assert client.get(reverse("imports:list")).status_code == 403


def test_customer_list_links_to_the_wizard_for_importers(client, users):
    login(client, users["sales1"])
    assert 'data-testid="import-link"' in client.get(reverse("customers:list")).content.decode()
    login(client, users["risk1"])
    assert 'data-testid="import-link"' not in client.get(reverse("customers:list")).content.decode()


def test_blank_template_downloads(client, users):
    login(client, users["sales1"])
    response = client.get(reverse("imports:blank_template"))
    assert response.status_code == 200 and response.content[:2] == b"PK"


def test_admin_maps_an_unknown_value_or_adds_it_to_the_dictionary(client, users, tmp_path):
    from loancrm.dictionaries.models import DictionaryItem
    from loancrm.imports.services import import_batch_configure, import_batch_create, import_batch_run

    rows = [["姓名", "手机号码", "来源"], ["甲", "13800000001", "小红书"], ["乙", "13800000002", "小红书"],
            ["丙", "13800000003", "快手直播"]]  # fmt: skip
    path = write_xlsx(tmp_path / "u.xlsx", rows)
    sales1 = users["sales1"]
    batch = import_batch_create(by=sales1, file=path, original_name=path.name)
    batch = import_batch_configure(by=sales1, batch=batch, mapping=batch.mapping, on_duplicate="skip",
                                   on_error="skip_rows", use_owner_column=True, default_owner=None)  # fmt: skip
    assert import_batch_run(batch_id=batch.pk, dry_run=False).counts["flagged"] == 3

    login(client, users["sales1"])
    assert client.get(reverse("imports:unmapped")).status_code == 403  # admins only
    login(client, users["admin"])
    html = client.get(reverse("imports:unmapped")).content.decode()
    assert "小红书" in html and "快手直播" in html and "来源渠道" in html

    url = reverse("imports:unmapped")
    response = client.post(url, {"field": "channel", "value": "小红书", "code": "nope"})
    assert "请选择一个启用中的字典项" in response.content.decode()
    client.post(url, {"field": "channel", "value": "小红书", "code": "douyin"})
    jia = Customer.objects.get(name="甲")
    assert jia.channel == "douyin" and jia.unmapped_values == {} and jia.version == 2
    assert jia.history.first().history_change_reason.startswith("待映射值“小红书”")
    client.post(url, {"field": "channel", "value": "快手直播", "add": "1", "new_code": "kuaishou_live"})
    assert DictionaryItem.objects.get(kind="channel", code="kuaishou_live").label == "快手直播"
    assert Customer.objects.get(name="丙").channel == "kuaishou_live"
    assert "没有待映射的值" in client.get(url).content.decode()
    assert AuditEntry.objects.filter(action=Action.DICTIONARY_UPDATE, extra__customers=2).exists()
    assert AuditEntry.objects.filter(action=Action.CUSTOMER_UPDATE, object_id=str(jia.pk)).exists()


def test_unmapped_customers_are_found_through_their_partial_index(users):
    from django.db import connection

    from loancrm.imports.selectors import UNMAPPED_WHERE

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN SELECT id FROM customers_customer WHERE {UNMAPPED_WHERE}")
            assert "customer_unmapped" in " ".join(str(r) for r in cursor.fetchall())
        else:  # PostgreSQL chooses by statistics; the index and its condition must exist
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'customer_unmapped'")
            assert "unmapped_values" in cursor.fetchone()[0]


def test_example_sheet_imports_with_two_rows_to_fix(
    client, users, tmp_path, django_capture_on_commit_callbacks
):
    login(client, users["sales1"])
    response = client.get(reverse("imports:example_sheet"))
    assert response.status_code == 200
    client.post(reverse("imports:list"), {"file": SimpleUploadedFile("示例.xlsx", response.content)})
    batch = ImportBatch.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        post_options(client, batch, "import")
    batch.refresh_from_db()
    assert batch.counts["created"] == 16 and batch.counts["failed"] == 2 and batch.counts["blank"] == 1
    assert batch.counts["flagged"] == 1


def test_mapping_step_does_not_reopen_the_file(client, users, tmp_path):
    """The preview is read at upload: an .xlsx is parsed whole to read any row, on every page view."""
    from pathlib import Path

    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    assert batch.preview[0] == [3, ["甲", ID_A, "13800000001", "5万", "抖音"]]
    Path(batch.stored_path).unlink()
    html = client.get(reverse("imports:detail", args=[batch.pk])).content.decode()
    assert "13800000001" in html


def test_undo_keeps_customers_someone_worked_on_since(
    client, users, tmp_path, django_capture_on_commit_callbacks
):
    from loancrm.customers.models import RelatedPerson

    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    mapping = ["name", "id_number", "phone", "expected_amount", "channel"]
    with django_capture_on_commit_callbacks(execute=True):
        post_options(client, batch, "import", mapping=mapping)
    jia = Customer.objects.get(name="甲")
    RelatedPerson.objects.create(customer=jia, name="甲的配偶", relation="spouse")  # added after the import
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:undo", args=[batch.pk]))
        client.post(reverse("imports:undo", args=[batch.pk]))  # a second click changes nothing
    batch.refresh_from_db()
    assert batch.status == BatchStatus.UNDONE and batch.undo_counts == {
        "deleted": 0,
        "restored": 0,
        "kept": 1,
    }
    assert Customer.objects.filter(pk=jia.pk).exists()


def test_files_of_someone_elses_batch_need_the_reveal_permission(client, users, tmp_path):
    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    url = reverse("imports:file", args=[batch.pk, "source"])
    assert client.get(url).status_code == 200  # the uploader
    users["manager1"].role.permissions = [
        p for p in users["manager1"].role.permissions if p != "customer.reveal"
    ]
    users["manager1"].role.save()
    login(client, users["manager1"])
    assert client.get(url).status_code == 403


def test_a_stale_run_can_be_run_again_and_a_double_start_queues_once(
    client, users, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    from loancrm.imports import services, tasks

    login(client, users["sales1"])
    upload(client, tmp_path)
    batch = ImportBatch.objects.get()
    ImportBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.IMPORTING)  # its worker died
    monkeypatch.setattr(services, "STALE_AFTER_SECONDS", -1)
    assert (
        'data-testid="mapping-form"'
        in client.get(reverse("imports:detail", args=[batch.pk])).content.decode()
    )
    queued = []
    monkeypatch.setattr(tasks, "run_import", lambda pk, dry: queued.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        post_options(client, batch, "dry_run")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.QUEUED and queued == [batch.pk]
    monkeypatch.setattr(services, "STALE_AFTER_SECONDS", 300)
    with django_capture_on_commit_callbacks(execute=True):
        post_options(client, batch, "dry_run")
    assert queued == [batch.pk]
