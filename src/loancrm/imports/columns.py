"""The customer sheet's columns: one list for the importer, the exporter and the blank template.

Headers stay Chinese in every language: they are the contract between a sheet and this product.

Export writes `header`; the importer reads `header` or any of `synonyms` (after `normalise_header`), so
an exported file imports back as the same customers (round trip).
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

# kind: how a cell is read and written.
#   text, sensitive (encrypted, masked on export unless revealed), dict (dictionary label), money,
#   rate, int, date, datetime, choice (model TextChoices label), owner (user), list (、-separated),
#   readonly (export only: never imported), key (the customer number: finds the customer a row is about,
#   so an exported sheet, masked or not, imports back onto the same customers).
TEXT, SENSITIVE, DICT, MONEY, RATE, INT, DATE, DATETIME, CHOICE, OWNER, LIST, READONLY, KEY = (
    "text", "sensitive", "dict", "money", "rate", "int", "date", "datetime", "choice", "owner", "list",
    "readonly", "key",
)  # fmt: skip


@dataclass(frozen=True)
class Column:
    field: str
    header: str
    kind: str = TEXT
    synonyms: tuple[str, ...] = field(default_factory=tuple)
    example: str = ""  # the blank template's example row
    width: int = 14


COLUMNS: list[Column] = [
    Column("customer_no", "客户编号", KEY, ("客户号",), "", 16),  # not 编号: often a row number
    Column("customer_type", "客户类型", CHOICE, ("类型", "客户类别"), "个人", 8),
    Column("name", "姓名", TEXT, ("客户姓名", "客户名称", "名称", "企业名称", "姓名/名称"), "张三", 12),
    Column("gender", "性别", CHOICE, (), "男", 6),
    Column("id_type", "证件类型", CHOICE, (), "居民身份证", 12),
    Column("id_number", "证件号码", SENSITIVE, ("身份证号", "身份证号码", "证件号", "身份证"), "640104199003071236", 22),
    Column("birth_date", "出生日期", DATE, ("生日",), "1990-03-07", 12),
    Column("ethnicity", "民族", TEXT, (), "汉", 6),
    Column("id_issuer", "签发机关", TEXT, ("发证机关",), "", 16),
    Column("id_valid_from", "证件有效期起", DATE, ("有效期起",), "", 12),
    Column("id_valid_until", "证件有效期至", DATE, ("有效期至", "证件有效期"), "", 12),
    Column("marital_status", "婚姻状况", DICT, ("婚姻",), "已婚", 10),
    Column("education", "学历", DICT, (), "本科", 10),
    Column("household_address", "户籍地址", TEXT, ("户籍", "户口所在地"), "", 24),
    Column("current_address", "现居地址", TEXT, ("现住址", "居住地址", "住址", "地址"), "银川市金凤区", 24),
    Column("phone", "手机号码", SENSITIVE, ("手机号", "手机", "联系电话", "电话", "电话号码", "联系方式"), "13800001234", 14),
    Column("backup_phone", "备用联系方式", SENSITIVE, ("备用电话", "备用手机"), "", 14),
    Column("wechat", "微信", TEXT, ("微信号",), "", 14),
    Column("email", "邮箱", TEXT, ("电子邮箱", "email", "e-mail"), "", 20),
    Column("occupation", "职业", TEXT, (), "公司职员", 12),
    Column("employer", "单位名称", TEXT, ("工作单位", "公司名称"), "", 20),
    Column("employer_address", "单位地址", TEXT, (), "", 24),
    Column("employer_phone", "单位电话", TEXT, (), "", 14),
    Column("monthly_income", "月收入", MONEY, ("月收入(元)", "收入", "月薪"), "8000", 12),
    Column("social_security", "社保/公积金缴纳情况", DICT, ("社保公积金", "社保", "公积金"), "社保和公积金", 14),
    Column("credit_query_count", "近期征信查询次数", INT, ("征信查询次数", "查询次数"), "2", 10),
    Column("overdue_record", "逾期记录", TEXT, (), "无", 16),
    Column("debt_summary", "负债情况", TEXT, (), "", 16),
    Column("debt_amount", "负债总额", MONEY, ("负债总额(元)", "负债金额"), "", 12),
    Column("bank_account", "银行账户", SENSITIVE, ("银行卡号", "银行账号", "卡号"), "", 22),
    Column("bank_name", "开户行", TEXT, ("开户银行",), "", 16),
    Column("loan_type", "贷款类型", DICT, ("贷款品种",), "信用贷", 10),
    Column("expected_amount", "期望金额", MONEY, ("期望金额(元)", "贷款金额", "申请金额", "意向金额"), "5万", 12),
    Column("expected_term_months", "期望期限(月)", INT, ("期望期限", "贷款期限", "期限", "期限(月)"), "12", 10),
    Column("loan_purpose", "资金用途", TEXT, ("贷款用途", "用途"), "经营周转", 14),
    Column("acceptable_rate_min", "可接受年利率下限(%)", RATE, ("利率下限",), "", 10),
    Column("acceptable_rate_max", "可接受年利率上限(%)", RATE, ("利率上限", "可接受利率"), "", 10),
    Column("uscc", "统一社会信用代码", TEXT, ("信用代码", "社会信用代码"), "", 22),
    Column("legal_representative", "法定代表人", TEXT, ("法人", "法人代表"), "", 10),
    Column("registered_capital", "注册资本", MONEY, ("注册资本(元)",), "", 12),
    Column("established_date", "成立日期", DATE, ("成立时间",), "", 12),
    Column("industry", "行业", DICT, ("所属行业",), "", 12),
    Column("business_address", "经营地址", TEXT, (), "", 24),
    Column("channel", "客户来源渠道", DICT, ("来源渠道", "来源", "渠道", "客户来源"), "抖音", 12),
    Column("stage", "当前阶段", DICT, ("阶段", "状态", "客户状态", "跟进阶段"), "新线索", 10),
    Column("next_follow_up_at", "下次跟进时间", DATETIME, ("下次跟进",), "", 16),
    Column("product_preferences", "产品偏好", LIST, (), "", 16),
    Column("special_notes", "备注", TEXT, ("说明", "特殊备注", "备注说明"), "", 24),
    Column("owner", "所属业务员", OWNER, ("业务员", "负责人", "客户经理", "跟进人"), "", 10),
    Column("department", "所属部门", READONLY, (), "", 12),
    Column("data_source", "数据来源", READONLY, (), "", 8),
    Column("created_at", "创建时间", READONLY, (), "", 16),
]  # fmt: skip

BY_FIELD = {c.field: c for c in COLUMNS}
IMPORTABLE = [c for c in COLUMNS if c.kind != READONLY]
TEMPLATE_COLUMNS = [c for c in IMPORTABLE if c.kind != KEY]  # a new customer has no number yet

_BRACKETS = re.compile(r"[(\[（【].*?[)\]）】]")


def normalise_header(text: object) -> str:
    """`' 月收入（元）* '` → `'月收入(元)'`: full-width to half-width, no spaces, no required-marks."""
    s = unicodedata.normalize("NFKC", str(text or "")).strip().lower()
    return re.sub(r"[\s*＊:：]", "", s)


def _index() -> dict[str, str]:
    out: dict[str, str] = {}
    for c in COLUMNS:
        for name in (c.header, *c.synonyms):
            key = normalise_header(name)
            out.setdefault(key, c.field)
            out.setdefault(_BRACKETS.sub("", key), c.field)
    return out


HEADER_INDEX = _index()


def field_for_header(header: object) -> str | None:
    """The customer field a sheet header names, or None (e.g. 序号, or a column we do not keep)."""
    key = normalise_header(header)
    if not key:
        return None
    return HEADER_INDEX.get(key) or HEADER_INDEX.get(_BRACKETS.sub("", key))


def auto_mapping(headers: list[object]) -> list[str | None]:
    """Field per column position; a field is mapped once (the first column that names it wins)."""
    seen: set[str] = set()
    out: list[str | None] = []
    for h in headers:
        f = field_for_header(h)
        if f and f not in seen and BY_FIELD[f].kind != READONLY:
            seen.add(f)
            out.append(f)
        else:
            out.append(None)
    return out


# Cells a spreadsheet would run as a formula (CSV/formula injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Prefix a quote so `=1+1`, `+86…`, `-5`, `@SUM(…)` are shown as text and never evaluated."""
    return "'" + value if value and value.startswith(_FORMULA_START) else value


def format_money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def format_date(value: date | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d")


def format_datetime(value: datetime | None) -> str:
    return "" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
