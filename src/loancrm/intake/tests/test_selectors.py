"""Intake reads: who sees which applications, to-dos (own and team), the list filters, the drawn flow
and time per node."""

import pytest
from django.http import Http404

from loancrm.intake import services
from loancrm.intake.models import LoanApplication
from loancrm.intake.selectors import (
    ApplicationFilters,
    application_get_for,
    application_history,
    application_list,
    application_route,
    application_tasks,
    applications_visible_to,
    flow_steps,
    node_seconds,
    products_active,
    tasks_for,
    todo_count,
    workflow_versions,
    workflows_current,
)

from .test_services import _chinese, act, an_hour_in_node, new_app, other_customer, private_files, walk_to

pytestmark = pytest.mark.django_db
__all__ = ["_chinese", "private_files"]  # autouse fixtures shared with test_services


@pytest.fixture
def apps(org, products, customers):
    """Two applications of sales1, one of sales2 (银川一部), one of sales3 (银川二部)."""
    x = products["xinyidai"]
    return {
        "s1a": new_app(org["sales1"], other_customer(customers, org["sales1"], 0), x),
        "s1b": new_app(org["sales1"], other_customer(customers, org["sales1"], 1), x, amount=200_000),
        "s2": new_app(org["sales2"], other_customer(customers, org["sales2"], 0), x),
        "s3": new_app(org["sales3"], other_customer(customers, org["sales3"], 0), x),
    }


def ids(qs) -> set[int]:
    return set(qs.values_list("pk", flat=True))


def test_salespeople_see_their_own(org, apps):
    assert ids(applications_visible_to(org["sales1"])) == {apps["s1a"].pk, apps["s1b"].pk}
    assert ids(applications_visible_to(org["sales2"])) == {apps["s2"].pk}
    assert ids(applications_visible_to(org["sales3"])) == {apps["s3"].pk}
    with pytest.raises(Http404):
        application_get_for(org["sales2"], apps["s1a"].pk)
    with pytest.raises(Http404):
        application_get_for(org["sales1"], 10**9)
    assert application_get_for(org["sales1"], apps["s1a"].pk) == apps["s1a"]


def test_manager_sees_his_department(org, apps):
    assert ids(applications_visible_to(org["manager1"])) == {apps["s1a"].pk, apps["s1b"].pk, apps["s2"].pk}
    with pytest.raises(Http404):
        application_get_for(org["manager1"], apps["s3"].pk)


@pytest.mark.parametrize("who", ["admin", "risk1", "approver1", "finance1", "auditor1"])
def test_company_wide_roles_see_everything(org, apps, who):
    assert ids(applications_visible_to(org[who])) == {a.pk for a in apps.values()}


def test_reassigned_application_follows_its_owner(org, apps):
    services.application_reassign(
        by=org["manager1"], application=apps["s1a"], to_user=org["sales2"], reason="休假"
    )
    assert apps["s1a"].pk not in ids(applications_visible_to(org["sales1"]))
    assert apps["s1a"].pk in ids(applications_visible_to(org["sales2"]))


def test_inactive_user_sees_nothing(org, apps):
    sales1 = org["sales1"]
    sales1.is_active = False
    assert not applications_visible_to(sales1).exists()


def test_tasks_and_todo_count(org, apps):
    sales1, manager = org["sales1"], org["manager1"]
    assert {t.application_id for t in tasks_for(sales1)} == {apps["s1a"].pk, apps["s1b"].pk}
    assert todo_count(sales1) == 2 and todo_count(org["sales2"]) == 1
    assert not tasks_for(manager).exists() and todo_count(manager) == 0
    team = {t.application_id for t in tasks_for(manager, team=True)}
    assert team == {apps["s1a"].pk, apps["s1b"].pk, apps["s2"].pk}  # not 银川二部's
    assert {t.application_id for t in tasks_for(org["sales1"], team=True)} == team - {apps["s2"].pk}

    app = walk_to(apps["s1a"], "decision")
    assert todo_count(sales1) == 1
    assert [t.application_id for t in tasks_for(manager)] == [app.pk]
    assert [t.application_id for t in tasks_for(org["approver1"])] == [app.pk]
    assert todo_count(manager) == 1
    act(app, "approve", by=manager)
    assert todo_count(manager) == 0 and todo_count(org["approver1"]) == 1
    # The team view shows every step waiting on the team's applications, the approver's vote too.
    assert app.pk in {t.application_id for t in tasks_for(manager, team=True)}


