"""Customers → sheet cells → .xlsx / .csv, following `imports.columns` (the contract the importer reads).

Rows come from a `values_list` of the columns' fields (no model instances), are turned into cells by
one precomputed converter per column and written as they arrive, so memory stays flat however many
customers are exported: CSV through the csv module, .xlsx through XlsxWriter's constant-memory mode.

Every text cell goes through `neutralise()` (no cell ever runs as a formula); dictionary codes, choice
codes and owners are written as the labels a person sees (and the importer reads back); sensitive fields
are masked with the screen's own mask functions unless the export reveals them.
"""

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from loancrm.customers import fields as customer_fields
from loancrm.customers.models import Customer, DataSource
from loancrm.customers.validators import mask_bank_card, mask_id_number, mask_phone
from loancrm.dictionaries.selectors import dictionary_labels
from loancrm.imports.columns import (
    CHOICE,
    COLUMNS,
    DATE,
    DATETIME,
    DICT,
    INT,
    LIST,
    MONEY,
    OWNER,
    RATE,
    SENSITIVE,
    format_date,
    format_datetime,
    format_money,
    neutralise,
)

HEADERS = [c.header for c in COLUMNS]
XLSX_MAX_ROWS = 1_048_575  # Excel's 1,048,576 rows, less the header
PREFERENCE_KIND = "product_preference"
MASKS: dict[str, Callable[[str], str]] = {
    "id_number": mask_id_number,
    "phone": mask_phone,
    "backup_phone": mask_phone,
    "bank_account": mask_bank_card,
}
assert set(MASKS) == set(customer_fields.SENSITIVE)  # a new sensitive field must say how it is masked

# What is read per customer: the columns' own fields, and for the owner and department the names shown.
_RELATED = {"owner": ("owner__full_name", "owner__username"), "department": ("department__name",)}
VALUE_FIELDS: list[str] = [name for c in COLUMNS for name in _RELATED.get(c.field, (c.field,))]

Cell = str | int | float | None
Row = tuple


class ExportTooLarge(ValidationError):
    pass


def _source_labels(choices) -> dict[str, str]:
    """code → label as the source (Chinese) string, whatever language is active: the sheet's contract."""
    with translation.override(None):
        return {str(code): str(label) for code, label in choices}


def row_converter(*, reveal: bool, numbers: bool) -> Callable[[Row], list[Cell]]:
    """A function turning one `VALUE_FIELDS` tuple into the cells of `COLUMNS`.

    numbers=True (.xlsx): amounts, rates and counts as numbers; False (.csv): as text (`50000.00`).
    """
    dict_labels = {name: dictionary_labels(kind) for name, kind in customer_fields.DICTIONARY_FIELDS.items()}
    preferences = dictionary_labels(PREFERENCE_KIND)
    choice_labels = {
        name: _source_labels(Customer._meta.get_field(name).flatchoices)
        for name in ("customer_type", "gender", "id_type")
    }
    sources = _source_labels(DataSource.choices)
    index = {name: i for i, name in enumerate(VALUE_FIELDS)}

    def text(i: int) -> Callable[[Row], Cell]:
        return lambda r: neutralise(r[i] or "")

    def mapped(i: int, labels: dict[str, str]) -> Callable[[Row], Cell]:
        return lambda r: neutralise(labels.get(r[i], r[i]) or "") if r[i] else ""

    def masked(i: int, mask: Callable[[str], str]) -> Callable[[Row], Cell]:
        return lambda r: neutralise(mask(r[i])) if r[i] else ""

    def decimal(i: int) -> Callable[[Row], Cell]:
        if numbers:
            return lambda r: None if r[i] is None else float(r[i])
        return lambda r: format_money(r[i])

    def integer(i: int) -> Callable[[Row], Cell]:
        if numbers:
            return lambda r: r[i]
        return lambda r: "" if r[i] is None else str(r[i])

    def listed(i: int) -> Callable[[Row], Cell]:
        return lambda r: neutralise("、".join(preferences.get(p, p) for p in r[i])) if r[i] else ""

    def owner(r: Row, i=index["owner__full_name"], j=index["owner__username"]) -> Cell:
        return neutralise(r[i] or r[j] or "")

    def date_cell(i: int, fmt: Callable) -> Callable[[Row], Cell]:
        return lambda r: fmt(r[i]) if r[i] is not None else ""

    plan: list[Callable[[Row], Cell]] = []
    for c in COLUMNS:
        if c.field == "owner" or c.kind == OWNER:
            plan.append(owner)
            continue
        i = index[_RELATED.get(c.field, (c.field,))[0]]
        if c.field == "data_source":
            plan.append(mapped(i, sources))
        elif c.field == "created_at" or c.kind == DATETIME:
            plan.append(date_cell(i, format_datetime))
        elif c.kind == DATE:
            plan.append(date_cell(i, format_date))
        elif c.kind == SENSITIVE:
            plan.append(text(i) if reveal else masked(i, MASKS[c.field]))
        elif c.kind == DICT:
            plan.append(mapped(i, dict_labels[c.field]))
        elif c.kind == CHOICE:
            plan.append(mapped(i, choice_labels[c.field]))
        elif c.kind in (MONEY, RATE):
            plan.append(decimal(i))
        elif c.kind == INT:
            plan.append(integer(i))
        elif c.kind == LIST:
            plan.append(listed(i))
        else:  # text, customer number, department name
            plan.append(text(i))

    def convert(row: Row) -> list[Cell]:
        return [f(row) for f in plan]

    return convert


