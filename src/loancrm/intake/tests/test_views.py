"""The intake pages render for the people who use them, and their forms drive the services."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from loancrm.conftest import login
from loancrm.intake import services
from loancrm.intake.models import ApplicationStatus, CustomerLink, LoanApplication, Notice

PDF = b"%PDF-1.4\n% test\n"


def _pdf(name="x.pdf"):
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


@pytest.fixture
def app30k(org, products, customer):
    return services.application_create(
        by=org["sales1"], customer=customer, product=products["xinyidai"], amount=30000, term_months=12
    )


def test_pages_render_for_each_role(client, org, app30k):
    for username in ["sales1", "manager1", "risk1", "approver1", "finance1", "admin", "auditor1"]:
        login(client, org[username])
        for url in [
            "/intake/",
            "/intake/todo/",
            f"/intake/{app30k.pk}/",
            "/intake/?status=in_progress&node=intake",
        ]:
            resp = client.get(url)
            assert resp.status_code == 200, (username, url, resp.status_code)
    login(client, org["admin"])
    for url in ["/intake/products/", "/intake/products/new/", "/intake/workflow/", "/intake/workflow/edit/",
                "/intake/assignment/", f"/intake/products/{app30k.product_id}/", "/intake/todo/?team=1"]:  # fmt: skip
        assert client.get(url).status_code == 200, url
    login(client, org["sales1"])
    assert client.get("/intake/workflow/").status_code == 403
    assert client.get(f"/intake/new/?customer={app30k.customer_id}").status_code == 200
    assert client.get("/intake/new/?q=" + app30k.customer.name[:1]).status_code == 200


def test_out_of_scope_application_is_404(client, org, app30k):
    login(client, org["sales2"])
    assert client.get(f"/intake/{app30k.pk}/").status_code == 404
    login(client, org["sales3"])
    assert client.post(f"/intake/{app30k.pk}/action/", {"action": "submit"}).status_code == 404


def test_create_through_the_form_keeps_input_on_error(client, org, products, customer):
    login(client, org["sales1"])
    url = f"/intake/new/?customer={customer.pk}"
    resp = client.post(url, {"product": products["xinyidai"].pk, "amount": "abc", "term_months": 12})
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "请填写大于 0 的金额" in body and 'value="abc"' in body
    resp = client.post(
        url, {"product": products["xinyidai"].pk, "amount": "3万", "term_months": 12, "credit_grade": "good"}
    )
    app = LoanApplication.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/intake/{app.pk}/"
    assert app.amount == 30000 and app.owner == org["sales1"]


def test_walk_through_the_pages_to_disbursement(client, org, app30k):
    a = app30k
    login(client, org["sales1"])
    assert client.post(f"/intake/{a.pk}/action/", {"action": "submit"}).status_code == 302
    resp = client.post(f"/intake/{a.pk}/action/", {"action": "submit", "comment": "预审通过"})
    assert resp.status_code == 400 and "征信等级" in resp.content.decode()
    client.post(f"/intake/{a.pk}/action/", {"action": "submit", "credit_grade": "good"})
    a.refresh_from_db()
    assert a.node.code == "materials"
    resp = client.post(f"/intake/{a.pk}/action/", {"action": "submit"})
    assert resp.status_code == 400 and "必需材料不齐" in resp.content.decode()
    for req in services.missing_materials(a):
        client.post(f"/intake/{a.pk}/materials/", {"kind": req.kind, "file": _pdf(f"{req.kind}.pdf")})
    assert services.missing_materials(a) == []
    client.post(f"/intake/{a.pk}/action/", {"action": "submit"})
    a.refresh_from_db()
    assert a.node.code == "decision"  # 3万 and good credit: risk skipped
    for approver in ("manager1", "approver1"):
        login(client, org[approver])
        client.post(
            f"/intake/{a.pk}/action/",
            {"action": "approve", "approved_amount": "30000", "approved_rate": "12"},
        )
    a.refresh_from_db()
    assert a.status == ApplicationStatus.APPROVED and a.node.code == "contract"
    login(client, org["sales1"])
    client.post(f"/intake/{a.pk}/action/", {"action": "submit"})
    login(client, org["finance1"])
    client.post(f"/intake/{a.pk}/action/", {"action": "submit"})
    a.refresh_from_db()
    assert a.status == ApplicationStatus.DISBURSED and a.node.code == "post_loan"
    page = client.get(f"/intake/{a.pk}/").content.decode()
    assert 'data-state="skipped"' in page and "风控评估与额度测算" in page


def test_customer_upload_link_and_survey(client, org, app30k):
    login(client, org["sales1"])
    client.post(f"/intake/{app30k.pk}/links/", {"kinds": ["id_front", "bank_card"], "hours": 24})
    link = CustomerLink.objects.get(purpose="upload")
    notice = Notice.objects.filter(event="materials").get()
    token = notice.text.split("/intake/u/")[1].split("/")[0]
    client.logout()
    url = f"/intake/u/{token}/"
    assert client.get(url).status_code == 200
    resp = client.post(url, {"kind": "id_front", "file": SimpleUploadedFile("a.exe", b"MZ...")})
    assert "请上传 JPG、PNG 照片或 PDF 文件" in resp.content.decode()
    resp = client.post(url, {"kind": "credit_report", "file": _pdf()})
    assert app30k.materials.count() == 0  # not a kind this link asked for
    resp = client.post(url, {"kind": "id_front", "file": _pdf()})
    assert "已收到" in resp.content.decode()
    assert app30k.materials.get().source == "link"
    link.refresh_from_db()
    assert link.uses == 1
    assert client.get("/intake/u/not-a-token/").status_code == 404


def _workflow_post(nodes: list[dict], *, delete: tuple[str, ...] = (), **meta) -> dict:
    from loancrm.intake.forms import node_initial

    data = {
        "name": meta.get("name", "助贷标准审批流程"),
        "note": meta.get("note", "调整"),
        # The page's blank "new node" card posts its selects' first options, as a browser does.
        "node-TOTAL_FORMS": str(len(nodes) + 1),
        f"node-{len(nodes)}-handler_type": "owner",
        f"node-{len(nodes)}-sign_off": "single",
        "node-INITIAL_FORMS": str(len(nodes)),
        "node-MIN_NUM_FORMS": "0",
        "node-MAX_NUM_FORMS": "1000",
    }
    for i, node in enumerate(nodes):
        if node["code"] in delete:
            data[f"node-{i}-DELETE"] = "on"  # as the card's 删除此节点 box
        for key, value in node_initial(node, (i + 1) * 10).items():
            if isinstance(value, bool):
                if value:
                    data[f"node-{i}-{key}"] = "on"
            elif isinstance(value, list):
                data[f"node-{i}-{key}"] = value
            elif value is not None:
                data[f"node-{i}-{key}"] = str(value)
    return data


def test_workflow_editor_publishes_a_version_for_new_applications_only(
    client, org, products, customer, app30k
):
    from loancrm.intake.models import WorkflowDefinition
    from loancrm.intake.workflow import route

    nodes = services.workflow_nodes_as_data(services.current_workflow())
    # Raise the 风控 waiver to 10万, and drop the 合同签订 node.
    risk = next(n for n in nodes if n["code"] == "risk")
    risk["skip_when"][0]["value"] = "100000"
    login(client, org["admin"])
    resp = client.post(
        "/intake/workflow/edit/", _workflow_post(nodes, delete=("contract",), note="小额免风控提高到 10 万")
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    current = WorkflowDefinition.objects.get(is_current=True)
    assert current.version == 2 and current.note == "小额免风控提高到 10 万"

    old = LoanApplication.objects.get(pk=app30k.pk)
    assert old.workflow.version == 1 and "contract" in route(old)
    new = services.application_create(
        by=org["sales1"], customer=customer, product=products["xinyidai"], amount=80000, term_months=12,
        credit_grade="good",
    )  # fmt: skip
    assert new.workflow == current
    assert route(new) == ["intake", "precheck", "materials", "decision", "disbursement", "post_loan"]

    # A broken edit is refused with the reason and publishes nothing.
    nodes = services.workflow_nodes_as_data(current)
    nodes[1]["skip_when"] = [{"field": "amount", "op": "lte", "value": ""}]
    resp = client.post("/intake/workflow/edit/", _workflow_post(nodes))
    assert resp.status_code == 200 and "跳过条件要同时选择字段" in resp.content.decode()
    assert WorkflowDefinition.objects.filter(code="loan").count() == 2
    # A value a condition can never match (良好 for good) is refused, not silently never skipping.
    nodes[1]["skip_when"] = [{"field": "credit_grade", "op": "eq", "value": "良好"}]
    resp = client.post("/intake/workflow/edit/", _workflow_post(nodes))
    assert resp.status_code == 200 and "good, normal, poor" in resp.content.decode()
    assert WorkflowDefinition.objects.filter(code="loan").count() == 2
    login(client, org["manager1"])
    assert client.post("/intake/workflow/edit/", _workflow_post(nodes)).status_code == 403


def test_id_card_photo_is_read_by_ocr_and_written_after_confirmation(
    client, org, app30k, huey_immediate, django_capture_on_commit_callbacks
):
    """Acceptance 2: a synthetic ID card photo → OCR in the worker → the user confirms → customer fields."""
    import datetime

    from loancrm.audit.models import AuditEntry
    from loancrm.customers.models import Customer
    from loancrm.intake.ocr import synthetic

    birth = datetime.date(1988, 11, 23)
    id_number = synthetic.fictional_id_number(birth, male=False, seq=57)
    assert not Customer.objects.filter(id_number_bidx__isnull=False, pk__in=[]).exists()
    photo = synthetic.id_card_front(
        "苏晓梅", "女", "回", birth, "宁夏回族自治区银川市金凤区北京中路166号", id_number
    )
    login(client, org["sales1"])
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            f"/intake/{app30k.pk}/materials/",
            {"kind": "id_front", "file": SimpleUploadedFile("id.png", photo, content_type="image/png")},
        )
    assert resp.status_code == 302
    material = app30k.materials.get()
    fields = {f["key"]: f for f in material.ocr["fields"]}
    assert fields["id_number"]["value"] == id_number and fields["id_number"]["confidence"] > 0.5
    # Nothing is written before the user confirms.
    customer = Customer.objects.get(pk=app30k.customer_id)
    assert customer.name != "苏晓梅"
    page = client.get(f"/intake/{app30k.pk}/").content.decode()
    assert 'data-testid="ocr-form"' in page and "苏晓梅" in page

    # The user corrects nothing, unticks the address, and confirms.
    keys = [k for k in fields if k != "household_address"]
    resp = client.post(
        f"/intake/materials/{material.pk}/ocr/",
        {"confirm": keys, **{f"value_{k}": fields[k]["value"] for k in fields}},
    )
    assert resp.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.gender, customer.ethnicity) == ("苏晓梅", "female", "回")
    assert customer.birth_date == birth and customer.id_number == id_number
    assert customer.household_address != "宁夏回族自治区银川市金凤区北京中路166号"
    assert AuditEntry.objects.filter(action="ocr.apply", object_id=str(app30k.pk)).exists()

    # A value the user mistypes while confirming is refused by the same validators as typing.
    bad = id_number[:-1] + ("0" if id_number[-1] != "0" else "1")
    resp = client.post(
        f"/intake/materials/{material.pk}/ocr/", {"confirm": ["id_number"], "value_id_number": bad}
    )
    assert resp.status_code == 400 and "校验" in resp.content.decode()
    customer.refresh_from_db()
    assert customer.id_number == id_number


def test_product_saves_unchanged_with_its_blank_rows(client, org, products):
    product = products["xinyidai"]
    login(client, org["admin"])
    page = client.get(f"/intake/products/{product.pk}/")
    form = page.context["form"]
    formset = page.context["formset"]
    data = {k: ("on" if v is True else v) for k, v in form.initial.items() if v not in (None, False)}
    data.update({f"req-{k}": v for k, v in {"TOTAL_FORMS": len(formset.forms), "INITIAL_FORMS": len(formset.initial_forms),
                 "MIN_NUM_FORMS": 0, "MAX_NUM_FORMS": 1000}.items()})  # fmt: skip
    for i, f in enumerate(formset.forms):
        init = f.initial or {"customer_type": "individual", "kind": "", "required": True}
        for k, v in init.items():
            if v is True:
                data[f"req-{i}-{k}"] = "on"
            elif v not in (None, False):
                data[f"req-{i}-{k}"] = v
    before = product.requirements.count()
    resp = client.post(f"/intake/products/{product.pk}/", data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    assert product.requirements.count() == before
    data["max_amount"] = "100"  # below the minimum
    resp = client.post(f"/intake/products/{product.pk}/", data)
    assert resp.status_code == 200 and "上限不能低于下限" in resp.content.decode()


def test_survey_page_takes_a_score_once(client, org, app30k):
    from loancrm.intake.models import SurveyResponse

    link, url = services._link_create(
        app30k,
        by=None,
        purpose=CustomerLink.Purpose.SURVEY,
        kinds=[],
        now=__import__("django.utils.timezone").utils.timezone.now(),
    )
    assert url.startswith("http://")  # an absolute link: it goes out by SMS
    path = url.split("testserver")[-1].replace("http://127.0.0.1:8000", "")
    page = client.get(path)
    assert page.status_code == 200 and 'class="form-check-input" type="radio"' in page.content.decode()
    resp = client.post(path, {"score": "2", "comment": "等太久", "problem": "放款比说的晚一周"})
    assert resp.status_code == 200 and "感谢您的反馈" in resp.content.decode()
    assert SurveyResponse.objects.get().score == 2
    assert client.get(path).status_code == 404
