from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from loancrm.accounts.permissions import Perm, RoleCode
from loancrm.accounts.scope import users_in_scope
from loancrm.core.mixins import PermRequiredMixin

from . import services
from .forms import CustomerForm
from .selectors import customer_get_for, customer_list


class CustomerListView(PermRequiredMixin, View):
    required_perm = Perm.CUSTOMER_VIEW

    def get(self, request):
        g = request.GET
        owner = g.get("owner") or None
        qs = customer_list(
            request.user,
            search=g.get("q", ""),
            owner_id=int(owner) if owner and owner.isdigit() else None,
            ordering=g.get("sort", "-id"),
        )
        page = Paginator(qs, 20).get_page(g.get("page"))
        query = g.copy()
        query.pop("page", None)
        context = {
            "page": page,
            "q": g.get("q", ""),
            "owner": owner or "",
            "sort": g.get("sort", "-id"),
            "owners": users_in_scope(request.user)
            .filter(role__code__in=[RoleCode.SALESPERSON, RoleCode.MANAGER])
            .order_by("username")
            if request.user.data_scope != "own"
            else [],
            "query": query.urlencode(),
        }
        template = "customers/_table.html" if request.htmx else "customers/list.html"
        return render(request, template, context)


class CustomerDetailView(PermRequiredMixin, View):
    required_perm = Perm.CUSTOMER_VIEW

    def get(self, request, customer_id: int):
        return render(
            request, "customers/detail.html", {"customer": customer_get_for(request.user, customer_id)}
        )


class CustomerCreateView(PermRequiredMixin, View):
    required_perm = Perm.CUSTOMER_CREATE

    def get(self, request):
        return render(request, "customers/form.html", {"form": CustomerForm()})

    def post(self, request):
        form = CustomerForm(request.POST)
        if not form.is_valid():
            return render(request, "customers/form.html", {"form": form})
        customer = services.customer_create(by=request.user, **form.cleaned_data)
        messages.success(request, _("客户 %(name)s 已创建。") % {"name": customer.name})
        return redirect("customers:detail", customer_id=customer.pk)


class CustomerEditView(PermRequiredMixin, View):
    required_perm = Perm.CUSTOMER_EDIT

    def get(self, request, customer_id: int):
        customer = customer_get_for(request.user, customer_id)
        form = CustomerForm(instance=customer, can_reveal=request.user.has_perm_code(Perm.CUSTOMER_REVEAL))
        return render(request, "customers/form.html", {"form": form, "customer": customer})

    def post(self, request, customer_id: int):
        customer = customer_get_for(request.user, customer_id)
        can_reveal = request.user.has_perm_code(Perm.CUSTOMER_REVEAL)
        form = CustomerForm(request.POST, instance=customer, can_reveal=can_reveal)
        if not form.is_valid():
            return render(request, "customers/form.html", {"form": form, "customer": customer})
        customer.refresh_from_db()  # the form wrote onto the instance; the service diffs against the stored row
        services.customer_update(by=request.user, customer=customer, **form.cleaned_data)
        messages.success(request, _("已保存。"))
        return redirect("customers:detail", customer_id=customer.pk)
