"""Reads for the rules pages (those who manage rules only)."""

from django.db.models import Count, QuerySet
from django.http import Http404

from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm

from .models import Rule, RuleRun


def rules_for_admin(user: User) -> QuerySet[Rule]:
    if not user.has_perm_code(Perm.RULES_MANAGE):
        return Rule.objects.none()
    return Rule.objects.annotate(fire_count=Count("fires")).order_by("-is_default", "id")


def rule_get_for_admin(user: User, rule_id: int) -> Rule:
    rule = rules_for_admin(user).filter(pk=rule_id).first()
    if rule is None:
        raise Http404
    return rule


def recent_runs(user: User, limit: int = 5) -> list[RuleRun]:
    if not user.has_perm_code(Perm.RULES_MANAGE):
        return []
    return list(RuleRun.objects.order_by("-started_at")[:limit])


def rule_recent_fires(rule: Rule, limit: int = 20):
    return rule.fires.order_by("-at", "-id")[:limit]
