"""Turn OCR text lines into named fields for the four document kinds.

Pure functions, no OCR engine: :func:`parse` takes the lines as ``(text, confidence, box)`` (``box`` is
the four corner points the engine gives, or None; ``(text, confidence)`` pairs work too) and returns
:class:`~loancrm.intake.ocr.OcrField` values, each with the lowest confidence of the line(s) it came from.

How a labelled value is found: a line that starts with a label (``姓名马晓东``) carries its value after
the label; a line that is only the label (``公民身份号码``) takes the nearest unlabelled line to its right
on the same row, or else the one just below it. Addresses and company names continue on the following
lines that start at the same x as the first value line (wrapped text). Without boxes the lines are taken
in order. Two-character labels printed with wide letter spacing (``名　　称``) may come back as two lines;
they are joined first.

Every value goes through the project's validators (``loancrm.customers.validators``); one that fails keeps
the raw text and carries the validator's message as ``error`` — nothing is dropped silently. A field
whose label is not on the image at all is left out.
"""

from __future__ import annotations

import datetime
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loancrm.customers.validators import (
    normalize_bank_card,
    normalize_resident_id,
    normalize_uscc,
    resident_id_birth_date,
    resident_id_gender,
    to_halfwidth,
)

from .results import OcrField

__all__ = ["FIELD_LABELS", "parse", "parse_capital", "parse_date"]

# key → label shown next to the recognised value (the customer form's wording where there is one).
FIELD_LABELS = {
    "id_front": {
        "name": gettext_lazy("姓名"),
        "gender": gettext_lazy("性别"),
        "ethnicity": gettext_lazy("民族"),
        "birth_date": gettext_lazy("出生日期"),
        "household_address": gettext_lazy("户籍地址"),
        "id_number": gettext_lazy("身份证号码"),
    },
    "id_back": {
        "id_issuer": gettext_lazy("签发机关"),
        "id_valid_from": gettext_lazy("证件有效期起"),
        "id_valid_until": gettext_lazy("证件有效期至"),
        "id_valid_long_term": gettext_lazy("长期有效"),
    },
    "bank_card": {
        "bank_account": gettext_lazy("银行卡号"),
        "bank_name": gettext_lazy("开户行"),
    },
    "business_licence": {
        "name": gettext_lazy("企业名称"),
        "uscc": gettext_lazy("统一社会信用代码"),
        "legal_representative": gettext_lazy("法定代表人"),
        "established_date": gettext_lazy("成立日期"),
        "business_address": gettext_lazy("经营地址"),
        "registered_capital": gettext_lazy("注册资本（元）"),
    },
}


@dataclass(frozen=True)
class _Label:
    key: str | None  # None: a label whose value is not wanted (it still ends the value before it)
    words: tuple[str, ...]  # spellings, the printed one first
    multiline: bool = False
    inline: tuple[str, ...] = ()  # labels printed on the same line after this one's value (性别 男 民族 汉)


_LAYOUTS: dict[str, tuple[_Label, ...]] = {
    "id_front": (
        _Label("name", ("姓名",)),
        _Label("gender", ("性别",), inline=("民族",)),
        _Label("ethnicity", ("民族",)),
        _Label("birth_date", ("出生",)),
        _Label("household_address", ("住址",), multiline=True),
        _Label("id_number", ("公民身份号码", "公民身份证号码", "身份号码")),
    ),
    "id_back": (
        _Label("id_issuer", ("签发机关",), multiline=True),
        _Label("validity", ("有效期限", "有效期")),
        _Label(None, ("中华人民共和国", "居民身份证")),
    ),
    "bank_card": (),
    "business_licence": (
        _Label("uscc", ("统一社会信用代码", "社会信用代码", "信用代码")),
        _Label("name", ("名称", "企业名称"), multiline=True, inline=("注册资本", "注册资金")),
        _Label(None, ("类型", "组成形式", "主体类型"), inline=("成立日期", "注册日期")),
        _Label(
            "legal_representative",
            ("法定代表人", "负责人", "经营者", "执行事务合伙人", "投资人"),
            inline=("营业期限", "经营期限", "合伙期限"),
        ),
        _Label(None, ("经营范围",), inline=("住所", "营业场所", "经营场所", "主要经营场所")),
        _Label("registered_capital", ("注册资本", "注册资金", "出资额")),
        _Label("established_date", ("成立日期", "注册日期")),
        _Label(None, ("营业期限", "经营期限", "合伙期限")),
        _Label("business_address", ("住所", "营业场所", "经营场所", "主要经营场所"), multiline=True),
        _Label(None, ("登记机关", "营业执照", "副本", "(副本)", "正本", "(正本)")),
    ),
}

