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
