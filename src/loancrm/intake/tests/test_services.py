"""Intake services: routes and skips, 会签, 退回, 补充材料, 转交, time per node, history and audit, the
workflow editor's versions, lead assignment, reassignment, surveys and problems.

The demo organisation: sales1/sales2 (银川一部), sales3 (银川二部), manager1 (主管 of 银川一部), risk1,
approver1, finance1, admin.
"""

import secrets
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from loancrm.accounts.models import Department, Role, User
from loancrm.audit.models import Action, AuditEntry
from loancrm.core.demo.intake import ensure_assignment_rules
from loancrm.customers.models import Customer
from loancrm.intake import services, workflow
from loancrm.intake.models import (
    ApplicationStatus,
    ApplicationTask,
    AssignmentMethod,
    AssignmentRule,
    CustomerLink,
    LoanApplication,
    Notice,
    ProblemReport,
    SurveyResponse,
    TaskStatus,
    Transition,
)

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n% intake test\n"
RISK_CHECKS = [
    "身份信息真实且与证件一致",
    "征信报告已核查，无重大不良记录",
    "银行流水与收入证明相符",
    "负债收入比在可接受范围内",
    "抵押物/资产权属清晰（如适用）",
]
FULL_ROUTE = ["intake", "precheck", "materials", "risk", "decision", "contract", "disbursement", "post_loan"]
SMALL_ROUTE = [c for c in FULL_ROUTE if c != "risk"]


@pytest.fixture(autouse=True)
def _chinese():
    with translation.override("zh-hans"):
        yield


@pytest.fixture(autouse=True)
def private_files(settings, tmp_path):
    """Uploaded materials go to a throw-away private folder."""
    settings.PRIVATE_FILES_DIR = tmp_path / "private"
    return settings.PRIVATE_FILES_DIR


# --- helpers (test_selectors and test_api use them too) ---------------------------------------------


