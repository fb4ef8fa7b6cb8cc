"""Fast bulk insert for large loads (demo data, imports): one `executemany` per batch on SQLite, one
`COPY … FROM STDIN` on PostgreSQL (several times faster there than row-by-row INSERTs).

Django's bulk_create prepares every field of every row through several layers and, on SQLite, splits
batches to ~17 rows for a wide table. Here each row is a dict; fields it omits take the model default;
only fields whose Python value differs from the database value (dates, decimals, JSON, encrypted text)
go through `get_db_prep_save`. Values must already be validated — this skips model validation, signals
and history, exactly like bulk_create.
"""

import json
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from itertools import islice

import orjson
from django.db import connections, models

_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.ForeignKey)


def _needs_prep(field: models.Field) -> bool:
    from loancrm.core.crypto import EncryptedTextField

    if isinstance(field, EncryptedTextField | models.JSONField | models.DecimalField | models.DateField):
        return True  # DateTimeField is a DateField
    return not isinstance(field, _PLAIN)


class JSONText(str):
    """JSON already encoded (say with ensure_ascii=False, by a helper process): stored as it is."""

    __slots__ = ()


def _json_text(value) -> JSONText:
    try:
        return JSONText(orjson.dumps(value).decode())  # ~8× json.dumps
    except TypeError:  # what orjson refuses (say integer keys) the standard library may take
        return JSONText(json.dumps(value))


def _fast_prep(field: models.Field, connection):
    """`get_db_prep_save` for one field, with the common exact types answered without Django's layers.

    Each shortcut gives what those layers give for that type (Django 5.2): a Decimal passes as it is,
    a date becomes its ISO text on SQLite and passes on PostgreSQL, JSON is `json.dumps` (a plain
    value, so prepared rows can be pickled). Anything else takes the full path.
    """

    def full(v, f=field):
        return f.get_db_prep_save(v, connection)

    sqlite = connection.vendor == "sqlite"
    if isinstance(field, models.DecimalField):
        return lambda v: v if v.__class__ is Decimal and v.is_finite() else full(v)
    if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
        if sqlite:
            return lambda v: v.isoformat() if v.__class__ is date else full(v)
        return lambda v: v if v.__class__ is date else full(v)
    if isinstance(field, models.JSONField):
        if field.encoder is None:  # text either way: SQLite stores it, PostgreSQL's COPY parses it
            return lambda v: v if v.__class__ is JSONText else _json_text(v)
        return lambda v: v if v.__class__ is JSONText else full(v)
    return full


def _batched(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def reserve_ids(model: type[models.Model], count: int, *, using="default") -> list[int]:
    """Primary keys for `count` new rows, so a bulk insert needs no read-back.

    PostgreSQL hands them out from the table's sequence (safe with concurrent writers). SQLite runs
    every transaction as BEGIN IMMEDIATE here (settings), so inside one the writer lock is held and
    max(id) cannot move under us; AUTOINCREMENT then continues after the explicit ids.
    """
    connection = connections[using]
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk, count],
            )
            return [r[0] for r in cursor.fetchall()]
        if not connection.in_atomic_block:
            raise RuntimeError("reserve_ids() on SQLite needs the caller's transaction")
        qn = connection.ops.quote_name
        cursor.execute(f"SELECT COALESCE(MAX({qn(pk)}), 0) FROM {qn(table)}")
        top = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        seq = cursor.fetchone()
        start = max(top, seq[0] if seq else 0) + 1  # AUTOINCREMENT never reuses a deleted row's id
    return list(range(start, start + count))


class Inserter:
    """One model's INSERT, with rows turned into parameter lists separately so that a caller can
    reuse prepared values (a history row repeats its record's encrypted and converted values)."""

    def __init__(self, model: type[models.Model], *, with_pk: bool = False, using="default"):
        from loancrm.core.crypto import EncryptedTextField

        self.connection = connection = connections[using]
        fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
        self.names = [f.attname for f in fields]
        self.pairs = [(f.attname, f.get_default() if not f.primary_key else None) for f in fields]
        self.preps = []
        for i, f in enumerate(fields):
            if isinstance(f, EncryptedTextField):
                self.preps.append((i, f.get_prep_value))  # what get_db_prep_save ends in, without the layers
            elif _needs_prep(f):
                self.preps.append((i, _fast_prep(f, connection)))
        self.prep_by_name = {self.names[i]: prep for i, prep in self.preps}
        qn = connection.ops.quote_name
        columns = ", ".join(qn(f.column) for f in fields)
        self.sql = "INSERT INTO {} ({}) VALUES ({})".format(
            qn(model._meta.db_table), columns, ", ".join(["%s"] * len(fields))
        )
        self.copy_sql = f"COPY {qn(model._meta.db_table)} ({columns}) FROM STDIN"

    def prepare_value(self, name: str, value):
        prep = self.prep_by_name.get(name)
        return prep(value) if prep is not None and value is not None else value

    def params(self, rows: Iterable[dict]) -> list[list]:
        # Rows of one batch share many values (the same timestamp, the default {}): a value that is
        # the very object of the previous row's is prepared once.
        last: dict[int, object] = dict.fromkeys((i for i, _p in self.preps), _MISSING)
        prepared: dict[int, object] = {}
        pairs, preps = self.pairs, self.preps
        out = []
        for row in rows:
            get = row.get
            values = [get(name, default) for name, default in pairs]
            for i, prep in preps:
                v = values[i]
                if v is None:
                    continue
                if v is last[i]:
                    values[i] = prepared[i]
                else:
                    last[i] = v
                    values[i] = prepared[i] = prep(v)
            out.append(values)
        return out

    def execute(self, params: list[list]) -> int:
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql" and params:
                # psycopg adapts each value as it would for INSERT (Jsonb, Decimal, datetimes …).
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for row in params:
                        copy.write_row(row)
            else:
                cursor.executemany(self.sql, params)
        return len(params)


def bulk_insert(
    model: type[models.Model],
    rows: Iterable[dict],
    *,
    batch_size: int = 2000,
    using="default",
    with_pk: bool = False,
) -> int:
    """Insert dict rows (attribute names → Python values); `with_pk` when rows carry their primary key."""
    inserter = Inserter(model, with_pk=with_pk, using=using)
    total = 0
    for chunk in _batched(rows, batch_size):
        total += inserter.execute(inserter.params(chunk))
    return total


_MISSING = object()
