"""The rule engine: saving rules, previewing them, and running them (scans, schedules, events).

Running a rule on a record is `_fire`: one transaction that inserts the RuleFire (unique per rule,
record and occurrence) and performs the actions. A second worker doing the same at the same moment
fails on the unique constraint and counts the record as already done; a crash rolls both back, so the
next scan does the work once.
"""

import functools
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, F, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import Department, User
from loancrm.accounts.permissions import Perm, RoleCode
from loancrm.accounts.scope import in_scope
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.notifications import services as notify
from loancrm.notifications.models import Channel, Delivery, MessageTemplate, Todo

from . import conditions as cond
from .entities import ENTITIES, SYSTEM, Entity, SystemRecord
from .models import Event, Frequency, Occurrence, Rule, RuleFire, RuleRun, Trigger

log = logging.getLogger(__name__)

CHUNK = 500
ACTION_TYPES = ("todo", "notify", "sms", "email", "wecom", "set_field", "assign", "report")
SYSTEM_USERNAME = "system"


def system_user() -> User:
    """The account automatic changes are recorded under (it cannot log in)."""
    user, _created = User.objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"full_name": "自动化规则", "is_active": False}
    )
    return user


# --- who ---------------------------------------------------------------------------------------------


def run_caches_clear() -> None:
    """Reference data a run reads for every record (managers, templates, the company name) is read
    once per run; a new run sees any change."""
    from .entities import _org

    _managers_cached.cache_clear()
    _template_cached.cache_clear()
    _org.cache_clear()


@functools.lru_cache(maxsize=4096)
def _template_cached(code: str) -> MessageTemplate | None:
    return MessageTemplate.objects.filter(code=code).first()


def managers_of(user: User | None, department_id: int | None = None) -> list[User]:
    """The 主管 of the user's department, or of the nearest department above it that has one."""
    return list(
        _managers_cached(user.pk if user else None, department_id or (user.department_id if user else None))
    )


@functools.lru_cache(maxsize=4096)
def _managers_cached(user_id: int | None, dept_id: int | None) -> tuple[User, ...]:
    user = User(pk=user_id) if user_id else None
    return tuple(_managers_of(user, dept_id))


def _managers_of(user: User | None, dept_id: int | None) -> list[User]:
    if dept_id is None:
        return []
    dept = Department.objects.filter(pk=dept_id).first()
    if dept is None:
        return []
    # Walk up the path (/000001/000004/ → nearest first).
    chain = [int(p) for p in dept.path.strip("/").split("/") if p][::-1]
    managers = User.objects.filter(role__code=RoleCode.MANAGER, is_active=True, department_id__in=chain)
    by_dept: dict[int, list[User]] = {}
    for m in managers:
        if user is None or m.pk != user.pk:
            by_dept.setdefault(m.department_id, []).append(m)
    for d in chain:
        if by_dept.get(d):
            return by_dept[d]
    return []


def recipients(spec: str, entity: Entity, obj: Any) -> list[User]:
    owner = entity.owner(obj)
    dept_id = entity.department_id(obj)
    if spec == "owner":
        people = [owner] if owner else []
    elif spec == "owner_manager":
        people = managers_of(owner, dept_id)
    elif spec == "handler":
        handler = entity.handler(obj)
        people = [handler] if handler else []
    elif spec == "handler_manager":
        # The handler's own 主管 when they see the record (a risk officer's manager may not), else the
        # 主管 of the record's department — someone who can act on the stalled item.
        handler = entity.handler(obj)
        people = managers_of(handler) if handler else []
        if not any(in_scope(u, owner_id=getattr(owner, "pk", None), department_id=dept_id) for u in people):
            people = managers_of(owner, dept_id)
    elif spec.startswith("role:"):
        people = list(User.objects.filter(role__code=spec[5:], is_active=True))
    elif spec.startswith("user:"):
        people = list(User.objects.filter(username=spec[5:], is_active=True))
    else:
        people = []
    people = [u for u in people if u.is_active]
    if entity is not SYSTEM:  # only people who may see the record hear about it
        people = [
            u for u in people if in_scope(u, owner_id=getattr(owner, "pk", None), department_id=dept_id)
        ]
    return people


