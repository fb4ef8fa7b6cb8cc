from django.db import transaction

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record, diff, snapshot

from .models import Customer

AUDITED_FIELDS = ["name", "phone", "current_address", "owner", "department"]


def customer_create(
    *, by: User, name: str, phone: str = "", current_address: str = "", owner: User | None = None
) -> Customer:
    require_perm(by, Perm.CUSTOMER_CREATE)
    owner = owner or by
    with transaction.atomic():
        customer = Customer.objects.create(
            name=name,
            phone=phone,
            current_address=current_address,
            owner=owner,
            department_id=owner.department_id,
            created_by=by,
        )
        audit_record(
            action=Action.CUSTOMER_CREATE,
            actor=by,
            obj=customer,
            changes=diff({}, snapshot(customer, AUDITED_FIELDS)),
        )
    return customer


def customer_update(
    *, by: User, customer: Customer, name: str, phone: str = "", current_address: str = ""
) -> Customer:
    require_perm(by, Perm.CUSTOMER_EDIT)
    with transaction.atomic():
        before = snapshot(customer, AUDITED_FIELDS)
        customer.name, customer.phone, customer.current_address = name, phone, current_address
        customer.save(update_fields=["name", "phone", "current_address", "updated_at"])
        audit_record(
            action=Action.CUSTOMER_UPDATE,
            actor=by,
            obj=customer,
            changes=diff(before, snapshot(customer, AUDITED_FIELDS)),
        )
    return customer
