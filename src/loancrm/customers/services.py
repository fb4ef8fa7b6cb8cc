"""Every write to customers: permission check, one transaction, audit entry (and a history version)."""

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.accounts.scope import users_in_scope
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.core.crypto import blind_index

from . import numbers
from .cleaning import clean_customer_data
from .fields import SENSITIVE, editable_fields
from .models import (
    Attachment,
    Customer,
    CustomerAsset,
    CustomerTransfer,
    DataSource,
    FollowUp,
    RelatedPerson,
    Tag,
)

AUDIT_MASK = "***"


class DuplicateCustomer(ValidationError):
    """撞单: the same ID number, USCC or phone already belongs to a customer."""

    def __init__(self, message: str, *, field: str, existing: Customer):
        super().__init__({field: [message]})
        self.existing = existing
        self.field = field


class StaleEdit(ValidationError):
    """Someone saved the customer after this form was opened; nothing was overwritten."""


def _audit_changes(before: dict, after: dict) -> dict:
    """Changed fields, with sensitive values never written into the audit log in clear."""
    out = {}
    for key in after:
        if before.get(key) != after.get(key):
            if key in SENSITIVE:
                out[key] = [AUDIT_MASK if before.get(key) else "", AUDIT_MASK if after.get(key) else ""]
            else:
                b, a = before.get(key), after.get(key)
                out[key] = [None if b is None else str(b), None if a is None else str(a)]
    return out


def _values(customer: Customer) -> dict:
    return {f: getattr(customer, f) for f in editable_fields()}


def duplicates_for(data: dict, *, exclude_pk: int | None = None) -> list[tuple[str, Customer]]:
    """(field, existing customer) for each identifier that is already taken."""
    checks = []
    if data.get("id_number"):
        checks.append(("id_number", Q(id_number_bidx=blind_index(data["id_number"]))))
    if data.get("uscc"):
        checks.append(("uscc", Q(uscc=data["uscc"])))
    if data.get("phone"):
        checks.append(("phone", Q(phone_bidx=blind_index(data["phone"]))))
    found = []
    for field, q in checks:
        qs = Customer.objects.filter(q).select_related("owner")
        if exclude_pk:
            qs = qs.exclude(pk=exclude_pk)
        existing = qs.first()
        if existing:
            found.append((field, existing))
    return found


def _raise_if_duplicate(by: User, data: dict, *, exclude_pk: int | None = None) -> None:
    attempt = "update" if exclude_pk else "create"
    from .selectors import customers_visible_to

    for field, existing in duplicates_for(data, exclude_pk=exclude_pk):
        label = {"id_number": _("证件号码"), "uscc": _("统一社会信用代码"), "phone": _("手机号码")}[field]
        if customers_visible_to(by).filter(pk=existing.pk).exists():
            who = existing.owner.display_name if existing.owner else _("公海")
            message = _("该%(label)s已属于客户 %(name)s（%(no)s），由 %(who)s 跟进，不能重复录入。") % {
                "label": label,
                "name": existing.name,
                "no": existing.customer_no,
                "who": who,
            }
        else:
            message = _(
                "撞单：该%(label)s对应的客户已由其他业务员跟进，不能重复录入。如有疑问请联系主管。"
            ) % {"label": label}
        audit_record(
            action=Action.CUSTOMER_DUPLICATE,
            actor=by,
            obj=existing,
            extra={"field": field, "attempt": attempt},
        )
        raise DuplicateCustomer(message, field=field, existing=existing)


def _apply(customer: Customer, data: dict) -> None:
    for name in editable_fields():
        if name in data:
            setattr(customer, name, data[name] if data[name] is not None or name not in _NOT_NULL else "")
    if "unmapped_values" in data:
        customer.unmapped_values = data["unmapped_values"]
    customer.phone_bidx = blind_index(customer.phone)
    customer.id_number_bidx = blind_index(customer.id_number) if customer.id_number else ""


