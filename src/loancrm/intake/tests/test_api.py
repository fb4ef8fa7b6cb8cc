"""Intake API: products, creating applications (201 / 400 naming the field in Chinese), scope (404),
workflow actions (200 / 400 / 403 with nothing changed), materials."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token

from loancrm.audit.models import Action, AuditEntry
from loancrm.intake import services
from loancrm.intake.models import CustomerLink, LoanApplication, Notice, Transition

from .test_services import (
    PDF,
    RISK_CHECKS,
    SMALL_ROUTE,
    _chinese,
    an_hour_in_node,
    new_app,
    other_customer,
    private_files,
    state,
    walk_to,
)

pytestmark = pytest.mark.django_db
__all__ = ["_chinese", "private_files"]  # autouse fixtures shared with test_services

CJK = re.compile(r"[\u4e00-\u9fff]")
APPS = "/api/v1/applications/"


def as_user(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def with_token(api_client, user):
    token, _ = Token.objects.get_or_create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api_client


def body(customer, /, **over) -> dict:
    data = {
        "customer": customer.pk,
        "product": "xinyidai",
        "amount": "30000",
        "term_months": 12,
        "credit_grade": "good",
    }
    data.update(over)
    return data


def action(client, app, name, **data):
    return client.post(f"{APPS}{app.pk}/actions/", {"action": name, **data}, format="json")


# --- products ---------------------------------------------------------------------------------------


def test_products_with_their_requirements(api_client, org, products):
    resp = with_token(api_client, org["sales1"]).get("/api/v1/products/")
    assert resp.status_code == 200
    by_code = {p["code"]: p for p in resp.json()}
    assert {"xinyidai", "fangdidai"} <= set(by_code)
    assert by_code["xinyidai"]["loan_kind"] == "credit" and by_code["fangdidai"]["loan_kind"] == "mortgage"
    reqs = {(r["customer_type"], r["kind"]): r for r in by_code["fangdidai"]["requirements"]}
    assert reqs[("individual", "property_cert")]["required"] is True
    assert reqs[("individual", "property_cert")]["kind_label"] == "房产证"
    assert reqs[("individual", "income_proof")]["required"] is False
    assert ("enterprise", "business_licence") in reqs
    assert by_code["xinyidai"]["min_amount"] == "10000.00" and by_code["xinyidai"]["max_term_months"] == 36


def test_anonymous_gets_401(api_client, products):
    for path in ("/api/v1/products/", APPS, f"{APPS}1/"):
        assert api_client.get(path).status_code == 401
    assert api_client.post(APPS, {}, format="json").status_code == 401


# --- creating -----------------------------------------------------------------------------------------


def test_create_returns_201_with_the_detail(api_client, org, products, customer):
    resp = with_token(api_client, org["sales1"]).post(APPS, body(customer), format="json")
    assert resp.status_code == 201, resp.content
    d = resp.json()
    assert d["node"] == "intake" and d["status"] == "in_progress" and d["handler"] == "sales1"
    assert d["owner"] == "sales1" and d["customer"] == customer.pk and d["product"] == "xinyidai"
    assert d["amount"] == "30000.00" and d["term_months"] == 12 and d["credit_grade"] == "good"
    assert d["sla_due_at"] and d["workflow_version"] == 1 and d["overdue"] is False
    assert d["route"] == SMALL_ROUTE and d["handlers"] == ["sales1"]
    assert [(h["action"], h["to_node"], h["by"]) for h in d["history"]] == [("create", "intake", "sales1")]
    assert "id_front" in d["missing_materials"] and d["node_name"] == "进件/线索分配"
    assert LoanApplication.objects.get(pk=d["id"]).application_no == d["application_no"]


def test_create_accepts_product_id_and_chinese_amount(api_client, org, products, customer):
    data = body(customer, product=str(products["xinyidai"].pk), amount="20万", credit_grade="")
    resp = as_user(api_client, org["sales1"]).post(APPS, data, format="json")
    assert resp.status_code == 201
    assert resp.json()["amount"] == "200000.00" and "risk" in resp.json()["route"]


@pytest.mark.parametrize(
    ("field", "over"),
    [
        ("amount", {"amount": "abc"}),
        ("amount", {"amount": "-5"}),
        ("amount", {"amount": "1000"}),  # below 薪易贷's 10,000
        ("amount", {"amount": "999999999999"}),
        ("term_months", {"term_months": 0}),
        ("term_months", {"term_months": 48}),  # above 薪易贷's 36
        ("term_months", {"term_months": "twelve"}),
        ("credit_grade", {"credit_grade": "excellent"}),
        ("product", {"product": "nope"}),
        ("product", {"product": "²"}),
        ("product", {"product": "99999999999999999999999"}),
        ("customer", {"customer": 2**31 - 1}),
        ("customer", {"customer": "x"}),
        ("owner", {"owner": "ghost"}),
    ],
)
def test_bad_fields_are_400_naming_the_field_in_chinese(api_client, org, products, customer, field, over):
    resp = as_user(api_client, org["sales1"]).post(APPS, body(customer, **over), format="json")
    assert resp.status_code == 400, resp.content
    errors = resp.json()
    assert field in errors, errors
    assert CJK.search(errors[field][0]), errors
    assert not LoanApplication.objects.exists()


def test_missing_fields_are_400(api_client, org, products, customer):
    resp = as_user(api_client, org["sales1"]).post(APPS, {"customer": customer.pk}, format="json")
    assert resp.status_code == 400
    assert {"product", "amount", "term_months"} <= set(resp.json())


def test_create_for_someone_elses_customer_is_400(api_client, org, products, customer):
    resp = as_user(api_client, org["sales2"]).post(APPS, body(customer), format="json")
    assert resp.status_code == 400 and "customer" in resp.json()


def test_create_without_the_right_is_403_and_audited(api_client, org, products, customer):
    resp = as_user(api_client, org["risk1"]).post(APPS, body(customer), format="json")
    assert resp.status_code == 403
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=org["risk1"]).exists()


def test_manager_creates_for_a_pool_customer_by_rule(api_client, org, products, customers):
    from loancrm.core.demo.intake import ensure_assignment_rules

    from .test_services import pool_customer

    ensure_assignment_rules()
    client = as_user(api_client, org["manager1"])
    owners = []
    for _i in range(2):
        resp = client.post(APPS, body(pool_customer(customers, org["sales1"])), format="json")
        assert resp.status_code == 201
        owners.append(resp.json()["owner"])
        assert "按线索分配规则" in resp.json()["history"][0]["comment"]
    assert owners == ["sales1", "sales2"]


# --- reading: scope ------------------------------------------------------------------------------------


def test_scope_in_list_and_detail(api_client, org, products, customer, customers):
    mine = new_app(org["sales1"], customer, products["xinyidai"])
    theirs = new_app(org["sales3"], other_customer(customers, org["sales3"], 0), products["xinyidai"])
    client = as_user(api_client, org["sales2"])
    assert client.get(f"{APPS}{mine.pk}/").status_code == 404
    assert client.get(APPS).json()["count"] == 0
    client = as_user(api_client, org["sales1"])
    listed = client.get(APPS).json()
    assert [r["id"] for r in listed["results"]] == [mine.pk]
    assert client.get(f"{APPS}{mine.pk}/").status_code == 200
    client = as_user(api_client, org["manager1"])
    assert [r["id"] for r in client.get(APPS).json()["results"]] == [mine.pk]
    assert client.get(f"{APPS}{theirs.pk}/").status_code == 404
    assert as_user(api_client, org["admin"]).get(APPS).json()["count"] == 2


def test_list_filters(api_client, org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    client = as_user(api_client, org["sales1"])
    assert client.get(APPS, {"node": "intake"}).json()["count"] == 1
    assert client.get(APPS, {"node": "post_loan"}).json()["count"] == 0
    assert client.get(APPS, {"status": "in_progress"}).json()["count"] == 1
    assert client.get(APPS, {"status": "rejected"}).json()["count"] == 0
    assert client.get(APPS, {"mine": "1"}).json()["count"] == 1
    assert client.get(APPS, {"search": app.application_no}).json()["count"] == 1
    assert as_user(api_client, org["manager1"]).get(APPS, {"mine": "1"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("param", "value"),
    [("status", "done"), ("node", "in-take"), ("node", "节点"), ("mine", "yes"), ("search", "a\x00b")],
)
def test_bad_list_parameters_are_400(api_client, org, products, param, value):
    resp = as_user(api_client, org["sales1"]).get(APPS, {param: value})
    assert resp.status_code == 400 and param in resp.json()


def test_node_filter_accepts_every_code_the_schema_allows(api_client, org, products):
    client = as_user(api_client, org["sales1"])
    for value in ("_", "post_loan", ""):
        assert client.get(APPS, {"node": value}).status_code == 200, value


# --- actions -----------------------------------------------------------------------------------------


def test_submit_then_precheck_needs_the_credit_grade(api_client, org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"], grade="")
    client = with_token(api_client, org["sales1"])
    an_hour_in_node(app)
    resp = action(client, app, "submit", comment="已电话沟通")
    assert resp.status_code == 200, resp.content
    d = resp.json()
    assert d["node"] == "precheck" and d["handler"] == "sales1"
    last = d["history"][-1]
    assert (last["action"], last["from_node"], last["to_node"], last["by"]) == (
        "submit",
        "intake",
        "precheck",
        "sales1",
    )
    assert last["comment"] == "已电话沟通" and 3600 <= last["seconds_in_node"] < 3700
    assert 3600 <= d["node_seconds"]["intake"] < 3700
    resp = action(client, app, "submit")
    assert resp.status_code == 400 and "credit_grade" in resp.json()
    assert CJK.search(resp.json()["credit_grade"][0])
    resp = action(client, app, "submit", credit_grade="excellent")
    assert resp.status_code == 400 and "credit_grade" in resp.json()
    resp = action(client, app, "submit", credit_grade="good")
    assert resp.status_code == 200 and resp.json()["node"] == "materials"
    assert resp.json()["credit_grade"] == "good"


@pytest.mark.parametrize("who", ["manager1", "approver1", "risk1", "admin"])
def test_action_by_a_non_handler_is_403_and_changes_nothing(api_client, org, products, customer, who):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    before = state(app)
    resp = action(as_user(api_client, org[who]), app, "submit")
    assert resp.status_code == 403
    assert CJK.search(resp.json()["detail"])
    assert state(app) == before
    entry = AuditEntry.objects.get(action=Action.PERMISSION_DENIED, actor=org[who])
    assert entry.extra["path"] == f"application:{app.pk}:submit"


def test_action_on_an_invisible_application_is_404(api_client, org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    before = state(app)
    assert action(as_user(api_client, org["sales2"]), app, "submit").status_code == 404
    assert action(as_user(api_client, org["sales2"]), app, "submit").status_code == 404
    assert state(app) == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"action": "fly"}, "action"),
        ({}, "action"),
        ({"action": "transfer", "to_user": "ghost", "comment": "x"}, "to_user"),
        ({"action": "transfer", "to_user": "²", "comment": "x"}, "to_user"),
        ({"action": "submit", "approved_term_months": 0}, "approved_term_months"),
        ({"action": "submit", "approved_rate": "99"}, "approved_rate"),
        ({"action": "submit", "checks": {"a": "maybe"}}, "checks"),
    ],
)
def test_bad_action_bodies_are_400(api_client, org, products, customer, data, field):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    before = state(app)
    resp = as_user(api_client, org["sales1"]).post(f"{APPS}{app.pk}/actions/", data, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert state(app) == before


def test_return_and_request_materials(api_client, org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    client = as_user(api_client, org["approver1"])
    for target in ("contract", "risk", "decision"):  # later, skipped (never visited), itself
        resp = action(client, app, "return", to_node=target, comment="退回")
        assert resp.status_code == 400 and "to_node" in resp.json(), target
    resp = action(client, app, "return", to_node="precheck")
    assert resp.status_code == 400 and "comment" in resp.json()
    resp = action(client, app, "return", to_node="precheck", comment="征信等级需复核")
    assert resp.status_code == 200
    d = resp.json()
    assert d["node"] == "precheck" and d["handler"] == "sales1"
    assert d["history"][-1]["comment"] == "征信等级需复核" and d["history"][-1]["action"] == "return"

    app = walk_to(LoanApplication.objects.get(pk=app.pk), "decision")
    resp = action(as_user(api_client, org["manager1"]), app, "request_materials", comment="补充收入证明")
    assert resp.status_code == 200 and resp.json()["node"] == "materials"
    assert CustomerLink.objects.filter(application=app, purpose="upload").count() == 1
    assert Notice.objects.filter(application=app, event="materials", status="pending").count() == 1


def test_sign_off_and_reject_through_the_api(api_client, org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    resp = action(as_user(api_client, org["manager1"]), app, "approve", comment="同意")
    assert resp.status_code == 200
    d = resp.json()
    assert d["node"] == "decision" and d["handler"] == "approver1" and d["handlers"] == ["approver1"]
    client = as_user(api_client, org["approver1"])
    resp = action(client, app, "reject")
    assert resp.status_code == 400 and "comment" in resp.json()
    resp = action(client, app, "reject", comment="收入不足")
    assert resp.status_code == 200
    d = resp.json()
    assert d["status"] == "rejected" and d["node"] is None and d["handler"] is None and d["route"] == []
    resp = action(client, app, "approve")
    assert resp.status_code in (400, 403)


def test_transfer_through_the_api(api_client, org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    client = as_user(api_client, org["manager1"])
    resp = action(client, app, "transfer", to_user="sales3", comment="代办")
    assert resp.status_code == 400 and "to_user" in resp.json()
    resp = action(client, app, "transfer", to_user="risk1")
    assert resp.status_code == 400 and "comment" in resp.json()
    # 进件 is salesperson's work: 风控 cannot hold it (改派 moves it to another salesperson).
    resp = action(client, app, "transfer", to_user=str(org["risk1"].pk), comment="业务员请假")
    assert resp.status_code == 400 and "不能处理" in resp.json()["to_user"][0]
    resp = action(client, app, "transfer", to_user=str(org["admin"].pk), comment="业务员请假")
    assert resp.status_code == 200 and resp.json()["handler"] == "admin"
    assert resp.json()["history"][-1]["to_user"] == "admin"
    resp = action(as_user(api_client, org["sales2"]), app, "transfer", to_user="risk1", comment="x")
    assert resp.status_code == 404  # sales2 cannot see it at all


def test_full_path_through_the_api(api_client, org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"], amount=200_000, grade="")
    url = f"{APPS}{app.pk}/materials/"
    sales = as_user(api_client, org["sales1"])
    assert action(sales, app, "submit").status_code == 200
    assert action(sales, app, "submit", credit_grade="normal").json()["node"] == "materials"
    resp = action(sales, app, "submit")
    assert resp.status_code == 400 and "materials" in resp.json()
    assert "身份证人像面" in resp.json()["materials"][0]
    for kind in ("id_front", "id_back", "credit_report", "bank_statement", "income_proof", "bank_card"):
        upload = SimpleUploadedFile(f"{kind}.pdf", PDF, content_type="application/pdf")
        resp = sales.post(url, {"kind": kind, "file": upload}, format="multipart")
        assert resp.status_code == 201, resp.content
        assert resp.json()["kind"] == kind and resp.json()["review"] == "pending"
    bad = SimpleUploadedFile("x.pdf", b"GIF89a", content_type="application/pdf")
    resp = sales.post(url, {"kind": "other", "file": bad}, format="multipart")
    assert resp.status_code == 400 and "file" in resp.json()
    assert (
        as_user(api_client, org["sales2"]).post(url, {"kind": "other"}, format="multipart").status_code == 404
    )
    sales = as_user(api_client, org["sales1"])
    resp = action(sales, app, "submit")
    assert (
        resp.status_code == 200 and resp.json()["node"] == "risk" and resp.json()["missing_materials"] == []
    )

    risk = as_user(api_client, org["risk1"])
    resp = action(risk, app, "approve", checks={RISK_CHECKS[0]: True})
    assert resp.status_code == 400 and "checks" in resp.json()
    resp = action(risk, app, "approve", checks=dict.fromkeys(RISK_CHECKS, True))
    assert resp.status_code == 200 and resp.json()["node"] == "decision"
    assert action(as_user(api_client, org["manager1"]), app, "approve").status_code == 200
    resp = action(
        as_user(api_client, org["approver1"]), app, "approve", approved_amount="150000", approved_rate="8.5"
    )
    assert resp.status_code == 200
    d = resp.json()
    assert d["status"] == "approved" and d["node"] == "contract"
    assert d["approved_amount"] == "150000.00" and d["approved_rate"] == "8.50"
    assert action(as_user(api_client, org["sales1"]), app, "submit").json()["node"] == "disbursement"
    assert action(as_user(api_client, org["sales1"]), app, "submit").status_code == 403
    resp = action(as_user(api_client, org["finance1"]), app, "submit")
    assert resp.status_code == 200 and resp.json()["status"] == "disbursed"
    assert CustomerLink.objects.filter(application=app, purpose="survey").exists()
    resp = action(as_user(api_client, org["sales1"]), app, "submit")
    assert resp.status_code == 200
    d = resp.json()
    assert d["status"] == "closed" and d["node"] is None
    assert [h["to_node"] for h in d["history"] if h["action"] != "vote"][-1] == ""
    assert Transition.objects.filter(application=app).count() == len(d["history"])
    resp = action(as_user(api_client, org["sales1"]), app, "submit")
    assert resp.status_code == 400 and "action" in resp.json()
    upload = SimpleUploadedFile("late.pdf", PDF, content_type="application/pdf")
    resp = as_user(api_client, org["sales1"]).post(url, {"kind": "other", "file": upload}, format="multipart")
    assert resp.status_code == 400 and "file" in resp.json()


def test_approved_terms_only_at_the_decision_and_within_the_product(api_client, org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    resp = action(as_user(api_client, org["sales1"]), app, "submit", approved_amount="300000")
    assert resp.status_code == 400 and "approved_amount" in resp.json()
    app = walk_to(app, "decision")
    before = state(app)
    resp = action(as_user(api_client, org["approver1"]), app, "approve", approved_amount="99999999999999")
    assert resp.status_code == 400 and "approved_amount" in resp.json()  # was a 500 on PostgreSQL
    assert state(app) == before


def test_material_that_ocr_cannot_read_is_kept_with_the_reason(api_client, org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "materials")
    url = f"{APPS}{app.pk}/materials/"
    client = as_user(api_client, org["sales1"])
    upload = SimpleUploadedFile("front.png", b"\x89PNG\r\n\x1a\nnot really", content_type="image/png")
    resp = client.post(url, {"kind": "id_front", "file": upload}, format="multipart")
    assert resp.status_code == 201, resp.content
    assert resp.json()["ocr"] == {"status": "pending"}  # read by the worker
    services.material_run_ocr(material=app.materials.get(pk=resp.json()["id"]))
    listed = client.get(url).json()
    assert [m["kind"] for m in listed] == ["id_front"]
    assert listed[0]["ocr"]["fields"] == [] and CJK.search(listed[0]["ocr"]["error"])
    assert "id_front" not in [r.kind for r in services.missing_materials(app)]
    assert as_user(api_client, org["sales2"]).get(url).status_code == 404
