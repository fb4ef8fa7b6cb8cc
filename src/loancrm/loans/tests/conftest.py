import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from loancrm.core.demo.intake import ensure_products
from loancrm.core.demo.loans import ensure_loan_terms
from loancrm.intake import services as intake
from loancrm.intake.services import ensure_default_workflow


@pytest.fixture
def products(org):
    ensure_default_workflow()
    products = ensure_products()
    ensure_loan_terms(products)
    return products


@pytest.fixture
def approved(org, products, customers):
    """A 3万 薪易贷 application of sales1, approved and waiting at 放款."""
    customer = customers.filter(owner=org["sales1"], customer_type="individual").order_by("id").first()
    app = intake.application_create(
        by=org["sales1"], customer=customer, product=products["xinyidai"], amount=30000, term_months=12,
        credit_grade="good",
    )  # fmt: skip
    while app.node.code != "disbursement":
        if app.node.code == "materials":
            for req in intake.missing_materials(app):
                pdf = SimpleUploadedFile(f"{req.kind}.pdf", b"%PDF-1.4\n", content_type="application/pdf")
                intake.material_upload(by=app.owner, application=app, kind=req.kind, upload=pdf)
        for task in list(app.tasks.filter(status="open", visit=app.visit)):
            app = intake.application_act(by=task.assignee, application=app, action="submit")
    return app