_NOT_NULL = {
    f.name
    for f in Customer._meta.fields
    if not f.null and f.get_internal_type() in ("CharField", "TextField")
}


def customer_create(
    *,
    by: User,
    data: dict[str, Any],
    owner: User | None = None,
    source: str = DataSource.MANUAL,
    unknown_dictionary_values: str = "error",
) -> Customer:
    require_perm(by, Perm.CUSTOMER_CREATE)
    cleaned = clean_customer_data(data, unknown_dictionary_values=unknown_dictionary_values)
    _raise_if_duplicate(by, cleaned)
    owner = owner or by
    if owner.pk != by.pk and not users_in_scope(by).filter(pk=owner.pk).exists():
        raise ValidationError({"owner": [_("只能把客户分配给自己范围内的业务员")]})
    customer = Customer(
        owner=owner, department_id=owner.department_id or by.department_id, created_by=by, updated_by=by
    )
    customer.data_source = source
    _apply(customer, cleaned)
    try:
        with transaction.atomic():
            customer.customer_no = numbers.next_customer_no()
            customer._history_user = by
            customer.save()
            audit_record(
                action=Action.CUSTOMER_CREATE,
                actor=by,
                obj=customer,
                changes=_audit_changes({}, _values(customer)),
                extra={"source": source},
            )
    except IntegrityError:
        # Two people entered the same customer at the same moment: the database kept one.
        _raise_if_duplicate(by, cleaned)
        raise
    return customer


def customer_update(
    *, by: User, customer: Customer, data: dict[str, Any], expected_version: int | None
) -> Customer:
    """Update; refuses (StaleEdit) when the record changed since `expected_version` was read."""
    require_perm(by, Perm.CUSTOMER_EDIT)
    cleaned = clean_customer_data(data, instance=customer)
    _raise_if_duplicate(by, cleaned, exclude_pk=customer.pk)
    with transaction.atomic():
        current = Customer.objects.select_for_update().get(pk=customer.pk)
        if expected_version is not None and current.version != expected_version:
            who = current.updated_by.display_name if current.updated_by else _("其他人")
            raise StaleEdit(
                _(
                    "保存失败：%(who)s 在 %(when)s 修改了该客户。您填写的内容仍保留在下方，请核对最新信息后再保存。"
                )
                % {"who": who, "when": timezone.localtime(current.updated_at).strftime("%Y-%m-%d %H:%M:%S")}
            )
        before = _values(current)
        _apply(current, cleaned)
        current.version += 1
        current.updated_by = by
        current._history_user = by
        current.save()
        changes = _audit_changes(before, _values(current))
        audit_record(action=Action.CUSTOMER_UPDATE, actor=by, obj=current, changes=changes)
    customer.refresh_from_db()
    return customer


def customer_reveal(*, by: User, customer: Customer, fields: Iterable[str] = SENSITIVE) -> dict[str, str]:
    """The unmasked sensitive values, for roles that may see them; every reveal is audited."""
    require_perm(by, Perm.CUSTOMER_REVEAL)
    fields = [f for f in fields if f in SENSITIVE]
    with transaction.atomic():
        audit_record(action=Action.CUSTOMER_REVEAL, actor=by, obj=customer, extra={"fields": fields})
    return {f: getattr(customer, f) for f in fields}


