"""Every read of import batches and templates, scoped to what the requesting user may see.

A batch belongs to whoever uploaded it; data scope decides who else sees it (a manager their
department's imports, an admin all) through the one scope helper. Templates are personal.
"""

import json
from collections import Counter
from pathlib import Path

from django.db.models import QuerySet
from django.http import Http404

from loancrm.accounts.scope import scope_queryset

from .columns import BY_FIELD, IMPORTABLE
from .models import ImportBatch, ImportTemplate


def import_batches_visible_to(user) -> QuerySet[ImportBatch]:
    if not getattr(user, "is_authenticated", False):
        return ImportBatch.objects.none()
    qs = ImportBatch.objects.select_related("created_by", "default_owner")
    return scope_queryset(user, qs, owner_field="created_by", department_field="created_by__department")


def import_batch_get_for(user, batch_id: int) -> ImportBatch:
    """A batch the user may see; 404 both when it is missing and when it is outside their scope."""
    try:
        return import_batches_visible_to(user).get(pk=batch_id)
    except (ImportBatch.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def import_templates_for(user) -> QuerySet[ImportTemplate]:
    return ImportTemplate.objects.filter(created_by=user)


def import_template_get_for(user, template_id: int) -> ImportTemplate:
    try:
        return import_templates_for(user).get(pk=template_id)
    except (ImportTemplate.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def import_batch_progress(batch: ImportBatch) -> dict:
    """rows done and counts so far: a running import writes them to a file (its transaction is open)."""
    done, counts = batch.rows_done, batch.counts
    if batch.is_running and batch.stored_path:
        try:
            data = json.loads((Path(batch.stored_path).parent / "progress.json").read_text())
            done, counts = data.get("rows_done", done), data.get("counts", counts)
        except (OSError, ValueError):
            pass
    total = max(batch.rows_total, done)
    percent = batch.percent if not batch.is_running else (min(99, done * 100 // total) if total else 0)
    return {"rows_done": done, "rows_total": total, "counts": counts, "percent": percent}


def import_batch_preview(batch: ImportBatch) -> list[tuple[int, list[str]]]:
    """The first data rows as the sheet has them (row number, cell texts), read at upload."""
    width = len(batch.headers)
    return [(number, (cells + [""] * width)[:width]) for number, cells in batch.preview]


def field_choices() -> list[tuple[str, str]]:
    """(field, header) of every importable customer field, in the sheet's column order."""
    return [(c.field, c.header) for c in IMPORTABLE]


def mapping_rows(batch: ImportBatch, preview: list[tuple[int, list[str]]]) -> list[dict]:
    """One row per sheet column for the mapping table: header, chosen field, sample values."""
    rows = []
    for i, header in enumerate(batch.headers):
        field = batch.mapping[i] if i < len(batch.mapping) else None
        samples = [cells[i] for _n, cells in preview if i < len(cells) and cells[i] != ""][:3]
        rows.append(
            {
                "index": i,
                "header": header,
                "field": field or "",
                "field_label": BY_FIELD[field].header if field in BY_FIELD else "",
                "samples": samples,
            }
        )
    return rows


# Written as the partial index `customer_unmapped` says it, so both databases answer from that index.
UNMAPPED_WHERE = "NOT (customers_customer.unmapped_values = '{}')"


def unmapped_values_summary(user) -> list[dict]:
    """Values imports (or the API) brought that no dictionary knows: field, value, customers, in scope."""
    from loancrm.customers.fields import DICTIONARY_FIELDS
    from loancrm.customers.models import Customer
    from loancrm.customers.selectors import customers_visible_to

    qs = customers_visible_to(user).extra(where=[UNMAPPED_WHERE]).order_by()
    counts: Counter = Counter()
    for values in qs.values_list("unmapped_values", flat=True).iterator(chunk_size=2000):
        for name, value in (values or {}).items():
            if name in DICTIONARY_FIELDS:
                counts[(name, str(value))] += 1
    return [
        {
            "field": name,
            "label": str(Customer._meta.get_field(name).verbose_name),
            "kind": DICTIONARY_FIELDS[name],
            "value": value,
            "count": n,
        }
        for (name, value), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    ]
