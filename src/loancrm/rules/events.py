"""Record events for rules: the audit log already sees every write (each service records one entry in
its transaction), so an entry about a watched record queues the event rules once that write commits."""

from django.db import transaction

from .entities import ENTITY_BY_AUDIT_TYPE, Entity
from .models import Event

# audit action → the events it is
_EVENTS = {
    "customer.create": {Event.CREATED},
    "customer.update": {Event.CHANGED},
    "followup.create": {Event.CHANGED},
    "customer.assign": {Event.CHANGED},
    "application.create": {Event.CREATED},
    "application.update": {Event.CHANGED},
    "application.action": {Event.CHANGED},  # NODE_CHANGED added below when from ≠ to
    "application.reassign": {Event.CHANGED},
    "loan.create": {Event.CREATED},
    "loan.overdue": {Event.CHANGED},
    "repayment.record": {Event.CHANGED},
}


def event_kinds(entry) -> tuple[Entity | None, set[str]]:
    entity = ENTITY_BY_AUDIT_TYPE.get(entry.object_type)
    kinds = set(_EVENTS.get(entry.action, set()))
    if entity is None or not kinds or not entry.object_id:
        return None, set()
    if entry.action == "customer.update" and "stage" in (entry.changes or {}):
        kinds.add(Event.STAGE_CHANGED)
    if entry.action == "application.action":
        extra = entry.extra or {}
        if extra.get("from") != extra.get("to"):
            kinds.add(Event.NODE_CHANGED)
        elif extra.get("action") in ("vote", "transfer", "reassign"):
            return None, set()  # a vote or a hand-over in the same node: not a change of the application
    if entry.action == "followup.create" and (entry.extra or {}).get("stage_changed"):
        kinds.add(Event.STAGE_CHANGED)
    if (entry.extra or {}).get("by_rule"):  # a rule's own change does not set off rules (no loops)
        return None, set()
    return entity, kinds


def on_audit_recorded(sender, entry, **kwargs) -> None:
    if entry.action not in _EVENTS or entry.object_type not in ENTITY_BY_AUDIT_TYPE:
        return
    from .models import Rule, Trigger

    if not Rule.objects.filter(is_active=True, trigger=Trigger.EVENT).exists():
        return
    from .tasks import rules_event

    entry_id = entry.pk
    transaction.on_commit(lambda: rules_event(entry_id))
