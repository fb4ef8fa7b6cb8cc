"""Synthetic document images for tests and demo data: 身份证 (both sides), 银行卡, 营业执照.

Drawn with Pillow and Debian's Noto Sans CJK (``make system-deps`` installs ``fonts-noto-cjk``), laid out
roughly like the real documents — labels on the left in a muted colour, values on the right in black, a
light background — at a size the OCR engine reads reliably (a card is 1000 × 630 px, about 300 dpi).
Every function returns PNG bytes. The people and companies are fictional; use
:func:`fictional_id_number` / :func:`fictional_uscc` / :func:`fictional_bank_card` for numbers that pass
the project's check-character validators.
"""

from __future__ import annotations

import datetime
import io
import math
import random
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from loancrm.customers.validators import resident_id_check_char, uscc_check_char

__all__ = [
    "FONT_PATH",
    "bank_card",
    "business_licence",
    "fictional_bank_card",
    "fictional_id_number",
    "fictional_uscc",
    "id_card_back",
    "id_card_front",
]

FONT_PATH = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
BOLD_FONT_PATH = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")

CARD_SIZE = (1000, 630)  # 85.6 × 54 mm at ~300 dpi
LICENCE_SIZE = (1400, 990)  # A4 landscape at ~120 dpi

LABEL = (38, 92, 140)  # the blue-grey of the printed labels on a resident ID card
INK = (20, 20, 20)
RED = (196, 30, 40)


# --- fonts -------------------------------------------------------------------------------------------


@cache
def _face_index(path: Path, family: str) -> int:
    """Index of ``family`` (e.g. "Noto Sans CJK SC") inside a .ttc collection."""
    for index in range(16):
        try:
            font = ImageFont.truetype(str(path), 20, index=index)
        except OSError:
            break
        if font.getname()[0] == family:
            return index
    return 0


@cache
def _font(size: int, *, bold: bool = False, mono: bool = False) -> ImageFont.FreeTypeFont:
    path = BOLD_FONT_PATH if bold and BOLD_FONT_PATH.exists() else FONT_PATH
    if not path.exists():
        raise RuntimeError(
            f"找不到中文字体 {FONT_PATH}：请先安装 Debian 软件包 fonts-noto-cjk（make system-deps）"
        )
    family = "Noto Sans Mono CJK SC" if mono and not bold else "Noto Sans CJK SC"
    return ImageFont.truetype(str(path), size, index=_face_index(path, family))


# --- fictional numbers -------------------------------------------------------------------------------


def fictional_id_number(birth: datetime.date, *, male: bool, area: str = "640104", seq: int = 12) -> str:
    """A resident ID number with a correct check character (default area: 银川市兴庆区, 640104)."""
    order = seq * 10 + (1 if male else 2)  # 3-digit order code: odd for men, even for women
    first17 = f"{area}{birth:%Y%m%d}{order % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def fictional_uscc(body: str = "91640100MA7" + "6XK3D2") -> str:
    """A unified social credit code with a correct check character (default: a 宁夏银川 company)."""
    return body[:17] + uscc_check_char(body[:17])


def fictional_bank_card(prefix: str = "622202", length: int = 19, seed: int = 7) -> str:
    """A card number of ``length`` digits starting with ``prefix`` whose last digit satisfies Luhn."""
    rng = random.Random(seed)
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # the check digit will sit to the right, so these are doubled
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


# --- drawing helpers ---------------------------------------------------------------------------------


