"""The importer's engine: messy values, duplicates, errors, all-or-nothing, dry runs and undo."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from python_calamine import CalamineWorkbook

from loancrm.audit.models import AuditEntry
from loancrm.core.crypto import blind_index
from loancrm.customers.models import Customer
from loancrm.imports import services
from loancrm.imports.models import BatchStatus, ImportCreatedRange, ImportRecord, OnDuplicate, OnError
from loancrm.imports.services import (
    import_batch_configure,
    import_batch_create,
    import_batch_run,
    import_batch_undo,
    import_template_save,
)

from .sheets import resident_id, uscc, write_csv, write_xlsx

ID_A = resident_id("64010419900307123")  # born 1990-03-07, male
ID_B = resident_id("64010419850101224")  # born 1985-01-01, female
ID_C = resident_id("64020219920202331")
ID_OLD15 = "640104900307123"  # first-generation number of ID_A's person: upgraded to ID_A
HEAD = ["序号", "客户姓名", "身份证号码", "手机", "月收入(元)", "贷款金额", "贷款期限", "业务员", "来源", "状态",
        "出生日期", "备注"]  # fmt: skip


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # each test its own stored files


def run(user, path, *, dry_run=False, on_duplicate=OnDuplicate.SKIP, on_error=OnError.SKIP_ROWS, owner=None):
    batch = import_batch_create(by=user, file=path, original_name=path.name)
    batch = import_batch_configure(
        by=user, batch=batch, mapping=batch.mapping, on_duplicate=on_duplicate, on_error=on_error,
        use_owner_column=True, default_owner=owner,
    )  # fmt: skip
    return import_batch_run(batch_id=batch.pk, dry_run=dry_run)


def test_messy_sheet_values_are_read_as_people_typed_them(users, tmp_path):
    rows = [
        HEAD,
        [1, " 王小明　", ID_A[:6] + " " + ID_A[6:14] + " " + ID_A[14:].lower(), "+86 138-0000-1234", "5万", "3.5万",
         "12个月", "sales1", "抖音", "新线索", "1990/3/7", "=1+1"],
        [2, "李四", ID_B, "８６１３９００００５６７８", "50,000元", "50000", 24, "", "门店到访", "", "1985年1月1日", ""],
        [3, "赵五", ID_C, "0086 137 0000 1111", 8000, "¥12,000", "1年", "", "", "", (date(1992, 2, 2) - date(1899, 12, 30)).days, ""],
        [None] * 12,
        [4, "", "", "", "", "", "", "", "", "", "", ""],
    ]  # fmt: skip
    batch = run(users["sales1"], write_xlsx(tmp_path / "messy.xlsx", rows, title_rows=2))
    assert batch.status == BatchStatus.DONE, batch.errors_sample
    assert batch.header_row == 3
    assert batch.counts == {"total": 3, "created": 3, "updated": 0, "skipped_duplicates": 0, "failed": 0,
                            "blank": 2, "flagged": 0}  # fmt: skip
    a = Customer.objects.get(id_number_bidx=blind_index(ID_A))
    assert (a.name, a.phone, a.id_number, a.gender, a.birth_date) == ("王小明", "13800001234", ID_A, "male",
                                                                       date(1990, 3, 7))  # fmt: skip
    assert (a.monthly_income, a.expected_amount, a.expected_term_months) == (
        Decimal("50000.00"),
        Decimal("35000.00"),
        12,
    )
    assert (a.channel, a.stage, a.data_source, a.owner.username) == ("douyin", "new", "import", "sales1")
    assert a.special_notes == "=1+1"  # stored as typed; the exporter neutralises it
    b = Customer.objects.get(id_number_bidx=blind_index(ID_B))
    assert (b.phone, b.monthly_income, b.expected_term_months, b.birth_date) == (
        "13900005678", Decimal("50000.00"), 24, date(1985, 1, 1))  # fmt: skip
    c = Customer.objects.get(id_number_bidx=blind_index(ID_C))
    assert (c.phone, c.monthly_income, c.expected_amount, c.expected_term_months) == (
        "13700001111", Decimal("8000.00"), Decimal("12000.00"), 12)  # fmt: skip
    assert c.birth_date == date(1992, 2, 2)  # given as an Excel date serial, agreeing with the ID


def test_excel_serial_dates_and_iso_text_both_parse(users, tmp_path):
    rows = [["姓名", "手机号码", "下次跟进时间", "成立日期", "客户类型", "统一社会信用代码"],
            ["甲公司", "13800000001", 46086, "2026-03-05", "企业", uscc("91640100MA7654321")],
            ["乙公司", "13800000002", "2026/3/5 14:30", "2026年3月5日", "企业", uscc("91640100MA7654322")]]  # fmt: skip
    batch = run(users["sales1"], write_xlsx(tmp_path / "dates.xlsx", rows))
    assert batch.counts["created"] == 2, batch.errors_sample
    first, second = Customer.objects.filter(customer_type="enterprise").order_by("id")
    assert first.established_date == second.established_date == date(2026, 3, 5)
    assert timezone.localtime(first.next_follow_up_at).date() == date(2026, 3, 5)  # serial 46086
    assert timezone.localtime(second.next_follow_up_at).strftime("%H:%M") == "14:30"


def test_fifteen_digit_id_is_upgraded_and_contradicting_birth_date_refused(users, tmp_path):
    rows = [["姓名", "身份证号", "手机号码", "出生日期"],
            ["钱六", ID_OLD15, "13600001111", ""],
            ["孙七", ID_B, "13600002222", "2026/3/5"]]  # fmt: skip
    batch = run(users["sales1"], write_xlsx(tmp_path / "ids.xlsx", rows))
    assert batch.counts["created"] == 1 and batch.counts["failed"] == 1
    assert Customer.objects.get(phone_bidx=blind_index("13600001111")).id_number == ID_A
    assert batch.errors_sample == [
        {"row": 3, "field": "出生日期", "message": "出生日期与身份证号码不符（应为 1985-01-01）"}
    ]


def test_id_number_stored_as_a_number_is_refused_with_how_to_fix(users, tmp_path):
    rows = [["姓名", "身份证号码", "手机号码"], ["赵五", float(ID_C[:17] + "0"), "13900001111"]]
    batch = run(users["sales1"], write_xlsx(tmp_path / "number.xlsx", rows))
    assert batch.counts["failed"] == 1
    message = batch.errors_sample[0]["message"]
    assert "存成了数字" in message and "文本" in message and "后几位已丢失" in message
    csv_batch = run(users["sales1"], write_csv(tmp_path / "number.csv", [["姓名", "身份证号码", "手机号码"],
                                                                         ["赵五", "6.40202E+17", "13900001111"]]))  # fmt: skip
    assert "存成了数字" in csv_batch.errors_sample[0]["message"]


def test_unknown_dictionary_value_keeps_the_customer_and_flags_it(users, tmp_path):
    rows = [["姓名", "手机号码", "客户来源渠道"], ["周八", "13500001111", "小红书"]]
    batch = run(users["sales1"], write_xlsx(tmp_path / "channel.xlsx", rows))
    assert batch.counts["created"] == 1 and batch.counts["flagged"] == 1
    customer = Customer.objects.get(phone_bidx=blind_index("13500001111"))
    assert customer.channel == "" and customer.unmapped_values == {"channel": "小红书"}


def test_encodings_and_delimiters_of_csv(users, tmp_path):
    rows = [["客户名单"], [], ["客户姓名", "手机号", "备注"], ["吴九", "13400001111", "老客户介绍"]]
    for i, (encoding, delimiter) in enumerate(
        [("gbk", ","), ("gb18030", "\t"), ("utf-8", ";"), ("utf-8-sig", ",")]
    ):
        phone = f"1340000{i:04d}"
        rows[-1][1] = phone
        batch = run(
            users["sales1"], write_csv(tmp_path / f"c{i}.csv", rows, encoding=encoding, delimiter=delimiter)
        )
        assert batch.counts["created"] == 1, (encoding, batch.errors_sample)
        assert Customer.objects.get(phone_bidx=blind_index(phone)).special_notes == "老客户介绍"


def test_second_import_of_the_same_file_creates_nothing(users, tmp_path):
    path = write_xlsx(
        tmp_path / "same.xlsx", [["姓名", "手机号码"], ["甲", "13800000001"], ["乙", "13800000002"]]
    )
    assert run(users["sales1"], path).counts["created"] == 2
    again = run(users["sales1"], path)
    assert again.counts["created"] == 0 and again.counts["skipped_duplicates"] == 2
    assert Customer.objects.count() == 2


def test_duplicate_inside_the_file_is_handled_like_one_in_the_database(users, tmp_path):
    rows = [["姓名", "身份证号码", "手机号码", "职业"],
            ["甲", ID_A, "13800000001", ""],
            ["甲（第二次）", ID_A.lower(), "13800000009", "司机"]]  # fmt: skip
    skipped = run(users["sales1"], write_xlsx(tmp_path / "dup.xlsx", rows))
    assert (skipped.counts["created"], skipped.counts["skipped_duplicates"]) == (1, 1)
    Customer.objects.all().delete()
    updated = run(
        users["sales1"], write_xlsx(tmp_path / "dup2.xlsx", rows), on_duplicate=OnDuplicate.UPDATE_EMPTY
    )
    assert (updated.counts["created"], updated.counts["updated"]) == (1, 1)
    customer = Customer.objects.get()
    assert (customer.name, customer.phone, customer.occupation) == (
        "甲",
        "13800000001",
        "司机",
    )  # only empty filled


def test_overwrite_replaces_values_and_update_empty_keeps_them(users, tmp_path):
    run(
        users["sales1"],
        write_xlsx(tmp_path / "a.xlsx", [["姓名", "手机号码", "职业"], ["甲", "13800000001", "教师"]]),
    )
    newer = write_xlsx(
        tmp_path / "b.xlsx", [["姓名", "手机号码", "职业", "微信"], ["甲", "13800000001", "医生", "wx1"]]
    )
    kept = run(users["sales1"], newer, on_duplicate=OnDuplicate.UPDATE_EMPTY)
    customer = Customer.objects.get()
    assert kept.counts["updated"] == 1 and (customer.occupation, customer.wechat) == ("教师", "wx1")
    over = run(users["sales1"], newer, on_duplicate=OnDuplicate.OVERWRITE)
    customer.refresh_from_db()
    assert over.counts["updated"] == 1 and customer.occupation == "医生"
    assert run(users["sales1"], newer, on_duplicate=OnDuplicate.OVERWRITE).counts["skipped_duplicates"] == 1


def test_someone_elses_customer_is_refused_as_a_duplicate_without_naming_them(users, tmp_path):
    run(users["sales3"], write_xlsx(tmp_path / "s3.xlsx", [["姓名", "手机号码"], ["丙", "13800000003"]]))
    batch = run(users["sales1"], write_xlsx(tmp_path / "s1.xlsx", [["姓名", "手机号码"], ["丙", "13800000003"]]),
                on_duplicate=OnDuplicate.OVERWRITE)  # fmt: skip
    assert batch.counts["failed"] == 1
    message = batch.errors_sample[0]["message"]
    assert (
        message.startswith("撞单") and "sales3" not in message and users["sales3"].display_name not in message
    )
    assert Customer.objects.get().owner == users["sales3"]


def test_owner_column_assigns_within_scope_else_the_default_owner(users, tmp_path):
    rows = [["姓名", "手机号码", "所属业务员"],
            ["甲", "13800000001", "sales2"],
            ["乙", "13800000002", users["sales2"].display_name],
            ["丙", "13800000003", "sales3"],  # another department: not in manager1's scope
            ["丁", "13800000004", "nobody"]]  # fmt: skip
    run(users["manager1"], write_xlsx(tmp_path / "owners.xlsx", rows), owner=users["sales1"])
    owners = dict(Customer.objects.values_list("name", "owner__username"))
    assert owners == {"甲": "sales2", "乙": "sales2", "丙": "sales1", "丁": "sales1"}
    # A salesperson imports for themself whatever the column says.
    run(users["sales1"], write_xlsx(tmp_path / "own.xlsx", [rows[0], ["戊", "13800000005", "sales2"]]))
    assert Customer.objects.get(name="戊").owner == users["sales1"]


def test_all_or_nothing_leaves_nothing_when_a_row_fails(users, tmp_path):
    rows = [["姓名", "手机号码"], ["甲", "13800000001"], ["乙", "1380000"]]
    batch = run(users["sales1"], write_xlsx(tmp_path / "aon.xlsx", rows), on_error=OnError.ALL_OR_NOTHING)
    assert batch.status == BatchStatus.ROLLED_BACK and batch.counts["failed"] == 1
    assert not Customer.objects.exists() and not ImportRecord.objects.exists()
    assert not ImportCreatedRange.objects.exists()
    ok = run(users["sales1"], write_xlsx(tmp_path / "ok.xlsx", rows[:2]), on_error=OnError.ALL_OR_NOTHING)
    assert ok.status == BatchStatus.DONE and Customer.objects.count() == 1


def test_dry_run_reports_exactly_what_the_import_would_do_and_writes_nothing(users, tmp_path):
    rows = [
        ["姓名", "手机号码"],
        ["甲", "13800000001"],
        ["甲2", "13800000001"],
        ["乙", "bad"],
        ["丙", "13800000003"],
    ]
    path = write_xlsx(tmp_path / "dry.xlsx", rows)
    audits = AuditEntry.objects.count()
    dry = run(users["sales1"], path, dry_run=True)
    assert dry.status == BatchStatus.VALIDATED
    assert not Customer.objects.exists() and AuditEntry.objects.count() == audits
    real = run(users["sales1"], path)
    assert dry.counts == real.counts == {"total": 4, "created": 2, "updated": 0, "skipped_duplicates": 1,
                                         "failed": 1, "blank": 0, "flagged": 0}  # fmt: skip


def test_error_workbook_has_exactly_the_refused_rows_as_they_were(users, tmp_path):
    rows = [["姓名", "手机号码", "身份证号码", "月收入"],
            ["甲", "13800000001", ID_A, "5000"],
            ["乙", "138-0000", "", "abc"],
            ["", "", "", ""],
            ["丙", "13800000003", ID_A[:-1] + ("1" if ID_A[-1] != "1" else "2"), "6000"]]  # fmt: skip
    batch = run(users["sales1"], write_xlsx(tmp_path / "err.xlsx", rows, title_rows=1))
    assert batch.counts["failed"] == 2
    sheet = CalamineWorkbook.from_path(batch.errors_path).get_sheet_by_index(0).to_python()
    assert sheet[0] == ["姓名", "手机号码", "身份证号码", "月收入", "原行号", "错误原因"]
    assert [r[:4] for r in sheet[1:]] == [
        ["乙", "138-0000", "", "abc"],
        ["丙", "13800000003", rows[4][2], "6000"],
    ]
    assert [int(r[4]) for r in sheet[1:]] == [4, 6]  # the sheet's own row numbers (title row + header)
    assert "手机号码" in sheet[1][5] and "月收入" in sheet[1][5] and "校验位" in sheet[2][5]


def test_imported_customers_are_encrypted_audited_and_have_history(users, tmp_path):
    rows = [["姓名", "手机号码", "身份证号码"], ["甲", "13800000001", ID_A]]
    batch = run(users["sales1"], write_xlsx(tmp_path / "enc.xlsx", rows))
    customer = Customer.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, id_number FROM customers_customer")
        phone, id_number = cursor.fetchone()
    assert "13800000001" not in phone and ID_A not in id_number
    entry = AuditEntry.objects.get(action="customer.create", object_id=str(customer.pk))
    assert entry.actor == users["sales1"] and entry.changes["phone"] == ["", "***"]
    assert entry.extra["source"] == "import"
    version = customer.history.get()
    assert (version.history_type, version.history_user, version.phone) == (
        "+",
        users["sales1"],
        "13800000001",
    )
    assert AuditEntry.objects.filter(action="customer.import", object_id=str(batch.pk)).exists()
    assert customer.customer_no.startswith("KH")


def test_undo_deletes_created_restores_updated_and_keeps_edited(users, tmp_path):
    run(
        users["sales1"],
        write_xlsx(tmp_path / "a.xlsx", [["姓名", "手机号码", "职业"], ["甲", "13800000001", "教师"]]),
    )
    rows = [["姓名", "手机号码", "职业"], ["甲", "13800000001", "医生"], ["乙", "13800000002", ""],
            ["丙", "13800000003", ""]]  # fmt: skip
    batch = run(users["sales1"], write_xlsx(tmp_path / "b.xlsx", rows), on_duplicate=OnDuplicate.OVERWRITE)
    assert (batch.counts["created"], batch.counts["updated"]) == (2, 1)
    from loancrm.customers.services import customer_update

    edited = Customer.objects.get(name="丙")
    customer_update(by=users["sales1"], customer=edited, data={"occupation": "司机"}, expected_version=1)
    result = import_batch_undo(by=users["sales1"], batch=batch)
    assert result == {"deleted": 1, "restored": 1, "kept": 1}
    assert set(Customer.objects.values_list("name", "occupation")) == {("甲", "教师"), ("丙", "司机")}
    batch.refresh_from_db()
    assert batch.status == BatchStatus.UNDONE
    with pytest.raises(ValidationError):
        import_batch_undo(by=users["sales1"], batch=batch)


def test_mapping_rules(users, tmp_path):
    batch = import_batch_create(
        by=users["sales1"], file=write_xlsx(tmp_path / "m.xlsx", [HEAD]), original_name="m.xlsx"
    )
    assert batch.mapping[:4] == [None, "name", "id_number", "phone"]
    twice = ["name" if f == "occupation" else f for f in batch.mapping]
    twice[-1] = "name"
    with pytest.raises(ValidationError) as err:
        import_batch_configure(by=users["sales1"], batch=batch, mapping=twice, on_duplicate="skip", on_error="skip_rows",
                               use_owner_column=True, default_owner=None)  # fmt: skip
    assert "同时对应" in str(err.value)
    no_name = [None if f == "name" else f for f in batch.mapping]
    with pytest.raises(ValidationError) as err:
        import_batch_configure(by=users["sales1"], batch=batch, mapping=no_name, on_duplicate="skip",
                               on_error="skip_rows", use_owner_column=True, default_owner=None)  # fmt: skip
    assert "姓名" in str(err.value)
    mapping = list(batch.mapping)
    mapping[-1] = "special_notes"
    batch = import_batch_configure(by=users["sales1"], batch=batch, mapping=mapping, on_duplicate="skip",
                                   on_error="skip_rows", use_owner_column=True, default_owner=None)  # fmt: skip
    import_template_save(by=users["sales1"], batch=batch, name="渠道表")
    again = import_batch_create(
        by=users["sales1"], file=write_xlsx(tmp_path / "m2.xlsx", [HEAD]), original_name="m2.xlsx"
    )
    assert again.mapping == mapping  # the saved template was applied


def test_unreadable_files_are_refused_at_upload(users, tmp_path):
    bad = tmp_path / "x.xlsx"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValidationError) as err:
        import_batch_create(by=users["sales1"], file=bad, original_name="x.xlsx")
    assert "无法读取" in str(err.value)
    no_header = write_xlsx(tmp_path / "n.xlsx", [["a", "b"], ["1", "2"]])
    with pytest.raises(ValidationError) as err:
        import_batch_create(by=users["sales1"], file=no_header, original_name="n.xlsx")
    assert "表头" in str(err.value)
    with pytest.raises(ValidationError):
        import_batch_create(by=users["sales1"], file=no_header, original_name="n.pdf")


def test_import_needs_the_permission(users, tmp_path):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        import_batch_create(
            by=users["auditor1"], file=write_xlsx(tmp_path / "p.xlsx", [HEAD]), original_name="p.xlsx"
        )


def test_parallel_reader_gives_the_same_result(users, tmp_path, monkeypatch):
    rows = [["姓名", "手机号码", "身份证号码"]]
    rows += [[f"客户{i}", f"1380000{i:04d}", ""] for i in range(300)]
    rows += [["坏", "123", ""], ["客户0again", "13800000000", ""]]
    path = write_xlsx(tmp_path / "par.xlsx", rows)
    monkeypatch.setattr(services, "PARALLEL_MIN_ROWS", 10)
    monkeypatch.setattr(services, "CHUNK", 50)
    batch = run(users["sales1"], path)
    assert batch.counts == {"total": 302, "created": 300, "updated": 0, "skipped_duplicates": 1, "failed": 1,
                            "blank": 0, "flagged": 0}  # fmt: skip
    assert Customer.objects.count() == 300
    # Two helpers prepared alternate chunks: the customers were still written in the sheet's order.
    names = list(Customer.objects.order_by("pk").values_list("name", flat=True))
    assert names == [f"客户{i}" for i in range(300)]
    assert services.READERS == 2


def test_a_blank_next_follow_up_time_is_no_time(users, tmp_path):
    # As a full export writes it for a customer without a planned follow-up.
    path = write_xlsx(tmp_path / "f.xlsx", [["姓名", "手机号码", "下次跟进时间"], ["张三", "13800001111", ""],
                                            ["李四", "13800002222", "2026-12-05 10:00"]])  # fmt: skip
    batch = run(users["sales1"], path)
    assert batch.counts["created"] == 2 and batch.counts["failed"] == 0
    assert Customer.objects.get(name="张三").next_follow_up_at is None
    assert Customer.objects.get(name="李四").next_follow_up_at is not None


def test_size_limit_is_the_browsers_only(users, tmp_path):
    path = write_csv(
        tmp_path / "big.csv", [["姓名", "手机号码"]] + [[f"客户{i}", f"138{i:08d}"] for i in range(50)]
    )
    with pytest.raises(ValidationError) as exc:
        import_batch_create(by=users["sales1"], file=path, original_name=path.name, max_bytes=100)
    assert "loancrm import" in exc.value.message_dict["file"][0]
    batch = import_batch_create(by=users["sales1"], file=path, original_name=path.name, max_bytes=None)
    assert batch.file_size == path.stat().st_size


def test_created_customers_are_recorded_as_runs_of_ids():
    assert list(services.id_runs([])) == []
    assert list(services.id_runs([5])) == [(5, 5)]
    assert list(services.id_runs([1, 2, 3, 7, 8, 10])) == [(1, 3), (7, 8), (10, 10)]


def test_undo_takes_back_customers_recorded_one_by_one_too(users, tmp_path):
    # A batch imported before ranges existed recorded each created customer on its own.
    batch = run(
        users["sales1"], write_xlsx(tmp_path / "old.xlsx", [["姓名", "手机号码"], ["王五", "13800003333"]])
    )
    ranges = list(batch.created_ranges.all())
    for r in ranges:
        for pk in range(r.first_id, r.last_id + 1):
            ImportRecord.objects.create(batch=batch, customer_id=pk, action=ImportRecord.CREATED)
    ImportCreatedRange.objects.filter(batch=batch).delete()
    assert services.import_batch_undo(by=users["sales1"], batch=batch)["deleted"] == 1
    assert not Customer.objects.filter(name="王五").exists()


def test_undo_counts_a_customer_deleted_since_as_neither_kept_nor_deleted(users, tmp_path):
    batch = run(users["sales1"], write_xlsx(tmp_path / "d.xlsx", [["姓名", "手机号码"], ["甲", "13800004444"],
                                                                 ["乙", "13800005555"]]))  # fmt: skip
    Customer.objects.filter(name="甲").delete()  # say by an administrator, after the import
    assert services.import_batch_undo(by=users["sales1"], batch=batch) == {
        "deleted": 1,
        "restored": 0,
        "kept": 0,
    }


def test_an_imported_customer_is_audited_in_field_order_as_one_typed_in(users, tmp_path):
    from loancrm.customers.fields import editable_fields

    run(users["sales1"], write_xlsx(tmp_path / "o.xlsx", [["姓名", "手机号码", "身份证号码", "职业"],
                                                          ["丙", "13800006666", resident_id("64010419900101123"), "教师"]]))  # fmt: skip
    entry = AuditEntry.objects.get(action="customer.create")
    order = list(editable_fields())
    if connection.vendor == "sqlite":  # PostgreSQL's jsonb keeps keys in an order of its own
        assert list(entry.changes) == sorted(entry.changes, key=order.index)
    assert {"name", "phone", "id_number", "gender", "birth_date", "occupation"} <= set(entry.changes)
    assert entry.changes["phone"] == ["", "***"] and entry.changes["occupation"] == [None, "教师"]