RECIPIENT_CHOICES = [
    ("owner", "业务员（负责人）"),
    ("owner_manager", "业务员的主管"),
    ("handler", "当前处理人"),
    ("handler_manager", "处理人的主管"),
    ("customer", "客户本人"),
]


def recipient_label(spec: str) -> str:
    labels = {k: _(v) for k, v in RECIPIENT_CHOICES}
    if spec in labels:
        return labels[spec]
    if spec.startswith("role:"):
        from loancrm.accounts.models import Role

        role = Role.objects.filter(code=spec[5:]).first()
        return _("角色：%(r)s") % {"r": role or spec[5:]}
    if spec.startswith("user:"):
        user = User.objects.filter(username=spec[5:]).first()
        return _("用户：%(u)s") % {"u": user or spec[5:]}
    return spec


# --- saving ----------------------------------------------------------------------------------------------


def _validate_actions(entity: Entity, actions: Any) -> list[dict]:
    if not isinstance(actions, list) or not actions:
        raise ValidationError({"actions": [_("请至少设置一个动作")]})
    out = []
    for n, a in enumerate(actions, 1):
        if not isinstance(a, dict) or a.get("type") not in ACTION_TYPES:
            raise ValidationError({"actions": [_("第 %(n)d 个动作：类型不对") % {"n": n}]})
        t = a["type"]
        to = a.get("to") or []
        if isinstance(to, str):
            to = [to]
        a = {**a, "to": to}
        if t in ("todo", "notify", "sms", "email", "report") and not to:
            raise ValidationError({"actions": [_("第 %(n)d 个动作：请选择发给谁") % {"n": n}]})
        for spec in to:
            ok = spec in dict(RECIPIENT_CHOICES) or (spec.startswith(("role:", "user:")) and len(spec) > 5)
            if not ok or (spec == "customer" and t not in ("sms", "email")):
                raise ValidationError(
                    {"actions": [_("第 %(n)d 个动作：收件人“%(s)s”不对") % {"n": n, "s": spec}]}
                )
            if spec == "customer" and entity is SYSTEM:
                raise ValidationError({"actions": [_("第 %(n)d 个动作：系统任务没有客户") % {"n": n}]})
        template = a.get("template", "")
        if template and not MessageTemplate.objects.filter(code=template).exists():
            raise ValidationError(
                {"actions": [_("第 %(n)d 个动作：没有消息模板“%(t)s”") % {"n": n, "t": template}]}
            )
        if t in ("sms", "email", "wecom") and not template and not a.get("body"):
            raise ValidationError({"actions": [_("第 %(n)d 个动作：请选择消息模板或填写内容") % {"n": n}]})
        if t in ("todo", "notify") and not template and not a.get("title"):
            raise ValidationError({"actions": [_("第 %(n)d 个动作：请填写标题或选择模板") % {"n": n}]})
        for f in ("title", "body"):
            if a.get(f):
                notify.template_check(a[f], "actions")
        if t == "wecom" and not str(a.get("webhook", "")).startswith(
            tuple(settings.LOANCRM_WECOM_WEBHOOK_PREFIXES)
        ):
            raise ValidationError(
                {"actions": [_("第 %(n)d 个动作：请填写企业微信群机器人的 Webhook 地址") % {"n": n}]}
            )
        if t == "set_field":
            spec = entity.settable.get(a.get("field", ""))
            if spec is None:
                raise ValidationError(
                    {"actions": [_("第 %(n)d 个动作：这个对象不能自动修改该字段") % {"n": n}]}
                )
            if spec.choices and a.get("value") not in {c for c, _l in spec.choices()}:
                raise ValidationError({"actions": [_("第 %(n)d 个动作：不是可选的值") % {"n": n}]})
        if t == "assign":
            if entity.key != "customer":
                raise ValidationError(
                    {"actions": [_("第 %(n)d 个动作：只有客户规则可以自动分配") % {"n": n}]}
                )
            target = a.get("assignee", "")
            if target != "lead_rule" and not User.objects.filter(username=target, is_active=True).exists():
                raise ValidationError({"actions": [_("第 %(n)d 个动作：请选择在职的业务员") % {"n": n}]})
        if t == "report" and a.get("saved_report"):
            from loancrm.reports.models import SavedReport

            if (
                not str(a["saved_report"]).isdigit()
                or not SavedReport.objects.filter(pk=int(a["saved_report"])).exists()
            ):
                raise ValidationError({"actions": [_("第 %(n)d 个动作：没有这份保存的报表") % {"n": n}]})
            a["saved_report"] = int(a["saved_report"])
        if t == "report" and a.get("period") not in ("daily", "weekly"):
            raise ValidationError({"actions": [_("第 %(n)d 个动作：报表周期须为每日或每周") % {"n": n}]})
        if a.get("due_hours") not in (None, ""):
            try:
                hours = int(a["due_hours"])
            except (TypeError, ValueError):
                raise ValidationError(
                    {"actions": [_("第 %(n)d 个动作：完成时限须为小时数") % {"n": n}]}
                ) from None
            if not 0 < hours <= 24 * 90:
                raise ValidationError(
                    {"actions": [_("第 %(n)d 个动作：完成时限须在 1 到 2160 小时之间") % {"n": n}]}
                )
            a["due_hours"] = hours
        out.append(a)
    return out


