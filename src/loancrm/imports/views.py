from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def batch_list(request):  # replaced by the wizard
    return HttpResponse("imports")
