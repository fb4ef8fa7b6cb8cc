"""The six dashboard panels (seed 003 第四步). Each takes the requesting user and the filters and answers
a table (with a drill-down link per row to the records behind it) and an ECharts option; every query is
scoped to what the user may see, through the same scope helper as the lists.

Counts of leads, applications and loans come from the daily facts (rebuilt by the worker, see facts.py):
a few thousand rows whatever the number of customers. The rest is read live with indexed queries over
the chosen dates.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Avg, Count, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.models import User
from loancrm.accounts.scope import department_subtree_ids, scope_queryset
from loancrm.core.dates import local_day_start, parse_date

from .models import ChannelCost, DailyFact, RollFact

ZERO = Decimal("0")


@dataclass
class ReportFilters:
    date_from: date
    date_to: date  # inclusive
    department_id: int | None = None
    owner_id: int | None = None
    channel: str = ""
    product: str = ""  # product code
    region: str = ""

    @classmethod
    def from_params(cls, params) -> "ReportFilters":
        today = timezone.localdate()
        start = parse_date(params.get("from")) or today.replace(day=1)
        end = parse_date(params.get("to")) or today
        if end < start:
            start, end = end, start
        if (end - start).days > 3700:
            start = end - timedelta(days=3700)

        def num(key: str) -> int | None:
            v = str(params.get(key) or "")
            return int(v) if v.isascii() and v.isdigit() and len(v) < 12 else None

        return cls(
            date_from=start,
            date_to=end,
            department_id=num("department"),
            owner_id=num("owner"),
            channel=str(params.get("channel") or "")[:40],
            product=str(params.get("product") or "")[:30],
            region=str(params.get("region") or "")[:50],
        )

    def as_params(self) -> dict[str, str]:
        d = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        for key, value in (
            ("department", self.department_id),
            ("owner", self.owner_id),
            ("channel", self.channel),
            ("product", self.product),
            ("region", self.region),
        ):
            if value:
                d[key] = str(value)
        return d

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["date_from"], d["date_to"] = self.date_from.isoformat(), self.date_to.isoformat()
        return d

    @property
    def start(self):
        return local_day_start(self.date_from)

    @property
    def end(self):  # exclusive
        return local_day_start(self.date_to + timedelta(days=1))


@dataclass
class Panel:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)
    chart: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    extra: list["Panel"] = field(default_factory=list)  # further tables of the same panel

    @property
    def pairs(self) -> list[tuple[list[Any], str | None]]:
        """(row, drill-down link) for the template."""
        return [(row, self.links[i] if i < len(self.links) else None) for i, row in enumerate(self.rows)]


def _url(name: str, **params) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{reverse(name)}?{urlencode(clean)}" if clean else reverse(name)


def _pct(part, whole) -> str:
    return f"{(Decimal(part) * 100 / Decimal(whole)).quantize(Decimal('0.1'))}%" if whole else "—"


def _money(v) -> str:
    return f"{Decimal(v or 0):,.2f}"


def _scoped(
    user: User, qs: QuerySet, f: ReportFilters, *, owner="owner", department="department"
) -> QuerySet:
    """The user's scope, then the chosen department (its subtree) and salesperson."""
    qs = scope_queryset(user, qs, owner_field=owner, department_field=department)
    if f.department_id:
        qs = qs.filter(**{f"{department}_id__in": department_subtree_ids(f.department_id)})
    if f.owner_id:
        qs = qs.filter(**{f"{owner}_id": f.owner_id})
    return qs


def _facts(user: User, f: ReportFilters, kind: str, *, product: bool = True) -> QuerySet[DailyFact]:
    qs = _scoped(user, DailyFact.objects.filter(kind=kind, day__gte=f.date_from, day__lte=f.date_to), f)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.region:
        qs = qs.filter(region=f.region)
    if f.product and product:
        qs = qs.filter(product__code=f.product)
    return qs


def _labels(kind: str) -> dict[str, str]:
    from loancrm.dictionaries.selectors import dictionary_labels

    return dictionary_labels(kind)


