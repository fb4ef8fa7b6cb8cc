"""Demo products (信贷, 抵押贷, 企业经营贷) with their material checklists, lead-assignment rules, and a
handful of applications standing at different nodes of the flow."""

import random
from decimal import Decimal

from django.db import transaction

from loancrm.accounts.models import Department, User
from loancrm.intake.models import AssignmentMethod, AssignmentRule, MaterialRequirement, Product

# code, name, loan kind, amounts, terms, rates, description
PRODUCTS = [
    ("xinyidai", "薪易贷（个人信用贷）", "credit", 10_000, 300_000, 3, 36, "7.20", "18.00",
     "面向有稳定收入的工薪人群，无抵押，最快 2 个工作日放款"),
    ("fangdidai", "房抵贷（房产抵押贷）", "mortgage", 100_000, 5_000_000, 12, 120, "3.85", "9.60",
     "以银川及周边住宅或商铺抵押，额度最高评估值七成"),
    ("jingyingdai", "经营贷（企业/个体工商户）", "credit", 50_000, 2_000_000, 6, 36, "6.00", "15.00",
     "面向小微企业和个体工商户的经营周转贷款"),
]  # fmt: skip

ID = ["id_front", "id_back"]
# product code → customer type → [(kind, required, note)]
CHECKLISTS = {
    "xinyidai": {
        "individual": [
            *[(k, True, "") for k in ID],
            ("credit_report", True, "近 1 个月内打印的详版"),
            ("bank_statement", True, "近 6 个月工资卡流水"),
            ("income_proof", True, "单位盖章"),
            ("bank_card", True, "收款银行卡"),
            ("marriage_cert", False, "已婚需提供"),
        ],
    },
    "fangdidai": {
        "individual": [
            *[(k, True, "") for k in ID],
            ("credit_report", True, "近 1 个月内打印的详版"),
            ("property_cert", True, "不动产权证书全部页"),
            ("household_register", True, ""),
            ("marriage_cert", True, "已婚需配偶同意抵押"),
            ("bank_statement", True, "近 6 个月"),
            ("bank_card", True, "收款银行卡"),
            ("income_proof", False, ""),
        ],
        "enterprise": [
            ("business_licence", True, ""),
            ("legal_rep_id", True, ""),
            ("property_cert", True, ""),
            ("financial_statement", True, "近一年"),
            ("credit_report", True, "企业征信"),
        ],
    },
    "jingyingdai": {
        "enterprise": [
            ("business_licence", True, ""),
            ("legal_rep_id", True, ""),
            ("credit_report", True, "企业及法定代表人征信"),
            ("bank_statement", True, "对公账户近 12 个月"),
            ("financial_statement", True, "近一年"),
            ("tax_record", False, "近一年纳税证明"),
        ],
        "individual": [
            *[(k, True, "") for k in ID],
            ("business_licence", True, "个体工商户营业执照"),
            ("credit_report", True, ""),
            ("bank_statement", True, "近 12 个月经营流水"),
        ],
    },
}


@transaction.atomic
def ensure_products() -> dict[str, Product]:
    out = {}
    for code, name, kind, low, high, tmin, tmax, rmin, rmax, desc in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "loan_kind": kind,
                "min_amount": Decimal(low),
                "max_amount": Decimal(high),
                "min_term_months": tmin,
                "max_term_months": tmax,
                "annual_rate_min": Decimal(rmin),
                "annual_rate_max": Decimal(rmax),
                "description": desc,
            },
        )
        if not product.requirements.exists():
            rows = []
            for ctype, items in CHECKLISTS[code].items():
                for i, (k, req, note) in enumerate(items):
                    rows.append(
                        MaterialRequirement(
                            product=product, customer_type=ctype, kind=k, required=req, note=note, order=i
                        )
                    )
            MaterialRequirement.objects.bulk_create(rows)
        out[code] = product
    return out


def ensure_assignment_rules() -> None:
    methods = {"银川一部": AssignmentMethod.ROUND_ROBIN, "银川二部": AssignmentMethod.LEAST_LOAD}
    for name, method in methods.items():
        dept = Department.objects.filter(name=name).first()
        if dept:
            AssignmentRule.objects.get_or_create(department=dept, defaults={"method": method})


def ensure_applications(users: dict[str, User], *, seed: int = 2026) -> int:
    """A few applications per salesperson, moved along the flow by the demo users themselves."""
    from loancrm.customers.models import Customer
    from loancrm.intake import services
    from loancrm.intake.models import LoanApplication

    if LoanApplication.objects.exists():
        return 0
    products = ensure_products()
    ensure_assignment_rules()
    rng = random.Random(seed)
    created = 0
    plans = [
        # (product, amount, term, grade, how far along)
        ("xinyidai", 30_000, 12, "good", "precheck"),
        ("xinyidai", 80_000, 24, "normal", "materials"),
        ("fangdidai", 600_000, 60, "good", "intake"),
        ("xinyidai", 45_000, 12, "good", "decision"),
        ("xinyidai", 120_000, 36, "good", "risk"),
        ("fangdidai", 1_200_000, 120, "normal", "precheck"),
        ("xinyidai", 50_000, 12, "good", "decision"),
    ]
    for username in ("sales1", "sales2", "sales3"):
        sales = users[username]
        people = list(
            Customer.objects.filter(owner=sales, customer_type="individual").order_by("id")[: len(plans)]
        )
        for customer, (code, amount, term, grade, upto) in zip(people, plans, strict=False):
            app = services.application_create(
                by=sales,
                customer=customer,
                product=products[code],
                amount=amount,
                term_months=term,
                purpose=rng.choice(["经营周转", "装修", "购车", "教育", "医疗"]),
            )
            created += 1
            _walk(app, upto, grade)
    return created


def _walk(app, upto: str, grade: str) -> None:
    """Move a demo application to `upto` with placeholder materials (a tiny PDF each)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from loancrm.intake import services

    order = ["intake", "precheck", "materials", "risk", "decision"]
    while app.node and app.node.code != upto and app.node.code in order:
        code = app.node.code
        if code == "materials":
            for req in services.missing_materials(app):
                pdf = SimpleUploadedFile(
                    f"{req.kind}.pdf", b"%PDF-1.4\n% demo\n", content_type="application/pdf"
                )
                services.material_upload(by=app.owner, application=app, kind=req.kind, upload=pdf)
        if code == "risk":
            break
        data = {"credit_grade": grade} if code == "precheck" else {}
        app = services.application_act(by=app.handler, application=app, action="submit", data=data)
    if app.node and app.node.code == "materials":
        _id_card_photo(app)


def _id_card_photo(app) -> None:
    """An ID card photo drawn from the customer's own data, for the worker's OCR to read (demo of 识别)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from loancrm.intake import services
    from loancrm.intake.ocr import synthetic

    c = app.customer
    if not (c.id_number and c.birth_date and c.gender):
        return
    try:
        photo = synthetic.id_card_front(
            c.name, "男" if c.gender == "male" else "女", "汉", c.birth_date,
            c.household_address or "宁夏回族自治区银川市兴庆区解放东街88号", c.id_number,
        )  # fmt: skip
    except RuntimeError:  # no CJK font on this machine (make test installs it)
        return
    upload = SimpleUploadedFile("身份证人像面.png", photo, content_type="image/png")
    services.material_upload(by=app.owner, application=app, kind="id_front", upload=upload)