_PUNCT_AFTER_LABEL = ":：·.,，;；、 "


# --- lines and their geometry --------------------------------------------------------------------------


@dataclass
class _Line:
    text: str  # half-width, no whitespace
    raw: str  # as recognised (half-width, stripped)
    confidence: float
    box: tuple[float, float, float, float] | None  # x0, y0, x1, y1
    used: bool = False

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1] if self.box else 0.0

    @property
    def y_mid(self) -> float:
        return (self.box[1] + self.box[3]) / 2 if self.box else 0.0


def _points(box) -> list[tuple[float, float]] | None:
    if box is None:
        return None
    try:
        points = [(float(p[0]), float(p[1])) for p in box]
    except (TypeError, ValueError, IndexError):
        return None
    return points or None


def _skew(quads: list[list[tuple[float, float]]]) -> float:
    """The median slope (radians) of the top edges of the wide boxes: how far the photo is turned."""
    angles = []
    for quad in quads:
        if len(quad) != 4:
            continue
        (x0, y0), (x1, y1), _br, (x3, y3) = quad
        width, height = math.hypot(x1 - x0, y1 - y0), math.hypot(x3 - x0, y3 - y0)
        if width >= 2 * height > 0:
            angles.append(math.atan2(y1 - y0, x1 - x0))
    return statistics.median(angles) if angles else 0.0


def _bbox(points: list[tuple[float, float]], angle: float) -> tuple[float, float, float, float]:
    """Axis-aligned bounds of ``points`` after turning them back by ``angle`` (deskew)."""
    if angle:
        cos, sin = math.cos(angle), math.sin(angle)
        points = [(x * cos + y * sin, -x * sin + y * cos) for x, y in points]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _compact(text: str) -> str:
    return "".join(to_halfwidth(str(text)).split())


def _prepare(lines: Iterable[Sequence]) -> tuple[list[_Line], bool]:
    """Normalise the engine's lines and put them in reading order (rows top to bottom, left to right)."""
    items = []
    for item in lines:
        compact = _compact(item[0])
        if compact:
            items.append(
                (
                    compact,
                    to_halfwidth(str(item[0])),
                    float(item[1]),
                    _points(item[2]) if len(item) > 2 else None,
                )
            )
    quads = [points for *_text, points in items if points]
    angle = _skew(quads) if len(quads) == len(items) else 0.0
    prepared = [
        _Line(compact, raw, confidence, _bbox(points, angle) if points else None)
        for compact, raw, confidence, points in items
    ]
    geometric = bool(prepared) and all(line.box for line in prepared)
    if geometric:
        prepared.sort(key=lambda line: line.box[1])
        rows: list[list[_Line]] = []
        for line in prepared:
            if rows and abs(line.y_mid - rows[-1][0].y_mid) < 0.5 * max(line.height, rows[-1][0].height):
                rows[-1].append(line)
            else:
                rows.append([line])
        prepared = [line for row in rows for line in sorted(row, key=lambda line: line.box[0])]
    return prepared, geometric


def _same_row(a: _Line, b: _Line) -> bool:
    return abs(a.y_mid - b.y_mid) < 0.5 * max(a.height, b.height)


def _merge(a: _Line, b: _Line) -> _Line:
    box = None
    if a.box and b.box:
        box = (
            min(a.box[0], b.box[0]),
            min(a.box[1], b.box[1]),
            max(a.box[2], b.box[2]),
            max(a.box[3], b.box[3]),
        )
    return _Line(a.text + b.text, a.raw + b.raw, min(a.confidence, b.confidence), box)


def _label_at_start(text: str, labels: Sequence[_Label]) -> tuple[_Label, str] | None:
    """The longest label spelling ``text`` starts with, and the rest of ``text`` after it."""
    best = None
    for label in labels:
        for word in label.words:
            if text.startswith(word) and (best is None or len(word) > len(best[1])):
                best = (label, word)
    if best is None:
        return None
    return best[0], text[len(best[1]) :].lstrip(_PUNCT_AFTER_LABEL)


