"""The worker keeps the report facts fresh: the last two days every hour, everything every night."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="15"))
def refresh_recent_facts() -> None:
    from .facts import facts_refresh

    facts_refresh(days=2)


@db_periodic_task(crontab(hour="2", minute="30"))
def refresh_all_facts() -> None:
    from .facts import facts_refresh, rolls_refresh

    facts_refresh()
    rolls_refresh()