def test_tasks_are_ordered_by_due_time(org, apps):
    from datetime import timedelta

    from django.utils import timezone

    from loancrm.intake.models import ApplicationTask

    ApplicationTask.objects.filter(application=apps["s1b"]).update(due_at=timezone.now() - timedelta(hours=5))
    assert [t.application_id for t in tasks_for(org["sales1"])] == [apps["s1b"].pk, apps["s1a"].pk]


def test_list_filters(org, apps):
    sales1 = org["sales1"]
    act(apps["s1b"], "submit")
    assert [a.pk for a in application_list(sales1)] == [apps["s1b"].pk, apps["s1a"].pk]
    assert ids(application_list(sales1, ApplicationFilters(node="precheck"))) == {apps["s1b"].pk}
    assert ids(application_list(sales1, ApplicationFilters(status="rejected"))) == set()
    assert ids(application_list(sales1, ApplicationFilters(product="xinyidai"))) == {
        apps["s1a"].pk,
        apps["s1b"].pk,
    }
    no = apps["s1a"].application_no
    assert ids(application_list(sales1, ApplicationFilters(search=no[:8]))) >= {apps["s1a"].pk}
    assert ids(application_list(sales1, ApplicationFilters(search=no))) == {apps["s1a"].pk}
    name = apps["s1a"].customer.name
    assert apps["s1a"].pk in ids(application_list(sales1, ApplicationFilters(search=name)))
    # Someone else's application is not found by its number either.
    assert not application_list(org["sales2"], ApplicationFilters(search=no)).exists()
    manager = org["manager1"]
    assert not application_list(manager, ApplicationFilters(mine=True)).exists()
    assert ids(application_list(sales1, ApplicationFilters(mine=True))) == {apps["s1a"].pk, apps["s1b"].pk}
    LoanApplication.objects.filter(pk=apps["s1a"].pk).update(sla_due_at=apps["s1a"].created_at)
    overdue = application_list(sales1, ApplicationFilters(overdue=True))
    assert ids(overdue) == {apps["s1a"].pk} and overdue.get().overdue


def test_route_history_and_flow_steps(org, apps):
    app = walk_to(apps["s1a"], "decision")  # 30,000 with good credit: risk skipped
    assert application_route(app) == ["decision", "contract", "disbursement", "post_loan"]
    assert [t.action for t in application_history(app)] == ["create", "submit", "submit", "submit"]
    steps = {s["node"].code: s["state"] for s in flow_steps(app)}
    assert steps == {
        "intake": "done",
        "precheck": "done",
        "materials": "done",
        "risk": "skipped",
        "decision": "current",
        "contract": "ahead",
        "disbursement": "ahead",
        "post_loan": "ahead",
    }
    assert {t.assignee.username for t in application_tasks(app)} == {"manager1", "approver1"}
    act(app, "reject", by=org["approver1"], comment="不符合准入")
    app.refresh_from_db()
    assert application_route(app) == []
    steps = {s["node"].code: s["state"] for s in flow_steps(app)}
    assert steps["contract"] == "not_reached" and steps["risk"] == "skipped"


def test_node_seconds(org, apps):
    app = apps["s1a"]
    an_hour_in_node(app)
    app = act(app, "submit")
    seconds = node_seconds(app)
    assert set(seconds) == {"intake"} and 3600 <= seconds["intake"] < 3700


def test_products_and_workflow_versions(org, products):
    assert [p.code for p in products_active()] == ["xinyidai", "fangdidai", "jingyingdai"]
    products["jingyingdai"].is_active = False
    products["jingyingdai"].save()
    assert "jingyingdai" not in [p.code for p in products_active()]
    assert [w.version for w in workflows_current()] == [1]
    nodes = services.workflow_nodes_as_data(services.current_workflow())
    services.workflow_publish(by=org["admin"], code="loan", name="v2", nodes=nodes)
    assert [w.version for w in workflow_versions("loan")] == [2, 1]
    assert [w.version for w in workflows_current()] == [2]