RULE_FIELDS = (
    "code", "name", "description", "is_active", "entity", "trigger", "events", "frequency", "at_time",
    "weekday", "month_day", "conditions", "actions", "occurrence", "every_n_days",
)  # fmt: skip


def rule_clean(data: dict[str, Any]) -> dict[str, Any]:
    """The rule's data, checked; ValidationError names the field and the problem."""
    data = dict(data)
    entity = ENTITIES.get(data.get("entity", ""))
    if entity is None:
        raise ValidationError({"entity": [_("请选择规则作用的对象")]})
    trigger = data.get("trigger")
    if trigger not in Trigger.values:
        raise ValidationError({"trigger": [_("请选择触发方式")]})
    if entity is SYSTEM and trigger != Trigger.SCHEDULE:
        raise ValidationError({"trigger": [_("系统任务只能按计划时间运行")]})
    if trigger == Trigger.EVENT:
        events = [e for e in data.get("events") or [] if e in Event.values]
        if not events:
            raise ValidationError({"events": [_("请选择触发的事件")]})
        if not entity.audit_types:
            raise ValidationError({"trigger": [_("“%(e)s”没有记录事件，请用定时扫描") % {"e": entity.label}]})
        data["events"] = events
    else:
        data["events"] = []
    if trigger == Trigger.SCHEDULE:
        if not data.get("at_time"):
            raise ValidationError({"at_time": [_("请填写运行时间")]})
        freq = data.get("frequency") or Frequency.DAILY
        if freq not in Frequency.values:
            raise ValidationError({"frequency": [_("请选择频率")]})
        data["frequency"] = freq
        if freq == Frequency.WEEKLY and data.get("weekday") not in range(1, 8):
            raise ValidationError({"weekday": [_("请选择星期几")]})
        if freq == Frequency.MONTHLY and data.get("month_day") not in range(1, 29):
            raise ValidationError({"month_day": [_("每月的日期须在 1 到 28 之间")]})
    try:
        data["conditions"] = cond.validate(entity, data.get("conditions"))
    except ValidationError as e:
        raise ValidationError({"conditions": e.messages}) from None
    data["actions"] = _validate_actions(entity, data.get("actions"))
    occ = data.get("occurrence") or Occurrence.ONCE
    if occ not in Occurrence.values:
        raise ValidationError({"occurrence": [_("请选择重复方式")]})
    if occ == Occurrence.EVERY_N_DAYS and not (data.get("every_n_days") or 0) >= 1:
        raise ValidationError({"every_n_days": [_("请填写间隔天数（至少 1 天）")]})
    if occ == Occurrence.PER_VISIT and entity.key != "application":
        raise ValidationError({"occurrence": [_("“每进入一次节点一次”只用于进件申请")]})
    if occ == Occurrence.PER_EVENT and trigger != Trigger.EVENT:
        raise ValidationError({"occurrence": [_("“每个事件一次”只用于记录事件触发的规则")]})
    data["occurrence"] = occ
    if not str(data.get("name", "")).strip():
        raise ValidationError({"name": [_("请填写规则名称")]})
    return data