def _join_split_labels(lines: list[_Line], labels: Sequence[_Label], geometric: bool) -> list[_Line]:
    """``名`` + ``称`` on one row (wide letter spacing) → ``名称``."""
    words = [word for label in labels for word in label.words]
    out: list[_Line] = []
    for line in lines:
        if out:
            previous = out[-1]
            joined = previous.text + line.text
            partial = any(word.startswith(previous.text) and word != previous.text for word in words)
            if (
                partial
                and any(joined.startswith(word) for word in words)
                and (not geometric or _same_row(previous, line))
            ):
                out[-1] = _merge(previous, line)
                continue
        out.append(line)
    return out


def _split_inline(lines: list[_Line], labels: Sequence[_Label]) -> list[_Line]:
    """``性别男民族回`` → ``性别男`` + ``民族回`` (each keeping the line's confidence, the box split pro rata)."""
    out: list[_Line] = []
    for line in lines:
        found = _label_at_start(line.text, labels)
        if found and found[0].inline:
            head_len = len(line.text) - len(found[1])
            positions = [
                pos for word in found[0].inline if (pos := line.text.find(word, head_len + 1)) > head_len
            ]
            if positions:
                cut = min(positions)
                first, second = line.text[:cut], line.text[cut:]
                box_a = box_b = None
                if line.box:
                    x0, y0, x1, y1 = line.box
                    xm = x0 + (x1 - x0) * cut / len(line.text)
                    box_a, box_b = (x0, y0, xm, y1), (xm, y0, x1, y1)
                out.append(_Line(first, first, line.confidence, box_a))
                out.extend(_split_inline([_Line(second, second, line.confidence, box_b)], labels))
                continue
        out.append(line)
    return out


# --- finding labelled values -----------------------------------------------------------------------------


@dataclass
class _Found:
    text: str
    confidence: float


class _Reader:
    def __init__(self, lines: Iterable[Sequence], labels: Sequence[_Label]):
        self.labels = labels
        prepared, self.geometric = _prepare(lines)
        prepared = _join_split_labels(prepared, labels, self.geometric)
        self.lines = _split_inline(prepared, labels)

    def is_label(self, line: _Line) -> bool:
        return _label_at_start(line.text, self.labels) is not None

    def _candidates(self) -> list[_Line]:
        return [line for line in self.lines if not line.used and not self.is_label(line)]

    def _value_beside(self, label_line: _Line, index: int, below: bool = True) -> _Line | None:
        if not self.geometric:
            following = self.lines[index + 1] if index + 1 < len(self.lines) else None
            if following is not None and not following.used and not self.is_label(following):
                return following
            return None
        x0, y0, x1, y1 = label_line.box
        height = y1 - y0
        right = [
            line
            for line in self._candidates()
            # Boxes of single characters are padded: compare the centre, not the left edge.
            if _same_row(label_line, line)
            and (line.box[0] + line.box[2]) / 2 > x1
            and line.box[2] > x1 + 0.3 * height
        ]
        if right:
            return min(right, key=lambda line: line.box[0])
        if not below:
            return None
        below = [
            line
            for line in self._candidates()
            if line.box[1] > y1 - 0.3 * height
            and line.box[1] - y1 < 1.0 * height
            and line.box[0] < x1
            and line.box[2] > x0
        ]
        return min(below, key=lambda line: line.box[1]) if below else None

    def _beside_a_label(self, line: _Line) -> bool:
        """Whether the nearest line to the left on the same row is a bare label (so ``line`` is its value)."""
        centre = (line.box[0] + line.box[2]) / 2
        left = [
            other
            for other in self.lines
            if other is not line and _same_row(other, line) and other.box[2] < centre
        ]
        if not left:
            return False
        nearest = max(left, key=lambda other: other.box[2])
        match = _label_at_start(nearest.text, self.labels)
        return match is not None and not match[1]

    def _continuation(
        self, pieces: list[_Line], label_line: _Line, anchor_x: float | None, index: int, found: dict
    ) -> None:
        """Add the wrapped lines of a value to ``pieces``.

        A wrapped line may begin like a label (an address on 民族北街 starts with 民族): with boxes it still
        counts when it starts right of the label, in the value column; without boxes, when that label's
        value was already found.
        """
        if not self.geometric:
            for line in self.lines[index + 1 :]:
                if line.used:
                    continue
                match = _label_at_start(line.text, self.labels)
                if match and match[0].key not in found:
                    break
                line.used = True
                pieces.append(line)
            return
        unused = [line for line in self.lines if not line.used]
        while True:
            last = pieces[-1]
            height = last.height
            below = [
                line
                for line in unused
                if not line.used
                and (line.box[0] > label_line.box[2] or not self.is_label(line))
                and not self._beside_a_label(line)
                and abs(line.box[0] - anchor_x) <= 1.2 * height
                and line.box[1] > last.box[1] + 0.5 * height
                and line.box[1] - last.box[3] <= 0.6 * height
            ]
            if not below:
                return
            line = min(below, key=lambda line: line.box[1])
            line.used = True
            pieces.append(line)

    def read(self) -> dict[str, _Found]:
        """key → the first value found for it (the text of its lines joined, their lowest confidence)."""
        found: dict[str, _Found] = {}
        for index, line in enumerate(self.lines):
            if line.used:
                continue
            match = _label_at_start(line.text, self.labels)
            if match is None:
                continue
            label, rest = match
            line.used = True
            pieces: list[_Line] = []
            anchor_x = None
            if rest:
                pieces.append(_Line(rest, rest, line.confidence, line.box))
                if line.box:
                    x0, _y0, x1, _y1 = line.box
                    anchor_x = x0 + (x1 - x0) * (len(line.text) - len(rest)) / len(line.text)
            else:
                beside = self._value_beside(line, index, below=label.key is not None)
                if beside is not None:
                    beside.used = True
                    pieces.append(beside)
                    anchor_x = beside.box[0] if beside.box else None
                    index = self.lines.index(beside)
            if not pieces or label.key is None:
                continue
            if label.multiline:
                self._continuation(pieces, line, anchor_x, index, found)
            if label.key not in found:
                found[label.key] = _Found(
                    "".join(piece.text for piece in pieces), min(piece.confidence for piece in pieces)
                )
        return found

    def unused(self) -> list[_Line]:
        return [line for line in self.lines if not line.used]


