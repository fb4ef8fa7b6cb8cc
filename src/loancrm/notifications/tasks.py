"""Background sending: each delivery right after it is queued, and a minute tick for retries and for
messages that waited out the quiet hours."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def send_delivery(delivery_id: int) -> str:
    from .services import delivery_send

    return delivery_send(delivery_id)


@db_periodic_task(crontab(minute="*"))
def send_due() -> None:
    from .services import deliveries_send_due

    deliveries_send_due()
