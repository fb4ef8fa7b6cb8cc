"""Rule conditions: validated JSON that compiles to one Django Q (so a scan is one indexed query at a
million customers), plus, for the few computed fields, a check in Python on each candidate.

    {"op": "and", "items": [
        {"field": "created_at", "cmp": "older_than", "value": "2h"},
        {"field": "last_follow_up_at", "cmp": "empty"},
        {"op": "or", "items": [...]},
    ]}

Relative times are read against the scan's `now` (``loancrm rules run --now`` moves it).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# comparator code → label, and the field kinds it applies to
COMPARATORS: dict[str, tuple[str, set[str]]] = {
    "eq": (_("等于"), {"number", "money", "text", "choice", "user"}),
    "ne": (_("不等于"), {"number", "money", "text", "choice", "user"}),
    "gt": (_("大于"), {"number", "money"}),
    "gte": (_("大于等于"), {"number", "money"}),
    "lt": (_("小于"), {"number", "money"}),
    "lte": (_("小于等于"), {"number", "money"}),
    "contains": (_("包含"), {"text"}),
    "in": (_("属于（逗号分隔）"), {"text", "choice"}),
    "not_in": (_("不属于（逗号分隔）"), {"text", "choice"}),
    "empty": (_("为空"), {"number", "money", "text", "choice", "date", "datetime", "user"}),
    "not_empty": (_("不为空"), {"number", "money", "text", "choice", "date", "datetime", "user"}),
    "is_true": (_("是"), {"bool"}),
    "is_false": (_("否"), {"bool"}),
    "older_than": (_("早于……之前（如 2h、3d）"), {"date", "datetime"}),
    "newer_than": (_("在……之内（如 7d）"), {"date", "datetime"}),
    "within_next": (_("在未来……之内（如 24h）"), {"date", "datetime"}),
    "before_now": (_("已到期（不晚于现在/今天）"), {"date", "datetime"}),
    "in_days": (_("恰在 N 天后（如 7,3,0）"), {"date", "datetime"}),
    "days_ago": (_("恰在 N 天前（如 30）"), {"date", "datetime"}),
    "anniversary_in_days": (_("周年日在 N 天后（如生日明天：1）"), {"date"}),
}
NO_VALUE = {"empty", "not_empty", "is_true", "is_false", "before_now"}

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|分钟|h|小时|d|天)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(str(_("时长格式应为数字加单位，如 30m、2h、3d")))
    n, unit = int(m.group(1)), m.group(2).lower()
    if unit in ("m", "min", "分钟"):
        return timedelta(minutes=n)
    if unit in ("h", "小时"):
        return timedelta(hours=n)
    return timedelta(days=n)


def parse_days(text: Any) -> list[int]:
    try:
        days = [int(p) for p in re.split(r"[,，、\s]+", str(text).strip()) if p != ""]
    except ValueError:
        raise ValueError(str(_("天数应为整数，多个用逗号分隔，如 7,3,0"))) from None
    if not days or any(d < 0 or d > 3660 for d in days):
        raise ValueError(str(_("天数应为 0 到 3660 之间的整数，多个用逗号分隔")))
    return days


@dataclass(frozen=True)
class Compiled:
    q: Q
    check: Callable[[Any, datetime], bool] | None  # computed fields, checked per candidate


def _decimal(value: Any) -> Decimal:
    try:
        d = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ValueError(str(_("请输入数字"))) from None
    if not d.is_finite():
        raise ValueError(str(_("请输入数字")))
    return d


def _values(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v for v in (p.strip() for p in re.split(r"[,，、]", str(value))) if v]


def _leaf_q(spec, cmp: str, value: Any, now: datetime) -> Q:
    path = spec.path
    today = timezone.localtime(now).date()
    is_dt = spec.kind == "datetime"
    if cmp in ("empty", "not_empty"):
        empty = Q(**{f"{path}__isnull": True})
        if spec.kind in ("text", "choice"):
            empty |= Q(**{path: ""})
        return empty if cmp == "empty" else ~empty
    if cmp == "is_true":
        return Q(**{path: True})
    if cmp == "is_false":
        return Q(**{path: False})
    if spec.kind in ("number", "money"):
        number = _decimal(value)
        if cmp == "eq":
            return Q(**{path: number})
        if cmp == "ne":
            return ~Q(**{path: number}) | Q(**{f"{path}__isnull": True})
        return Q(**{f"{path}__{cmp}": number})
    if spec.kind == "user":
        if cmp == "eq":
            return Q(**{f"{path}__username": str(value)})
        return ~Q(**{f"{path}__username": str(value)}) | Q(**{f"{path}__isnull": True})
    if spec.kind in ("text", "choice"):
        if cmp == "eq":
            return Q(**{path: str(value)})
        if cmp == "ne":
            return ~Q(**{path: str(value)})
        if cmp == "contains":
            return Q(**{f"{path}__contains": str(value)})
        if cmp == "in":
            return Q(**{f"{path}__in": _values(value)})
        return ~Q(**{f"{path}__in": _values(value)})
    # dates and times
    if cmp == "before_now":
        return Q(**{f"{path}__lte": now if is_dt else today})
    if cmp in ("older_than", "newer_than", "within_next"):
        delta = parse_duration(value)
        if is_dt:
            edge = now - delta if cmp != "within_next" else now + delta
        else:
            edge = (
                today - timedelta(days=delta.days)
                if cmp != "within_next"
                else today + timedelta(days=delta.days)
            )
        if cmp == "older_than":
            return Q(**{f"{path}__lte": edge})
        if cmp == "newer_than":
            return Q(**{f"{path}__gt": edge})
        return Q(
            **{f"{path}__gt" if is_dt else f"{path}__gte": now if is_dt else today, f"{path}__lte": edge}
        )
    days = parse_days(value)
    if cmp in ("in_days", "days_ago"):
        sign = 1 if cmp == "in_days" else -1
        wanted = [today + timedelta(days=sign * d) for d in days]
        return Q(**{f"{path}__date__in" if is_dt else f"{path}__in": wanted})
    # anniversary_in_days: month and day (birthdays); 29 Feb counts on 28 Feb in other years
    q = Q()
    for d in days:
        target = today + timedelta(days=d)
        q |= Q(**{f"{path}__month": target.month, f"{path}__day": target.day})
        if target.month == 2 and target.day == 28 and not _leap(target.year):
            q |= Q(**{f"{path}__month": 2, f"{path}__day": 29})
    return q


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _check_value(spec, cmp: str, value: Any) -> Any:
    if cmp in NO_VALUE:
        return None
    if value in (None, ""):
        raise ValueError(str(_("请填写比较值")))
    if spec.kind in ("number", "money") and cmp in ("eq", "ne", "gt", "gte", "lt", "lte"):
        return str(_decimal(value))
    if cmp in ("older_than", "newer_than", "within_next"):
        parse_duration(value)
    if cmp in ("in_days", "days_ago", "anniversary_in_days"):
        return ",".join(str(d) for d in parse_days(value))
    if cmp in ("in", "not_in") and spec.choices:
        allowed = {code for code, _label in spec.choices()}
        unknown = [v for v in _values(value) if v not in allowed]
        if unknown:
            raise ValueError(str(_("不是可选的值：%(v)s")) % {"v": "、".join(unknown)})
    if (
        cmp in ("eq", "ne")
        and spec.kind == "choice"
        and spec.choices
        and str(value) not in {code for code, _label in spec.choices()}
    ):
        raise ValueError(str(_("不是可选的值：%(v)s")) % {"v": value})
    return value


def validate(entity, conditions: dict | None, *, top: bool = True) -> dict:
    """The conditions, normalised; ValidationError naming the condition and the problem otherwise."""
    if not conditions:
        return {"op": "and", "items": []}
    if not isinstance(conditions, dict) or conditions.get("op") not in ("and", "or"):
        raise ValidationError(_("条件组须写明“全部满足”(and)或“任一满足”(or)"))
    items = conditions.get("items") or []
    if not isinstance(items, list):
        raise ValidationError(_("条件组的条件须为列表"))
    out = []
    for n, item in enumerate(items, 1):
        if isinstance(item, dict) and "op" in item:
            out.append(validate(entity, item, top=False))
            continue
        if not isinstance(item, dict):
            raise ValidationError(_("第 %(n)d 个条件格式不对") % {"n": n})
        spec = entity.field(item.get("field", ""))
        if spec is None:
            raise ValidationError(
                _("第 %(n)d 个条件：没有字段“%(f)s”") % {"n": n, "f": item.get("field", "")}
            )
        cmp = item.get("cmp", "")
        if cmp not in COMPARATORS or spec.kind not in COMPARATORS[cmp][1]:
            raise ValidationError(
                _("第 %(n)d 个条件：“%(f)s”不能用“%(c)s”比较")
                % {"n": n, "f": spec.label, "c": COMPARATORS.get(cmp, (cmp,))[0]}
            )
        if spec.python and (not top or conditions["op"] != "and"):
            raise ValidationError(
                _("第 %(n)d 个条件：“%(f)s”只能放在最外层的“全部满足”里") % {"n": n, "f": spec.label}
            )
        try:
            value = _check_value(spec, cmp, item.get("value"))
        except ValueError as e:
            raise ValidationError(
                _("第 %(n)d 个条件（%(f)s）：%(e)s") % {"n": n, "f": spec.label, "e": e}
            ) from None
        out.append({"field": spec.name, "cmp": cmp, **({"value": value} if value is not None else {})})
    return {"op": conditions["op"], "items": out}


def compile_conditions(entity, conditions: dict | None, now: datetime) -> Compiled:
    conditions = conditions or {"op": "and", "items": []}
    q = Q()
    checks: list[Callable[[Any, datetime], bool]] = []
    for item in conditions.get("items", []):
        if "op" in item:
            part = compile_conditions(entity, item, now).q
        else:
            spec = entity.field(item["field"])
            if spec.python:
                checks.append(_python_check(spec, item["cmp"]))
                continue
            part = _leaf_q(spec, item["cmp"], item.get("value"), now)
        q = (q & part) if conditions.get("op", "and") == "and" else (q | part)
    if conditions.get("op") == "or" and not conditions.get("items"):
        q = Q()
    return Compiled(q=q, check=(lambda obj, at: all(c(obj, at) for c in checks)) if checks else None)


def _python_check(spec, cmp: str) -> Callable[[Any, datetime], bool]:
    def check(obj, now) -> bool:
        value = bool(spec.python(obj, now))
        return value if cmp == "is_true" else not value

    return check


def describe(entity, conditions: dict | None) -> str:
    """A one-line Chinese reading of the conditions, for the rules list."""
    conditions = conditions or {}
    joiner = " 且 " if conditions.get("op", "and") == "and" else " 或 "
    parts = []
    for item in conditions.get("items", []):
        if "op" in item:
            parts.append(f"（{describe(entity, item)}）")
            continue
        spec = entity.field(item["field"])
        label = spec.label if spec else item["field"]
        parts.append(f"{label} {_describe_cmp(spec, item['cmp'], item.get('value'))}")
    return joiner.join(str(p) for p in parts) or str(_("（所有记录）"))


_HINT = re.compile(r"\s*[（(][^（()）]*[)）]\s*$")  # the "（如 2h、3d）" example after a comparator's name


def _describe_cmp(spec, cmp: str, value: Any) -> str:
    """ "早于 2h 之前", "属于 应还、部分还款": the value put into the comparator's words, codes as labels."""
    words = _HINT.sub("", str(COMPARATORS.get(cmp, (cmp,))[0]))
    if value in (None, ""):
        return words
    text = str(value)
    if spec is not None and spec.kind == "choice" and spec.choices:
        labels = dict(spec.choices())
        text = "、".join(str(labels.get(v.strip(), v.strip())) for v in text.split(","))
    if "……" in words:
        return words.replace("……", f" {text} ", 1).strip()
    if " N " in words:
        return words.replace(" N ", f" {text} ", 1)
    return f"{words} {text}"


def as_of_date(now: datetime) -> date:
    return timezone.localtime(now).date()
