from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm

from .forms import AuditFilterForm
from .selectors import audit_entries_filtered


@login_required
def audit_list(request):
    require_perm(request.user, Perm.AUDIT_VIEW, path=request.path)
    form = AuditFilterForm(request.GET or None)
    filters = {k: v for k, v in (form.cleaned_data if form.is_valid() else {}).items() if v}
    qs = audit_entries_filtered(request.user, **filters)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/audit_list.html", {"form": form, "page": page, "query": query.urlencode()})