def pdf(name: str = "material.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def new_app(by, customer, product, *, amount=30_000, term=12, grade="good", **kw) -> LoanApplication:
    return services.application_create(
        by=by, customer=customer, product=product, amount=amount, term_months=term, credit_grade=grade, **kw
    )


def act(app, action, by=None, **kw) -> LoanApplication:
    return services.application_act(by=by or app.handler, application=app, action=action, **kw)


def upload_missing(app, by=None) -> None:
    for req in services.missing_materials(app):
        services.material_upload(
            by=by or app.owner, application=app, kind=req.kind, upload=pdf(f"{req.kind}.pdf")
        )


def pass_node(app) -> LoanApplication:
    """The handler(s) of the current node pass it the way a person would."""
    code = app.node.code
    if code == "materials":
        upload_missing(app)
    if code == "risk":
        return act(app, "approve", checks=dict.fromkeys(RISK_CHECKS, True))
    if code == "decision":
        for task in list(ApplicationTask.objects.filter(application=app, status=TaskStatus.OPEN)):
            app = act(app, "approve", by=task.assignee)
        return app
    return act(app, "submit")


def walk_to(app, code: str) -> LoanApplication:
    while app.node and app.node.code != code:
        app = pass_node(app)
    assert app.node is not None and app.node.code == code
    return app


def an_hour_in_node(app) -> None:
    LoanApplication.objects.filter(pk=app.pk).update(node_entered_at=timezone.now() - timedelta(hours=1))


def moves(app) -> list[tuple[str, str, str]]:
    return [(t.action, t.from_node, t.to_node) for t in Transition.objects.filter(application=app)]


def open_tasks(app) -> list[str]:
    return sorted(
        ApplicationTask.objects.filter(application=app, status=TaskStatus.OPEN).values_list(
            "assignee__username", flat=True
        )
    )


def state(app) -> tuple:
    """Everything an action changes, to show that a refused one changed nothing."""
    app = LoanApplication.objects.get(pk=app.pk)
    tasks = list(
        ApplicationTask.objects.filter(application=app).order_by("id").values_list("assignee_id", "status")
    )
    return (
        app.status,
        app.node_id,
        app.handler_id,
        app.visit,
        tasks,
        Transition.objects.filter(application=app).count(),
    )


def pool_customer(customers, owner) -> Customer:
    """One of `owner`'s customers put back in the department pool (no owner)."""
    taken = LoanApplication.objects.values("customer")
    c = (
        customers.filter(owner=owner, customer_type="individual")
        .exclude(pk__in=taken)
        .order_by("-id")
        .first()
    )
    Customer.objects.filter(pk=c.pk).update(owner=None, pooled_at=timezone.now())
    return Customer.objects.get(pk=c.pk)


def other_customer(customers, owner, n: int = 1) -> Customer:
    return customers.filter(owner=owner, customer_type="individual").order_by("id")[n]


def survey_link(app) -> tuple[CustomerLink, str]:
    token = secrets.token_urlsafe(16)
    link = CustomerLink.objects.create(
        purpose=CustomerLink.Purpose.SURVEY,
        token_hash=services.token_hash(token),
        application=app,
        expires_at=timezone.now() + timedelta(days=14),
        max_uses=1,
    )
    return link, token


# --- routes, skips and the default flow ------------------------------------------------------------


def test_default_workflow_is_the_eight_nodes(products):
    definition = services.current_workflow()
    assert [n.code for n in workflow.nodes_of(definition)] == FULL_ROUTE
    decision = next(n for n in workflow.nodes_of(definition) if n.code == "decision")
    assert decision.sign_off == "all" and decision.handler_roles == ["manager", "approver"]


def test_small_good_application_skips_risk(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"], amount=30_000, grade="good")
    assert app.node.code == "intake" and app.status == ApplicationStatus.IN_PROGRESS
    assert app.handler == org["sales1"] and app.owner == org["sales1"]
    assert workflow.route(app) == SMALL_ROUTE
    app = walk_to(app, "decision")
    path = [t.to_node for t in Transition.objects.filter(application=app)]
    assert "risk" not in path
    skip = Transition.objects.get(application=app, from_node="materials")
    assert skip.to_node == "decision" and skip.skipped == ["risk"]


def test_large_application_passes_risk(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"], amount=200_000, grade="good")
    assert workflow.route(app) == FULL_ROUTE
    app = walk_to(app, "risk")
    assert app.handler == org["risk1"]
    assert Transition.objects.get(application=app, from_node="materials").to_node == "risk"


def test_small_amount_with_normal_credit_passes_risk(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"], amount=30_000, grade="normal")
    assert "risk" in workflow.route(app)


def test_grade_given_at_precheck_decides_the_skip(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"], amount=30_000, grade="")
    app = act(app, "submit")
    assert app.node.code == "precheck"
    app = act(app, "submit", data={"credit_grade": "good"})
    assert app.credit_grade == "good"
    assert workflow.route(app) == SMALL_ROUTE[2:]


# --- 会签 at the decision ------------------------------------------------------------------------------


def test_decision_needs_every_approver(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    assert open_tasks(app) == ["approver1", "manager1"]
    assert app.handler in (org["manager1"], org["approver1"])
    app = act(app, "approve", by=org["manager1"], comment="同意")
    assert app.node.code == "decision" and app.status == ApplicationStatus.IN_PROGRESS
    assert app.handler == org["approver1"] and open_tasks(app) == ["approver1"]
    vote = Transition.objects.filter(application=app).last()
    assert (vote.action, vote.from_node, vote.to_node, vote.by) == (
        "vote",
        "decision",
        "decision",
        org["manager1"],
    )
    # The one who voted cannot vote again.
    with pytest.raises(PermissionDenied):
        act(app, "approve", by=org["manager1"])
    app = act(app, "approve", by=org["approver1"])
    assert app.node.code == "contract" and app.status == ApplicationStatus.APPROVED
    assert app.approved_amount == app.amount and app.decided_at is not None
    assert Notice.objects.filter(application=app, event="approved", status="pending").exists()


@pytest.mark.parametrize("who", ["manager1", "approver1"])
def test_a_reject_by_any_approver_rejects(org, products, customer, who):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    with pytest.raises(ValidationError) as exc:
        act(app, "reject", by=org[who])
    assert "comment" in exc.value.message_dict
    assert LoanApplication.objects.get(pk=app.pk).status == ApplicationStatus.IN_PROGRESS
    app = act(app, "reject", by=org[who], comment="负债过高")
    assert app.status == ApplicationStatus.REJECTED and app.node is None and app.handler is None
    assert open_tasks(app) == []
    assert moves(app)[-1] == ("reject", "decision", "")
    assert Notice.objects.filter(application=app, event="rejected").exists()
    with pytest.raises(ValidationError):
        act(app, "submit", by=org["sales1"])


def test_reject_after_one_approval_rejects(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    app = act(app, "approve", by=org["approver1"])
    app = act(app, "reject", by=org["manager1"], comment="资料存疑")
    assert app.status == ApplicationStatus.REJECTED


def test_intake_node_cannot_reject(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    with pytest.raises(ValidationError) as exc:
        act(app, "reject", comment="不想做")
    assert "action" in exc.value.message_dict


# --- 退回 and 补充材料 --------------------------------------------------------------------------------


def test_return_to_an_earlier_visited_node(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    app = act(app, "approve", by=org["manager1"])
    app = act(app, "return", by=org["approver1"], to_node="materials", comment="银行流水不清晰")
    assert app.node.code == "materials" and app.handler == org["sales1"]
    assert open_tasks(app) == ["sales1"]
    last = Transition.objects.filter(application=app).last()
    assert (last.action, last.from_node, last.to_node) == ("return", "decision", "materials")
    assert last.comment == "银行流水不清晰" and last.by == org["approver1"]
    # Back at the decision, both approvers sign again (the earlier vote was for the earlier visit).
    app = act(app, "submit")
    assert app.node.code == "decision" and open_tasks(app) == ["approver1", "manager1"]


@pytest.mark.parametrize("target", ["contract", "decision", "risk", "nowhere", ""])
def test_return_to_a_later_or_unvisited_node_is_refused(org, products, customer, target):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")  # risk skipped
    before = state(app)
    with pytest.raises(ValidationError) as exc:
        act(app, "return", by=org["manager1"], to_node=target, comment="退回")
    assert "to_node" in exc.value.message_dict
    assert "只能退回" in exc.value.message_dict["to_node"][0]
    assert state(app) == before


def test_return_needs_a_reason(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "materials")
    with pytest.raises(ValidationError) as exc:
        act(app, "return", to_node="intake", comment="  ")
    assert "comment" in exc.value.message_dict


def test_request_materials_goes_back_to_materials_with_a_link(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"], amount=200_000), "risk")
    with pytest.raises(ValidationError):
        act(app, "request_materials")
    app = act(app, "request_materials", comment="请补充近 6 个月银行流水")
    assert app.node.code == "materials" and app.handler == org["sales1"]
    last = Transition.objects.filter(application=app).last()
    assert (last.action, last.from_node, last.to_node) == ("request_materials", "risk", "materials")
    link = CustomerLink.objects.get(application=app, purpose=CustomerLink.Purpose.UPLOAD)
    assert link.usable and link.kinds == ["other"]  # nothing is missing: the link asks for 其他
    notice = Notice.objects.get(application=app, event="materials")
    assert notice.status == Notice.Status.PENDING and "请补充近 6 个月银行流水" in notice.text


def test_request_materials_at_materials_is_refused(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "materials")
    with pytest.raises(ValidationError) as exc:
        act(app, "request_materials", comment="缺流水")
    assert "action" in exc.value.message_dict


def test_request_materials_asks_for_what_is_missing(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"], amount=200_000), "risk")
    material = app.materials.get(kind="bank_statement")
    services.material_review(by=org["risk1"], material=material, result="rejected", comment="模糊")
    app = act(app, "request_materials", comment="流水模糊")
    link = CustomerLink.objects.get(application=app, purpose=CustomerLink.Purpose.UPLOAD)
    assert link.kinds == ["bank_statement"]


# --- history, audit and time per node -------------------------------------------------------------


def test_every_move_is_in_history_and_audit_with_time_in_node(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    an_hour_in_node(app)
    app = act(app, "submit", comment="已联系客户")
    t = Transition.objects.filter(application=app).last()
    assert (t.action, t.from_node, t.to_node, t.by, t.comment) == (
        "submit", "intake", "precheck", org["sales1"], "已联系客户"
    )  # fmt: skip
    assert 3600 <= t.seconds_in_node < 3700
    app = walk_to(app, "contract")
    history = moves(app)
    assert history[0] == ("create", "", "intake")
    assert [h for h in history if h[0] != "vote"][1:] == [
        ("submit", "intake", "precheck"),
        ("submit", "precheck", "materials"),
        ("submit", "materials", "decision"),
        ("approve", "decision", "contract"),
    ]
    audits = AuditEntry.objects.filter(
        action=Action.APPLICATION_ACTION, object_type="loanapplication", object_id=str(app.pk)
    ).order_by("id")
    assert [(a.extra["action"], a.extra["from"], a.extra["to"]) for a in audits] == history
    assert audits.filter(extra__action="submit").first().extra["seconds_in_node"] >= 3600
    assert AuditEntry.objects.filter(action=Action.APPLICATION_CREATE, object_id=str(app.pk)).exists()


def test_time_in_node_adds_up_over_two_visits(org, products, customer):
    from loancrm.intake.selectors import node_seconds

    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "materials")
    an_hour_in_node(app)
    app = act(app, "return", to_node="precheck", comment="征信等级有误")
    an_hour_in_node(app)
    app = act(app, "submit", data={"credit_grade": "good"})
    an_hour_in_node(app)
    app = pass_node(app)
    seconds = node_seconds(app)
    assert 7200 <= seconds["materials"] < 7300
    assert 3600 <= seconds["precheck"] < 3700


def test_sla_due_follows_the_node(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    assert abs((app.sla_due_at - app.node_entered_at) - timedelta(hours=2)) < timedelta(seconds=1)
    app = act(app, "submit")
    assert abs((app.sla_due_at - app.node_entered_at) - timedelta(hours=24)) < timedelta(seconds=1)
    task = ApplicationTask.objects.get(application=app, status=TaskStatus.OPEN)
    assert task.due_at == app.sla_due_at


# --- who may act ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["sales2", "sales3", "manager1", "approver1", "risk1", "admin"])
def test_someone_not_the_handler_is_refused_and_nothing_changes(org, products, customer, who):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    before = state(app)
    for action in ("submit", "reject", "return", "request_materials"):
        with pytest.raises(PermissionDenied):
            act(app, action, by=org[who], comment="越权", to_node="intake")
    assert state(app) == before
    denials = AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=org[who])
    assert denials.count() == 4
    assert denials.first().extra["path"].startswith(f"application:{app.pk}:")
    assert not AuditEntry.objects.filter(action=Action.APPLICATION_ACTION, actor=org[who]).exists()


def test_salesperson_cannot_transfer_someone_elses_node(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    before = state(app)
    with pytest.raises(PermissionDenied):
        act(app, "transfer", by=org["sales2"], to_user=org["sales2"], comment="我来")
    assert state(app) == before


def test_a_handler_transfers_a_sign_off_vote(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    manager = org["manager1"]
    with pytest.raises(ValidationError) as exc:
        act(app, "transfer", by=manager, to_user=org["admin"])
    assert "comment" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        act(app, "transfer", by=org["approver1"], to_user=org["sales3"], comment="出差")
    assert "to_user" in exc.value.message_dict  # sales3 (银川二部) cannot see a 银川一部 application
    with pytest.raises(ValidationError) as exc:
        act(app, "transfer", by=org["approver1"], comment="出差")
    assert "to_user" in exc.value.message_dict
    with pytest.raises(ValidationError):
        act(
            app, "transfer", by=org["approver1"], to_user=org["manager1"], comment="出差"
        )  # already a handler
    with pytest.raises(ValidationError) as exc:  # 审批决策 is for the node's roles with intake.approve
        act(app, "transfer", by=org["approver1"], to_user=org["sales2"], comment="出差")
    assert "不能处理" in exc.value.message_dict["to_user"][0]
    approver1 = org["approver1"]
    deputy = User.objects.create(username="approver2", role=approver1.role, department=approver1.department)
    app = act(app, "transfer", by=approver1, to_user=deputy, comment="出差一周")
    assert open_tasks(app) == ["approver2", "manager1"]
    last = Transition.objects.filter(application=app).last()
    assert (last.action, last.to_user, last.comment) == ("transfer", deputy, "出差一周")
    assert AuditEntry.objects.filter(action=Action.APPLICATION_ACTION, extra__to_user="approver2").exists()
    with pytest.raises(PermissionDenied):
        act(app, "approve", by=org["approver1"])
    app = act(app, "approve", by=deputy)
    app = act(app, "approve", by=manager)
    assert app.status == ApplicationStatus.APPROVED


def test_manager_in_scope_transfers_a_salespersons_node(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    with pytest.raises(ValidationError):  # 风控 cannot do the salesperson's 进件
        act(app, "transfer", by=org["manager1"], to_user=org["risk1"], comment="业务员休假")
    app = act(app, "transfer", by=org["manager1"], to_user=org["admin"], comment="业务员休假")
    assert app.handler == org["admin"] and open_tasks(app) == ["admin"]
    app = act(app, "submit", by=org["admin"])
    # The next owner node goes back to the application's salesperson.
    assert app.node.code == "precheck" and app.handler == org["sales1"]


def test_manager_out_of_scope_cannot_transfer(org, products, customers):
    c3 = other_customer(customers, org["sales3"], 0)
    app = new_app(org["sales3"], c3, products["xinyidai"])
    before = state(app)
    with pytest.raises(PermissionDenied):
        act(app, "transfer", by=org["manager1"], to_user=org["admin"], comment="转交")
    assert state(app) == before


# --- the full path ------------------------------------------------------------------------------------


def test_full_path_to_closed(org, products, customer):
    sales1 = org["sales1"]
    app = new_app(sales1, customer, products["xinyidai"], amount=200_000, term=24, grade="")
    assert app.status == "in_progress" and app.node.code == "intake"
    assert Notice.objects.filter(application=app, event="received").exists()
    app = act(app, "submit")

    # 预审: 征信等级 is required.
    with pytest.raises(ValidationError) as exc:
        act(app, "submit")
    assert (
        "credit_grade" in exc.value.message_dict and "征信等级" in exc.value.message_dict["credit_grade"][0]
    )
    with pytest.raises(ValidationError) as exc:
        act(app, "submit", data={"credit_grade": "excellent"})
    assert "credit_grade" in exc.value.message_dict
    app = act(app, "submit", data={"credit_grade": "normal"})
    assert app.node.code == "materials"

    # 资料: every required material, none of them 不合格.
    with pytest.raises(ValidationError) as exc:
        act(app, "submit")
    msg = exc.value.message_dict["materials"][0]
    for label in ("身份证人像面", "身份证国徽面", "征信报告", "银行流水", "收入证明", "银行卡"):
        assert label in msg
    assert "婚姻证明" not in msg  # optional
    services.material_upload(by=sales1, application=app, kind="id_front", upload=pdf("front.pdf"))
    with pytest.raises(ValidationError) as exc:
        act(app, "submit")
    assert "身份证人像面" not in exc.value.message_dict["materials"][0]
    upload_missing(app)
    statement = app.materials.get(kind="bank_statement")
    with pytest.raises(ValidationError):
        services.material_review(by=sales1, material=statement, result="rejected")  # needs a reason
    services.material_review(by=sales1, material=statement, result="rejected", comment="不清晰")
    assert [r.kind for r in services.missing_materials(app)] == ["bank_statement"]
    with pytest.raises(ValidationError) as exc:
        act(app, "submit")
    assert exc.value.message_dict["materials"] == ["必需材料不齐：银行流水"]
    services.material_upload(by=sales1, application=app, kind="bank_statement", upload=pdf("s2.pdf"))
    app = act(app, "submit")
    assert app.node.code == "risk" and app.handler == org["risk1"]

    # 风控复审: every checklist item ticked.
    with pytest.raises(ValidationError) as exc:
        act(app, "approve")
    assert "checks" in exc.value.message_dict
    partial = dict.fromkeys(RISK_CHECKS[:-1], True)
    with pytest.raises(ValidationError) as exc:
        act(app, "approve", checks={**partial, RISK_CHECKS[-1]: False})
    assert RISK_CHECKS[-1] in exc.value.message_dict["checks"][0]
    assert app.node.code == "risk"
    app = act(app, "approve", checks=dict.fromkeys(RISK_CHECKS, True), comment="可做")
    assert app.node.code == "decision"
    done = ApplicationTask.objects.get(application=app, node__code="risk", status=TaskStatus.DONE)
    assert done.checks == dict.fromkeys(RISK_CHECKS, True) and done.decision == "approve"

    # 审批决策 (会签), with the approved terms.
    app = act(app, "approve", by=org["manager1"])
    app = act(app, "approve", by=org["approver1"], data={"approved_amount": "18万", "approved_rate": "9.6"})
    assert app.status == "approved" and app.node.code == "contract"
    assert str(app.approved_amount) == "180000.00" and str(app.approved_rate) == "9.60"
    assert app.approved_term_months == 24
    assert AuditEntry.objects.filter(action=Action.APPLICATION_UPDATE, object_id=str(app.pk)).exists()

    # 合同 → 放款 by finance.
    app = act(app, "submit")
    assert app.node.code == "disbursement" and app.handler == org["finance1"]
    with pytest.raises(PermissionDenied):
        act(app, "submit", by=sales1)
    app = act(app, "submit", by=org["finance1"])
    assert app.status == "disbursed" and app.disbursed_at is not None and app.node.code == "post_loan"
    link = CustomerLink.objects.get(application=app, purpose=CustomerLink.Purpose.SURVEY)
    assert link.usable and link.max_uses == 1
    assert Notice.objects.filter(application=app, event="survey", status="pending").exists()

    # 贷后 → closed.
    app = act(app, "submit")
    assert app.status == "closed" and app.node is None and app.closed_at is not None
    assert CustomerLink.objects.filter(application=app, purpose="survey").count() == 1
    assert open_tasks(app) == []
    assert [m[2] for m in moves(app) if m[0] != "vote"] == [*FULL_ROUTE, ""]
    with pytest.raises(ValidationError) as exc:
        act(app, "submit", by=sales1)
    assert "申请已结束" in exc.value.message_dict["action"][0]


def test_return_from_contract_to_decision_reopens_the_approval(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "contract")
    assert app.status == "approved"
    app = act(app, "return", to_node="decision", comment="客户要求提高额度")
    assert app.status == "in_progress" and app.node.code == "decision"
    assert open_tasks(app) == ["approver1", "manager1"]


def test_material_upload_is_checked(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "materials")
    with pytest.raises(ValidationError) as exc:
        services.material_upload(
            by=org["sales1"],
            application=app,
            kind="id_front",
            upload=SimpleUploadedFile("a.pdf", b"not a pdf"),
        )
    assert "file" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.material_upload(by=org["sales1"], application=app, kind="passport", upload=pdf())
    with pytest.raises(PermissionDenied):
        services.material_upload(by=org["sales2"], application=app, kind="id_front", upload=pdf())
    assert not app.materials.exists()
    material = services.material_upload(by=org["sales1"], application=app, kind="id_front", upload=pdf())
    assert material.attachment.customer == customer and material.review == "pending"
    assert AuditEntry.objects.filter(action=Action.MATERIAL_UPLOAD, object_id=str(app.pk)).exists()


def test_material_review_needs_the_right(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "materials")
    material = services.material_upload(by=org["sales1"], application=app, kind="id_front", upload=pdf())
    with pytest.raises(PermissionDenied):
        services.material_review(by=org["sales2"], material=material, result="accepted")
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=org["sales2"]).exists()
    services.material_review(by=org["manager1"], material=material, result="accepted")
    material.refresh_from_db()
    assert material.review == "accepted" and material.reviewed_by == org["manager1"]


# --- the workflow editor -------------------------------------------------------------------------


def test_publishing_changes_new_applications_only(org, products, customer, customers):
    old = new_app(org["sales1"], customer, products["xinyidai"], amount=200_000)
    nodes = [n for n in services.workflow_nodes_as_data(old.workflow) if n["code"] != "risk"]
    with pytest.raises(PermissionDenied):
        services.workflow_publish(by=org["manager1"], code="loan", name="无风控流程", nodes=nodes)
    v2 = services.workflow_publish(
        by=org["admin"], code="loan", name="无风控流程", nodes=nodes, note="去掉风控"
    )
    assert v2.version == 2 and v2.is_current
    old.refresh_from_db()
    assert old.workflow.version == 1 and not old.workflow.is_current
    assert workflow.route(old) == FULL_ROUTE
    assert AuditEntry.objects.filter(action=Action.WORKFLOW_PUBLISH, extra__version=2).exists()

    new = new_app(
        org["sales1"], other_customer(customers, org["sales1"]), products["xinyidai"], amount=200_000
    )
    assert new.workflow == v2 and workflow.route(new) == SMALL_ROUTE
    new = walk_to(new, "decision")
    assert "risk" not in [t.to_node for t in Transition.objects.filter(application=new)]
    # The old application still goes through its version's risk node.
    old = walk_to(old, "risk")
    assert old.handler == org["risk1"] and old.node.definition.version == 1


def test_publishing_a_changed_skip_condition(org, products, customer, customers):
    old = new_app(org["sales1"], customer, products["xinyidai"], amount=200_000)
    nodes = services.workflow_nodes_as_data(old.workflow)
    risk = next(n for n in nodes if n["code"] == "risk")
    risk["skip_when"] = [{"field": "amount", "op": "lte", "value": "300000"}]
    services.workflow_publish(by=org["admin"], code="loan", name="放宽风控", nodes=nodes)
    new = new_app(
        org["sales1"], other_customer(customers, org["sales1"]), products["xinyidai"], amount=200_000
    )
    assert "risk" not in workflow.route(new)
    old.refresh_from_db()
    assert "risk" in workflow.route(old)
    old = walk_to(old, "materials")
    assert pass_node(old).node.code == "risk"


def test_publish_validates_the_nodes(org, products):
    bad = [
        {"code": "a b", "name": "坏代码", "handler_type": "owner"},
        {"code": "x", "name": "无角色", "handler_type": "roles", "handler_roles": ["nobody"]},
        {"code": "y", "name": "坏条件", "handler_type": "owner", "skip_when": [{"field": "age", "op": "lt"}]},
    ]
    with pytest.raises(ValidationError) as exc:
        services.workflow_publish(by=org["admin"], code="loan", name="坏流程", nodes=bad)
    assert len(exc.value.message_dict["nodes"]) == 3
    assert services.current_workflow().version == 1


# --- lead assignment and reassignment ----------------------------------------------------------------


def test_round_robin_alternates_between_the_team(org, products, customers):
    ensure_assignment_rules()
    manager = org["manager1"]
    owners = []
    for _i in range(3):
        c = pool_customer(customers, org["sales1"])
        app = new_app(manager, c, products["xinyidai"])
        owners.append(app.owner.username)
        c.refresh_from_db()
        assert c.owner == app.owner and c.pooled_at is None
        assert app.handler == app.owner and app.department.name == "银川一部"
        create = Transition.objects.get(application=app, action="create")
        assert "按线索分配规则分配给" in create.comment and create.to_user == app.owner
        entry = AuditEntry.objects.get(action=Action.APPLICATION_CREATE, object_id=str(app.pk))
        assert entry.extra["assigned_by_rule"] is True and entry.extra["owner"] == app.owner.username
    assert owners == ["sales1", "sales2", "sales1"]


def test_least_load_picks_the_less_busy(org, products, customers):
    AssignmentRule.objects.create(department=org["sales1"].department, method=AssignmentMethod.LEAST_LOAD)
    for n in range(2):
        new_app(org["sales1"], other_customer(customers, org["sales1"], n), products["xinyidai"])
    app = new_app(org["manager1"], pool_customer(customers, org["sales1"]), products["xinyidai"])
    assert app.owner == org["sales2"]
    app2 = new_app(org["manager1"], pool_customer(customers, org["sales2"]), products["xinyidai"])
    assert app2.owner == org["sales2"]  # 1 open against sales1's 2
    app3 = new_app(org["manager1"], pool_customer(customers, org["sales2"]), products["xinyidai"])
    assert app3.owner == org["sales1"]  # 2 each: by username


def test_region_prefers_a_local_salesperson(org, products, customers):
    company = Department.objects.get(parent__isnull=True)
    szs = Department.objects.get(name="石嘴山分公司")
    local = User.objects.create(
        username="sales_szs",
        full_name="石嘴山业务员",
        role=Role.objects.get(code="salesperson"),
        department=szs,
    )
    AssignmentRule.objects.create(department=company, method=AssignmentMethod.REGION)
    c = pool_customer(customers, org["sales3"])
    Customer.objects.filter(pk=c.pk).update(department=company)
    c.refresh_from_db()
    app = new_app(org["admin"], c, products["xinyidai"], region="石嘴山")
    assert app.owner == local and app.region == "石嘴山" and app.department == szs
    c2 = pool_customer(customers, org["sales3"])
    Customer.objects.filter(pk=c2.pk).update(department=company)
    app2 = new_app(org["admin"], Customer.objects.get(pk=c2.pk), products["xinyidai"], region="银川")
    assert app2.owner.department.region == "银川"


def test_pool_customer_with_a_given_owner(org, products, customers):
    app = new_app(
        org["manager1"], pool_customer(customers, org["sales1"]), products["xinyidai"], owner=org["sales2"]
    )
    assert app.owner == org["sales2"]
    assert Transition.objects.get(application=app, action="create").comment == ""
    with pytest.raises(ValidationError) as exc:
        new_app(
            org["manager1"],
            pool_customer(customers, org["sales1"]),
            products["xinyidai"],
            owner=org["sales3"],
        )
    assert "owner" in exc.value.message_dict


def test_salesperson_creates_for_self_and_not_for_others_customers(org, products, customer, customers):
    app = new_app(org["sales2"], other_customer(customers, org["sales2"], 0), products["xinyidai"])
    assert app.owner == org["sales2"]
    with pytest.raises(PermissionDenied):
        new_app(org["sales2"], customer, products["xinyidai"])
    with pytest.raises(PermissionDenied):
        new_app(org["risk1"], customer, products["xinyidai"])  # no intake.create
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=org["risk1"]).exists()


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("amount", {"amount": "abc"}),
        ("amount", {"amount": 0}),
        ("amount", {"amount": 5_000}),  # below the product's 10,000
        ("amount", {"amount": 400_000}),  # above its 300,000
        ("term_months", {"term": 48}),
        ("term_months", {"term": "x"}),
        ("credit_grade", {"grade": "excellent"}),
    ],
)
def test_create_validates_the_fields(org, products, customer, field, kwargs):
    with pytest.raises(ValidationError) as exc:
        new_app(org["sales1"], customer, products["xinyidai"], **kwargs)
    assert field in exc.value.message_dict
    assert not LoanApplication.objects.exists()


def test_create_reads_chinese_amounts(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"], amount="5万")
    assert str(app.amount) == "50000.00"
    assert app.application_no.startswith("JJ")


def test_reassign_moves_the_owner_and_open_tasks(org, products, customer):
    app = act(new_app(org["sales1"], customer, products["xinyidai"]), "submit")
    with pytest.raises(PermissionDenied):
        services.application_reassign(by=org["sales1"], application=app, to_user=org["sales2"], reason="休假")
    with pytest.raises(ValidationError):
        services.application_reassign(by=org["manager1"], application=app, to_user=org["sales2"], reason="")
    with pytest.raises(ValidationError) as exc:
        services.application_reassign(
            by=org["manager1"], application=app, to_user=org["sales3"], reason="休假"
        )
    assert "to_user" in exc.value.message_dict
    app = services.application_reassign(
        by=org["manager1"], application=app, to_user=org["sales2"], reason="休假"
    )
    assert app.owner == org["sales2"] and app.handler == org["sales2"] and open_tasks(app) == ["sales2"]
    last = Transition.objects.filter(application=app).last()
    assert (last.action, last.from_node, last.to_node, last.to_user, last.comment) == (
        "reassign", "precheck", "precheck", org["sales2"], "休假"
    )  # fmt: skip
    entry = AuditEntry.objects.get(action=Action.APPLICATION_REASSIGN, object_id=str(app.pk))
    assert entry.changes == {"owner": ["sales1", "sales2"]}
    with pytest.raises(PermissionDenied):
        act(app, "submit", by=org["sales1"])
    app = act(app, "submit", by=org["sales2"], data={"credit_grade": "good"})
    assert app.handler == org["sales2"]


def test_reassign_at_a_role_node_keeps_the_reviewer(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"], amount=200_000), "risk")
    app = services.application_reassign(
        by=org["manager1"], application=app, to_user=org["sales2"], reason="离职"
    )
    assert app.owner == org["sales2"] and app.handler == org["risk1"] and open_tasks(app) == ["risk1"]


# --- surveys and problems ---------------------------------------------------------------------------


def test_survey_stores_the_score_once(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    link, token = survey_link(app)
    assert services.link_for_token(token, "survey") == link
    assert services.link_for_token(token, "upload") is None
    response = services.survey_submit(link=link, score=5, comment="很好")
    assert response.customer == customer and response.application == app and response.score == 5
    assert list(customer.surveys.values_list("score", flat=True)) == [5]
    assert AuditEntry.objects.filter(action=Action.SURVEY_SUBMIT, object_id=str(app.pk)).exists()
    assert services.link_for_token(token, "survey") is None
    with pytest.raises(ValidationError) as exc:
        services.survey_submit(link=link, score=4)
    assert "已提交" in exc.value.message_dict["score"][0]
    assert SurveyResponse.objects.count() == 1
    assert not ProblemReport.objects.exists()


@pytest.mark.parametrize("score", [0, 6, -1, "abc", None])
def test_survey_refuses_out_of_range_scores(org, products, customer, score):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    link, _token = survey_link(app)
    with pytest.raises(ValidationError) as exc:
        services.survey_submit(link=link, score=score)
    assert exc.value.message_dict["score"] == ["请选择 1 到 5 分"]
    assert not SurveyResponse.objects.exists()


def test_expired_survey_link_is_refused(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    link, token = survey_link(app)
    CustomerLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert services.link_for_token(token, "survey") is None
    link.refresh_from_db()
    with pytest.raises(ValidationError):
        services.survey_submit(link=link, score=3)


def test_low_score_with_a_comment_opens_a_problem(org, products, customer):
    from loancrm.intake.selectors import problems_visible_to, todo_count

    app = new_app(org["sales1"], customer, products["xinyidai"])
    before = todo_count(org["sales1"])
    link, _token = survey_link(app)
    services.survey_submit(link=link, score=2, comment="业务员态度差")
    problem = ProblemReport.objects.get()
    assert problem.assignee == org["sales1"] and problem.status == "open" and problem.application == app
    assert problem.description == "业务员态度差" and problem.source == "survey"
    assert todo_count(org["sales1"]) == before + 1
    assert list(problems_visible_to(org["sales1"])) == [problem]
    assert problem in problems_visible_to(org["manager1"])
    assert not problems_visible_to(org["sales2"]).exists()

    with pytest.raises(PermissionDenied):
        services.problem_resolve(by=org["sales2"], problem=problem, resolution="已道歉")
    with pytest.raises(ValidationError):
        services.problem_resolve(by=org["sales1"], problem=problem, resolution=" ")
    services.problem_resolve(by=org["sales1"], problem=problem, resolution="已电话致歉")
    problem.refresh_from_db()
    assert problem.status == "resolved" and problem.resolved_by == org["sales1"] and problem.resolved_at
    assert todo_count(org["sales1"]) == before
    assert AuditEntry.objects.filter(action=Action.PROBLEM_RESOLVE).exists()


def test_low_score_without_comment_opens_no_problem(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    link, _token = survey_link(app)
    services.survey_submit(link=link, score=1)
    assert not ProblemReport.objects.exists()


def test_explicit_problem_opens_one_at_any_score(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    link, _token = survey_link(app)
    services.survey_submit(link=link, score=4, comment="总体满意", problem="还款日期没讲清楚")
    problem = ProblemReport.objects.get()
    assert problem.description == "还款日期没讲清楚" and problem.assignee == org["sales1"]


def test_manager_resolves_a_problem(org, products, customer):
    problem = services.problem_create(by=org["sales1"], customer=customer, description="利率有疑问")
    assert problem.source == "staff" and problem.assignee == org["sales1"]
    services.problem_resolve(by=org["manager1"], problem=problem, resolution="已解释")
    assert ProblemReport.objects.get().status == "resolved"


# --- the demo data -----------------------------------------------------------------------------------


def test_demo_applications_stand_where_planned(org, products, customers):
    from loancrm.core.demo.intake import ensure_applications

    created = ensure_applications(org)
    assert created == LoanApplication.objects.count() > 0
    for app in LoanApplication.objects.select_related("node"):
        assert app.status == "in_progress" and app.node.code in {
            "intake",
            "precheck",
            "materials",
            "risk",
            "decision",
        }
    assert ensure_applications(org) == 0


# --- found while testing: who may set what, and what may not happen twice ---------------------------


def test_approved_terms_are_set_at_the_decision_only(org, products, customer):
    app = new_app(org["sales1"], customer, products["xinyidai"])
    before = state(app)
    for data in ({"approved_amount": "300000"}, {"approved_rate": "6"}, {"approved_term_months": 36}):
        with pytest.raises(ValidationError) as exc:
            act(app, "submit", data=data)
        assert set(exc.value.message_dict) == set(data)
    assert state(app) == before
    app.refresh_from_db()
    assert app.approved_amount is None and app.approved_rate is None
    app = walk_to(app, "decision")
    with pytest.raises(ValidationError):
        act(
            app,
            "transfer",
            by=org["manager1"],
            to_user=org["admin"],
            comment="出差",
            data={"approved_rate": "5"},
        )
    app = act(app, "approve", by=org["manager1"], data={"approved_amount": "2万"})
    app = act(app, "approve", by=org["approver1"])
    assert str(app.approved_amount) == "20000.00"


@pytest.mark.parametrize("amount", ["1e15", "99999999999999", "300001"])
def test_approved_amount_is_within_the_product(org, products, customer, amount):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    with pytest.raises(ValidationError) as exc:
        act(app, "approve", by=org["approver1"], data={"approved_amount": amount})
    assert "approved_amount" in exc.value.message_dict
    assert "申请金额 30,000.00" in exc.value.message_dict["approved_amount"][0]


def test_credit_grade_cannot_change_after_approval(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "contract")
    with pytest.raises(ValidationError) as exc:
        act(app, "submit", data={"credit_grade": "poor"})
    assert "credit_grade" in exc.value.message_dict


@pytest.mark.parametrize(
    ("action", "target"), [("return", "contract"), ("return", "decision"), ("request_materials", "")]
)
def test_a_disbursed_application_cannot_go_back_before_the_disbursement(
    org, products, customer, action, target
):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "post_loan")
    assert app.status == "disbursed"
    before = state(app)
    with pytest.raises(ValidationError) as exc:
        act(app, action, to_node=target, comment="重新放款")
    field = "to_node" if action == "return" else "action"
    assert "已放款" in exc.value.message_dict[field][0]
    assert state(app) == before


def test_disbursement_tells_the_customer(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "post_loan")
    assert {"received", "approved", "disbursed", "survey"} <= set(app.notices.values_list("event", flat=True))
    assert app.notices.filter(event="disbursed").count() == 1


def test_upload_through_a_link_is_limited_to_the_link(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "materials")
    link, _url = services.upload_link_create(by=org["sales1"], application=app, kinds=["bank_statement"])
    with pytest.raises(ValidationError) as exc:
        services.material_upload(by=org["sales1"], application=app, kind="id_front", upload=pdf(), link=link)
    assert "kind" in exc.value.message_dict
    material = services.material_upload(
        by=org["sales1"], application=app, kind="bank_statement", upload=pdf(), link=link
    )
    assert material.source == "link"
    link.refresh_from_db()
    assert link.uses == 1
    survey, _token = survey_link(app)
    with pytest.raises(ValidationError):
        services.material_upload(
            by=org["sales1"], application=app, kind="bank_statement", upload=pdf(), link=survey
        )
    services.link_revoke(by=org["sales1"], link=link)
    link.refresh_from_db()
    with pytest.raises(ValidationError):
        services.material_upload(
            by=org["sales1"], application=app, kind="bank_statement", upload=pdf(), link=link
        )
    assert app.materials.count() == 1


def test_problem_needs_a_customer_in_scope(org, products, customer, customers):
    with pytest.raises(PermissionDenied):
        services.problem_create(by=org["sales2"], customer=customer, description="投诉")
    app = new_app(org["sales1"], customer, products["xinyidai"])
    with pytest.raises(ValidationError):
        services.problem_create(
            by=org["sales1"],
            customer=other_customer(customers, org["sales1"]),
            description="投诉",
            application=app,
        )
    assert not ProblemReport.objects.exists()


def test_material_review_needs_the_application_in_scope(org, products, customer):
    team2 = Department.objects.get(name="银川二部")
    manager2 = User.objects.create(
        username="manager2", role=Role.objects.get(code="manager"), department=team2
    )
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "materials")
    material = services.material_upload(by=org["sales1"], application=app, kind="id_front", upload=pdf())
    with pytest.raises(PermissionDenied):
        services.material_review(by=manager2, material=material, result="rejected", comment="看不清")
    material.refresh_from_db()
    assert material.review == "pending"
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=manager2).exists()


def test_refusals_out_of_scope_are_audited(org, products, customer):
    with pytest.raises(PermissionDenied):
        new_app(org["sales2"], customer, products["xinyidai"])
    app = new_app(org["sales1"], customer, products["xinyidai"])
    with pytest.raises(PermissionDenied):
        services.material_upload(by=org["sales2"], application=app, kind="id_front", upload=pdf())
    team2 = Department.objects.get(name="银川二部")
    manager2 = User.objects.create(
        username="manager2", role=Role.objects.get(code="manager"), department=team2
    )
    with pytest.raises(PermissionDenied):
        services.application_reassign(by=manager2, application=app, to_user=org["sales3"], reason="改派")
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=org["sales2"]).count() == 2
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=manager2).count() == 1


def test_publish_refuses_unknown_handler_types_and_statuses(org, products):
    nodes = services.workflow_nodes_as_data(services.current_workflow())
    for key, value in (("handler_type", "robot"), ("sign_off", "most"), ("status_on_pass", "rejected")):
        bad = [dict(n) for n in nodes]
        bad[0][key] = value
        with pytest.raises(ValidationError):
            services.workflow_publish(by=org["admin"], code="loan", name="坏流程", nodes=bad)
    assert services.current_workflow().version == 1


# --- other shapes of flow an admin may publish --------------------------------------------------------


def test_or_sign_needs_one_approver(org, products, customer):
    nodes = services.workflow_nodes_as_data(services.current_workflow())
    next(n for n in nodes if n["code"] == "decision")["sign_off"] = "any"
    services.workflow_publish(by=org["admin"], code="loan", name="或签", nodes=nodes)
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    assert open_tasks(app) == ["approver1", "manager1"]
    app = act(app, "approve", by=org["approver1"])
    assert app.node.code == "contract" and app.status == "approved" and open_tasks(app) == ["sales1"]
    cancelled = ApplicationTask.objects.get(application=app, assignee=org["manager1"])
    assert cancelled.status == TaskStatus.CANCELLED


def test_named_handlers_in_order(org, products, customer):
    nodes = services.workflow_nodes_as_data(services.current_workflow())
    decision = next(n for n in nodes if n["code"] == "decision")
    decision.update(handler_type="users", handler_users=["approver1", "sales2", "risk1"], sign_off="all")
    services.workflow_publish(by=org["admin"], code="loan", name="指定人员", nodes=nodes)
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    # sales2 cannot see sales1's application, so only the other two sign, in the order given.
    assert app.handler == org["approver1"] and open_tasks(app) == ["approver1", "risk1"]
    app = act(app, "approve", by=org["approver1"])
    assert app.handler == org["risk1"]


def test_the_salesperson_of_an_application_must_see_its_customer(org, products, customer):
    # manager1 may not give sales1's customer's application to sales2: sales2 could not open the customer.
    with pytest.raises(ValidationError) as err:
        new_app(org["manager1"], customer, products["xinyidai"], owner=org["sales2"])
    assert "请先在客户页面交接客户" in err.value.message_dict["owner"][0]


def test_reassign_hands_the_customer_over_with_a_record(org, products, customer):
    from loancrm.customers.models import CustomerTransfer
    from loancrm.customers.selectors import customers_visible_to

    app = new_app(org["sales1"], customer, products["xinyidai"])
    services.application_reassign(
        by=org["manager1"], application=app, to_user=org["sales2"], reason="王丽娟休产假"
    )
    customer.refresh_from_db()
    assert customer.owner == org["sales2"]
    assert customers_visible_to(org["sales2"]).filter(pk=customer.pk).exists()
    transfer = CustomerTransfer.objects.get(customer=customer)
    assert (transfer.from_owner, transfer.to_owner, transfer.reason) == (
        org["sales1"],
        org["sales2"],
        "王丽娟休产假",
    )


def test_no_one_signs_twice_and_no_salesperson_approves_their_own(org, products, customer):
    """Review findings: 转交 cannot give a 会签 vote to whoever already voted, nor the decision to the
    application's own salesperson, nor 放款 to someone without loan.disburse."""
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"]), "decision")
    app = act(app, "approve", by=org["manager1"])
    with pytest.raises(ValidationError) as exc:
        act(app, "transfer", by=org["approver1"], to_user=org["manager1"], comment="出差")
    assert "已在本节点签过字" in exc.value.message_dict["to_user"][0]
    assert not services.can_handle(org["sales1"], app.node, app)
    app = act(app, "approve", by=org["approver1"])
    app = walk_to(app, "disbursement")
    with pytest.raises(ValidationError):
        act(app, "transfer", by=org["finance1"], to_user=org["auditor1"], comment="代办")
    # A page left open (or a double click) does not act on the next node.
    with pytest.raises(ValidationError) as exc:
        services.application_act(
            by=org["finance1"], application=app, action="submit", expected_visit=app.visit - 1
        )
    assert "请刷新页面" in exc.value.message_dict["action"][0]


def test_approved_amount_cannot_exceed_the_request(org, products, customer):
    app = walk_to(new_app(org["sales1"], customer, products["xinyidai"], amount=30_000), "decision")
    with pytest.raises(ValidationError):
        act(app, "approve", by=org["manager1"], data={"approved_amount": "300000"})
    app = act(app, "approve", by=org["manager1"], data={"approved_amount": "20000"})
    assert app.approved_amount == 20000 and app.status == "in_progress"