def _masked_actions(actions: list[dict] | None) -> list[dict]:
    """A WeCom robot's key is a secret: the audit log keeps the address without it."""
    return [
        {**a, "webhook": a["webhook"].split("key=")[0] + "key=***"}
        if a.get("webhook") and "key=" in a["webhook"]
        else a
        for a in (actions or [])
    ]


def rule_save(*, by: User, rule: Rule | None, data: dict[str, Any]) -> Rule:
    require_perm(by, Perm.RULES_MANAGE)
    data = rule_clean(data)
    with transaction.atomic():
        creating = rule is None
        if creating:
            rule = Rule(created_by=by, code=data.get("code") or f"r{uuid.uuid4().hex[:10]}")
        before = {f: getattr(rule, f) for f in RULE_FIELDS}
        for f in RULE_FIELDS:
            if f in data and f != "code":
                setattr(rule, f, data[f])
        rule.updated_at = timezone.now()
        rule.save()
        after = {f: getattr(rule, f) for f in RULE_FIELDS}
        before["actions"], after["actions"] = (
            _masked_actions(before["actions"]),
            _masked_actions(after["actions"]),
        )
        audit_record(
            action=Action.RULE_UPDATE,
            actor=by,
            obj=rule,
            changes={} if creating else {k: [before[k], after[k]] for k in after if before[k] != after[k]},
            extra={"code": rule.code, "created": creating},
        )
    return rule


def rule_toggle(*, by: User, rule: Rule, active: bool) -> Rule:
    require_perm(by, Perm.RULES_MANAGE)
    with transaction.atomic():
        Rule.objects.filter(pk=rule.pk).update(is_active=active, updated_at=timezone.now())
        rule.is_active = active
        audit_record(
            action=Action.RULE_UPDATE, actor=by, obj=rule, changes={"is_active": [not active, active]}
        )
    return rule


# --- when and which --------------------------------------------------------------------------------------


def _schedule_open(rule: Rule, now: datetime) -> bool:
    """A scheduled rule runs from its time of day on its day (daily, weekday, day of month)."""
    local = timezone.localtime(now)
    if rule.at_time and local.time() < rule.at_time:
        return False
    if rule.frequency == Frequency.WEEKLY:
        return local.isoweekday() == rule.weekday
    if rule.frequency == Frequency.MONTHLY:
        return local.day == rule.month_day
    return True


def occurrence_key(rule: Rule, obj: Any, now: datetime, *, event_id: int | None = None) -> str:
    today = timezone.localtime(now).date()
    occ = rule.occurrence
    if occ == Occurrence.PER_EVENT and event_id is not None:
        return f"e{event_id}"
    if occ == Occurrence.PER_VISIT:
        return f"v{getattr(obj, 'node_id', None) or ''}.{getattr(obj, 'visit', '')}"
    if occ == Occurrence.DAILY:
        return today.isoformat()
    if occ == Occurrence.WEEKLY:
        year, week, _day = today.isocalendar()
        return f"{year}-W{week:02d}"
    if occ == Occurrence.YEARLY:
        return str(today.year)
    if occ == Occurrence.EVERY_N_DAYS:
        # The day it acts; _fired_within_n_days keeps N days between two reminders.
        return f"n.{today.isoformat()}"
    return "1"


