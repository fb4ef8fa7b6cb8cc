from django.core.management.base import BaseCommand

from loancrm.core.models import setting_value
from loancrm.customers.services import pool_sweep


class Command(BaseCommand):
    help = "Return customers nobody followed up for `pool_idle_days` (系统参数) to their department's pool (公海)."

    def handle(self, *args, **options):
        moved = pool_sweep()
        self.stdout.write(f"退回公海 {moved} 位客户（超过 {setting_value('pool_idle_days')} 天未跟进）")
