import atexit
import os
import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the production web server (gunicorn; static files by whitenoise)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=int(os.environ.get("LOANCRM_WORKERS", "3")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("LOANCRM_THREADS", "4")))
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not start the background worker (run `loancrm worker`)",
        )

    def handle(self, *args, host, port, workers, threads, no_worker: bool, **options):
        from gunicorn.app.base import BaseApplication

        # Collect first: WhiteNoise indexes STATIC_ROOT when the WSGI app is built.
        call_command("collectstatic", interactive=False, verbosity=0)
        from loancrm.wsgi import application

        class Server(BaseApplication):
            def load_config(self):
                self.cfg.set("bind", f"{host}:{port}")
                self.cfg.set("workers", workers)
                self.cfg.set("threads", threads)
                self.cfg.set("worker_class", "gthread")
                self.cfg.set("accesslog", "-")
                self.cfg.set("timeout", 120)

            def load(self):
                return application

        if not no_worker:
            self._start_worker()
        self.stdout.write(f"loancrm serving on http://{host}:{port}/")
        Server().run()

    def _start_worker(self) -> None:
        """Imports and exports wait in the queue until a worker takes them: start one beside the server."""
        proc = subprocess.Popen([sys.executable, "-m", "loancrm", "worker"])
        parent = os.getpid()

        def stop() -> None:
            if os.getpid() == parent and proc.poll() is None:  # not in gunicorn's forked web workers
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()

        atexit.register(stop)
        self.stdout.write(f"background worker started (pid {proc.pid})")
