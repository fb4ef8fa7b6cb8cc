"""The default 8-node flow of seed 003, as version 1 of workflow `loan` (admins edit it into new versions)."""

from django.db import migrations


def create(apps, schema_editor):
    from loancrm.intake.services import NODE_FIELDS
    from loancrm.intake.workflow import DEFAULT_CODE, DEFAULT_NODES

    Definition = apps.get_model("intake", "WorkflowDefinition")
    Node = apps.get_model("intake", "WorkflowNode")
    if Definition.objects.filter(code=DEFAULT_CODE).exists():
        return
    definition = Definition.objects.create(
        code=DEFAULT_CODE, name="助贷标准审批流程", version=1, is_current=True, note="默认 8 节点流程"
    )
    for i, spec in enumerate(DEFAULT_NODES):
        Node.objects.create(definition=definition, order=(i + 1) * 10, **{k: spec[k] for k in NODE_FIELDS if k in spec})


class Migration(migrations.Migration):
    dependencies = [("intake", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