def _bar(
    categories: list[str], series: list[tuple[str, list]], *, horizontal: bool = False
) -> dict[str, Any]:
    axis_cat = {
        "type": "category",
        "data": categories,
        "axisLabel": {"interval": 0, "rotate": 0 if horizontal else 30},
    }
    axis_val = {"type": "value"}
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 60 if not horizontal else 110, "right": 20, "top": 30, "bottom": 60},
        "xAxis": axis_val if horizontal else axis_cat,
        "yAxis": axis_cat if horizontal else axis_val,
        "series": [{"name": name, "type": "bar", "data": [float(v) for v in data]} for name, data in series],
    }


def _common(f: ReportFilters) -> dict[str, str]:
    return {
        "from": f.date_from.isoformat(),
        "to": f.date_to.isoformat(),
        "owner": f.owner_id or "",
        "department": f.department_id or "",
    }


# --- 1. 渠道分析 -----------------------------------------------------------------------------------------


def channel_panel(user: User, f: ReportFilters) -> Panel:
    names = _labels("channel")
    leads = dict(
        _facts(user, f, "lead", product=False)
        .values("channel")
        .annotate(n=Sum("count"))
        .values_list("channel", "n")
    )
    apps = dict(
        _facts(user, f, "application").values("channel").annotate(n=Sum("count")).values_list("channel", "n")
    )
    loans = {
        r["channel"]: (r["n"], r["a"])
        for r in _facts(user, f, "loan").values("channel").annotate(n=Sum("count"), a=Sum("amount"))
    }
    months = [f.date_from.replace(day=1)]
    while months[-1] < f.date_to.replace(day=1):
        m = months[-1]
        months.append(date(m.year + (m.month == 12), m.month % 12 + 1, 1))
    costs = dict(
        ChannelCost.objects.filter(month__in=months)
        .values("channel")
        .annotate(s=Sum("amount"))
        .values_list("channel", "s")
    )
    channels = sorted(set(leads) | set(apps) | set(loans), key=lambda c: -(leads.get(c) or 0))
    p = Panel(
        "channel",
        _("渠道分析"),
        [
            _("来源渠道"),
            _("线索"),
            _("进件"),
            _("线索→进件"),
            _("放款笔数"),
            _("进件→放款"),
            _("放款金额（元）"),
            _("渠道费用（元）"),
            _("单条线索成本（元）"),
        ],
    )
    common = _common(f)
    for c in channels:
        n_lead, n_app = leads.get(c, 0) or 0, apps.get(c, 0) or 0
        n_loan, amount = loans.get(c, (0, ZERO))
        cost = costs.get(c)
        p.rows.append([
            names.get(c, c) or _("（未填）"), n_lead, n_app, _pct(n_app, n_lead), n_loan, _pct(n_loan, n_app), _money(amount),
            _money(cost) if cost is not None else "—", _money(cost / n_lead) if cost is not None and n_lead else "—",
        ])  # fmt: skip
        p.links.append(_url("customers:list", channel=c, **common) if c else None)
    labels = [r[0] for r in p.rows]
    p.chart = _bar(
        labels,
        [
            (_("线索"), [r[1] for r in p.rows]),
            (_("进件"), [r[2] for r in p.rows]),
            (_("放款笔数"), [r[4] for r in p.rows]),
        ],
    )
    return p


# --- 2. 业务员业绩 ---------------------------------------------------------------------------------------


