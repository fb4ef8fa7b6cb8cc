from datetime import date, datetime, time, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from loancrm.core.demo.intake import ensure_products
from loancrm.core.demo.loans import ensure_loan_terms
from loancrm.intake import services as intake
from loancrm.intake.services import ensure_default_workflow


def local_at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


@pytest.fixture
def products(org):
    ensure_default_workflow()
    products = ensure_products()
    ensure_loan_terms(products)
    return products


@pytest.fixture
def customer(org, customers):
    """An individual customer of sales1 (银川一部, whose 主管 is manager1), with a phone and e-mail."""
    c = customers.filter(owner=org["sales1"], customer_type="individual").order_by("id").first()
    c.email = "kehu@example.com"
    c.save(update_fields=["email"])
    return c


def walk_to(app, code: str):
    """Move an application along its flow until it waits at node `code` (materials uploaded)."""
    while app.node and app.node.code != code:
        if app.node.code == "materials":
            for req in intake.missing_materials(app):
                pdf = SimpleUploadedFile(f"{req.kind}.pdf", b"%PDF-1.4\n", content_type="application/pdf")
                intake.material_upload(by=app.owner, application=app, kind=req.kind, upload=pdf)
        for task in list(app.tasks.filter(status="open", visit=app.visit)):
            app = intake.application_act(by=task.assignee, application=app, action="submit")
    return app


@pytest.fixture
def application(org, products, customer):
    return intake.application_create(
        by=org["sales1"], customer=customer, product=products["xinyidai"], amount=30000, term_months=12,
        credit_grade="good",
    )  # fmt: skip


@pytest.fixture
def make_loan(org, application):
    """make_loan(days_ago): the application disbursed that many days ago (monthly instalments)."""
    from loancrm.loans import services as loans

    def make(days_ago: int):
        app = walk_to(application, "disbursement")
        return loans.loan_disburse(
            by=app.handler, application=app, contract_no="HT-1", annual_rate="7.2%", method="annuity",
            disbursed_on=timezone.localdate() - timedelta(days=days_ago),
        )  # fmt: skip

    return make
