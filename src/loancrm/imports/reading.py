"""Reading a customer sheet as people send it: .xlsx/.xls/.xlsb/.ods via calamine, or CSV in any encoding
Chinese offices use (UTF-8, UTF-8 with BOM, GBK/GB18030), with title rows above the header.
"""

import codecs
import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from .columns import auto_mapping, field_for_header

SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
CSV_SUFFIXES = {".csv", ".txt"}
HEADER_SCAN_ROWS = 30  # title rows, notes and blank rows above the header


PREVIEW_ROWS = 5  # data rows kept at upload for the mapping step


class SheetError(Exception):
    """The file cannot be read as a customer sheet; the message says why, in Chinese."""


@dataclass
class SheetInfo:
    sheet_name: str
    header_row: int  # the sheet's own row number (1-based)
    headers: list[str]
    mapping: list[str | None]
    estimated_rows: int  # data rows below the header, blank rows included
    preview: list = field(default_factory=list)  # [[sheet row number, [cell texts]], …] of the first rows


def detect_encoding(path: Path) -> str:
    """utf-8-sig / utf-8 when every byte decodes as UTF-8, else gb18030 (a superset of GBK and GB2312)."""
    with open(path, "rb") as fh:
        head = fh.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


def _csv_rows(path: Path) -> Iterator[list]:
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        sample = fh.read(64 * 1024)
        fh.seek(0)
        delimiter = _sniff_delimiter(sample)
        yield from csv.reader(fh, delimiter=delimiter)


def _sniff_delimiter(sample: str) -> str:
    """The delimiter under which the sample shows the best header (csv.Sniffer gives up on title rows)."""
    lines = sample.splitlines()[:HEADER_SCAN_ROWS]
    best, best_score = ",", 0
    for delimiter in (",", "\t", ";", "|"):
        score = _find_header(list(csv.reader(lines, delimiter=delimiter)))[1]
        if score > best_score:
            best, best_score = delimiter, score
    return best


# (path, size, mtime) → (sheet name, loaded calamine sheet) of the one sheet the CLI both inspects and
# imports in one process: loading is most of reading an .xlsx (2.8 s of 3.1 s at 100,000 rows), so it
# is done once. Only `inspect(..., keep=True)` fills it; `forget` empties it when the run is done.
_kept: dict[tuple, tuple[str, object]] = {}


def _key(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:  # gone: a cache miss, and calamine's open says why
        return (str(path),)
    return (str(path), st.st_size, st.st_mtime_ns)


def forget(path: Path) -> None:
    for key in [k for k in _kept if k[0] == str(path)]:
        del _kept[key]


def _spreadsheet_rows(path: Path, keep: bool = False) -> tuple[str, Iterator[list]]:
    from python_calamine import CalamineWorkbook

    kept = _kept.get(_key(path))
    if kept is not None:
        return kept[0], kept[1].iter_rows()
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several error types for broken or encrypted files
        raise SheetError(
            _("无法读取该文件（%(reason)s）。请确认它是 Excel 或 CSV 文件，且没有设置密码。")
            % {"reason": type(exc).__name__}
        ) from exc
    # The first sheet that has a recognisable header; people keep notes on other sheets.
    first = None
    for name in workbook.sheet_names:
        sheet = workbook.get_sheet_by_name(name)
        rows = sheet.iter_rows()
        head = [r for _i, r in zip(range(HEADER_SCAN_ROWS), rows, strict=False)]
        found = _find_header(head)[1] >= 2
        if (found or first is None) and keep:
            _kept.clear()
            _kept[_key(path)] = (name, sheet)
        if found:
            return name, itertools.chain(head, rows)
        if first is None:
            first = (name, itertools.chain(head, rows))
    if first is None:
        raise SheetError(_("文件中没有工作表。"))
    return first


def open_rows(path: Path, original_name: str = "", keep: bool = False) -> tuple[str, Iterator[list]]:
    """(sheet name, rows from the sheet's first row); every row is a list of cell values.

    `keep`: hold the loaded sheet for the next `open_rows` of the same file in this process (the CLI).
    """
    suffix = Path(original_name or path.name).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "", _csv_rows(path)
    if suffix in SPREADSHEET_SUFFIXES:
        return _spreadsheet_rows(path, keep)
    raise SheetError(
        _("不支持的文件类型“%(suffix)s”：请上传 .xlsx、.xls 或 .csv 文件。") % {"suffix": suffix or "?"}
    )


def _find_header(rows: list[list]) -> tuple[int, int]:
    """(index, score) of the row naming the most known columns; title rows above it score 0 or 1."""
    best_index, best_score = 0, 0
    for i, row in enumerate(rows):
        score = sum(1 for cell in row if field_for_header(cell))
        if score > best_score:
            best_index, best_score = i, score
    return best_index, best_score


def inspect(path: Path, original_name: str = "", keep: bool = False) -> SheetInfo:
    """Find the header row and map its columns; raise SheetError when no header can be found."""
    sheet_name, rows = open_rows(path, original_name, keep)
    try:
        head = [r for _i, r in zip(range(HEADER_SCAN_ROWS), rows, strict=False)]
    except (UnicodeError, csv.Error) as exc:
        raise SheetError(_("无法读取该文件：%(reason)s") % {"reason": exc}) from exc
    index, score = _find_header(head)
    if score < 2:
        raise SheetError(
            _("在前 %(n)s 行中找不到表头（如“姓名”“手机号码”“身份证号”）。请确认文件第一张工作表是客户名单。")
            % {"n": HEADER_SCAN_ROWS}
        )
    headers = [str(c).strip() if c is not None else "" for c in head[index]]
    while headers and not headers[-1]:
        headers.pop()
    below = head[index + 1 :]
    below += list(itertools.islice(rows, max(0, PREVIEW_ROWS - len(below))))
    remaining = len(below) + sum(1 for _ in rows)
    preview = [
        [index + 2 + i, [cell_text(c) for c in row[: len(headers)]]]
        for i, row in enumerate(below[:PREVIEW_ROWS])
    ]
    return SheetInfo(sheet_name, index + 1, headers, auto_mapping(headers), remaining, preview)


def cell_text(value) -> str:
    """A cell as the sheet shows it: 13800001234 rather than 13800001234.0, dates as 2026-03-05."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


def data_rows(path: Path, original_name: str, header_row: int) -> Iterator[tuple[int, list]]:
    """(sheet row number, cells) for every row below the header."""
    _name, rows = open_rows(path, original_name)
    for number, row in enumerate(rows, start=1):
        if number > header_row:
            yield number, row