def _done_exists(rule: Rule, now: datetime, *, event_id: int | None = None) -> Exists:
    """SQL for "the rule already acted on this record for this occurrence", to leave those records in
    the database: a repeat scan then reads only what is new (one indexed EXISTS per row)."""
    fires = RuleFire.objects.filter(rule_id=rule.pk, object_id=Cast(OuterRef("pk"), CharField()))
    if rule.occurrence == Occurrence.EVERY_N_DAYS:
        since = timezone.localtime(now).date() - timedelta(days=max(rule.every_n_days or 1, 1) - 1)
        fires = fires.filter(at__gte=timezone.make_aware(datetime.combine(since, datetime.min.time())))
    elif rule.occurrence == Occurrence.PER_VISIT:
        key = Concat(
            Value("v"),
            Cast(OuterRef("node_id"), CharField()),
            Value("."),
            Cast(OuterRef("visit"), CharField()),
        )
        fires = fires.filter(occurrence=key)
    else:
        fires = fires.filter(occurrence=occurrence_key(rule, None, now, event_id=event_id))
    return Exists(fires)


def _candidates(
    rule: Rule,
    entity: Entity,
    now: datetime,
    *,
    pk=None,
    skip_done: dict[str, int] | None = None,
    event_id=None,
) -> Iterator[list[Any]]:
    """Matching records in chunks, in id order (one indexed query per chunk). With `skip_done`, the
    records already acted on stay in the database and only their number is put in skip_done["n"]."""
    if entity is SYSTEM:
        yield [SystemRecord()]
        return
    compiled = cond.compile_conditions(entity, rule.conditions, now)
    base = entity.queryset().filter(compiled.q)
    if pk is not None:
        base = base.filter(pk=pk)
    if skip_done is not None and rule.pk:
        done = _done_exists(rule, now, event_id=event_id)
        skip_done["n"] = base.filter(done).count()
        base = base.filter(~done)
    last = 0
    while True:
        chunk = list(base.filter(pk__gt=last).order_by("pk")[:CHUNK])
        if not chunk:
            return
        last = chunk[-1].pk
        if compiled.check is not None:
            chunk = [o for o in chunk if compiled.check(o, now)]
        if chunk:
            yield chunk


def rule_preview(*, by: User, rule: Rule, now: datetime | None = None, limit: int = 50) -> dict[str, Any]:
    """Which records the rule would act on now, and which of those it has already acted on: nothing is
    written. For the 测试 button."""
    require_perm(by, Perm.RULES_MANAGE)
    now = now or timezone.now()
    entity = ENTITIES[rule.entity]
    rows, total, done = [], 0, 0
    for chunk in _candidates(rule, entity, now):
        keys = {o.pk: occurrence_key(rule, o, now) for o in chunk}
        fired = set(
            RuleFire.objects.filter(rule_id=rule.pk, object_id__in=[str(k) for k in keys]).values_list(
                "object_id", "occurrence"
            )
        ) if rule.pk else set()  # fmt: skip
        for o in chunk:
            total += 1
            already = (str(o.pk), keys[o.pk]) in fired
            done += already
            if len(rows) < limit:
                rows.append({"object": o, "label": str(o), "url": entity.url(o), "done": already})
        if total >= 100_000:
            break
    schedule_open = rule.trigger != Trigger.SCHEDULE or _schedule_open(rule, now)
    return {"total": total, "done": done, "rows": rows, "schedule_open": schedule_open, "now": now}


# --- acting ----------------------------------------------------------------------------------------------