def sales_panel(user: User, f: ReportFilters) -> Panel:
    leads = {
        r["owner_id"]: (r["n"], r["t"])
        for r in _facts(user, f, "lead", product=False)
        .values("owner_id")
        .annotate(n=Sum("count"), t=Sum("timely"))
    }
    apps = {
        r["owner_id"]: (r["n"], r["ok"], r["no"])
        for r in _facts(user, f, "application")
        .values("owner_id")
        .annotate(n=Sum("count"), ok=Sum("approved"), no=Sum("rejected"))
    }
    loans = {
        r["owner_id"]: r["a"] for r in _facts(user, f, "loan").values("owner_id").annotate(a=Sum("amount"))
    }
    # Collection: of what fell due in the dates on the salesperson's loans, how much is paid.
    collected = {
        r["owner_id"]: (r["d"], r["p"])
        for r in _facts(user, f, "collection").values("owner_id").annotate(d=Sum("amount"), p=Sum("paid"))
    }
    ids = set(leads) | set(apps) | set(loans) | set(collected)
    people = {u.pk: u.display_name for u in User.objects.filter(pk__in=[i for i in ids if i])}
    p = Panel(
        "sales",
        _("业务员业绩"),
        [
            _("业务员"),
            _("线索"),
            _("24 小时内跟进"),
            _("进件"),
            _("审批通过"),
            _("审批通过率"),
            _("放款金额（元）"),
            _("应收（元）"),
            _("回收率"),
        ],
    )
    common = _common(f)
    for pk in sorted(ids, key=lambda i: -(loans.get(i) or 0)):
        n_lead, timely = leads.get(pk, (0, 0))
        n_app, ok, no = apps.get(pk, (0, 0, 0))
        d, paid = collected.get(pk, (ZERO, ZERO))
        p.rows.append([
            people.get(pk, _("公海")), n_lead, _pct(timely, n_lead), n_app, ok, _pct(ok, (ok or 0) + (no or 0)),
            _money(loans.get(pk)), _money(d), _pct(paid or 0, d or 0),
        ])  # fmt: skip
        p.links.append(_url("intake:list", **{**common, "owner": pk}) if pk else None)
    p.chart = _bar(
        [r[0] for r in p.rows], [(_("放款金额（元）"), [Decimal(r[6].replace(",", "")) for r in p.rows])]
    )
    p.notes.append(
        _("审批通过率 = 通过 ÷（通过 + 拒绝），按进件日期统计；回收率 = 已还 ÷ 应还，按应还日统计。")
    )
    return p


# --- 3. 审批环节耗时 -------------------------------------------------------------------------------------


def _p90_from_bins(bins: list[int]) -> float | None:
    """The 90th percentile in hours from the histogram (linear inside the bin that holds it)."""
    from .models import HOUR_BINS

    total = sum(bins)
    if not total:
        return None
    target, seen = 0.9 * total, 0
    for i, n in enumerate(bins):
        if n and seen + n >= target:
            low = HOUR_BINS[i - 1] if i else 0
            high = HOUR_BINS[i] if i < len(HOUR_BINS) else HOUR_BINS[-1] * 2
            return low + (high - low) * (target - seen) / n
        seen += n
    return HOUR_BINS[-1]


def _scoped_facts(user: User, f: ReportFilters, model) -> QuerySet:
    qs = _scoped(user, model.objects.filter(day__gte=f.date_from, day__lte=f.date_to), f)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.region:
        qs = qs.filter(region=f.region)
    if f.product and hasattr(model, "product"):
        qs = qs.filter(product__code=f.product)
    return qs


