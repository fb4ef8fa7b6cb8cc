"""The rules and message templates every installation starts with (seed 003 第三步, seed 000 and 001).

Created after `migrate` when missing (by code); an admin's edits are kept, and a default an admin
switched off stays off.
"""

from datetime import time

from django.utils.translation import gettext_noop

TEMPLATES = [
    {
        "code": "lead_not_followed",
        "name": gettext_noop("新线索超时未跟进"),
        "channel": "inapp",
        "subject": "新线索 {{ customer_name }}（{{ customer_no }}）超过 2 小时未跟进",
        "body": "录入时间 {{ created_at }}，业务员 {{ owner_name }}。请尽快电话联系并登记跟进记录。",
    },
    {
        "code": "node_stalled",
        "name": gettext_noop("审批环节停滞"),
        "channel": "inapp",
        "subject": "进件 {{ application_no }} 在“{{ node }}”已停留 {{ hours_in_node }} 小时",
        "body": "客户 {{ customer_name }}，申请 {{ amount }} 元（{{ product }}），处理人 {{ handler_name }}。",
    },
    {
        "code": "birthday_greeting",
        "name": gettext_noop("客户生日祝福"),
        "channel": "inapp",
        "subject": "明天是客户 {{ customer_name }} 的生日（{{ birthday }}）",
        "body": "建议祝福语：{{ customer_name }}您好，明天是您的生日，{{ org }}祝您生日快乐、万事顺意！",
    },
    {
        "code": "repayment_due_sms",
        "name": gettext_noop("还款提醒短信"),
        "channel": "sms",
        "subject": "",
        "body": "【{{ org }}】{{ customer_name }}您好：您的贷款 {{ loan_no }} 第 {{ period }} 期应还 {{ amount }} 元，"
        "还款日 {{ due_date }}{% if days_left == 0 %}（今天）{% else %}（还有 {{ days_left }} 天）{% endif %}，"
        "请按时足额还款。如已还款请忽略。",
    },
    {
        "code": "repayment_due_email",
        "name": gettext_noop("还款提醒邮件"),
        "channel": "email",
        "subject": "【{{ org }}】还款提醒：{{ due_date }} 应还 {{ amount }} 元",
        "body": "{{ customer_name }}您好：\n\n您的贷款 {{ loan_no }} 第 {{ period }} 期应还 {{ amount }} 元，还款日 "
        "{{ due_date }}。请按时足额还款，如已还款请忽略本邮件。\n\n{{ org }}",
    },
    {
        "code": "repayment_due_staff",
        "name": gettext_noop("客户还款临近（业务员）"),
        "channel": "inapp",
        "subject": "{{ customer_name }} 的贷款 {{ loan_no }} {{ due_date }} 应还 {{ amount }} 元",
        "body": "{% if days_left == 0 %}今天是还款日{% else %}还有 {{ days_left }} 天{% endif %}，已给客户发送还款提醒。",
    },
    {
        "code": "post_loan_visit",
        "name": gettext_noop("放款满一个月贷后回访"),
        "channel": "inapp",
        "subject": "贷后回访：{{ customer_name }}（{{ loan_no }}）放款已满一个月",
        "body": "放款日 {{ disbursed_on }}，本金 {{ principal }} 元。请回访核实资金用途并在贷款页登记回访。",
    },
    {
        "code": "materials_reminder",
        "name": gettext_noop("催交进件材料短信"),
        "channel": "sms",
        "subject": "",
        "body": "【{{ org }}】{{ customer_name }}您好：您的申请 {{ application_no }} 还缺少：{{ missing }}。"
        "请尽快提交，如有疑问请联系业务员 {{ owner_name }}。",
    },
    {
        "code": "overdue_follow_up",
        "name": gettext_noop("逾期催收跟进"),
        "channel": "inapp",
        "subject": "逾期跟进：{{ customer_name }}（{{ loan_no }}）已逾期 {{ days_past_due }} 天",
        "body": "账龄 {{ bucket }}，逾期金额 {{ overdue_amount }} 元，约定的下次跟进日 {{ next_action_on }}。",
    },
    {
        "code": "daily_report",
        "name": gettext_noop("经营日报邮件"),
        "channel": "email",
        "subject": "【{{ org }}】经营报表 {{ period_label }}",
        "body": "{{ name }}您好：\n\n附件是 {{ scope }} {{ period_label }} 的经营报表：新增客户 {{ new_customers }} 位，"
        "新进件 {{ new_applications }} 笔，放款 {{ disbursed_count }} 笔共 {{ disbursed_amount }} 元，"
        "逾期贷款 {{ overdue_count }} 笔。\n\n{{ org }} 助贷客户管理系统",
    },
]

