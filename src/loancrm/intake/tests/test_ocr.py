"""Offline OCR for intake: synthetic documents round-trip through the real engine; parsers on hand-made lines.

The engine is created once for the module (about a second); each recognition takes 1–3 s on 2 cores, so
only the round trips and the corrupted-number case run it. Everything else feeds ``parse`` line lists.
"""

import datetime
import io
import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from PIL import Image

from loancrm.customers.validators import resident_id_check_char
from loancrm.intake.ocr import DOCUMENT_KINDS, OcrField, OcrResult, recognise, synthetic
from loancrm.intake.ocr.engine import MAX_IMAGE_BYTES, get_engine, model_paths
from loancrm.intake.ocr.parsers import parse, parse_capital, parse_date

BIRTH = datetime.date(1990, 3, 7)
ID_NUMBER = synthetic.fictional_id_number(BIRTH, male=True)  # 64010419900307121X: Ningxia, 银川市兴庆区
ADDRESS = "宁夏回族自治区银川市兴庆区民族北街168号3栋2单元501室"  # wraps onto a line starting with 民族
CARD = synthetic.fictional_bank_card()
USCC = synthetic.fictional_uscc()


@pytest.fixture(autouse=True)
def _chinese():
    with translation.override("zh-hans"):
        yield


@pytest.fixture(scope="module")
def engine():
    return get_engine()


def values(result: OcrResult) -> dict[str, str]:
    return {field.key: field.value for field in result.fields}


def assert_clean(result: OcrResult) -> None:
    for field in result.fields:
        assert field.error == "", (field.key, field.value, field.error)
        assert field.confidence > 0.5, (field.key, field.confidence)


# --- round trips through the engine ------------------------------------------------------------------


def test_models_ship_in_the_wheel():
    for path in model_paths().values():
        assert path.is_file() and path.stat().st_size > 100_000, path


def test_engine_keeps_onnxruntime_telemetry_off(tmp_path):
    # onnxruntime 1.32 on Linux keeps a telemetry store under ~/.cache/Microsoft and uploads it; a fresh
    # process with its own home directory must create nothing there.
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / ".cache")}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    code = "from loancrm.intake.ocr.engine import get_engine; get_engine()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert not (tmp_path / ".cache" / "Microsoft").exists()


def test_id_front_round_trip(engine):
    image = synthetic.id_card_front("马晓东", "男", "回", BIRTH, ADDRESS, ID_NUMBER)
    result = recognise("id_front", image)
    assert values(result) == {
        "name": "马晓东",
        "gender": "male",
        "ethnicity": "回",
        "birth_date": "1990-03-07",
        "household_address": ADDRESS,
        "id_number": ID_NUMBER,
    }
    assert_clean(result)
    assert [field.key for field in result.fields] == [
        "name", "gender", "ethnicity", "birth_date", "household_address", "id_number"
    ]  # fmt: skip
    stored = json.loads(json.dumps(result.as_dict(), ensure_ascii=False))
    assert stored["kind"] == "id_front"
    assert {"key": "gender", "label": "性别", "value": "male"}.items() <= stored["fields"][1].items()
    assert any(text == "公民身份号码" for text, _confidence in stored["lines"])


def test_id_back_round_trip(engine):
    image = synthetic.id_card_back("银川市公安局兴庆区分局", "2016-03-05", "2036-03-05")
    result = recognise("id_back", image)
    assert values(result) == {
        "id_issuer": "银川市公安局兴庆区分局",
        "id_valid_from": "2016-03-05",
        "id_valid_until": "2036-03-05",
    }
    assert_clean(result)


def test_bank_card_round_trip(engine):
    result = recognise("bank_card", synthetic.bank_card(CARD, "中国工商银行"))
    assert values(result) == {"bank_account": CARD, "bank_name": "中国工商银行"}
    assert_clean(result)


def test_business_licence_round_trip(engine):
    image = synthetic.business_licence(
        "宁夏塞上明珠科技有限公司",
        USCC,
        "王建国",
        "2018-05-20",
        "宁夏回族自治区银川市金凤区北京中路168号创业大厦A座1201室",
        "伍佰万元整",
    )
    result = recognise("business_licence", image)
    assert values(result) == {
        "name": "宁夏塞上明珠科技有限公司",
        "uscc": USCC,
        "legal_representative": "王建国",
        "established_date": "2018-05-20",
        "business_address": "宁夏回族自治区银川市金凤区北京中路168号创业大厦A座1201室",
        "registered_capital": "5000000.00",
    }
    assert_clean(result)