# --- value helpers ---------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"(\d{4})\s*[年.\-/]\s*(\d{1,2})\s*[月.\-/]\s*(\d{1,2})\s*日?")
_DATE_COMPACT_RE = re.compile(r"(\d{4})(\d{2})(\d{2})")


def parse_date(text: str) -> datetime.date | None:
    """``1990年3月7日``, ``2016.03.05``, ``2016-03-05``, ``2016/3/5`` or ``20160305`` → a date, else None."""
    text = _compact(text)
    match = _DATE_RE.fullmatch(text) or _DATE_COMPACT_RE.fullmatch(text)
    if not match:
        return None
    try:
        return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


_CN_DIGITS = {
    **dict.fromkeys("零〇", 0),
    **dict.fromkeys("一壹", 1),
    **dict.fromkeys("二贰两", 2),
    **dict.fromkeys("三叁", 3),
    **dict.fromkeys("四肆", 4),
    **dict.fromkeys("五伍", 5),
    **dict.fromkeys("六陆", 6),
    **dict.fromkeys("七柒", 7),
    **dict.fromkeys("八捌", 8),
    **dict.fromkeys("九玖", 9),
}
_CN_UNITS = {**dict.fromkeys("十拾", 10), **dict.fromkeys("百佰", 100), **dict.fromkeys("千仟", 1000)}
_CN_BIG = {"万": 10**4, "亿": 10**8}
_FOREIGN_CURRENCY = ("美元", "港元", "港币", "欧元", "日元", "英镑", "澳元", "加元", "新加坡元")
_ARABIC_CAPITAL_RE = re.compile(r"(\d+(?:\.\d+)?)(亿|万)?元?")


def _chinese_integer(text: str) -> int | None:
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_UNITS and ch not in _CN_BIG for ch in text):
        return None
    total = section = number = 0
    for ch in text:
        if ch in _CN_DIGITS:
            number = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (number or 1) * _CN_UNITS[ch]
            number = 0
        elif ch == "亿":
            total = (total + section + number) * _CN_BIG[ch]
            section = number = 0
        else:  # 万
            total += (section + number) * _CN_BIG[ch]
            section = number = 0
    return total + section + number


