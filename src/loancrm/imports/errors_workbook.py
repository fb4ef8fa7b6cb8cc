"""The error workbook: refused rows exactly as they were, plus their sheet row number and the reason.

Written while the run goes (XlsxWriter in constant-memory mode), so a million bad rows cost no memory.
Fix the cells, delete the two last columns or leave them (the importer ignores them), import again.
"""

from datetime import date, datetime, time
from pathlib import Path

import xlsxwriter


class ErrorWorkbook:
    def __init__(self, path: Path, headers: list[str]):
        self.path = path
        self.headers = headers
        self.rows = 0
        self._book = None
        self._sheet = None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._book = xlsxwriter.Workbook(
            str(self.path), {"constant_memory": True, "strings_to_formulas": False}
        )
        self._sheet = self._book.add_worksheet("未导入的行")
        head = self._book.add_format({"bold": True, "bg_color": "#FDE2E1"})
        self._text = self._book.add_format({"num_format": "@"})
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd"})
        self._sheet.write_row(0, 0, [*self.headers, "原行号", "错误原因"], head)
        self._sheet.freeze_panes(1, 0)
        self._sheet.set_column(0, len(self.headers) - 1, 14, self._text)
        self._sheet.set_column(len(self.headers) + 1, len(self.headers) + 1, 60)

    def add(self, row_number: int, cells: list, reason: str) -> None:
        if self._book is None:
            self._open()
        self.rows += 1
        r = self.rows
        width = len(self.headers)
        for i, value in enumerate(cells[:width] if len(cells) > width else cells):
            if value is None or value == "":
                continue
            if isinstance(value, datetime | date):
                self._sheet.write_datetime(r, i, value, self._date)
            elif isinstance(value, time):
                self._sheet.write_string(r, i, value.isoformat(), self._text)
            elif isinstance(value, bool):
                self._sheet.write_boolean(r, i, value)
            elif isinstance(value, int | float):
                # Numbers stay numbers (so a lost-digits ID shows as Excel showed it).
                self._sheet.write_number(r, i, value)
            else:
                self._sheet.write_string(r, i, str(value), self._text)
        self._sheet.write_number(r, width, row_number)
        self._sheet.write_string(r, width + 1, reason)

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
            self._book = None