def test_wrong_check_character_keeps_the_raw_number_with_an_error(engine):
    first17 = "64010219851123122"
    wrong = first17 + ("0" if resident_id_check_char(first17) != "0" else "1")
    image = synthetic.id_card_front(
        "李娟", "女", "汉", "1985-11-23", "宁夏回族自治区银川市西夏区文昌北街9号", wrong
    )
    fields = {field.key: field for field in recognise("id_front", image).fields}
    assert fields["id_number"].value == wrong
    assert fields["id_number"].error == "身份证号码校验位不正确，请对照证件逐位核对后重新输入"
    assert fields["name"].value == "李娟" and fields["birth_date"].value == "1985-11-23"
    assert fields["gender"].error == "" and fields["birth_date"].error == ""  # nothing to cross-check against


# --- images that are refused (no engine run) ---------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b"%PDF-1.7 not an image", "图片无法识别：不是 JPG/PNG 图片"),
        (b"GIF89a" + b"\0" * 100, "图片无法识别：不是 JPG/PNG 图片"),
        (b"", "图片无法识别：文件是空的"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "图片无法识别：文件已损坏或不完整"),
        (b"\xff\xd8\xff" + b"\0" * (MAX_IMAGE_BYTES - 2), "图片太大：请上传 10 MB 以内的 JPG/PNG 图片"),
    ],
    ids=["pdf", "gif", "empty", "broken-png", "too-large"],
)
def test_non_images_are_refused_in_chinese(data, message):
    with pytest.raises(ValidationError) as caught:
        recognise("id_front", data)
    assert caught.value.messages == [message]


def test_truncated_jpeg_is_refused():
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (240, 240, 240)).save(buffer, format="JPEG")
    with pytest.raises(ValidationError) as caught:
        recognise("bank_card", buffer.getvalue()[:300])
    assert caught.value.messages == ["图片无法识别：文件已损坏或不完整"]


def test_unknown_kind():
    assert set(DOCUMENT_KINDS) == {"id_front", "id_back", "bank_card", "business_licence"}
    with pytest.raises(ValueError):
        recognise("passport", b"\x89PNG")


# --- parsers on hand-written lines (no engine) -------------------------------------------------------


def box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def by_key(fields: list[OcrField]) -> dict[str, OcrField]:
    return {field.key: field for field in fields}


def test_id_front_address_spans_lines_without_boxes():
    number = "64030219881201002" + resident_id_check_char("64030219881201002")  # a woman born 1988-12-01
    lines = [
        ("姓名 张伟", 0.99),
        ("性别 女 民族 汉", 0.97),
        ("出生 1988年12月1日", 0.98),
        ("住址 宁夏回族自治区吴忠市", 0.96),
        ("利通区胜利镇团结村", 0.9),
        ("三队45号", 0.95),
        (f"公民身份号码 {number}", 0.99),
    ]
    fields = by_key(parse("id_front", lines))
    assert fields["household_address"].value == "宁夏回族自治区吴忠市利通区胜利镇团结村三队45号"
    assert fields["household_address"].confidence == 0.9  # the lowest of its lines
    assert fields["gender"].value == "female" and fields["ethnicity"].value == "汉"
    assert fields["birth_date"].value == "1988-12-01"
    assert fields["id_number"].value == number and fields["id_number"].error == ""


def test_id_front_address_with_boxes_stops_at_the_next_label_and_keeps_min_confidence():
    lines = [
        ("姓名", 0.99, box(60, 70, 140, 115)),
        ("马晓东", 0.98, box(180, 70, 300, 118)),
        ("性别", 0.97, box(60, 150, 150, 198)),
        ("男", 0.99, box(135, 150, 230, 200)),  # single-character boxes are padded to the left
        ("民族回", 0.99, box(345, 152, 490, 198)),
        ("出生", 0.99, box(64, 233, 142, 277)),
        ("1990年3月7日", 0.99, box(186, 234, 455, 274)),
        ("住址", 0.99, box(65, 314, 141, 356)),
        ("宁夏回族自治区银川市兴庆区", 0.93, box(187, 312, 634, 354)),
        ("民族北街168号3栋2单元", 0.88, box(188, 363, 558, 402)),
        ("501室", 0.97, box(183, 407, 288, 454)),
        ("公民身份号码", 0.99, box(67, 525, 263, 562)),
        (ID_NUMBER, 0.96, box(338, 526, 789, 565)),
    ]
    fields = by_key(parse("id_front", lines))
    assert fields["household_address"].value == ADDRESS
    assert fields["household_address"].confidence == 0.88
    assert fields["ethnicity"].value == "回" and fields["gender"].value == "male"
    assert fields["id_number"].value == ID_NUMBER and fields["id_number"].confidence == 0.96


