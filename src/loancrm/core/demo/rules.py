"""Demo records for the automation rules: applications that have waited in a node for over a day and
applications missing materials for two days, so `loancrm rules run` has something to do at once."""

from datetime import timedelta

from django.utils import timezone


def ensure_rule_examples() -> int:
    from loancrm.intake.models import ApplicationTask, LoanApplication, TaskStatus

    now = timezone.now()
    touched = 0
    # 审批停滞: one 初步沟通与预审 per salesperson entered 30 hours ago.
    stalled = LoanApplication.objects.filter(status="in_progress", node__code="precheck").order_by("id")[:2]
    # 材料催交: the applications waiting at 资料收集 have waited 2 days (the checklist is not complete).
    collecting = LoanApplication.objects.filter(status="in_progress", node__code="materials").order_by("id")
    for app, hours in [*((a, 30) for a in stalled), *((a, 48) for a in collecting)]:
        if app.node_entered_at and now - app.node_entered_at >= timedelta(hours=hours - 1):
            continue  # already aged (demo-data run again)
        entered = now - timedelta(hours=hours)
        shift = entered - app.node_entered_at
        LoanApplication.objects.filter(pk=app.pk).update(
            node_entered_at=entered, sla_due_at=app.sla_due_at + shift if app.sla_due_at else None
        )
        for task in ApplicationTask.objects.filter(application=app, visit=app.visit, status=TaskStatus.OPEN):
            ApplicationTask.objects.filter(pk=task.pk).update(
                created_at=task.created_at + shift, due_at=task.due_at + shift if task.due_at else None
            )
        touched += 1
    return touched