def node_time_panel(user: User, f: ReportFilters) -> Panel:
    from loancrm.intake.models import ApplicationStatus, LoanApplication
    from loancrm.intake.services import ensure_default_workflow
    from loancrm.intake.workflow import nodes_of

    from .models import HOUR_BINS, NodeFact

    nodes = nodes_of(ensure_default_workflow())
    bins = [f"h{i}" for i in range(len(HOUR_BINS) + 1)]
    facts = {
        r["node"]: r
        for r in _scoped_facts(user, f, NodeFact)
        .values("node")
        .annotate(n=Sum("count"), s=Sum("seconds"), b=Sum("breaches"), **{k: Sum(k) for k in bins})
        .order_by()
    }
    open_now = [ApplicationStatus.IN_PROGRESS, ApplicationStatus.APPROVED]
    queue_qs = _scoped(user, LoanApplication.objects.filter(status__in=open_now), f)
    if f.channel:
        queue_qs = queue_qs.filter(customer__channel=f.channel)
    if f.product:
        queue_qs = queue_qs.filter(product__code=f.product)
    if f.region:
        queue_qs = queue_qs.filter(region=f.region)
    queue = dict(
        queue_qs.values("node__code").annotate(n=Count("id")).order_by().values_list("node__code", "n")
    )
    late = dict(
        queue_qs.filter(sla_due_at__lt=timezone.now())
        .values("node__code")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("node__code", "n")
    )
    p = Panel(
        "node_time",
        _("审批环节耗时"),
        [
            _("节点"),
            _("完成次数"),
            _("平均用时（小时）"),
            _("P90 用时（小时）"),
            _("超时率"),
            _("当前在办"),
            _("其中已超时"),
        ],
    )
    for n in nodes:
        r = facts.get(n.code) or {}
        count = r.get("n") or 0
        p90 = _p90_from_bins([r.get(k) or 0 for k in bins]) if count else None
        p.rows.append([
            str(n), count, round((r.get("s") or 0) / count / 3600, 1) if count else "—",
            round(p90, 1) if p90 is not None else "—", _pct(r.get("b") or 0, count),
            queue.get(n.code, 0), late.get(n.code, 0),
        ])  # fmt: skip
        p.links.append(
            _url(
                "intake:list",
                node=n.code,
                status="in_progress" if n.code not in ("contract", "disbursement") else "approved",
            )
        )
    p.chart = _bar(
        [r[0] for r in p.rows],
        [(_("平均用时（小时）"), [r[2] if r[2] != "—" else 0 for r in p.rows]), (_("P90 用时（小时）"), [r[3] if r[3] != "—" else 0 for r in p.rows])],
    )  # fmt: skip
    p.notes.append(
        _("按离开节点的日期统计；P90 由用时分布估算；超时 = 用时超过该节点的时限。当前在办不受日期限制。")
    )
    return p


# --- 4. 产品与客户画像 ----------------------------------------------------------------------------------

AMOUNT_BANDS = [(0, 50_000), (50_000, 100_000), (100_000, 300_000), (300_000, 1_000_000), (1_000_000, None)]
AGE_BANDS = [(18, 25), (25, 35), (35, 45), (45, 55), (55, 65), (65, None)]


def _band_label(low: int, high: int | None, unit: str) -> str:
    def fmt(v: int) -> str:
        return f"{v // 10000}万" if unit == "yuan" and v >= 10000 else str(v)

    return f"{fmt(low)}–{fmt(high)}" if high is not None else f"≥{fmt(low)}"


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def portrait_panel(user: User, f: ReportFilters) -> Panel:
    from .facts import AGE_EDGES, AMOUNT_EDGES
    from .models import PortraitFact

    by_product = (
        _facts(user, f, "application")
        .values("product__name", "product__code")
        .annotate(n=Sum("count"))
        .order_by("-n")
    )
    p = Panel("portrait", _("产品与客户画像"), [_("产品"), _("进件")])
    common = _common(f)
    for r in by_product:
        p.rows.append([r["product__name"] or "—", r["n"]])
        p.links.append(_url("intake:list", product=r["product__code"], **common))
    p.chart = {
        "tooltip": {"trigger": "item"},
        "series": [
            {"type": "pie", "radius": ["35%", "65%"], "data": [{"name": r[0], "value": r[1]} for r in p.rows]}
        ],
    }
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for r in _scoped_facts(user, f, PortraitFact).values("dim", "value").annotate(n=Sum("count")).order_by():
        counts[r["dim"]][r["value"]] = r["n"]
    loan_types = _labels("loan_type")
    amount_labels = [
        _band_label(lo, hi, "yuan") for lo, hi in zip([0, *AMOUNT_EDGES], [*AMOUNT_EDGES, None], strict=True)
    ]
    age_labels = [
        _band_label(lo, hi, "age") for lo, hi in zip([18, *AGE_EDGES], [*AGE_EDGES, None], strict=True)
    ]

    def ordered(dim: str, labels: list[str]) -> list[tuple[str, int, str | None]]:
        rows = [
            (labels[int(k)], n, None)
            for k, n in sorted(((k, n) for k, n in counts[dim].items() if k != ""), key=lambda kv: int(kv[0]))
        ]
        if counts[dim].get(""):
            rows.append((_("（未填）"), counts[dim][""], None))
        return rows

    def top(dim: str, label=lambda v: v, link=None) -> list[tuple[str, int, str | None]]:
        items = sorted(counts[dim].items(), key=lambda kv: -kv[1])[:12]
        return [(label(v) or _("（未填）"), n, link(v) if link and v else None) for v, n in items]

    tables = [
        (_("贷款类型"), top("loan_type", lambda v: loan_types.get(v, v))),
        (_("期望金额"), ordered("amount", amount_labels)),
        (_("年龄"), ordered("age", age_labels)),
        (_("地区"), top("region", link=lambda v: _url("customers:list", region=v, **common))),
        (_("职业"), [t for t in top("occupation") if t[0] != _("（未填）")][:10]),
    ]
    for title, rows in tables:
        sub = Panel(f"portrait_{len(p.extra)}", title, [title, _("新增客户")])
        for label, n, link in rows:
            sub.rows.append([label, n])
            sub.links.append(link)
        p.extra.append(sub)
    p.notes.append(_("产品按进件统计；其余按所选日期内新增的客户统计（年龄按统计生成当天计算）。"))
    return p