def customers_assign(
    *,
    by: User,
    customers: Iterable[Customer],
    to_owner: User | None,
    reason: str,
    action=Action.CUSTOMER_ASSIGN,
) -> tuple[uuid.UUID, int]:
    """Move customers to another salesperson (or to the pool when to_owner is None), recording a batch."""
    require_perm(by, Perm.CUSTOMER_ASSIGN)
    if to_owner is not None and (
        not to_owner.is_active or not users_in_scope(by).filter(pk=to_owner.pk).exists()
    ):
        raise ValidationError({"to_owner": [_("只能转给自己范围内在职的业务员")]})
    if not reason.strip():
        raise ValidationError({"reason": [_("请填写转移原因")]})
    batch = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        moved = 0
        for customer in customers:
            old_owner_id = customer.owner_id
            if old_owner_id == (to_owner.pk if to_owner else None):
                continue
            customer.owner = to_owner
            if to_owner is not None:
                customer.department_id = to_owner.department_id
                customer.pooled_at = None
            else:
                customer.pooled_at = now
            customer.version += 1
            customer.updated_by = by
            customer._history_user = by
            customer._change_reason = reason
            customer.save(
                update_fields=["owner", "department", "pooled_at", "version", "updated_by", "updated_at"]
            )
            CustomerTransfer.objects.create(
                batch=batch,
                customer=customer,
                from_owner_id=old_owner_id,
                to_owner=to_owner,
                reason=reason,
                by=by,
                at=now,
            )
            moved += 1
        audit_record(
            action=action,
            actor=by,
            obj=to_owner,
            extra={"batch": str(batch), "count": moved, "reason": reason},
        )
    return batch, moved


def customers_tag(
    *, by: User, customers: Iterable[Customer], tag_names: list[str], remove: bool = False
) -> int:
    require_perm(by, Perm.CUSTOMER_EDIT)
    names = [n.strip() for n in tag_names if n.strip()]
    if not names:
        raise ValidationError({"tags": [_("请填写标签")]})
    with transaction.atomic():
        tags = [Tag.objects.get_or_create(name=n[:30])[0] for n in names]
        count = 0
        for customer in customers:
            (customer.tags.remove if remove else customer.tags.add)(*tags)
            count += 1
        audit_record(
            action=Action.CUSTOMER_TAG, actor=by, extra={"tags": names, "count": count, "remove": remove}
        )
    return count


def customer_set_message_opt_out(*, by: User, customer: Customer, opt_out: bool) -> Customer:
    """The customer asked for no (more) notices by SMS or e-mail (还款提醒、材料催交 included), or
    asked for them again. Staff in-app reminders about the customer are not affected."""
    require_perm(by, Perm.CUSTOMER_EDIT)
    ensure_can_touch(by, customer)
    with transaction.atomic():
        current = Customer.objects.select_for_update().get(pk=customer.pk)
        if current.message_opt_out != opt_out:
            current.message_opt_out = opt_out
            current.version += 1
            current.updated_by = by
            current._history_user = by
            current.save(update_fields=["message_opt_out", "version", "updated_by", "updated_at"])
            audit_record(
                action=Action.CUSTOMER_UPDATE,
                actor=by,
                obj=current,
                changes={"message_opt_out": [not opt_out, opt_out]},
            )
            if opt_out:  # messages already waiting (quiet hours, retries) are not sent either
                from loancrm.notifications.models import Delivery, DeliveryStatus

                Delivery.objects.filter(
                    customer=current, audience=Delivery.Audience.CUSTOMER, status=DeliveryStatus.PENDING
                ).update(status=DeliveryStatus.SUPPRESSED, last_error=_("客户已拒收通知"))
    return current


def customer_claim(*, by: User, customer: Customer) -> Customer:
    """A salesperson takes a pool customer of their own department."""
    require_perm(by, Perm.CUSTOMER_EDIT)
    from .selectors import pool_customers_for

    with transaction.atomic():
        current = pool_customers_for(by).select_for_update().filter(pk=customer.pk).first()
        if current is None:
            raise ValidationError(_("该客户已被他人认领或不在您部门的公海中"))
        current.owner = by
        current.department_id = by.department_id
        current.pooled_at = None
        current.version += 1
        current.updated_by = by
        current._history_user = by
        current.save(
            update_fields=["owner", "department", "pooled_at", "version", "updated_by", "updated_at"]
        )
        CustomerTransfer.objects.create(
            batch=uuid.uuid4(),
            customer=current,
            from_owner=None,
            to_owner=by,
            reason=_("认领公海客户"),
            by=by,
        )
        audit_record(action=Action.CUSTOMER_CLAIM, actor=by, obj=current)
    return current


