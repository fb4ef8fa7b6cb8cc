"""Business volume for benchmarks and large demos: applications with their flow history, loans with
their instalment schedules (the loans engine's own schedules), collection tasks, promises and survey
answers — written in bulk (`loancrm demo-data --applications N --loans M`), not through the services,
which would take days at 300,000 loans. Same seed, same data.

Applications go to the demo customers in id order (every k-th customer); the first `loans` of them
are disbursed, the rest wait at a node or were rejected. About 8 % of loans stop paying at some
instalment, so buckets, collection and roll rates have something to show.
"""

import random
import secrets
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from loancrm.core.bulk import bulk_insert, reserve_ids
from loancrm.customers import numbers

BATCH = 5000
RATE = Decimal("0.072")
NODE_HOURS = {  # typical hours spent per node (the dashboards' 审批环节耗时)
    "intake": 1.5, "precheck": 8, "materials": 30, "risk": 20, "decision": 12, "contract": 36, "disbursement": 6,
}  # fmt: skip
TERMS = [6, 12, 12]  # months: ~10 instalments per loan on average


def _hours(rng: random.Random, code: str) -> float:
    return rng.expovariate(1 / NODE_HOURS.get(code, 4))


def ensure_volume(applications: int, loans: int, seed: int = 2026, progress=None) -> dict[str, int]:
    from loancrm.customers.models import Customer, DataSource
    from loancrm.intake.models import (
        ApplicationStatus,
        CustomerLink,
        LoanApplication,
        SurveyResponse,
        Transition,
    )  # fmt: skip
    from loancrm.intake.services import APPLICATION_SEQUENCE, current_workflow
    from loancrm.intake.workflow import nodes_of
    from loancrm.loans import schedules
    from loancrm.loans.models import (
        CollectionTask,
        InstallmentStatus,
        Loan,
        LoanStatus,
        LoanTerms,
        PromiseToPay,
        RepaymentInstallment,
    )  # fmt: skip
    from loancrm.loans.services import LOAN_SEQUENCE, bucket_for, ensure_buckets

    have = LoanApplication.objects.filter(application_no__startswith="JJ", purpose="批量演示").count()
    if have:  # generated already (same seed, same data): nothing to add
        return {"applications": 0, "loans": 0, "installments": 0}
    loans = min(loans, applications)
    workflow = current_workflow()
    nodes = nodes_of(workflow)
    node_by_code = {n.code: n for n in nodes}
    path = [n.code for n in nodes if n.code != "post_loan"]
    terms = {t.product_id: t for t in LoanTerms.objects.select_related("institution")}
    products = [p for p in terms]
    buckets = ensure_buckets()
    total_customers = Customer.objects.filter(data_source=DataSource.DEMO, customer_type="individual").count()
    step = max(total_customers // applications, 1)
    today = timezone.localdate()
    now = timezone.now()
    made = {"applications": 0, "loans": 0, "installments": 0, "transitions": 0}
    customers = (
        Customer.objects.filter(data_source=DataSource.DEMO, customer_type="individual")
        .order_by("id")
        .values_list("pk", "owner_id", "department_id", "created_at", "department__region")
    )
    chosen = []
    for i, row in enumerate(customers.iterator(chunk_size=20000)):
        if i % step == 0 and row[1]:
            chosen.append(row)
            if len(chosen) >= applications:
                break
    index = 0
    for start in range(0, len(chosen), BATCH):
        batch = chosen[start : start + BATCH]
        with transaction.atomic():
            app_ids = reserve_ids(LoanApplication, len(batch))
            app_numbers = numbers.reserve(len(batch), APPLICATION_SEQUENCE)
            app_rows, moves, loan_rows, inst_rows, tasks, links, surveys, promises = (
                [],
                [],
                [],
                [],
                [],
                [],
                [],
                [],
            )
            disbursed_batch = []
            for (cid, owner, dept, created, region), app_id, seq in zip(
                batch, app_ids, app_numbers, strict=True
            ):
                rng = random.Random(seed * 1_000_003 + index)
                is_loan = index < loans
                index += 1
                product = rng.choice(products)
                amount = Decimal(rng.choice([3, 5, 8, 10, 15, 20, 30, 50])) * 10000
                months = rng.choice(TERMS)
                opened = created + timedelta(hours=rng.uniform(1, 240))
                if opened > now:
                    opened = now - timedelta(hours=rng.uniform(1, 48))
                if is_loan:
                    stop = len(path)  # through 放款
                    status = ApplicationStatus.DISBURSED
                elif rng.random() < 0.15:
                    stop = rng.randint(1, 4)
                    status = ApplicationStatus.REJECTED
                else:
                    stop = rng.randint(0, 4)
                    status = ApplicationStatus.IN_PROGRESS
                at = opened
                for code in path[:stop]:
                    seconds = int(_hours(rng, code) * 3600)
                    at = at + timedelta(seconds=seconds)
                    nxt = path[path.index(code) + 1] if path.index(code) + 1 < len(path) else "post_loan"
                    moves.append(dict(
                        application_id=app_id, action="submit", from_node=code,
                        to_node="" if status == ApplicationStatus.REJECTED and code == path[stop - 1] else nxt,
                        by_id=owner, at=at, seconds_in_node=seconds, skipped=[],
                    ))  # fmt: skip
                if status == ApplicationStatus.REJECTED:
                    moves[-1]["action"] = "reject"
                if at > now:
                    at = now
                current = None
                if status == ApplicationStatus.IN_PROGRESS:
                    current = node_by_code[path[stop]]
                elif status == ApplicationStatus.DISBURSED:
                    current = node_by_code["post_loan"]
                app_rows.append(dict(
                    id=app_id, application_no=numbers.format_number("JJ", seq, opened), customer_id=cid,
                    product_id=product, customer_type="individual", business_line="loan", region=region or "",
                    amount=amount, term_months=months, purpose="批量演示",
                    credit_grade=rng.choice(["good", "good", "normal", "poor"]), status=status, workflow_id=workflow.pk,
                    node_id=current.pk if current else None, node_entered_at=at if current else None,
                    sla_due_at=at + timedelta(hours=current.sla_hours) if current else None, visit=stop + 1,
                    handler_id=owner if current else None, owner_id=owner, department_id=dept, created_by_id=owner,
                    created_at=opened, updated_at=at, closed_at=at if status == ApplicationStatus.REJECTED else None,
                    approved_amount=amount if is_loan else None, approved_term_months=months if is_loan else None,
                    approved_rate=RATE if is_loan else None,
                    decided_at=at if status != ApplicationStatus.IN_PROGRESS else None,
                    disbursed_at=at if is_loan else None,
                ))  # fmt: skip
                if is_loan:
                    disbursed_batch.append(
                        (
                            app_id,
                            cid,
                            owner,
                            dept,
                            product,
                            amount,
                            months,
                            min(timezone.localtime(at).date(), today),
                            rng,
                        )
                    )
            bulk_insert(LoanApplication, app_rows, with_pk=True)
            bulk_insert(Transition, moves)
            made["applications"] += len(app_rows)
            made["transitions"] += len(moves)
            if disbursed_batch:
                loan_ids = reserve_ids(Loan, len(disbursed_batch))
                loan_numbers = numbers.reserve(len(disbursed_batch), LOAN_SEQUENCE)
                for (app_id, cid, owner, dept, product, amount, months, on, rng), loan_id, seq in zip(
                    disbursed_batch, loan_ids, loan_numbers, strict=True
                ):
                    t = terms[product]
                    rows = schedules.schedule(
                        principal=amount, annual_rate=RATE, months=months, method="annuity", start=on
                    )
                    stops_at = (
                        rng.randint(1, months) if rng.random() < 0.08 else None
                    )  # stops paying from here
                    outstanding, overdue_amount, first_late = amount, Decimal("0"), None
                    for r in rows:
                        paid = r.due_date <= today and (stops_at is None or r.period < stops_at)
                        late = r.due_date < today and not paid
                        if late and first_late is None:
                            first_late = r.due_date
                        if late:
                            overdue_amount += r.payment
                        if paid:
                            outstanding = r.balance
                        paid_on = r.due_date - timedelta(days=rng.randint(0, 3)) if paid else None
                        inst_rows.append(dict(
                            loan_id=loan_id, period=r.period, due_date=r.due_date, principal_due=r.principal,
                            interest_due=r.interest, payment_due=r.payment, balance_after=r.balance,
                            principal_paid=r.principal if paid else Decimal("0"), interest_paid=r.interest if paid else Decimal("0"),
                            status=InstallmentStatus.PAID if paid else InstallmentStatus.DUE, paid_on=paid_on, version=1,
                        ))  # fmt: skip
                    dpd = (today - first_late).days if first_late else 0
                    settled = all(r.due_date <= today for r in rows) and first_late is None
                    bucket = bucket_for(dpd, buckets)
                    status = (
                        LoanStatus.SETTLED
                        if settled
                        else (LoanStatus.OVERDUE if dpd > 0 else LoanStatus.NORMAL)
                    )
                    loan_rows.append(dict(
                        id=loan_id, loan_no=numbers.format_number("DK", seq, timezone.make_aware(datetime.combine(on, time(12)))),
                        application_id=app_id, customer_id=cid, product_id=product, institution_id=t.institution_id,
                        contract_no=f"BULK-{loan_id}", principal=amount, annual_rate=RATE, months=months, method="annuity",
                        disbursed_on=on, first_due_on=rows[0].due_date, penalty_daily_rate=t.penalty_daily_rate,
                        allocation_order=t.allocation_order or ["penalty", "interest", "principal"], prepayment=t.prepayment,
                        status=status, days_past_due=dpd, bucket=bucket, overdue_amount=overdue_amount,
                        outstanding_principal=Decimal("0") if settled else outstanding, assessed_on=today,
                        settled_on=rows[-1].due_date if settled else None, service_fee=Decimal("0"),
                        service_fee_payer=t.service_fee_payer, owner_id=owner, department_id=dept, created_by_id=owner,
                        created_at=timezone.make_aware(datetime.combine(on, time(15))),
                    ))  # fmt: skip
                    if dpd > 0:
                        tasks.append(dict(loan_id=loan_id, assignee_id=owner, bucket=bucket, status="open",
                                          opened_at=timezone.make_aware(datetime.combine(first_late + timedelta(days=1), time(9))),
                                          next_action_on=today + timedelta(days=rng.randint(-3, 5))))  # fmt: skip
                    if rng.random() < 0.06:
                        links.append(dict(purpose="survey", token_hash=secrets.token_hex(32), application_id=app_id,
                                          kinds=[], created_by_id=None, expires_at=now + timedelta(days=14), uses=1))  # fmt: skip
                        surveys.append((cid, app_id, rng.choice([3, 4, 4, 5, 5, 5, 2]), on))
                bulk_insert(Loan, loan_rows, with_pk=True)
                bulk_insert(RepaymentInstallment, inst_rows, batch_size=5000)
                task_ids = reserve_ids(CollectionTask, len(tasks)) if tasks else []
                for tid, task in zip(task_ids, tasks, strict=True):
                    task["id"] = tid
                    if random.Random(tid).random() < 0.5:
                        promises.append(dict(task_id=tid, promised_on=today + timedelta(days=random.Random(tid).randint(-20, 7)),
                                             amount=Decimal("1000"), status=random.Random(tid + 1).choice(["kept", "broken", "open"]),
                                             created_at=now, by_id=task["assignee_id"]))  # fmt: skip
                bulk_insert(CollectionTask, tasks, with_pk=True)
                bulk_insert(PromiseToPay, promises)
                if links:
                    link_ids = reserve_ids(CustomerLink, len(links))
                    for lid, link in zip(link_ids, links, strict=True):
                        link["id"] = lid
                    bulk_insert(CustomerLink, links, with_pk=True)
                    bulk_insert(SurveyResponse, [
                        dict(customer_id=c, application_id=a, link_id=lid, score=s, comment="",
                             submitted_at=timezone.make_aware(datetime.combine(on + timedelta(days=3), time(10))))
                        for (c, a, s, on), lid in zip(surveys, link_ids, strict=True)
                    ])  # fmt: skip
                made["loans"] += len(loan_rows)
                made["installments"] += len(inst_rows)
        if progress:
            progress(made)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return made