def _background(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int], seed: int):
    """A soft vertical gradient with faint guilloche-like waves, as on printed security documents."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    rng = random.Random(seed)
    for _ in range(14):
        amplitude, phase, base = rng.uniform(8, 30), rng.uniform(0, 6.28), rng.uniform(0, height)
        tint = tuple(max(0, c - rng.randint(6, 14)) for c in top)
        points = [
            (x, base + amplitude * math.sin(x / rng.uniform(60, 140) + phase)) for x in range(0, width, 8)
        ]
        draw.line(points, fill=tint, width=1)
    return image


def _text(draw: ImageDraw.ImageDraw, xy, text: str, font, fill=INK, spacing: int = 0) -> int:
    """Draw ``text`` at ``xy`` (top-left), with ``spacing`` extra pixels between characters; return the right x."""
    x, y = xy
    if not spacing:
        draw.text((x, y), text, font=font, fill=fill)
        return x + round(draw.textlength(text, font=font))
    for char in text:
        draw.text((x, y), char, font=font, fill=fill)
        x += round(draw.textlength(char, font=font)) + spacing
    return x - spacing


def _wrap(text: str, per_line: int) -> list[str]:
    return [text[i : i + per_line] for i in range(0, len(text), per_line)] or [""]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()


def _emblem(draw: ImageDraw.ImageDraw, box, colour=RED) -> None:
    """A stand-in for the national emblem: concentric rings and five stars (no text)."""
    x0, y0, x1, y1 = box
    draw.ellipse(box, outline=colour, width=6)
    draw.ellipse((x0 + 18, y0 + 18, x1 - 18, y1 - 18), outline=colour, width=2)
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    for k, (dx, dy, scale) in enumerate(((0, -0.25, 0.22), (-0.3, -0.4, 0.08), (-0.1, -0.5, 0.08))):
        rr = r * scale
        points = []
        for i in range(10):
            angle = -math.pi / 2 + i * math.pi / 5 + k * 0.2
            radius = rr if i % 2 == 0 else rr * 0.4
            points.append((cx + dx * r + radius * math.cos(angle), cy + dy * r + radius * math.sin(angle)))
        draw.polygon(points, fill=colour)
    draw.rectangle((cx - r * 0.45, cy + r * 0.1, cx + r * 0.45, cy + r * 0.35), outline=colour, width=4)


# --- 身份证 ------------------------------------------------------------------------------------------


def id_card_front(
    name: str, gender_label: str, ethnicity: str, birth: datetime.date | str, address: str, id_number: str
) -> bytes:
    """The 人像面 of a resident ID card: 姓名, 性别/民族, 出生, 住址 (wrapped), 公民身份号码 and a photo."""
    if isinstance(birth, str):
        birth = datetime.date.fromisoformat(birth)
    image = _background(CARD_SIZE, (246, 248, 243), (232, 240, 246), seed=1)
    draw = ImageDraw.Draw(image)
    label, value = _font(30), _font(34)

    # Photo placeholder on the right: a pale panel with a head-and-shoulders silhouette.
    draw.rectangle((690, 70, 930, 400), fill=(224, 230, 236))
    draw.ellipse((755, 120, 865, 250), fill=(178, 186, 196))
    draw.chord((715, 250, 905, 470), 180, 360, fill=(178, 186, 196))

    lx, vx = 70, 190
    _text(draw, (lx, 72), "姓名", label, LABEL, spacing=4)
    _text(draw, (vx, 68), name, value)
    _text(draw, (lx, 152), "性别", label, LABEL, spacing=4)
    _text(draw, (vx, 148), gender_label, value)
    _text(draw, (350, 152), "民族", label, LABEL, spacing=4)
    _text(draw, (450, 148), ethnicity, value)
    _text(draw, (lx, 232), "出生", label, LABEL, spacing=4)
    x = _text(draw, (vx, 228), str(birth.year), value) + 12
    x = _text(draw, (x, 232), "年", label, LABEL) + 12
    x = _text(draw, (x, 228), str(birth.month), value) + 12
    x = _text(draw, (x, 232), "月", label, LABEL) + 12
    x = _text(draw, (x, 228), str(birth.day), value) + 12
    _text(draw, (x, 232), "日", label, LABEL)
    _text(draw, (lx, 312), "住址", label, LABEL, spacing=4)
    for row, chunk in enumerate(_wrap(address, 13)):
        _text(draw, (vx, 308 + row * 48), chunk, value)
    _text(draw, (lx, 520), "公民身份号码", label, LABEL, spacing=2)
    _text(draw, (340, 512), id_number, _font(42, mono=True), INK, spacing=4)
    return _png(image.filter(ImageFilter.GaussianBlur(0.6)))


def id_card_back(
    issuer: str, valid_from: datetime.date | str, valid_until: datetime.date | str | None
) -> bytes:
    """The 国徽面: emblem, 中华人民共和国 居民身份证, 签发机关 and 有效期限 (``valid_until`` None → 长期)."""
    image = _background(CARD_SIZE, (244, 247, 250), (236, 242, 240), seed=2)
    draw = ImageDraw.Draw(image)
    _emblem(draw, (70, 50, 230, 210))
    _text(draw, (300, 70), "中华人民共和国", _font(54, bold=True), INK, spacing=14)
    _text(draw, (330, 170), "居民身份证", _font(66, bold=True), INK, spacing=26)

    def dotted(day) -> str:
        if day is None:
            return "长期"
        if isinstance(day, str):
            day = datetime.date.fromisoformat(day)
        return f"{day:%Y.%m.%d}"

    label, value = _font(30), _font(34)
    _text(draw, (190, 432), "签发机关", label, LABEL, spacing=4)
    _text(draw, (360, 428), issuer, value)
    _text(draw, (190, 512), "有效期限", label, LABEL, spacing=4)
    _text(draw, (360, 508), f"{dotted(valid_from)}-{dotted(valid_until)}", value)
    return _png(image.filter(ImageFilter.GaussianBlur(0.6)))


# --- 银行卡 ------------------------------------------------------------------------------------------


def bank_card(number: str, bank: str) -> bytes:
    """A debit card: bank name top left, chip, the number in groups of four, 借记卡 and a UnionPay-like mark."""
    image = _background(CARD_SIZE, (232, 238, 248), (206, 218, 238), seed=3)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (6, 6, CARD_SIZE[0] - 6, CARD_SIZE[1] - 6), radius=40, outline=(170, 184, 210), width=3
    )
    draw.ellipse((60, 48, 130, 118), outline=RED, width=8)
    _text(draw, (150, 52), bank, _font(50, bold=True), RED)
    # Chip.
    draw.rounded_rectangle(
        (90, 200, 220, 300), radius=14, fill=(214, 182, 102), outline=(150, 120, 60), width=2
    )
    for y in (233, 266):
        draw.line([(90, y), (220, y)], fill=(150, 120, 60), width=2)
    draw.line([(155, 200), (155, 300)], fill=(150, 120, 60), width=2)
    digits = "".join(number.split())
    groups = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    _text(draw, (80, 350), groups, _font(58, mono=True), (30, 30, 40))
    _text(draw, (80, 470), "借记卡", _font(34), (40, 50, 70))
    # UnionPay-like three-colour mark.
    for i, colour in enumerate(((200, 30, 40), (20, 60, 140), (0, 130, 110))):
        draw.polygon(
            [(720 + i * 62, 470), (790 + i * 62, 470), (770 + i * 62, 570), (700 + i * 62, 570)], fill=colour
        )
    _text(draw, (745, 500), "银联", _font(36, bold=True), (255, 255, 255))
    return _png(image.filter(ImageFilter.GaussianBlur(0.6)))


# --- 营业执照 ----------------------------------------------------------------------------------------


def business_licence(
    name: str, uscc: str, legal_rep: str, established: datetime.date | str, address: str, capital: str
) -> bytes:
    """A 营业执照 (副本): code top left, title, two columns of labelled fields, registration seal."""
    if isinstance(established, str):
        established = datetime.date.fromisoformat(established)
    width, height = LICENCE_SIZE
    image = _background(LICENCE_SIZE, (252, 249, 240), (248, 244, 232), seed=4)
    draw = ImageDraw.Draw(image)
    frame = (150, 110, 60)
    draw.rectangle((20, 20, width - 20, height - 20), outline=frame, width=8)
    draw.rectangle((36, 36, width - 36, height - 36), outline=frame, width=2)

    small, label, value = _font(28), _font(30), _font(32)
    _text(draw, (90, 80), "统一社会信用代码", small, INK)
    _text(draw, (90, 122), uscc, _font(32, mono=True), INK, spacing=2)
    _emblem(draw, (640, 56, 760, 176))
    _text(draw, (505, 190), "营业执照", _font(88, bold=True), INK, spacing=28)
    _text(draw, (650, 310), "（副本）", small, INK)
    # QR-code-like block in the top right corner.
    rng = random.Random(uscc)
    for row in range(21):
        for col in range(21):
            if (
                rng.random() < 0.5
                or (row < 7 and col < 7)
                or (row < 7 and col > 13)
                or (row > 13 and col < 7)
            ):
                draw.rectangle((1150 + col * 8, 70 + row * 8, 1157 + col * 8, 77 + row * 8), fill=INK)

    left_label, left_value, right_label, right_value = 90, 290, 740, 920

    def field(x_label, x_value, y, caption, text, per_line=13, step=50):
        _text(draw, (x_label, y + 2), caption, label, INK, spacing=(4 if len(caption) > 2 else 60))
        rows = _wrap(text, per_line)
        for i, chunk in enumerate(rows):
            _text(draw, (x_value, y + i * step), chunk, value)
        return y + len(rows) * step + 26

    y = field(left_label, left_value, 390, "名称", name, per_line=13)
    y = field(left_label, left_value, y, "类型", "有限责任公司（自然人投资或控股）", per_line=13)
    y = field(left_label, left_value, y, "法定代表人", legal_rep)
    field(
        left_label,
        left_value,
        y,
        "经营范围",
        "软件开发；信息技术咨询服务；计算机系统服务；融资咨询服务（依法须经批准的项目除外）",
        per_line=13,
    )

    y = field(right_label, right_value, 390, "注册资本", capital, per_line=12)
    y = field(
        right_label, right_value, y, "成立日期", f"{established.year}年{established:%m}月{established:%d}日"
    )
    y = field(right_label, right_value, y, "营业期限", "长期")
    field(right_label, right_value, y, "住所", address, per_line=12)

    # Registration authority and a red seal.
    draw.ellipse((1060, 770, 1230, 940), outline=RED, width=6)
    _text(draw, (780, 850), "登记机关", label, INK)
    _text(draw, (1010, 900), f"{established.year}年{established:%m}月{established:%d}日", _font(28), INK)
    return _png(image.filter(ImageFilter.GaussianBlur(0.5)))