def follow_up_create(*, by: User, customer: Customer, data: dict[str, Any]) -> FollowUp:
    require_perm(by, Perm.CUSTOMER_EDIT)
    with transaction.atomic():
        follow = FollowUp.objects.create(customer=customer, by=by, **data)
        old_stage = customer.stage
        fields = ["last_follow_up_at", "next_follow_up_at", "updated_at"]
        customer.last_follow_up_at = max(filter(None, [customer.last_follow_up_at, follow.at]))
        customer.next_follow_up_at = follow.next_follow_up_at
        if follow.stage and follow.stage != customer.stage:
            # A stage change is an edit: bump the version so a form opened earlier cannot undo it.
            customer.stage = follow.stage
            customer.version += 1
            customer.updated_by = by
            fields += ["stage", "version", "updated_by"]
        customer._history_user = by
        customer.save(update_fields=fields)
        audit_record(
            action=Action.FOLLOW_UP_CREATE,
            actor=by,
            obj=customer,
            extra={
                "way": follow.way,
                "stage": follow.stage or customer.stage,
                "stage_changed": customer.stage != old_stage,
            },
        )
    return follow


def related_person_save(
    *, by: User, customer: Customer, person: RelatedPerson | None, data: dict
) -> RelatedPerson:
    from . import validators as v

    require_perm(by, Perm.CUSTOMER_EDIT)
    errors = {}
    if data.get("phone"):
        try:
            data["phone"] = v.normalize_mobile(data["phone"])
        except ValidationError as exc:
            errors["phone"] = exc.messages
    if data.get("id_number"):
        try:
            data["id_number"] = v.normalize_resident_id(data["id_number"])
        except ValidationError as exc:
            errors["id_number"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        person = person or RelatedPerson(customer=customer)
        for key, value in data.items():
            setattr(person, key, value)
        person.save()
        audit_record(
            action=Action.RELATED_PERSON_UPDATE,
            actor=by,
            obj=customer,
            extra={"relation": person.relation, "name": person.name},
        )
    return person


def asset_add(*, by: User, customer: Customer, data: dict) -> CustomerAsset:
    require_perm(by, Perm.CUSTOMER_EDIT)
    with transaction.atomic():
        asset = CustomerAsset.objects.create(customer=customer, **data)
        audit_record(
            action=Action.CUSTOMER_UPDATE,
            actor=by,
            obj=customer,
            extra={"asset": asset.description, "kind": asset.kind, "value": asset.estimated_value},
        )
    return asset


ALLOWED_UPLOADS = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xls": "application/vnd.ms-excel",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
# What a file of each kind starts with; a renamed .exe is refused.
MAGIC = {
    ".pdf": [b"%PDF"],
    ".jpg": [b"\xff\xd8\xff"],
    ".jpeg": [b"\xff\xd8\xff"],
    ".png": [b"\x89PNG"],
    ".webp": [b"RIFF"],
    ".xlsx": [b"PK\x03\x04"],
    ".docx": [b"PK\x03\x04"],
    ".xls": [b"\xd0\xcf\x11\xe0"],
}


def attachments_dir():
    path = settings.PRIVATE_FILES_DIR / "attachments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def attachment_store(*, customer: Customer, upload, kind: str, uploaded_by: User) -> Attachment:
    """Check the file (extension whitelist, size limit, magic bytes) and keep it privately; the caller
    checks permissions and writes the audit entry (an upload to the 360 page or to an application)."""
    from pathlib import Path

    from loancrm.core.models import setting_value

    suffix = Path(upload.name).suffix.lower()
    if suffix not in ALLOWED_UPLOADS:
        raise ValidationError(
            {"file": [_("不支持的文件类型，请上传 PDF、图片（JPG/PNG/WEBP）、Excel 或 Word 文件")]}
        )
    limit = int(setting_value("attachment_max_mb")) * 1024 * 1024
    if upload.size > limit:
        raise ValidationError(
            {"file": [_("文件太大，单个附件不能超过 %(mb)s MB") % {"mb": limit // 1024 // 1024}]}
        )
    head = upload.read(8)
    upload.seek(0)
    if not any(head.startswith(m) for m in MAGIC[suffix]):
        raise ValidationError({"file": [_("文件内容与扩展名不符，请确认文件未损坏")]})
    stored = f"{uuid.uuid4().hex}{suffix}"
    digest = hashlib.sha256()
    target = attachments_dir() / stored
    with open(target, "wb") as out:
        for chunk in upload.chunks():
            digest.update(chunk)
            out.write(chunk)
    try:
        return Attachment.objects.create(
            customer=customer,
            kind=kind,
            original_name=Path(upload.name).name[:200],
            stored_name=stored,
            content_type=ALLOWED_UPLOADS[suffix],
            size=upload.size,
            sha256=digest.hexdigest(),
            uploaded_by=uploaded_by,
        )
    except Exception:
        target.unlink(missing_ok=True)
        raise


def attachment_discard(attachment: Attachment) -> None:
    """Undo `attachment_store` when the caller's own write failed."""
    Attachment.objects.filter(pk=attachment.pk).delete()
    (attachments_dir() / attachment.stored_name).unlink(missing_ok=True)


def attachment_upload(*, by: User, customer: Customer, upload, kind: str) -> Attachment:
    require_perm(by, Perm.CUSTOMER_EDIT)
    attachment = attachment_store(customer=customer, upload=upload, kind=kind, uploaded_by=by)
    try:
        with transaction.atomic():
            audit_record(
                action=Action.ATTACHMENT_UPLOAD,
                actor=by,
                obj=customer,
                extra={"file": attachment.original_name, "kind": kind, "size": attachment.size},
            )
    except Exception:
        attachment_discard(attachment)
        raise
    return attachment


def attachment_open(*, by: User, attachment: Attachment):
    """The file for download; the caller has already checked the customer is in scope. Audited."""
    require_perm(by, Perm.CUSTOMER_VIEW)
    with transaction.atomic():
        audit_record(
            action=Action.ATTACHMENT_DOWNLOAD,
            actor=by,
            obj=attachment.customer,
            extra={"file": attachment.original_name, "attachment": attachment.pk},
        )
    return open(attachments_dir() / attachment.stored_name, "rb")  # noqa: SIM115 (FileResponse closes it)


def pool_sweep(*, by: User | None = None, now=None) -> int:
    """Return customers nobody followed for `pool_idle_days` to their department's pool."""
    from datetime import timedelta

    from loancrm.core.models import setting_value

    now = now or timezone.now()
    cutoff = now - timedelta(days=int(setting_value("pool_idle_days")))
    idle = Customer.objects.filter(owner__isnull=False).filter(
        Q(last_follow_up_at__lt=cutoff) | Q(last_follow_up_at__isnull=True, created_at__lt=cutoff)
    )
    count = 0
    with transaction.atomic():
        batch = uuid.uuid4()
        for customer in idle.select_for_update():
            CustomerTransfer.objects.create(
                batch=batch,
                customer=customer,
                from_owner_id=customer.owner_id,
                to_owner=None,
                reason=_("超过 %(days)s 天未跟进，自动退回公海") % {"days": setting_value("pool_idle_days")},
                by=by or customer.owner,
                at=now,
            )
            count += 1
        # Version bump so an edit form opened before the sweep cannot put the owner back.
        idle.update(owner=None, pooled_at=now, version=F("version") + 1)
        audit_record(
            action=Action.CUSTOMER_POOL,
            actor=by,
            actor_username="" if by else "worker",
            extra={"count": count},
        )
    return count


def ensure_can_touch(by: User, customer: Customer) -> None:
    from .selectors import customers_visible_to

    if not customers_visible_to(by).filter(pk=customer.pk).exists():
        raise PermissionDenied


# --- Imports: the same cleaning, duplicate rules, encryption, blind index, history and audit, in bulk ---


_NO_UNMAPPED: dict = {}  # shared by rows (bulk_insert prepares one object once); never modified


def customer_row(
    *,
    by: User,
    data: dict[str, Any],
    owner: User,
    customer_no: str,
    source: str,
    now,
    blind: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A new customer as a database row (attribute names) from values `clean_customer_data` returned.

    `blind`: the phone's and ID number's blind indexes when the caller computed them already.
    """
    row: dict[str, Any] = {}
    for name in editable_fields():
        if name in data:
            value = data[name]
            row[name] = "" if value is None and name in _NOT_NULL else value
    row["unmapped_values"] = data.get("unmapped_values") or _NO_UNMAPPED
    if blind is not None:
        row["phone_bidx"], row["id_number_bidx"] = blind.get("phone", ""), blind.get("id", "")
    else:
        row["phone_bidx"] = blind_index(row.get("phone") or "")
        row["id_number_bidx"] = blind_index(row["id_number"]) if row.get("id_number") else ""
    row.update(
        customer_no=customer_no,
        owner_id=owner.pk,
        department_id=owner.department_id or by.department_id,
        created_by_id=by.pk,
        updated_by_id=by.pk,
        data_source=source,
        created_at=now,
        updated_at=now,
        version=1,
    )
    return row


# A new customer ready for the database, made without touching it (an import's helper processes make
# these): (INSERT values in column order — the id and customer number filled in at insert —, the audit
# entry's changes as JSON with sensitive values masked, the name). A plain tuple: it pickles fastest.
EncodedCustomer = tuple[list, str, str]


class CustomerEncoder:
    """Encrypts, prepares and audits `customer_row` dicts in bulk; one per run (it holds the layout)."""

    def __init__(self):
        from loancrm.audit.models import AuditEntry
        from loancrm.core.bulk import Inserter

        self.inserter = Inserter(Customer, with_pk=True)
        self.pk_index = self.inserter.names.index("id")
        self.no_index = self.inserter.names.index("customer_no")
        self.audit_inserter = Inserter(AuditEntry)
        names = self.audit_inserter.names
        self.audit_slots = (names.index("object_id"), names.index("object_repr"), names.index("changes"))
        self.sensitive = frozenset(SENSITIVE)
        self.audited = frozenset(f for f in editable_fields() if f not in self.sensitive)

    def encode(self, rows: list[dict[str, Any]]) -> list[EncodedCustomer]:
        from loancrm.core.bulk import JSONText
        from loancrm.core.crypto import encrypt_once

        masked = ["", AUDIT_MASK]
        out = []
        sensitive, audited = self.sensitive, self.audited
        for r in rows:
            changes = {}
            # In field order (customer_row builds the row so), as customer_create audits.
            for f, value in r.items():
                if f in sensitive:
                    if value:  # encrypted once, for the row and (copied in the database) its history
                        r[f] = encrypt_once(value)  # replacing an existing key's value: safe while iterating
                        changes[f] = masked  # never written out
                elif f not in audited:
                    continue
                elif value.__class__ is str:
                    if value:
                        changes[f] = [None, value]
                elif value is not None and value != []:
                    changes[f] = [None, str(value)]
            # Encoded here, in one call of a fast encoder, rather than per row by the JSON field's layers.
            out.append((JSONText(orjson.dumps(changes).decode()), r.get("name", "")))
        return [
            (params, changes, name)
            for params, (changes, name) in zip(self.inserter.params(rows), out, strict=True)
        ]


def customers_insert_encoded(
    *,
    by: User,
    encoder: CustomerEncoder,
    encoded: list[EncodedCustomer],
    nos: list[str],
    now,
    source: str,
    reason: str,
) -> list[int]:
    """Insert encoded customers under the given numbers, each with its first history version and its
    audit entry (新建客户, the same as a customer typed in). The caller holds the transaction and has
    checked duplicates; returns the new ids in order."""
    from loancrm.core.bulk import reserve_ids

    if not encoded:
        return []
    ids = reserve_ids(Customer, len(encoded))
    audit = encoder.audit_inserter
    # Every entry of the batch shares all but three values: prepared once, then copied per row.
    template = audit.params(
        [
            {
                "at": now, "actor_id": by.pk, "actor_username": by.username, "ip": _audit_ip(),
                "action": Action.CUSTOMER_CREATE.value, "object_type": "customer",
                "extra": {"source": source, "reason": reason},
            }
        ]
    )[0]  # fmt: skip
    oid, orepr, ochanges = encoder.audit_slots
    pk_index, no_index = encoder.pk_index, encoder.no_index
    audits = []
    for pk, no, (params, changes, name) in zip(ids, nos, encoded, strict=True):
        params[pk_index] = pk
        params[no_index] = no
        entry = template.copy()
        entry[oid], entry[orepr], entry[ochanges] = str(pk), f"{name}（{no}）"[:200], changes
        audits.append(entry)
    encoder.inserter.execute([e[0] for e in encoded])
    # History rows repeat the record's values: copied inside the database (one INSERT … SELECT over the
    # ids just written) rather than bound again from Python, plus four values of their own.
    _history_copy(ids, now=now, by=by, reason=reason)
    audit.execute(audits)
    return ids


def _history_copy(ids: list[int], *, now, by: User, reason: str) -> None:
    from django.db import connection

    history = Customer.history.model
    qn = connection.ops.quote_name
    own = {
        "history_date": history._meta.get_field("history_date").get_db_prep_save(now, connection),
        "history_type": "+",
        "history_user_id": by.pk,
        "history_change_reason": reason,
    }
    columns, selects, params = [], [], []
    for f in history._meta.concrete_fields:
        if f.attname == "history_id":
            continue  # numbered by the database
        columns.append(qn(f.column))
        if f.attname in own:
            selects.append("%s")
            params.append(own[f.attname])
        else:
            selects.append(qn(f.column))  # the record's own column of the same name
    if ids[-1] - ids[0] + 1 == len(ids):  # consecutive, as SQLite hands them out: a range is exact
        where, params = "BETWEEN %s AND %s", [*params, ids[0], ids[-1]]
    else:  # PostgreSQL's sequence may interleave another session's ids
        where, params = "IN ({})".format(", ".join(["%s"] * len(ids))), [*params, *ids]
    sql = "INSERT INTO {} ({}) SELECT {} FROM {} WHERE {} {}".format(
        qn(history._meta.db_table), ", ".join(columns), ", ".join(selects), qn(Customer._meta.db_table), qn("id"),
        where,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _audit_ip():
    from loancrm.audit import context

    return context.current().ip


def customer_merge(
    *, by: User, customer_id: int, data: dict[str, Any], only_empty: bool, reason: str
) -> dict[str, Any]:
    """Write the non-empty cleaned values into an existing customer (only into empty fields when
    `only_empty`); returns the changed fields' previous values ({} when nothing changed).

    The caller checked that `by` may see the customer; a unique clash raises IntegrityError inside a
    savepoint, so only this customer's change is lost.
    """
    require_perm(by, Perm.CUSTOMER_EDIT)
    with transaction.atomic():
        current = Customer.objects.select_for_update().get(pk=customer_id)
        before = _values(current)
        changes = {}
        for name in editable_fields():
            value = data.get(name)
            if value in (None, "", [], {}):
                continue
            old = before.get(name)
            if only_empty and old not in (None, "", [], {}):
                continue
            if old != value:
                changes[name] = value
        unmapped = dict(current.unmapped_values)
        for name, value in (data.get("unmapped_values") or {}).items():
            if not getattr(current, name, "") or not only_empty:
                unmapped[name] = value
        if not changes and unmapped == current.unmapped_values:
            return {}
        _apply(current, {**changes, "unmapped_values": unmapped})
        current.version += 1
        current.updated_by = by
        current._history_user = by
        current._change_reason = reason
        current.save()
        audit_record(
            action=Action.CUSTOMER_UPDATE,
            actor=by,
            obj=current,
            changes=_audit_changes({k: before[k] for k in changes}, changes),
            extra={"reason": reason},
        )
    return {k: before[k] for k in changes} or {"unmapped_values": None}


def customer_restore_fields(*, by: User, customer_id: int, values: dict[str, Any], reason: str) -> bool:
    """Put back earlier values (as stored by an import's undo record); False when the customer is gone."""
    require_perm(by, Perm.CUSTOMER_EDIT)
    with transaction.atomic():
        current = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if current is None:
            return False
        before = _values(current)
        restored = {}
        for name, value in values.items():
            if name not in before:
                continue
            model_field = Customer._meta.get_field(name)
            restored[name] = model_field.to_python(value) if value not in (None, "") else value
        _apply(current, restored)
        current.version += 1
        current.updated_by = by
        current._history_user = by
        current._change_reason = reason
        current.save()
        audit_record(
            action=Action.CUSTOMER_UPDATE,
            actor=by,
            obj=current,
            changes=_audit_changes({k: before[k] for k in restored}, restored),
            extra={"reason": reason},
        )
    return True


def customers_map_unmapped_value(*, by: User, field: str, value: str, code: str) -> int:
    """Customers in `by`'s scope whose `field` arrived as `value` (kept, no dictionary item) get `code`
    where the field is still empty, and lose the flag; each gets a history version and an audit entry.

    Rows are locked and updated chunk by chunk with version + 1 in the database, so an edit made at
    the same moment is neither lost nor overwritten. The caller holds the transaction.
    """
    from django.db.models import F

    from loancrm.audit.models import AuditEntry
    from loancrm.core.bulk import bulk_insert
    from loancrm.imports.selectors import UNMAPPED_WHERE

    from .selectors import customers_visible_to

    require_perm(by, Perm.SETTINGS_MANAGE)
    reason = _("待映射值“%(value)s”映射为字典项") % {"value": value}
    ids = list(customers_visible_to(by).extra(where=[UNMAPPED_WHERE]).order_by().values_list("pk", flat=True))
    changed = 0
    ip = _audit_ip()
    for start in range(0, len(ids), 500):
        now = timezone.now()
        rows = list(Customer.objects.select_for_update().filter(pk__in=ids[start : start + 500]))
        audits = []
        for customer in rows:
            if str(customer.unmapped_values.get(field, "")) != value:
                continue
            fills = not getattr(customer, field)
            unmapped = {k: v for k, v in customer.unmapped_values.items() if k != field}
            update = {
                "unmapped_values": unmapped,
                "version": F("version") + 1,
                "updated_by": by,
                "updated_at": now,
            }
            if fills:
                update[field] = code
            Customer.objects.filter(pk=customer.pk).update(**update)
            customer.refresh_from_db()
            customer._history_user = by
            customer._change_reason = reason
            Customer.history.model.objects.create(
                **{f.attname: getattr(customer, f.attname) for f in Customer.history.model._meta.fields
                   if f.attname not in ("history_id", "history_date", "history_change_reason", "history_type",
                                        "history_user_id")},
                history_date=now, history_change_reason=reason, history_type="~", history_user=by,
            )  # fmt: skip
            audits.append(
                {
                    "at": now, "actor_id": by.pk, "actor_username": by.username, "ip": ip,
                    "action": Action.CUSTOMER_UPDATE.value, "object_type": "customer",
                    "object_id": str(customer.pk), "object_repr": str(customer)[:200],
                    "changes": {field: [None, code]} if fills else {},
                    "extra": {"reason": reason},
                }
            )  # fmt: skip
            changed += 1
        bulk_insert(AuditEntry, audits)
    return changed
