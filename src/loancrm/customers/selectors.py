from django.db.models import QuerySet
from django.http import Http404

from loancrm.accounts.permissions import Perm
from loancrm.accounts.scope import scope_queryset

from .models import Customer

SORTABLE = {"id", "-id", "name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"}


def customers_visible_to(user) -> QuerySet[Customer]:
    if not getattr(user, "is_authenticated", False) or not user.has_perm_code(Perm.CUSTOMER_VIEW):
        return Customer.objects.none()
    return scope_queryset(user, Customer.objects.select_related("owner", "department"))


def customer_list(
    user, *, search: str = "", owner_id: int | None = None, ordering: str = "-id"
) -> QuerySet[Customer]:
    qs = customers_visible_to(user)
    search = search.strip()
    if search:
        digits = search.replace(" ", "").replace("-", "")
        if digits.isdigit() and len(digits) >= 7:
            qs = qs.filter(phone=digits)
        else:
            # A range rather than LIKE 'x%': SQLite's LIKE is case-insensitive and cannot use the index.
            qs = qs.filter(name__gte=search, name__lt=search + "\U0010ffff")
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    return qs.order_by(ordering if ordering in SORTABLE else "-id")


def customer_get_for(user, customer_id: int) -> Customer:
    """The customer if `user` may see it; 404 both when it is missing and when it is out of scope."""
    try:
        return customers_visible_to(user).get(pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
