from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from loancrm.customers.models import Customer, CustomerTransfer

pytestmark = pytest.mark.django_db


def test_pool_sweep_command_returns_idle_customers(customers, capsys):
    cutoff = timezone.now() - timedelta(days=30)
    idle = set(
        Customer.objects.filter(created_at__lt=cutoff, last_follow_up_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    assert idle  # demo customers are spread over a year
    call_command("pool_sweep")
    assert "退回公海" in capsys.readouterr().out
    pooled = set(Customer.objects.filter(owner__isnull=True).values_list("pk", flat=True))
    assert pooled == idle
    assert CustomerTransfer.objects.filter(to_owner__isnull=True).count() == len(idle)
    # Running it again moves nothing more.
    call_command("pool_sweep")
    assert CustomerTransfer.objects.count() == len(idle)