def _texts(action: dict, ctx: dict) -> tuple[str, str, MessageTemplate | None]:
    template = None
    if action.get("template"):
        template = _template_cached(action["template"])
        if template is None:
            raise ValidationError(_("没有消息模板“%(t)s”") % {"t": action["template"]})
    title = action.get("title") or (template.subject if template else "")
    body = action.get("body") or (template.body if template else "")
    return notify.template_render(title, ctx), notify.template_render(body, ctx), template


def _act(rule: Rule, entity: Entity, obj: Any, now: datetime) -> list[str]:
    ctx = entity.context(obj, now)
    rel_url = entity.url(obj)
    customer = entity.customer(obj)
    done: list[str] = []
    for action in rule.actions:
        t = action["type"]
        title, body, template = _texts(action, ctx) if t not in ("set_field", "assign") else ("", "", None)
        people: list[User] = []
        for spec in action.get("to", []):
            if spec != "customer":
                people += [u for u in recipients(spec, entity, obj) if u not in people]
        if t == "todo":
            due = now + timedelta(hours=action["due_hours"]) if action.get("due_hours") else None
            # A daily rule does not stack up to-dos: one still open for the same record is enough.
            still_open = set(
                Todo.objects.filter(
                    rule=rule, url=rel_url, status=Todo.Status.OPEN, user__in=people
                ).values_list("user_id", flat=True)
            )
            people = [u for u in people if u.pk not in still_open]
            for u in people:
                notify.todo_create(
                    user=u,
                    title=title,
                    body=body,
                    url=rel_url,
                    customer=customer,
                    rule=rule,
                    due_at=due,
                    now=now,
                )
            done.append(f"todo×{len(people)}")
        elif t == "notify":
            for u in people:
                notify.notification_create(user=u, title=title, body=body, url=rel_url, rule=rule, now=now)
            done.append(f"notify×{len(people)}")
        elif t in ("sms", "email"):
            subject = title or (template.subject if template else "")
            provider_template = template.provider_template if template else ""
            n = 0
            if "customer" in action.get("to", []) and customer is not None:
                notify.delivery_queue(
                    channel=t,
                    audience=Delivery.Audience.CUSTOMER,
                    recipient=customer.phone if t == Channel.SMS else customer.email,
                    body=body,
                    subject=subject,
                    customer=customer,
                    rule=rule,
                    source=rule.code,
                    provider_template=provider_template,
                    params={k: str(v) for k, v in ctx.items() if k != "url"},
                    now=now,
                )
                n += 1
            for u in people:
                notify.delivery_queue(
                    channel=t,
                    audience=Delivery.Audience.STAFF,
                    recipient=u.phone if t == Channel.SMS else u.email,
                    body=body,
                    subject=subject,
                    user=u,
                    rule=rule,
                    source=rule.code,
                    provider_template=provider_template,
                    params={k: str(v) for k, v in ctx.items() if k != "url"},
                    now=now,
                )
                n += 1
            done.append(f"{t}×{n}")
        elif t == "wecom":
            notify.delivery_queue(
                channel=Channel.WECOM,
                audience=Delivery.Audience.GROUP,
                recipient=action["webhook"],
                body=body if not title else f"**{title}**\n{body}",
                subject=title,
                rule=rule,
                source=rule.code,
                now=now,
            )
            done.append("wecom")
        elif t == "set_field":
            done.append(_set_field(rule, entity, obj, action["field"], action.get("value"), now))
        elif t == "assign":
            done.append(_assign(rule, obj, action.get("assignee", ""), now))
        elif t == "report":
            from loancrm.reports.scheduled import report_send

            sent = report_send(
                rule=rule,
                people=people,
                period=action["period"],
                now=now,
                template_code=action.get("template", ""),
                saved_report_id=action.get("saved_report"),
            )
            done.append(f"report×{sent}")
    return done


