"""Background work of the exporter: thin wrappers that call a service with ids."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def run_export(job_id: int) -> None:
    from .services import export_job_run

    export_job_run(job_id=job_id)


@db_periodic_task(crontab(hour="3", minute="40"))
def cleanup_exports() -> None:
    """Every night: files of exports older than 7 days are deleted (the jobs stay, marked expired)."""
    from .services import export_jobs_cleanup

    export_jobs_cleanup()
