"""Background work of loans: the nightly overdue assessment and promise check."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(hour="1", minute="5"))
def assess_loans() -> None:
    from .services import loans_assess_all, promises_check

    loans_assess_all()
    promises_check()
