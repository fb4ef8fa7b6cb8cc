"""`loancrm worker`: the background worker (imports, exports, scheduled clean-ups).

Huey's consumer with its periodic schedule; the queue is SQLite in the data dir, or Redis with REDIS_URL.
`loancrm serve` starts one beside the web server unless told `--no-worker`.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the background worker (Huey consumer and its periodic schedule)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="tasks run at the same time (default 1 on SQLite, else 2)",
        )

    def handle(self, *args, workers: int | None, **options):
        from django.db import connection

        if workers is None:
            # SQLite has one writer: a second import would only wait for the first and time out.
            workers = 1 if connection.vendor == "sqlite" else 2
        call_command("run_huey", workers=workers, worker_type="thread", verbosity=options["verbosity"])
