"""One way to hand a private file to the browser: never cached, never sniffed into something else."""

from django.http import FileResponse, HttpResponse
from django.utils.encoding import escape_uri_path

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def private_file_response(handle, *, filename: str, content_type: str | None = None, inline: bool = False):
    """A FileResponse for an open private file (customer data: attachments, exports, import files)."""
    response = FileResponse(handle, as_attachment=not inline, filename=filename, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def xlsx_response(content: bytes, *, filename: str) -> HttpResponse:
    """A workbook built in memory (templates, examples), as a download named `filename`."""
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{escape_uri_path(filename)}"
    return response