def test_id_front_cross_checks_birth_date_and_gender_against_the_number():
    lines = [
        ("性别女", 0.9),
        ("民族漢", 0.9),
        ("出生1990年3月8日", 0.9),
        ("公民身份号码" + ID_NUMBER.lower(), 0.9),
    ]
    fields = by_key(parse("id_front", lines))
    assert fields["id_number"].value == ID_NUMBER  # lower-case x normalised
    assert fields["gender"].value == "female"
    assert fields["gender"].error == "性别与身份证号码不一致，请核对"
    assert fields["birth_date"].value == "1990-03-08"
    assert fields["birth_date"].error == "出生日期与身份证号码不一致，请核对"
    assert fields["ethnicity"].value == "汉" and fields["ethnicity"].error == ""  # traditional 漢 read


def test_id_front_bad_values_keep_raw_text_with_errors():
    lines = [
        ("性别 未知", 0.8),
        ("民族 火星", 0.8),
        ("出生 19900", 0.8),
        ("公民身份号码 6401041990030712", 0.8),
    ]
    fields = by_key(parse("id_front", lines))
    assert (fields["gender"].value, fields["gender"].error) == ("未知", "性别应为“男”或“女”")
    assert (fields["ethnicity"].value, fields["ethnicity"].error) == ("火星", "民族无法识别，请手工填写")
    assert (fields["birth_date"].value, fields["birth_date"].error) == (
        "19900",
        "出生日期无法识别，请手工填写",
    )
    assert fields["id_number"].value == "6401041990030712"
    assert fields["id_number"].error == "身份证号码应为 18 位（最后一位可为 X）或 15 位数字"


def test_id_front_number_without_its_label_is_still_found():
    fields = by_key(parse("id_front", [("姓名王芳", 0.9), (f"  {ID_NUMBER}  ", 0.95)]))
    assert fields["id_number"].value == ID_NUMBER and fields["name"].value == "王芳"


def test_id_back_long_term():
    fields = parse("id_back", [("签发机关 银川市公安局金凤区分局", 0.97), ("有效期限 2016.03.05-长期", 0.95)])
    assert {f.key: f.value for f in fields} == {
        "id_issuer": "银川市公安局金凤区分局",
        "id_valid_from": "2016-03-05",
        "id_valid_until": "",
        "id_valid_long_term": "1",
    }
    assert all(f.error == "" for f in fields)


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("有效期限2016.03.05-2036.03.05", "2016-03-05", "2036-03-05"),
        ("有效期限 2016.03.05一2026.03.05", "2016-03-05", "2026-03-05"),  # the dash read as 一
        ("有效期限：2016-03-05至2036-03-05", "2016-03-05", "2036-03-05"),
        ("有效期限 20160305-20360305", "2016-03-05", "2036-03-05"),
    ],
)
def test_id_back_validity_spellings(text, start, end):
    fields = by_key(parse("id_back", [(text, 0.9)]))
    assert (fields["id_valid_from"].value, fields["id_valid_until"].value) == (start, end)
    assert "id_valid_long_term" not in fields


def test_id_back_bad_validity_keeps_raw_text():
    fields = by_key(parse("id_back", [("有效期限 2036.03.05-2016.03.05", 0.9)]))
    assert fields["id_valid_until"].error == "证件有效期至必须晚于有效期起"
    fields = by_key(parse("id_back", [("有效期限 2016.13.05-长斯", 0.9)]))
    assert (fields["id_valid_from"].value, fields["id_valid_from"].error) == (
        "2016.13.05",
        "有效期限无法识别，请手工填写",
    )
    assert (fields["id_valid_until"].value, fields["id_valid_until"].error) == (
        "长斯",
        "有效期限无法识别，请手工填写",
    )


def test_bank_card_number_with_spaces_and_split_groups():
    expected = synthetic.fictional_bank_card("621700", 19, seed=1)
    spaced = " ".join(expected[i : i + 4] for i in range(0, 19, 4))
    lines = [("中国建设银行", 0.99), ("China Construction Bank", 0.9), (spaced, 0.93), ("借记卡", 0.99)]
    fields = by_key(parse("bank_card", lines))
    assert (fields["bank_account"].value, fields["bank_account"].error) == (expected, "")
    assert fields["bank_account"].confidence == 0.93
    assert fields["bank_name"].value == "中国建设银行"
    # Groups of four read as separate boxes on one row are joined.
    groups = [expected[i : i + 4] for i in range(0, 19, 4)]
    split = [
        (group, 0.9 + i / 100, box(80 + i * 130, 350, 190 + i * 130, 410)) for i, group in enumerate(groups)
    ]
    fields = by_key(parse("bank_card", [("宁夏银行", 0.97, box(150, 50, 400, 110)), *split]))
    assert (fields["bank_account"].value, fields["bank_account"].error) == (expected, "")
    assert fields["bank_account"].confidence == 0.9
    assert fields["bank_name"].value == "宁夏银行"


