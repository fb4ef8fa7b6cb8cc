"""Demo partner institutions (资金方) and the loan terms of the demo products."""

from decimal import Decimal

from loancrm.loans.models import Institution, LoanTerms

INSTITUTIONS = [
    ("宁夏银行银川分行", Institution.Kind.BANK),
    ("黄河农村商业银行", Institution.Kind.BANK),
    ("宁夏某消费金融有限公司", Institution.Kind.CONSUMER_FINANCE),
]
# product code: (institution, methods, penalty per day, prepayment, service fee rate, fee payer)
TERMS = {
    "xinyidai": (0, ["annuity", "equal_principal"], "0.0005", "reduce_payment", "0.0200", "institution"),
    "fangdidai": (
        1,
        ["annuity", "equal_principal", "interest_first"],
        "0.0003",
        "shorten_term",
        "0.0150",
        "institution",
    ),
    "jingyingdai": (
        2,
        ["interest_first", "bullet", "annuity"],
        "0.0005",
        "reduce_payment",
        "0.0250",
        "customer",
    ),
}


def ensure_loan_terms(products: dict) -> None:
    institutions = [
        Institution.objects.get_or_create(name=n, defaults={"kind": k})[0] for n, k in INSTITUTIONS
    ]
    for code, (inst, methods, penalty, prepay, fee, payer) in TERMS.items():
        if code in products:
            LoanTerms.objects.get_or_create(
                product=products[code],
                defaults={
                    "institution": institutions[inst],
                    "methods": methods,
                    "penalty_daily_rate": Decimal(penalty),
                    "allocation_order": ["penalty", "interest", "principal"],
                    "prepayment": prepay,
                    "service_fee_rate": Decimal(fee),
                    "service_fee_payer": payer,
                },
            )


def ensure_loans(*, seed: int = 2026) -> int:
    """The demo applications waiting at 审批决策 are approved and disbursed some weeks ago: one is paid
    on time, one is partly paid, one is 45+ days late (M2) — so 贷款 and 催收 have something to show —
    and two more are recent (a first instalment due in a week; a month-old loan to visit)."""
    from datetime import timedelta

    from django.utils import timezone

    from loancrm.intake import services as intake
    from loancrm.intake.models import LoanApplication
    from loancrm.loans import services as loans
    from loancrm.loans.models import Loan

    if Loan.objects.exists():
        return 0
    from loancrm.loans.schedules import add_months

    today = timezone.localdate()
    # Days since 放款, then what the customer did. The last two give the rules something to do: one
    # whose first instalment is due in 7 days (还款提醒), one disbursed 40 days ago (贷后回访).
    due_in_7 = (today - add_months(today + timedelta(days=7), -1)).days
    plans = [(100, "paid"), (80, "partial"), (76, "late"), (due_in_7, "fresh"), (40, "fresh")]
    apps = list(LoanApplication.objects.filter(node__code="decision").order_by("id")[: len(plans)])
    made = 0
    for app, (days_ago, behaviour) in zip(apps, plans, strict=False):
        while app.node and app.node.code in ("decision", "contract"):
            for task in list(app.tasks.filter(status="open", visit=app.visit)):
                data = {"approved_rate": "7.2"} if app.node.code == "decision" else {}
                app = intake.application_act(by=task.assignee, application=app, action="submit", data=data)
        finance = app.handler
        loan = loans.loan_disburse(
            by=finance,
            application=app,
            contract_no=f"NXB-{today:%Y}-{app.pk:04d}",
            annual_rate="7.2%",
            method="annuity",
            disbursed_on=today - timedelta(days=days_ago),
        )
        rows = list(loan.installments.order_by("period"))
        due = [r for r in rows if r.due_date <= today]
        if behaviour == "paid":
            for r in due:
                loans.repayment_record(by=finance, loan=loan, amount=r.payment_due, paid_on=r.due_date)
        elif behaviour == "partial" and due:
            loans.repayment_record(by=finance, loan=loan, amount=due[0].payment_due, paid_on=due[0].due_date)
            if len(due) > 1:
                half = (due[1].payment_due / 2).quantize(due[1].payment_due)
                loans.repayment_record(by=finance, loan=loan, amount=half, paid_on=due[1].due_date)
        loans.loan_assess(loan=loan)
        made += 1
    return made
