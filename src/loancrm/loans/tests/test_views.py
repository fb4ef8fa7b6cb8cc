"""The loan pages: 放款 from the application page, the loan with its schedule, a payment, collection."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from loancrm.conftest import login
from loancrm.loans import services
from loancrm.loans.models import Allocation, Loan, Repayment


def _disburse(client, org, approved, **over):
    login(client, org["finance1"])
    data = {
        "contract_no": "NXB-2026-0001",
        "principal": "30000",
        "annual_rate": "4.35%",
        "months": "12",
        "method": "annuity",
        "disbursed_on": timezone.localdate().isoformat(),
        **over,
    }
    return client.post(f"/loans/disburse/{approved.pk}/", data)


def test_disburse_from_the_application_page(client, org, approved):
    login(client, org["finance1"])
    page = client.get(f"/intake/{approved.pk}/").content.decode()
    assert 'data-testid="disburse-form"' in page and 'data-testid="act-submit"' not in page
    resp = _disburse(client, org, approved, contract_no="")
    body = resp.content.decode()
    assert (
        resp.status_code == 400 and "disburse-error" in body and "NXB" not in body and 'value="4.35%"' in body
    )
    assert not Loan.objects.exists()
    resp = _disburse(client, org, approved)
    loan = Loan.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/loans/{loan.pk}/"
    assert loan.annual_rate == Decimal("0.0435") and loan.installments.count() == 12
    approved.refresh_from_db()
    assert approved.status == "disbursed" and approved.node.code == "post_loan"


def test_pages_and_scope(client, org, approved):
    _disburse(client, org, approved)
    loan = Loan.objects.get()
    for username in ("sales1", "manager1", "finance1", "risk1", "admin"):
        login(client, org[username])
        assert client.get("/loans/").status_code == 200
        assert client.get(f"/loans/{loan.pk}/").status_code == 200, username
    login(client, org["sales2"])
    assert client.get(f"/loans/{loan.pk}/").status_code == 404
    assert loan.loan_no not in client.get("/loans/").content.decode()
    login(client, org["risk1"])
    assert client.get("/loans/collection/").status_code == 200
    login(client, org["sales1"])
    assert client.get("/loans/collection/").status_code == 403


def test_partial_payment_updates_the_schedule_and_balances(client, org, approved, api_client):
    _disburse(client, org, approved, disbursed_on=(timezone.localdate() - timedelta(days=75)).isoformat())
    loan = Loan.objects.get()
    services.loan_assess(loan=loan)
    loan.refresh_from_db()
    assert loan.status == "overdue" and loan.days_past_due >= 44
    resp = client.post(
        f"/loans/{loan.pk}/repayments/", {"amount": "abc", "paid_on": timezone.localdate(), "kind": "regular"}
    )
    assert resp.status_code == 400 and "请填写大于 0 的金额" in resp.content.decode()
    resp = client.post(
        f"/loans/{loan.pk}/repayments/",
        {"amount": "1000", "paid_on": timezone.localdate(), "kind": "regular"},
    )
    assert resp.status_code == 302
    first = loan.installments.order_by("period").first()
    assert first.status == "partial"
    page = client.get(f"/loans/{loan.pk}/").content.decode()
    assert 'data-status="partial"' in page
    assert sum(a.amount for a in Allocation.objects.all()) == sum(r.amount for r in Repayment.objects.all())
    api_client.force_authenticate(org["finance1"])
    data = api_client.get(f"/api/v1/loans/{loan.pk}/").json()
    assert data["schedule"][0]["status"] == "partial" and data["payments"][0]["amount"] == "1000.00"
    resp = api_client.post(
        f"/api/v1/loans/{loan.pk}/repayments/", {"amount": "10", "paid_on": "2000-01-01"}, format="json"
    )
    assert resp.status_code == 400 and "paid_on" in resp.json()


def test_a_salespersons_m1_collection_is_in_their_to_dos(client, org, approved):
    from loancrm.intake.selectors import todo_count

    _disburse(client, org, approved, disbursed_on=(timezone.localdate() - timedelta(days=40)).isoformat())
    loan = services.loan_assess(loan=Loan.objects.get())
    assert loan.bucket == "M1"
    login(client, org["sales1"])
    page = client.get("/intake/todo/").content.decode()
    assert 'data-testid="todo-collection"' in page and loan.loan_no in page
    assert todo_count(org["sales1"]) >= 1
    assert client.get("/loans/collection/").status_code == 200


def test_admin_edits_institutions_terms_and_buckets(client, org, products):
    from loancrm.loans.models import Institution, LoanTerms, OverdueBucket

    login(client, org["admin"])
    assert client.get("/loans/settings/").status_code == 200
    resp = client.post(
        "/loans/settings/",
        {"what": "institution", "inst-name": "宁夏某村镇银行", "inst-kind": "bank", "inst-is_active": "on"},
    )
    assert resp.status_code == 302 and Institution.objects.filter(name="宁夏某村镇银行").exists()
    p = products["xinyidai"]
    inst = Institution.objects.get(name="宁夏某村镇银行")
    data = {"what": f"terms-{p.pk}", f"t{p.pk}-institution": inst.pk, f"t{p.pk}-methods": ["equal_principal"],
            f"t{p.pk}-penalty_daily_rate": "0.0004", f"t{p.pk}-prepayment": "shorten_term",
            f"t{p.pk}-service_fee_rate": "0.0100", f"t{p.pk}-service_fee_payer": "customer",
            f"t{p.pk}-allocation": "interest,penalty,principal"}  # fmt: skip
    assert client.post("/loans/settings/", data).status_code == 302
    terms = LoanTerms.objects.get(product=p)
    assert terms.institution == inst and terms.methods == ["equal_principal"]
    assert terms.allocation_order == ["interest", "penalty", "principal"]
    services.ensure_buckets()
    rows = [("M0", "正常", 0, 0), ("M1", "M1", 1, 15), ("M2", "M2", 16, None)]
    post = {
        "what": "buckets",
        "b-TOTAL_FORMS": "3",
        "b-INITIAL_FORMS": "3",
        "b-MIN_NUM_FORMS": "0",
        "b-MAX_NUM_FORMS": "1000",
    }
    for i, (c, lbl, lo, hi) in enumerate(rows):
        post.update(
            {
                f"b-{i}-code": c,
                f"b-{i}-label": lbl,
                f"b-{i}-min_days": lo,
                f"b-{i}-max_days": "" if hi is None else hi,
            }
        )
    assert client.post("/loans/settings/", post).status_code == 302
    assert services.bucket_for(20) == "M2" and OverdueBucket.objects.count() == 3
    post["b-2-min_days"] = "20"  # a gap between 15 and 20
    resp = client.post("/loans/settings/", post)
    assert resp.status_code == 200 and "空档" in resp.content.decode()
    login(client, org["finance1"])
    assert client.get("/loans/settings/").status_code == 403


def test_customer_page_card_shows_the_loans_state(client, org, approved):
    _disburse(client, org, approved, disbursed_on=(timezone.localdate() - timedelta(days=40)).isoformat())
    loan = services.loan_assess(loan=Loan.objects.get())
    login(client, org["sales1"])
    page = client.get(f"/customers/{loan.customer_id}/").content.decode()
    assert 'data-testid="customer-loans-card"' in page
    card = client.get(f"/loans/customer/{loan.customer_id}/").content.decode()
    assert loan.loan_no in card and "M1" in card
    login(client, org["sales2"])
    assert client.get(f"/loans/customer/{loan.customer_id}/").status_code == 404


def test_post_loan_visit_is_recorded_on_the_loan(client, org, approved):
    from loancrm.audit.models import AuditEntry

    _disburse(client, org, approved, disbursed_on=(timezone.localdate() - timedelta(days=35)).isoformat())
    loan = Loan.objects.get()
    login(client, org["sales1"])
    page = client.get(f"/loans/{loan.pk}/").content.decode()
    assert 'data-testid="visit-form"' in page and "text-danger" in page  # due a month after 放款
    resp = client.post(f"/loans/{loan.pk}/visits/", {"way": "phone", "fund_use": ""})
    assert resp.status_code == 400 and "请填写资金实际用途" in resp.content.decode()
    resp = client.post(
        f"/loans/{loan.pk}/visits/", {"way": "phone", "fund_use": "与申请一致：店铺进货", "satisfaction": "5"}
    )
    assert resp.status_code == 302 and loan.visits.get().satisfaction == 5
    assert AuditEntry.objects.filter(action="loan.visit", object_id=str(loan.pk)).exists()


def test_write_off_through_the_pages(client, org, approved):
    _disburse(client, org, approved, disbursed_on=(timezone.localdate() - timedelta(days=100)).isoformat())
    loan = services.loan_assess(loan=Loan.objects.get())
    assert loan.bucket == "M3+"
    client.post(f"/loans/{loan.pk}/write-off/", {"step": "request", "reason": "失联 90 天"})
    loan.refresh_from_db()
    assert loan.write_off_requested_by == org["finance1"] and loan.status == "overdue"
    login(client, org["approver1"])
    assert 'value="approve"' in client.get(f"/loans/{loan.pk}/").content.decode()
    client.post(f"/loans/{loan.pk}/write-off/", {"step": "approve", "comment": "同意"})
    loan.refresh_from_db()
    assert loan.status == "written_off"


def test_finance_lists_loans_with_service_fee_to_collect(client, org, approved):
    _disburse(client, org, approved)
    loan = Loan.objects.get()
    assert loan.service_fee > 0
    assert loan.loan_no in client.get("/loans/?fee=1").content.decode()
    client.post(f"/loans/{loan.pk}/service-fee/", {"amount": str(loan.service_fee)})
    assert loan.loan_no not in client.get("/loans/?fee=1").content.decode()


def test_the_signed_contract_is_kept_with_the_loan(client, org, approved):
    from django.core.files.uploadedfile import SimpleUploadedFile

    login(client, org["finance1"])
    pdf = SimpleUploadedFile("合同.pdf", b"%PDF-1.4\n% contract\n", content_type="application/pdf")
    resp = _disburse(client, org, approved, contract_file=pdf)
    loan = Loan.objects.get()
    assert resp.status_code == 302 and loan.contract_file.original_name == "合同.pdf"
    page = client.get(f"/loans/{loan.pk}/").content.decode()
    assert 'data-testid="contract-file"' in page