class CsvSheetWriter:
    """UTF-8 with a BOM (so Excel opens it as UTF-8), comma-separated, every value quoted as needed."""

    numbers = False

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed in close())
        self.writer = csv.writer(self.fh)
        self.writer.writerow(HEADERS)

    def write_rows(self, rows: Iterable[list[Cell]]) -> None:
        self.writer.writerows(rows)

    def close(self) -> None:
        self.fh.close()


class XlsxSheetWriter:
    """One sheet 客户: bold frozen header, the columns' widths, text as strings, amounts as numbers."""

    numbers = True

    def __init__(self, path: Path) -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,  # rows go to disk as they are written
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        self.sheet = self.book.add_worksheet("客户")
        bold = self.book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
        text = self.book.add_format({"num_format": "@"})
        self.money = self.book.add_format({"num_format": "0.00"})
        self.kinds: list[str] = []
        for col, c in enumerate(COLUMNS):
            width = max(c.width, len(c.header) * 2 + 2)
            numeric = c.kind in (MONEY, RATE, INT)
            self.sheet.set_column(col, col, width, None if numeric else text)
            self.sheet.write_string(0, col, c.header, bold)
            self.kinds.append("money" if c.kind in (MONEY, RATE) else "int" if c.kind == INT else "text")
        self.sheet.freeze_panes(1, 0)
        self.row = 0

    def write_rows(self, rows: Iterable[list[Cell]]) -> None:
        sheet, money = self.sheet, self.money
        write_string, write_number = sheet.write_string, sheet.write_number
        for cells in rows:
            self.row += 1
            r = self.row
            if r > XLSX_MAX_ROWS:
                raise ExportTooLarge(too_large_message())
            for col, value in enumerate(cells):
                if value is None or value == "":
                    continue
                if value.__class__ is str:
                    write_string(r, col, value)
                else:
                    write_number(r, col, value, money if self.kinds[col] == "money" else None)

    def close(self) -> None:
        self.book.close()


WRITERS = {"csv": CsvSheetWriter, "xlsx": XlsxSheetWriter}


def too_large_message() -> str:
    return _("超过 Excel 的行数上限（%(n)s 行），请改用 CSV 格式或缩小筛选范围") % {"n": f"{XLSX_MAX_ROWS:,}"}


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_sheet(
    path: Path,
    fmt: str,
    rows: Iterator[Row],
    *,
    reveal: bool,
    progress: Callable[[int], Any] | None = None,
    every: int = 2000,
) -> int:
    """Write `rows` (VALUE_FIELDS tuples) to `path` as `fmt`; call progress(rows written) every `every` rows."""
    writer = WRITERS[fmt](path)
    convert = row_converter(reveal=reveal, numbers=writer.numbers)
    done = 0
    try:
        for batch in _batches(rows, every):
            writer.write_rows(map(convert, batch))
            done += len(batch)
            if progress is not None:
                progress(done)
    finally:
        writer.close()
    return done
