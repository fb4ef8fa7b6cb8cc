"""Dashboard tables as an Excel workbook (downloads and scheduled e-mails)."""

import io

from django.utils.translation import gettext as _

from .panels import Panel, ReportFilters


def panels_workbook(panels: list[Panel], f: ReportFilters) -> bytes:
    """The panels' tables as one .xlsx (a sheet per table, the filters first)."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True})
    head = book.add_worksheet(_("筛选条件"))
    head.set_column(0, 1, 20)
    for r, (k, v) in enumerate(f.as_params().items()):
        head.write_row(r, 0, [k, v])
    used: set[str] = set()
    for p in panels:
        for table in [p, *p.extra]:
            name = table.title[:28]
            while name in used:
                name = name[:26] + str(len(used))
            used.add(name)
            ws = book.add_worksheet(name)
            ws.set_column(0, len(table.columns) - 1, 16)
            ws.write_row(0, 0, table.columns, bold)
            for i, row in enumerate(table.rows, 1):
                ws.write_row(i, 0, [c if isinstance(c, int | float) else str(c) for c in row])
    book.close()
    return out.getvalue()