def test_bank_card_failing_luhn_keeps_raw_number_with_error():
    wrong = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
    fields = by_key(parse("bank_card", [("某某农村商业银行", 0.9), (" ".join([wrong[:4], wrong[4:]]), 0.9)]))
    assert fields["bank_account"].value == wrong
    assert fields["bank_account"].error == "银行卡号校验失败，请核对卡号"
    assert fields["bank_name"].value == "某某农村商业银行"


def test_business_licence_split_label_and_bad_code():
    lines = [
        ("统一社会信用代码", 0.99, box(88, 85, 315, 119)),
        ("91640100MA76XK3D2Y", 0.98, box(88, 132, 413, 162)),  # wrong check character
        ("名", 0.99, box(85, 393, 130, 440)),
        ("称", 0.99, box(170, 393, 219, 440)),
        ("宁夏塞上明珠科技", 0.95, box(287, 396, 676, 435)),
        ("注册资本", 0.99, box(735, 397, 875, 435)),
        ("500万元人民币", 0.97, box(917, 396, 1084, 436)),
        ("有限公司", 0.91, box(285, 446, 420, 485)),
        ("类型", 0.99, box(88, 510, 218, 550)),
        ("有限责任公司", 0.99, box(285, 512, 600, 550)),
        ("法定代表人 王建国", 0.96, box(88, 600, 400, 640)),
        ("成立日期", 0.99, box(730, 510, 876, 550)),
        ("2018年05月20日", 0.99, box(916, 510, 1158, 550)),
    ]
    fields = by_key(parse("business_licence", lines))
    assert (fields["name"].value, fields["name"].confidence) == ("宁夏塞上明珠科技有限公司", 0.91)
    assert fields["uscc"].value == "91640100MA76XK3D2Y"
    assert fields["uscc"].error == "统一社会信用代码校验位不正确"
    assert fields["registered_capital"].value == "5000000.00"
    assert fields["legal_representative"].value == "王建国"
    assert fields["established_date"].value == "2018-05-20"


@pytest.mark.parametrize(
    "text, yuan",
    [
        ("伍佰万元整", "5000000"),
        ("人民币壹仟贰佰万元整", "12000000"),
        ("500万元", "5000000"),
        ("12.5万元人民币", "125000"),
        ("壹亿零伍佰万元", "105000000"),
        ("叁拾万元", "300000"),
        ("壹万贰仟叁佰肆拾伍元陆角柒分", "12345.67"),
        ("50000元", "50000"),
    ],
)
def test_parse_capital(text, yuan):
    assert parse_capital(text) == Decimal(yuan)


def test_capital_in_foreign_currency_or_unreadable_keeps_raw_text():
    fields = by_key(parse("business_licence", [("注册资本 100万美元", 0.9)]))
    assert fields["registered_capital"].value == "100万美元"
    assert fields["registered_capital"].error == "注册资本不是人民币，请手工填写"
    fields = by_key(parse("business_licence", [("注册资本 伍佰万X元", 0.9)]))
    assert fields["registered_capital"].error == "注册资本无法识别，请手工填写"


def test_parse_date():
    assert parse_date("1990年3月7日") == datetime.date(1990, 3, 7)
    assert parse_date("2016.03.05") == datetime.date(2016, 3, 5)
    assert parse_date("20160305") == datetime.date(2016, 3, 5)
    assert parse_date("2016.02.30") is None
    assert parse_date("长期") is None


def test_missing_labels_give_no_fields():
    assert parse("id_front", []) == []
    assert parse("business_licence", [("营业执照", 0.99), ("(副本)", 0.98)]) == []
    with pytest.raises(ValueError):
        parse("passport", [])


def test_as_dict_is_json_and_translated():
    result = OcrResult(
        "bank_card", [OcrField("bank_name", DOCUMENT_KINDS["bank_card"], "宁夏银行", 0.912345)]
    )
    data = result.as_dict()
    assert json.loads(json.dumps(data)) == {
        "kind": "bank_card",
        "fields": [
            {"key": "bank_name", "label": "银行卡", "value": "宁夏银行", "confidence": 0.9123, "error": ""}
        ],
        "lines": [],
    }