def _set_field(rule: Rule, entity: Entity, obj: Any, field: str, value: Any, now: datetime) -> str:
    old = getattr(obj, field)
    if old == value:
        return f"{field}=unchanged"
    entity.model.objects.filter(pk=obj.pk).update(
        **{field: value, "version": F("version") + 1, "updated_at": now}
    )
    audit_record(
        action=Action.CUSTOMER_UPDATE,
        actor_username=f"rule:{rule.code}",
        obj=obj,
        changes={field: [old, value]},
        extra={"by_rule": rule.code},
    )
    return f"{field}={value}"


def _assign(rule: Rule, customer: Any, target: str, now: datetime) -> str:
    from loancrm.customers.models import CustomerTransfer

    if target == "lead_rule":
        from loancrm.intake.services import lead_assignee

        dept = customer.department or (customer.owner.department if customer.owner_id else None)
        to_owner = lead_assignee(dept, now=now) if dept else None
    else:
        to_owner = User.objects.filter(username=target, is_active=True).first()
    if to_owner is None or to_owner.pk == customer.owner_id:
        return "assign=none"
    old = customer.owner_id
    type(customer).objects.filter(pk=customer.pk).update(
        owner=to_owner,
        department_id=to_owner.department_id,
        pooled_at=None,
        version=F("version") + 1,
        updated_at=now,
    )
    CustomerTransfer.objects.create(
        batch=uuid.uuid4(),
        customer=customer,
        from_owner_id=old,
        to_owner=to_owner,
        reason=_("自动化规则：%(r)s") % {"r": rule.name},
        by=system_user(),
        at=now,
    )
    audit_record(
        action=Action.CUSTOMER_ASSIGN,
        actor_username=f"rule:{rule.code}",
        obj=customer,
        extra={"by_rule": rule.code, "to": to_owner.username, "from_owner_id": old},
    )
    return f"assign={to_owner.username}"


class _NoLongerMatches(Exception):
    pass


def _fire(rule: Rule, entity: Entity, obj: Any, key: str, now: datetime) -> bool:
    try:
        with transaction.atomic():
            fire = RuleFire.objects.create(rule=rule, object_id=str(obj.pk), occurrence=key, at=now)
            if entity is not SYSTEM and any(a["type"] in ("assign", "set_field") for a in rule.actions):
                # The record was read a moment ago; one that changed since (say, claimed from the pool)
                # is left alone. Checked under the fire's write lock.
                compiled = cond.compile_conditions(entity, rule.conditions, now)
                fresh = entity.queryset().filter(compiled.q, pk=obj.pk).first()
                if fresh is None or (compiled.check is not None and not compiled.check(fresh, now)):
                    raise _NoLongerMatches
                obj = fresh
            summary = _act(rule, entity, obj, now)
            fire.summary = ", ".join(summary)[:300]
            fire.save(update_fields=["summary"])
    except (IntegrityError, _NoLongerMatches):
        return False
    return True


def _fired_within_n_days(rule: Rule, ids: list[str], now: datetime) -> set[str]:
    """For "every N days": records the rule acted on less than N days ago (by local date)."""
    if rule.occurrence != Occurrence.EVERY_N_DAYS:
        return set()
    n = max(rule.every_n_days or 1, 1)
    since = timezone.localtime(now).date() - timedelta(days=n - 1)
    start = timezone.make_aware(datetime.combine(since, datetime.min.time()))
    return set(
        RuleFire.objects.filter(rule=rule, object_id__in=ids, at__gte=start).values_list(
            "object_id", flat=True
        )
    )


