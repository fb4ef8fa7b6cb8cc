"""Sheets made by the tests themselves: valid identifiers and the messy ways people type them."""

import csv
from pathlib import Path

import xlsxwriter

from loancrm.customers.validators import resident_id_check_char, uscc_check_char


def resident_id(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


def uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def write_xlsx(path: Path, rows: list[list], *, title_rows: int = 0) -> Path:
    """rows[0] is the header; `title_rows` title lines go above it (as agencies' sheets have)."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("客户名单")
    for r in range(title_rows):
        sheet.write_string(r, 0, f"2026年客户台账（第{r + 1}行标题）")
    for r, row in enumerate(rows, start=title_rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    book.close()
    return path


def write_csv(path: Path, rows: list[list], *, encoding: str = "utf-8-sig", delimiter: str = ",") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path
