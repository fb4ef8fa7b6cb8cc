"""Migration helpers.

`DropFieldIndexes`: a field loses `db_index` without the table being rebuilt. Django's AlterField on
SQLite copies the whole table to a new one for that — minutes at a million customers, and the copy has
no planner statistics, so searches fall back to slow plans until ANALYZE runs. This drops just the
indexes (the plain one, and PostgreSQL's `_like` companion) and changes the model state as AlterField
would.
"""

from django.db import migrations


def _drop(app_label: str, model_name: str, fields: list[str]):
    def forwards(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        for name in fields:
            column = model._meta.get_field(name).column
            for index in schema_editor._constraint_names(
                model, [column], index=True, unique=False, primary_key=False
            ):
                schema_editor.execute(schema_editor._delete_index_sql(model, index))

    def backwards(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        for name in fields:
            field = model._meta.get_field(name)
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))

    return forwards, backwards


def DropFieldIndexes(app_label: str, model_name: str, alter_fields: list[migrations.AlterField]):  # noqa: N802
    """State: the AlterField operations as generated. Database: DROP INDEX only."""
    forwards, backwards = _drop(app_label, model_name, [op.name for op in alter_fields])
    return migrations.SeparateDatabaseAndState(
        state_operations=alter_fields,
        database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
    )