def _run_rule(rule: Rule, now: datetime, totals: dict[str, Any], *, pk=None, event_id=None) -> None:
    entity = ENTITIES.get(rule.entity)
    if entity is None:
        totals["errors"].append({"rule": rule.code, "error": f"unknown entity {rule.entity}"})
        return
    fired = skipped = 0
    try:
        already = {"n": 0}
        for chunk in _candidates(rule, entity, now, pk=pk, skip_done=already, event_id=event_id):
            keys = {o.pk: occurrence_key(rule, o, now, event_id=event_id) for o in chunk}
            ids = [str(k) for k in keys]
            done = set(
                RuleFire.objects.filter(rule=rule, object_id__in=ids).values_list("object_id", "occurrence")
            )
            recent = _fired_within_n_days(rule, ids, now)
            for o in chunk:
                if (str(o.pk), keys[o.pk]) in done or str(o.pk) in recent:
                    skipped += 1
                    continue
                try:
                    if _fire(rule, entity, o, keys[o.pk], now):
                        fired += 1
                    else:
                        skipped += 1
                except ValidationError as e:  # a misconfigured rule: report it, go on with the others
                    totals["errors"].append(
                        {"rule": rule.code, "object": str(o.pk), "error": "; ".join(e.messages)}
                    )
                except Exception as e:  # one bad record (or a locked database) must not stop the scan
                    log.exception("rule %s on %s", rule.code, o.pk)
                    totals["errors"].append(
                        {"rule": rule.code, "object": str(o.pk), "error": f"{type(e).__name__}: {e}"}
                    )
        skipped += already["n"]
    except (ValidationError, ValueError) as e:
        totals["errors"].append({"rule": rule.code, "error": str(e)})
    except Exception as e:  # e.g. the database went away: the other rules still run
        log.exception("rule %s", rule.code)
        totals["errors"].append({"rule": rule.code, "error": f"{type(e).__name__}: {e}"})
    totals["fired"] += fired
    totals["skipped_already_done"] += skipped
    if fired or skipped:
        totals["rules"][rule.code] = {"fired": fired, "skipped_already_done": skipped}


def rules_run(
    *, now: datetime | None = None, codes: list[str] | None = None, source: str = "worker"
) -> dict[str, Any]:
    """One scan: every active scan rule, and every scheduled rule whose time has come, as of `now`."""
    now = now or timezone.now()
    run_caches_clear()
    run = RuleRun.objects.create(as_of=now, source=source)
    totals: dict[str, Any] = {"fired": 0, "skipped_already_done": 0, "errors": [], "rules": {}}
    rules = Rule.objects.filter(is_active=True, trigger__in=[Trigger.SCAN, Trigger.SCHEDULE]).order_by("id")
    if codes:
        rules = rules.filter(code__in=codes)
    for rule in rules:
        if rule.trigger == Trigger.SCHEDULE and not _schedule_open(rule, now):
            continue
        _run_rule(rule, now, totals)
        Rule.objects.filter(pk=rule.pk).update(last_run_at=timezone.now())
    run.fired = totals["fired"]
    run.skipped = totals["skipped_already_done"]
    run.errors = totals["errors"][:50]
    run.finished_at = timezone.now()
    run.save(update_fields=["fired", "skipped", "errors", "finished_at"])
    if totals["errors"]:
        log.warning("rules run: %d errors: %s", len(totals["errors"]), totals["errors"][:5])
    return totals


def rules_on_event(*, entry_id: int) -> dict[str, Any]:
    """Event rules for the record an audit entry is about (queued after that write commits)."""
    from loancrm.audit.models import AuditEntry

    from .events import event_kinds

    totals: dict[str, Any] = {"fired": 0, "skipped_already_done": 0, "errors": [], "rules": {}}
    entry = AuditEntry.objects.filter(pk=entry_id).first()
    if entry is None:
        return totals
    entity, kinds = event_kinds(entry)
    if entity is None or not kinds:
        return totals
    now = timezone.now()
    run_caches_clear()
    for rule in Rule.objects.filter(is_active=True, trigger=Trigger.EVENT, entity=entity.key).order_by("id"):
        if set(rule.events) & kinds:
            _run_rule(rule, now, totals, pk=entry.object_id, event_id=entry.pk)
    return totals
