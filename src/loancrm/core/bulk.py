"""Fast bulk insert for large loads (demo data, imports): one `executemany` per batch.

Django's bulk_create prepares every field of every row through several layers and, on SQLite, splits
batches to ~17 rows for a wide table. Here each row is a dict; fields it omits take the model default;
only fields whose Python value differs from the database value (dates, decimals, JSON, encrypted text)
go through `get_db_prep_save`. Values must already be validated — this skips model validation, signals
and history, exactly like bulk_create.
"""

from collections.abc import Iterable, Iterator
from itertools import islice

from django.db import connections, models

_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.ForeignKey)


def _needs_prep(field: models.Field) -> bool:
    from loancrm.core.crypto import EncryptedTextField

    if isinstance(field, EncryptedTextField | models.JSONField | models.DecimalField | models.DateField):
        return True  # DateTimeField is a DateField
    return not isinstance(field, _PLAIN)


def _batched(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def bulk_insert(
    model: type[models.Model], rows: Iterable[dict], *, batch_size: int = 2000, using="default"
) -> int:
    connection = connections[using]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    names = [f.attname for f in fields]
    defaults = [f.get_default() for f in fields]
    from loancrm.core.crypto import EncryptedTextField

    preps = []
    for f in fields:
        if isinstance(f, EncryptedTextField):
            preps.append(f.get_prep_value)  # what get_db_prep_save ends in, without the layers
        elif _needs_prep(f):
            preps.append(lambda v, f=f: f.get_db_prep_save(v, connection))
        else:
            preps.append(None)
    qn = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        qn(model._meta.db_table), ", ".join(qn(f.column) for f in fields), ", ".join(["%s"] * len(fields))
    )
    columns = list(zip(names, defaults, preps, strict=True))
    total = 0
    with connection.cursor() as cursor:
        for chunk in _batched(rows, batch_size):
            # Rows of one batch share many values (the same timestamp, the default {}): a value that
            # is the very object of the previous row's is prepared once.
            last: list = [_MISSING] * len(columns)
            prepared: list = [None] * len(columns)
            params = []
            for row in chunk:
                values = []
                for i, (name, default, prep) in enumerate(columns):
                    v = row.get(name, default)
                    if prep is not None and v is not None:
                        if v is last[i]:
                            v = prepared[i]
                        else:
                            last[i] = v
                            v = prepared[i] = prep(v)
                    values.append(v)
                params.append(values)
            cursor.executemany(sql, params)
            total += len(chunk)
    return total


_MISSING = object()
