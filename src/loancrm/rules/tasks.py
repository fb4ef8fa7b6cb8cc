"""The worker's rule scan (every 5 minutes) and event rules (queued after a write commits)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_periodic_task(crontab(minute="*/5"))
def rules_scan() -> None:
    from .services import rules_run

    rules_run(source="worker")


@db_task()
def rules_event(entry_id: int) -> None:
    from .services import rules_on_event

    rules_on_event(entry_id=entry_id)
