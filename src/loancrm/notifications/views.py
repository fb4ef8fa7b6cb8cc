from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm

from . import selectors, services
from .models import Channel, DeliveryStatus


@login_required
def notification_list(request):
    qs = selectors.notifications_for(request.user)
    if request.GET.get("unread") == "1":
        qs = qs.filter(read_at__isnull=True)
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {
            "page": page,
            "unread_only": request.GET.get("unread") == "1",
            "query": "unread=1" if request.GET.get("unread") == "1" else "",
        },
    )


@login_required
def notification_open(request, notification_id: int):
    """Mark one read and go where it points (only to this site)."""
    n = selectors.notification_get_for(request.user, notification_id)
    services.notifications_mark_read(by=request.user, ids=[n.pk])
    if n.url and url_has_allowed_host_and_scheme(n.url, allowed_hosts={request.get_host()}):
        return redirect(n.url)
    return redirect("notifications:list")


@login_required
@require_POST
def notifications_read_all(request):
    count = services.notifications_mark_read(by=request.user)
    messages.success(request, _("已将 %(n)d 条通知标为已读") % {"n": count})
    return redirect("notifications:list")


@login_required
def bell(request):
    """The top bar's bell (htmx refreshes it every minute)."""
    return render(
        request, "notifications/_bell.html", {"unread_notifications": selectors.unread_count(request.user)}
    )


@login_required
@require_POST
def todo_done(request, todo_id: int):
    todo = selectors.todo_get_for(request.user, todo_id)
    try:
        services.todo_complete(by=request.user, todo=todo)
    except ValidationError as e:
        messages.error(request, "；".join(e.messages))
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return redirect(nxt)
    return redirect("intake:todo")


@login_required
def delivery_list(request):
    require_perm(request.user, Perm.RULES_MANAGE, path=request.path)
    from loancrm.rules.models import Rule

    filters = selectors.DeliveryFilters(
        rule=request.GET.get("rule", ""),
        status=request.GET.get("status", ""),
        channel=request.GET.get("channel", ""),
    )
    qs = selectors.deliveries_for_admin(request.user, filters)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "notifications/deliveries.html",
        {
            "page": page,
            "filters": filters,
            "rules": Rule.objects.order_by("id"),
            "statuses": DeliveryStatus.choices,
            "channels": [c for c in Channel.choices if c[0] != Channel.INAPP],
            "query": query.urlencode(),
        },
    )


@login_required
@require_POST
def delivery_retry(request, delivery_id: int):
    require_perm(request.user, Perm.RULES_MANAGE, path=request.path)
    delivery = selectors.delivery_get_for_admin(request.user, delivery_id)
    try:
        services.delivery_retry(by=request.user, delivery=delivery)
        messages.success(request, _("已重新排队发送"))
    except ValidationError as e:
        messages.error(request, "；".join(e.messages))
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return redirect(nxt)
    return redirect("notifications:deliveries")
