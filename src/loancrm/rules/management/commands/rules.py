"""`loancrm rules run [--now ISO-TIME] [--rule CODE] [--send]`: one scan, as if it were that time;
prints a JSON summary ({"fired": N, "skipped_already_done": M, ...}). `loancrm rules list` lists them."""

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone


def _parse_now(text: str | None) -> datetime:
    if not text:
        return timezone.now()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--now: not an ISO time: {text!r} (e.g. 2026-12-02T09:30)") from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)  # local time (Asia/Shanghai)
    return value


class Command(BaseCommand):
    help = "Run the automation rules once (as of --now), or list them."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        run = sub.add_parser("run", help="one scan of the scan and scheduled rules")
        run.add_argument("--now", help="act as if it were this local time, e.g. 2026-12-02T09:30")
        run.add_argument("--rule", action="append", dest="codes", help="only this rule (code); repeatable")
        run.add_argument(
            "--send", action="store_true", help="then send the messages that are due (as the worker does)"
        )
        sub.add_parser("list", help="the rules, their trigger and whether they are on")

    def handle(self, *args, what: str, **options):
        if what == "list":
            from loancrm.rules.models import Rule

            for r in Rule.objects.order_by("id"):
                self.stdout.write(
                    f"{'on ' if r.is_active else 'off'}  {r.code:<28} {r.trigger:<8} {r.entity:<12} {r.name}"
                )
            return
        from loancrm.rules.services import rules_run

        now = _parse_now(options.get("now"))
        summary = rules_run(now=now, codes=options.get("codes"), source="cli")
        if options.get("send"):
            from loancrm.notifications.services import deliveries_send_due

            summary["sent"] = deliveries_send_due(now=max(now, timezone.now()))
        summary["now"] = timezone.localtime(now).isoformat()
        self.stdout.write(json.dumps(summary, ensure_ascii=False))
