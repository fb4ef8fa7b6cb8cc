"""Writing the audit log. Services call `audit_record` inside their own transaction."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from . import context
from .models import Action, AuditEntry
from .signals import recorded


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return value


def snapshot(instance: models.Model, fields: list[str]) -> dict[str, Any]:
    return {f: _jsonable(getattr(instance, f)) for f in fields}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields whose value changed."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def audit_record(
    *,
    action: Action | str,
    actor=None,
    actor_username: str = "",
    obj: models.Model | None = None,
    changes: dict | None = None,
    extra: dict | None = None,
) -> AuditEntry:
    ctx = context.current()
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    entry = AuditEntry.objects.create(
        actor=actor,
        actor_username=(actor.username if actor is not None else actor_username)[:150],
        ip=ctx.ip,
        action=str(action),
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        changes={k: _jsonable(v) for k, v in (changes or {}).items()},
        extra={k: _jsonable(v) for k, v in (extra or {}).items()},
    )
    recorded.send(sender=AuditEntry, entry=entry)
    return entry
