"""Every read of export jobs: a user sees only their own."""

from django.db.models import QuerySet
from django.http import Http404

from .models import ExportJob


def export_jobs_for(user) -> QuerySet[ExportJob]:
    if not getattr(user, "is_authenticated", False):
        return ExportJob.objects.none()
    return ExportJob.objects.filter(created_by=user)


def export_job_get_for(user, job_id: int) -> ExportJob:
    """The user's own job; 404 both when it is missing and when it is someone else's."""
    try:
        return export_jobs_for(user).get(pk=job_id)
    except (ExportJob.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def describe_filters(filters: dict[str, str]) -> list[tuple[str, str]]:
    """The list's filter parameters as (label, value) a person reads: 阶段：已联系, 所属业务员：张伟 …"""
    from django.utils.translation import gettext as _

    from loancrm.accounts.models import Department, User
    from loancrm.customers.models import CustomerType, Tag
    from loancrm.dictionaries.selectors import dictionary_labels

    def name_of(model, pk: str, attr: str) -> str:
        obj = model.objects.filter(pk=pk).first() if pk.isdigit() else None
        return getattr(obj, attr) if obj is not None else pk

    follow = {"overdue": _("跟进已逾期"), "due": _("今日待跟进"), "none": _("未安排跟进")}
    describe = {
        "q": (_("搜索"), lambda v: v),
        "type": (_("客户类型"), lambda v: str(dict(CustomerType.choices).get(v, v))),
        "stage": (_("阶段"), lambda v: dictionary_labels("stage").get(v, v)),
        "channel": (_("来源渠道"), lambda v: dictionary_labels("channel").get(v, v)),
        "owner": (_("所属业务员"), lambda v: name_of(User, v, "display_name")),
        "department": (_("部门"), lambda v: name_of(Department, v, "name")),
        "region": (_("地区"), lambda v: v),
        "from": (_("创建日期从"), lambda v: v),
        "to": (_("创建日期到"), lambda v: v),
        "follow": (_("跟进"), lambda v: str(follow.get(v, v))),
        "tag": (_("标签"), lambda v: name_of(Tag, v, "name")),
    }
    return [(label, fn(filters[key])) for key, (label, fn) in describe.items() if filters.get(key)]