RULES = [
    {
        "code": "lead_not_followed_2h",
        "name": gettext_noop("新线索 2 小时未跟进"),
        "description": gettext_noop("录入超过 2 小时仍没有跟进记录：给业务员待办，通知业务员和主管。"),
        "entity": "customer",
        "trigger": "scan",
        "conditions": {
            "op": "and",
            "items": [
                {"field": "created_at", "cmp": "older_than", "value": "2h"},
                {"field": "created_at", "cmp": "newer_than", "value": "7d"},
                {"field": "last_follow_up_at", "cmp": "empty"},
                {"field": "owner", "cmp": "not_empty"},
            ],
        },
        "actions": [
            {"type": "todo", "to": ["owner"], "template": "lead_not_followed", "due_hours": 2},
            {"type": "notify", "to": ["owner", "owner_manager"], "template": "lead_not_followed"},
        ],
        "occurrence": "once",
    },
    {
        "code": "application_stalled_24h",
        "name": gettext_noop("审批节点停留超过 24 小时"),
        "description": gettext_noop("进件在同一节点超过 24 小时：提醒当前处理人和他的主管。"),
        "entity": "application",
        "trigger": "scan",
        "conditions": {
            "op": "and",
            "items": [
                {"field": "status", "cmp": "in", "value": "in_progress,approved"},
                {"field": "node", "cmp": "not_in", "value": "post_loan"},
                {"field": "node_entered_at", "cmp": "older_than", "value": "24h"},
            ],
        },
        "actions": [{"type": "notify", "to": ["handler", "handler_manager"], "template": "node_stalled"}],
        "occurrence": "per_visit",
    },
    {
        "code": "birthday_eve",
        "name": gettext_noop("客户生日前一天提醒"),
        "description": gettext_noop("每天 9:00，明天过生日的客户：提醒业务员，附祝福语。"),
        "entity": "customer",
        "trigger": "schedule",
        "frequency": "daily",
        "at_time": time(9, 0),
        "conditions": {
            "op": "and",
            "items": [
                {"field": "birth_date", "cmp": "anniversary_in_days", "value": "1"},
                {"field": "owner", "cmp": "not_empty"},
            ],
        },
        "actions": [{"type": "notify", "to": ["owner"], "template": "birthday_greeting"}],
        "occurrence": "yearly",
    },
    {
        "code": "repayment_due_7_3_0",
        "name": gettext_noop("还款日前 7、3、0 天提醒"),
        "description": gettext_noop("每天 9:00：给客户发短信和邮件，通知业务员。"),
        "entity": "installment",
        "trigger": "schedule",
        "frequency": "daily",
        "at_time": time(9, 0),
        "conditions": {
            "op": "and",
            "items": [
                {"field": "due_date", "cmp": "in_days", "value": "7,3,0"},
                {"field": "status", "cmp": "in", "value": "due,partial"},
                {"field": "loan_status", "cmp": "in", "value": "normal,overdue"},
            ],
        },
        "actions": [
            {"type": "sms", "to": ["customer"], "template": "repayment_due_sms"},
            {"type": "email", "to": ["customer"], "template": "repayment_due_email"},
            {"type": "notify", "to": ["owner"], "template": "repayment_due_staff"},
        ],
        "occurrence": "daily",
    },
    {
        "code": "post_loan_visit_1m",
        "name": gettext_noop("放款一个月贷后回访"),
        "description": gettext_noop("放款满 30 天：给业务员一个贷后回访待办。"),
        "entity": "loan",
        "trigger": "schedule",
        "frequency": "daily",
        "at_time": time(9, 0),
        "conditions": {
            "op": "and",
            "items": [
                {"field": "disbursed_on", "cmp": "older_than", "value": "30d"},
                {"field": "disbursed_on", "cmp": "newer_than", "value": "60d"},
                {"field": "status", "cmp": "in", "value": "normal,overdue"},
            ],
        },
        "actions": [{"type": "todo", "to": ["owner"], "template": "post_loan_visit", "due_hours": 72}],
        "occurrence": "once",
    },
    {
        "code": "materials_missing_remind",
        "name": gettext_noop("缺材料每 3 天提醒客户"),
        "description": gettext_noop("在办申请缺少必需材料超过 1 天：每 3 天给客户发一次短信。"),
        "entity": "application",
        "trigger": "schedule",
        "frequency": "daily",
        "at_time": time(10, 0),
        "conditions": {
            "op": "and",
            "items": [
                {"field": "status", "cmp": "eq", "value": "in_progress"},
                {"field": "node", "cmp": "in", "value": "precheck,materials"},
                {"field": "node_entered_at", "cmp": "older_than", "value": "1d"},
                {"field": "missing_materials", "cmp": "is_true"},
            ],
        },
        "actions": [{"type": "sms", "to": ["customer"], "template": "materials_reminder"}],
        "occurrence": "every_n_days",
        "every_n_days": 3,
    },
    {
        "code": "overdue_follow_up",
        "name": gettext_noop("逾期跟进待办"),
        "description": gettext_noop("催收任务到了约定的跟进日：给催收员一个待办（每天最多一次）。"),
        "entity": "collection",
        "trigger": "schedule",
        "frequency": "daily",
        "at_time": time(8, 30),
        "conditions": {
            "op": "and",
            "items": [
                {"field": "status", "cmp": "eq", "value": "open"},
                {"field": "next_action_on", "cmp": "before_now"},
            ],
        },
        "actions": [{"type": "todo", "to": ["owner"], "template": "overdue_follow_up", "due_hours": 8}],
        "occurrence": "daily",
    },
    {
        "code": "report_daily",
        "name": gettext_noop("经营日报（邮件）"),
        "description": gettext_noop(
            "每天 8:00 把昨天的新增客户、各节点进件、放款和逾期发给各部门主管（各看本部门）。"
        ),
        "entity": "system",
        "trigger": "schedule",
        "frequency": "daily",
        "at_time": time(8, 0),
        "conditions": {},
        "actions": [
            {"type": "report", "to": ["role:manager"], "period": "daily", "template": "daily_report"}
        ],
        "occurrence": "daily",
    },
    {
        "code": "report_weekly",
        "name": gettext_noop("经营周报（邮件）"),
        "description": gettext_noop("每周一 8:00 把上周的报表发给各部门主管（各看本部门）。"),
        "entity": "system",
        "trigger": "schedule",
        "frequency": "weekly",
        "weekday": 1,
        "at_time": time(8, 0),
        "conditions": {},
        "actions": [
            {"type": "report", "to": ["role:manager"], "period": "weekly", "template": "daily_report"}
        ],
        "occurrence": "weekly",
    },
]


def ensure_defaults(using: str = "default") -> None:
    from django.db.utils import OperationalError, ProgrammingError
    from django.utils import timezone

    from loancrm.notifications.models import MessageTemplate

    from .models import Rule

    try:
        existing_templates = set(MessageTemplate.objects.using(using).values_list("code", flat=True))
        existing_rules = set(Rule.objects.using(using).values_list("code", flat=True))
    except (OperationalError, ProgrammingError):  # tables not there yet (a partial migrate)
        return
    now = timezone.now()
    MessageTemplate.objects.using(using).bulk_create(
        [MessageTemplate(**t, updated_at=now) for t in TEMPLATES if t["code"] not in existing_templates]
    )
    Rule.objects.using(using).bulk_create(
        [
            Rule(
                **{"every_n_days": None, **r}, is_default=True, is_active=True, created_at=now, updated_at=now
            )
            for r in RULES
            if r["code"] not in existing_rules
        ]
    )