def parse_capital(text: str) -> Decimal | None:
    """``伍佰万元整``, ``人民币500万元``, ``12.5万元``, ``壹仟万元`` → yuan; None for anything else.

    Raises ValueError for a foreign currency (the customer field is in yuan).
    """
    text = _compact(text).replace(",", "")
    if any(word in text for word in _FOREIGN_CURRENCY):
        raise ValueError("foreign currency")
    for noise in ("(人民币)", "人民币", "整", "(", ")"):
        text = text.replace(noise, "")
    match = _ARABIC_CAPITAL_RE.fullmatch(text)
    if match:
        try:
            amount = Decimal(match[1])
        except InvalidOperation:
            return None
        return amount * {"亿": 10**8, "万": 10**4}.get(match[2] or "", 1)
    yuan, _sep, rest = text.partition("元")
    integer = _chinese_integer(yuan)
    if integer is None:
        return None
    amount = Decimal(integer)
    if rest:
        fraction = re.fullmatch(r"(?:(.)角)?(?:(.)分)?", rest)
        if not fraction or any(d and d not in _CN_DIGITS for d in fraction.groups()):
            return None
        jiao, fen = (_CN_DIGITS.get(d or "零", 0) for d in fraction.groups())
        amount += Decimal(jiao) / 10 + Decimal(fen) / 100
    return amount


def _message(error: ValidationError) -> str:
    return str(error.messages[0]) if error.messages else str(error)


class _Fields:
    def __init__(self, kind: str):
        self.kind = kind
        self.items: list[OcrField] = []

    def add(self, key: str, value: str, confidence: float, error: str = "") -> None:
        self.items.append(
            OcrField(key, FIELD_LABELS[self.kind][key], value, round(confidence, 4), str(error))
        )

    def ordered(self) -> list[OcrField]:
        order = list(FIELD_LABELS[self.kind])
        return sorted(self.items, key=lambda field: order.index(field.key))


# --- the four kinds --------------------------------------------------------------------------------------

# The 56 ethnic groups as printed after 民族 on a resident ID card.
_ETHNIC_NAMES = (
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 东乡 纳西 "
    "景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 "
    "裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺"
)
ETHNIC_GROUPS = tuple(_ETHNIC_NAMES.split())
# Traditional forms the recogniser sometimes returns for these names.
_ETHNIC_SIMPLIFIED = str.maketrans("漢滿壯維爾僳佤畬納頗達爾羅溫倫門", "汉满壮维尔僳佤畲纳颇达尔罗温伦门")


def _ethnicity(raw: str) -> str | None:
    """The ethnic group's name as printed (``汉``, ``回``, ``土家``), or None when it is not one of the 56."""
    text = raw.translate(_ETHNIC_SIMPLIFIED).removesuffix("族")
    if text in ETHNIC_GROUPS:
        return text
    inside = {name for name in ETHNIC_GROUPS if name in text}
    # 土家 contains 土: keep the longest of names nested in one another.
    inside = {name for name in inside if not any(name != other and name in other for other in inside)}
    return inside.pop() if len(inside) == 1 else None


_ID_RE = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9X]|[0-9]{15})(?![0-9X])")


def _clean_id_text(text: str) -> str:
    return _compact(text).upper().replace("×", "X").replace("*", "X")


def _parse_id_front(lines) -> list[OcrField]:
    reader = _Reader(lines, _LAYOUTS["id_front"])
    found = reader.read()
    fields = _Fields("id_front")
    if "id_number" not in found:  # no label read: take an 18-character number anywhere
        for line in reader.unused():
            if match := _ID_RE.search(_clean_id_text(line.text)):
                found["id_number"] = _Found(match[0], line.confidence)
                break

    id18 = None
    if "id_number" in found:
        candidate = _clean_id_text(found["id_number"].text)
        try:
            id18 = normalize_resident_id(candidate)
            fields.add("id_number", id18, found["id_number"].confidence)
        except ValidationError as error:
            fields.add("id_number", candidate, found["id_number"].confidence, _message(error))

    if "name" in found:
        fields.add("name", found["name"].text, found["name"].confidence)
    if "gender" in found:
        raw, confidence = found["gender"].text, found["gender"].confidence
        gender = {"男": "male", "女": "female"}.get(raw)
        if gender is None:
            fields.add("gender", raw, confidence, _("性别应为“男”或“女”"))
        elif id18 and resident_id_gender(id18) != gender:
            fields.add("gender", gender, confidence, _("性别与身份证号码不一致，请核对"))
        else:
            fields.add("gender", gender, confidence)
    if "ethnicity" in found:
        raw, confidence = found["ethnicity"].text, found["ethnicity"].confidence
        ethnicity = _ethnicity(raw)
        if ethnicity is None:
            fields.add("ethnicity", raw, confidence, _("民族无法识别，请手工填写"))
        else:
            fields.add("ethnicity", ethnicity, confidence)
    if "birth_date" in found:
        raw, confidence = found["birth_date"].text, found["birth_date"].confidence
        born = parse_date(raw)
        if born is None:
            fields.add("birth_date", raw, confidence, _("出生日期无法识别，请手工填写"))
        elif id18 and resident_id_birth_date(id18) != born:
            fields.add("birth_date", born.isoformat(), confidence, _("出生日期与身份证号码不一致，请核对"))
        else:
            fields.add("birth_date", born.isoformat(), confidence)
    if "household_address" in found:
        fields.add(
            "household_address", found["household_address"].text, found["household_address"].confidence
        )
    return fields.ordered()


