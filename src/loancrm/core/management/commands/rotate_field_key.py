"""`loancrm rotate-field-key`: new current field key, then every encrypted value re-encrypted with it."""

from dataclasses import dataclass

from django.apps import apps as django_apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, router, transaction
from django.db.models import ExpressionWrapper, F, Value

from loancrm.core.crypto import EncryptedTextField, get_keyring, reencrypt_token, rotate_key

BATCH_SIZE = 2000


@dataclass
class Counts:
    rows: int = 0  # rows read
    values: int = 0  # values re-encrypted
    raced: int = 0  # rows changed by someone else between read and write (left as they were)


def encrypted_fields(app_registry=None) -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every concrete model with EncryptedTextFields, each field listed once (on the model owning its table)."""
    found = []
    for model in (app_registry or django_apps).get_models():
        if model._meta.proxy:
            continue
        fields = [
            f
            for f in model._meta.concrete_fields
            if isinstance(f, EncryptedTextField) and f.model is model  # parent fields: on the parent
        ]
        if fields:
            found.append((model, fields))
    return found


def _raw(field: EncryptedTextField) -> ExpressionWrapper:
    """The column as stored (the token), bypassing the field's decryption."""
    return ExpressionWrapper(F(field.name), output_field=models.TextField())


def reencrypt_model(
    model: type[models.Model], fields: list[EncryptedTextField], *, batch_size: int = BATCH_SIZE, using=None
) -> Counts:
    """Re-encrypt the given fields' values that are not under the current key, one transaction per batch.

    Idempotent and resumable: values already under the current key are left alone.
    """
    db = using or router.db_for_write(model)
    manager = model._base_manager.db_manager(db)
    aliases = {f"_raw_{f.attname}": _raw(f) for f in fields}
    counts = Counts()
    last_pk = None
    while True:
        with transaction.atomic(using=db):
            qs = manager.select_for_update().order_by("pk").annotate(**aliases)
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            rows = list(qs.values_list("pk", *aliases)[:batch_size])
            for pk, *tokens in rows:
                updates, expected = {}, {}
                for field, alias, token in zip(fields, aliases, tokens, strict=True):
                    new = None if token is None else reencrypt_token(token)
                    if new is not None:
                        updates[field.name] = Value(new, output_field=models.TextField())  # stored as is
                        expected[alias] = token
                if not updates:
                    continue
                matched = (
                    manager.filter(pk=pk)
                    .alias(**{a: aliases[a] for a in expected})
                    .filter(**expected)
                    .update(**updates)
                )
                if matched:
                    counts.values += len(updates)
                else:
                    counts.raced += 1
        counts.rows += len(rows)
        if len(rows) < batch_size:
            return counts
        last_pk = rows[-1][0]


class Command(BaseCommand):
    help = (
        "Add a new current key for encrypted fields (DATA_DIR/field_key.json), then re-encrypt every "
        "EncryptedTextField value with it. Restart the app afterwards so every process encrypts with "
        "the new key. With --no-rotate only re-encrypts (to finish an interrupted run, or after raising "
        '"current" in a JSON keyring in LOANCRM_FIELD_KEY).'
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-rotate", action="store_true", help="Only re-encrypt with the current key.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Rows per transaction.")

    def handle(self, *args, no_rotate, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if no_rotate:
            version = get_keyring().current_version
            self.stdout.write(f"当前字段密钥版本 v{version}")
        else:
            try:
                version = rotate_key()
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"已生成新的字段密钥 v{version}")
        total = Counts()
        for model, fields in encrypted_fields():
            counts = reencrypt_model(model, fields, batch_size=batch_size)
            names = ", ".join(f.name for f in fields)
            line = f"  {model._meta.label} ({names}): 行 {counts.rows:,}，重新加密 {counts.values:,} 个值"
            if counts.raced:
                line += f"，{counts.raced:,} 行被并发修改已跳过（可用 --no-rotate 再运行一次）"
            self.stdout.write(line)
            total.rows += counts.rows
            total.values += counts.values
            total.raced += counts.raced
        self.stdout.write(
            self.style.SUCCESS(
                f"完成：共 {total.rows:,} 行，重新加密 {total.values:,} 个值，当前密钥 v{version}。"
                "请重启应用进程。"
            )
        )
