from django.contrib.auth.mixins import LoginRequiredMixin

from loancrm.accounts.access import require_perm


class PermRequiredMixin(LoginRequiredMixin):
    """Signed in, and the role holds `required_perm` (a refusal is audited and answers 403)."""

    required_perm = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if self.required_perm is not None:
            require_perm(request.user, self.required_perm, path=request.path)
        return super().dispatch(request, *args, **kwargs)