_VALIDITY_RE = re.compile(r"(.+?)(?:[-~—–一至到]+)(长期|.+)")


def _parse_id_back(lines) -> list[OcrField]:
    found = _Reader(lines, _LAYOUTS["id_back"]).read()
    fields = _Fields("id_back")
    if "id_issuer" in found:
        fields.add("id_issuer", found["id_issuer"].text, found["id_issuer"].confidence)
    if "validity" in found:
        raw, confidence = found["validity"].text, found["validity"].confidence
        unreadable = _("有效期限无法识别，请手工填写")
        # The dash between the dates comes back as -, —, ~, 一 or 至; split after the first full date.
        date_match = _DATE_RE.match(raw) or _DATE_COMPACT_RE.match(raw)
        if date_match:
            start_text = date_match[0]
            end_text = raw[date_match.end() :].lstrip("-~—–一至到")
        else:
            parts = _VALIDITY_RE.fullmatch(raw)
            start_text, end_text = (parts[1], parts[2]) if parts else (raw, "")
        start = parse_date(start_text)
        if start is None:
            fields.add("id_valid_from", start_text, confidence, unreadable)
        else:
            fields.add("id_valid_from", start.isoformat(), confidence)
        if end_text == "长期":
            fields.add("id_valid_until", "", confidence)
            fields.add("id_valid_long_term", "1", confidence)
        else:
            end = parse_date(end_text)
            if end is None:
                fields.add("id_valid_until", end_text, confidence, unreadable)
            elif start is not None and end <= start:
                fields.add("id_valid_until", end.isoformat(), confidence, _("证件有效期至必须晚于有效期起"))
            else:
                fields.add("id_valid_until", end.isoformat(), confidence)
    return fields.ordered()


# Banks whose name is printed on their cards; the first spelling is the one returned.
_BANKS = (
    ("中国工商银行", "工商银行"),
    ("中国农业银行", "农业银行"),
    ("中国银行",),
    ("中国建设银行", "建设银行"),
    ("交通银行",),
    ("中国邮政储蓄银行", "邮政储蓄银行", "邮储银行"),
    ("招商银行",),
    ("浦发银行", "上海浦东发展银行"),
    ("中信银行",),
    ("中国光大银行", "光大银行"),
    ("华夏银行",),
    ("中国民生银行", "民生银行"),
    ("广发银行",),
    ("平安银行",),
    ("兴业银行",),
    ("浙商银行",),
    ("渤海银行",),
    ("恒丰银行",),
    ("北京银行",),
    ("上海银行",),
    ("江苏银行",),
    ("宁夏银行",),
    ("石嘴山银行",),
    ("宁夏黄河农村商业银行", "黄河农村商业银行", "黄河银行"),
)
_BANK_NAME_RE = re.compile(r"[\u4e00-\u9fff]{2,14}?(?:农村商业银行|农村信用合作联社|银行)")
_CARD_RUN_RE = re.compile(r"\d(?:[\d ]*\d)?")


def _card_candidates(text: str) -> list[str]:
    return ["".join(run.split()) for run in _CARD_RUN_RE.findall(text)]


