"""Background work of the importer: thin wrappers that call a service with ids."""

from huey.contrib.djhuey import db_task

from .models import ImportBatch


@db_task()
def run_import(batch_id: int, dry_run: bool) -> None:
    from .services import import_batch_run

    import_batch_run(batch_id=batch_id, dry_run=dry_run)


@db_task()
def undo_import(batch_id: int, user_id: int) -> None:
    from loancrm.accounts.models import User

    from .services import import_batch_undo

    import_batch_undo(by=User.objects.get(pk=user_id), batch=ImportBatch.objects.get(pk=batch_id))