# --- 5. 逾期与催收 ---------------------------------------------------------------------------------------


def overdue_panel(user: User, f: ReportFilters) -> Panel:
    from loancrm.loans.models import CollectionTask, Loan, LoanStatus, PromiseToPay

    loans = _scoped(user, Loan.objects.filter(status=LoanStatus.OVERDUE), f)
    if f.channel:
        loans = loans.filter(customer__channel=f.channel)
    if f.product:
        loans = loans.filter(product__code=f.product)
    by_bucket = {
        r["bucket"]: r
        for r in loans.values("bucket")
        .annotate(n=Count("id"), o=Sum("overdue_amount"), b=Sum("outstanding_principal"))
        .order_by()
    }
    from loancrm.loans.services import ensure_buckets

    buckets = [(b.code, b.label) for b in ensure_buckets()]
    p = Panel(
        "overdue", _("逾期与催收"), [_("账龄"), _("逾期笔数"), _("逾期金额（元）"), _("剩余本金（元）")]
    )
    for code, label in buckets:
        if code == "M0":
            continue
        r = by_bucket.get(code, {})
        p.rows.append([f"{code} {label}", r.get("n", 0), _money(r.get("o")), _money(r.get("b"))])
        p.links.append(_url("loans:list", status="overdue", bucket=code))
    p.chart = _bar([r[0] for r in p.rows], [(_("逾期笔数"), [r[1] for r in p.rows])])

    # Roll rates: of the loans in a bucket at one month end, the share one bucket worse at the next.
    order = [c for c, _label in buckets]
    rolls = _scoped(user, RollFact.objects.filter(month_end__gte=f.date_from - timedelta(days=200)), f)
    moves: dict[date, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for r in rolls.values("month_end", "from_bucket", "to_bucket").annotate(n=Sum("count")).order_by():
        moves[r["month_end"]][(r["from_bucket"], r["to_bucket"])] += r["n"]
    pairs = list(zip(order, order[1:], strict=False))
    roll = Panel("rolls", _("迁徙率（月末到下月末）"), [_("月末"), *[f"{a}→{b}" for a, b in pairs]])
    for month_end in sorted(moves):
        m = moves[month_end]
        cells = []
        for a, b in pairs:
            base = sum(n for (x, _y), n in m.items() if x == a)
            cells.append(_pct(m.get((a, b), 0), base))
        roll.rows.append([month_end.strftime("%Y-%m"), *cells])
        roll.links.append(None)
    p.extra.append(roll)

    tasks = _scoped(
        user, CollectionTask.objects.filter(closed_at__gte=f.start, closed_at__lt=f.end), f,
        owner="loan__owner", department="loan__department",
    )  # fmt: skip
    closed = tasks.exclude(close_reason__startswith="账龄变为")
    won = closed.filter(close_reason__startswith="已还清").count()
    promises = _scoped(
        user, PromiseToPay.objects.filter(promised_on__gte=f.date_from, promised_on__lte=f.date_to), f,
        owner="task__loan__owner", department="task__loan__department",
    )  # fmt: skip
    kept = dict(promises.values("status").annotate(n=Count("id")).order_by().values_list("status", "n"))
    done_promises = kept.get(PromiseToPay.Status.KEPT, 0) + kept.get(PromiseToPay.Status.BROKEN, 0)
    total_closed = closed.count()
    kpi = Panel("collection", _("催收成效"), [_("指标"), _("数值")])
    kpi.rows = [
        [_("结束的催收任务"), total_closed],
        [_("催收成功率（还清逾期结束）"), _pct(won, total_closed)],
        [_("还款承诺"), sum(kept.values())],
        [_("承诺兑现率"), _pct(kept.get(PromiseToPay.Status.KEPT, 0), done_promises)],
    ]
    kpi.links = [_url("loans:collection"), None, None, None]
    p.extra.append(kpi)
    p.notes.append(_("逾期按当前状态统计（不受日期限制）；迁徙率按月末的账龄，由还款计划推算。"))
    return p


# --- 6. 服务与满意度 -------------------------------------------------------------------------------------


def service_panel(user: User, f: ReportFilters) -> Panel:
    from loancrm.intake.models import (
        ProblemReport,
        SurveyResponse,
    )

    surveys = _scoped(
        user, SurveyResponse.objects.filter(submitted_at__gte=f.start, submitted_at__lt=f.end), f,
        owner="application__owner", department="application__department",
    )  # fmt: skip
    dist = dict(surveys.values("score").annotate(n=Count("id")).order_by().values_list("score", "n"))
    avg = surveys.aggregate(a=Avg("score"))["a"]
    problems = _scoped(
        user, ProblemReport.objects.filter(status=ProblemReport.Status.OPEN), f,
        owner="customer__owner", department="customer__department",
    )  # fmt: skip
    apps = _facts(user, f, "application").aggregate(
        n=Sum("count"), ok=Sum("approved"), no=Sum("rejected"), timed=Sum("timed"), s=Sum("seconds")
    )
    loans = _facts(user, f, "loan").aggregate(timed=Sum("timed"), s=Sum("seconds"))
    finished = (apps["ok"] or 0) + (apps["no"] or 0)
    p = Panel("service", _("服务与满意度"), [_("指标"), _("数值")])
    p.rows = [
        [_("满意度调查份数"), sum(dist.values())],
        [_("平均满意度（1–5）"), f"{avg:.2f}" if avg else "—"],
        [_("待处理的客户问题"), problems.count()],
        [_("进件数"), apps["n"] or 0],
        [_("已审批的进件（通过或拒绝）"), finished],
        [
            _("进件到审批决策（平均小时）"),
            round(apps["s"] / apps["timed"] / 3600, 1) if apps["timed"] else "—",
        ],
        [_("进件到放款（平均天）"), round(loans["s"] / loans["timed"] / 86400, 1) if loans["timed"] else "—"],
    ]
    p.links = [
        None,
        None,
        _url("intake:todo", team=1),
        _url("intake:list", **_common(f)),
        None,
        None,
        _url("loans:list", **_common(f)),
    ]
    p.chart = _bar([f"{s} 分" for s in range(1, 6)], [(_("份数"), [dist.get(s, 0) for s in range(1, 6)])])
    return p


PANELS = {
    "channel": channel_panel,
    "sales": sales_panel,
    "node_time": node_time_panel,
    "portrait": portrait_panel,
    "overdue": overdue_panel,
    "service": service_panel,
}