def _parse_bank_card(lines) -> list[OcrField]:
    prepared, geometric = _prepare(lines)
    fields = _Fields("bank_card")

    # The number, as one line or as groups of four read as separate lines on one row.
    texts = [(" ".join(to_halfwidth(line.raw).split()), line.confidence) for line in prepared]
    if geometric:
        rows: list[list[_Line]] = []
        for line in prepared:
            if rows and _same_row(rows[-1][-1], line):
                rows[-1].append(line)
            else:
                rows.append([line])
        texts += [(" ".join(line.raw for line in row), min(line.confidence for line in row)) for row in rows]
    best = None  # (rank, digits, confidence)
    for text, confidence in texts:
        for digits in _card_candidates(text):
            if not 12 <= len(digits) <= 22:
                continue
            try:
                normalize_bank_card(digits)
                valid = True
            except ValidationError:
                valid = False
            rank = (16 <= len(digits) <= 19, valid, confidence)
            if best is None or rank > best[0]:
                best = (rank, digits, confidence)
    if best is not None:
        _rank, digits, confidence = best
        try:
            number = normalize_bank_card(digits)
        except ValidationError as error:
            fields.add("bank_account", digits, confidence, _message(error))
        else:
            if 16 <= len(number) <= 19:
                fields.add("bank_account", number, confidence)
            else:  # the validator takes 12–19 digits; a card in a customer's hand has 16–19
                fields.add("bank_account", number, confidence, _("银行卡号应为 16 到 19 位数字，请核对"))
    # The bank: a known name first, else any "…银行" on the card.
    for line in prepared:
        for spellings in _BANKS:
            if any(spelling in line.text for spelling in spellings):
                fields.add("bank_name", spellings[0], line.confidence)
                return fields.ordered()
    for line in prepared:
        if match := _BANK_NAME_RE.search(line.text):
            fields.add("bank_name", match[0], line.confidence)
            break
    return fields.ordered()


_USCC_LIKE_RE = re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NP-RTUW-Y]{18}(?![0-9A-Z])")


def _clean_uscc_text(text: str) -> str:
    # The code never contains I, O, Z, S or V: a recognised O or I is the digit 0 or 1.
    return _compact(text).upper().replace("O", "0").replace("I", "1")


def _parse_business_licence(lines) -> list[OcrField]:
    reader = _Reader(lines, _LAYOUTS["business_licence"])
    found = reader.read()
    fields = _Fields("business_licence")
    if "uscc" not in found:
        for line in reader.unused():
            if match := _USCC_LIKE_RE.search(_clean_uscc_text(line.text)):
                found["uscc"] = _Found(match[0], line.confidence)
                break
    if "name" in found:
        fields.add("name", found["name"].text, found["name"].confidence)
    if "uscc" in found:
        raw, confidence = _clean_uscc_text(found["uscc"].text), found["uscc"].confidence
        try:
            fields.add("uscc", normalize_uscc(raw), confidence)
        except ValidationError as error:
            fields.add("uscc", raw, confidence, _message(error))
    if "legal_representative" in found:
        item = found["legal_representative"]
        fields.add("legal_representative", item.text, item.confidence)
    if "established_date" in found:
        raw, confidence = found["established_date"].text, found["established_date"].confidence
        day = parse_date(raw)
        if day is None:
            fields.add("established_date", raw, confidence, _("成立日期无法识别，请手工填写"))
        else:
            fields.add("established_date", day.isoformat(), confidence)
    if "business_address" in found:
        fields.add("business_address", found["business_address"].text, found["business_address"].confidence)
    if "registered_capital" in found:
        raw, confidence = found["registered_capital"].text, found["registered_capital"].confidence
        try:
            amount = parse_capital(raw)
        except ValueError:
            fields.add("registered_capital", raw, confidence, _("注册资本不是人民币，请手工填写"))
        else:
            if amount is None:
                fields.add("registered_capital", raw, confidence, _("注册资本无法识别，请手工填写"))
            else:
                fields.add("registered_capital", f"{amount.quantize(Decimal('0.01')):f}", confidence)
    return fields.ordered()


_PARSERS = {
    "id_front": _parse_id_front,
    "id_back": _parse_id_back,
    "bank_card": _parse_bank_card,
    "business_licence": _parse_business_licence,
}


def parse(kind: str, lines: Iterable[Sequence]) -> list[OcrField]:
    """The fields of document ``kind`` found in OCR ``lines`` [(text, confidence[, box]), …]."""
    try:
        parser = _PARSERS[kind]
    except KeyError:
        raise ValueError(f"unknown document kind {kind!r}") from None
    return parser(list(lines))
