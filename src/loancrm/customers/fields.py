"""Which customer fields exist, how they group on screen, which are sensitive and which use a dictionary.

One list drives the form, the 360 page, the history view, the API and (next) import/export, so a field is
added in one place.
"""

import functools

from django.utils.translation import gettext_lazy as _

# Fields whose values are encrypted at rest, masked on screen without the reveal permission, and whose
# every unmasked view or export is audited.
SENSITIVE = ["id_number", "phone", "backup_phone", "bank_account"]
RELATED_SENSITIVE = ["phone", "id_number"]

# Fields whose values are codes of an admin-editable dictionary (dictionaries.kinds).
DICTIONARY_FIELDS = {
    "marital_status": "marital_status",
    "education": "education",
    "social_security": "social_security",
    "loan_type": "loan_type",
    "industry": "industry",
    "channel": "channel",
    "stage": "stage",
}

COMMON_HEAD = ["customer_type", "name"]
INDIVIDUAL_GROUPS = [
    (
        "basic",
        _("基本信息"),
        [
            "gender",
            "id_type",
            "id_number",
            "birth_date",
            "ethnicity",
            "id_issuer",
            "id_valid_from",
            "id_valid_until",
            "marital_status",
            "education",
            "household_address",
            "current_address",
        ],
    ),
    (
        "contact",
        _("联系与社会信息"),
        [
            "phone",
            "backup_phone",
            "wechat",
            "email",
            "occupation",
            "employer",
            "employer_address",
            "employer_phone",
            "monthly_income",
            "social_security",
        ],
    ),
    (
        "credit",
        _("征信与资产"),
        ["credit_query_count", "overdue_record", "debt_summary", "debt_amount", "bank_account", "bank_name"],
    ),
]
ENTERPRISE_GROUPS = [
    (
        "enterprise",
        _("企业信息"),
        [
            "uscc",
            "legal_representative",
            "registered_capital",
            "established_date",
            "industry",
            "business_address",
            "phone",
            "backup_phone",
            "email",
            "bank_account",
            "bank_name",
        ],
    ),
    ("credit", _("征信与负债"), ["credit_query_count", "overdue_record", "debt_summary", "debt_amount"]),
]
SHARED_GROUPS = [
    (
        "intention",
        _("贷款意向"),
        [
            "loan_type",
            "expected_amount",
            "expected_term_months",
            "loan_purpose",
            "acceptable_rate_min",
            "acceptable_rate_max",
        ],
    ),
    ("follow", _("业务跟进"), ["channel", "stage", "next_follow_up_at"]),
    ("notes", _("偏好与备注"), ["product_preferences", "special_notes"]),
]


def groups_for(customer_type: str) -> list[tuple[str, str, list[str]]]:
    head = ENTERPRISE_GROUPS if customer_type == "enterprise" else INDIVIDUAL_GROUPS
    return head + SHARED_GROUPS


@functools.cache
def editable_fields() -> list[str]:
    """Every field a person can fill in, in form order (computed once; do not modify the list)."""
    seen: list[str] = list(COMMON_HEAD)
    for _key, _title, names in INDIVIDUAL_GROUPS + ENTERPRISE_GROUPS + SHARED_GROUPS:
        seen += [n for n in names if n not in seen]
    return seen


# The edit form shows every field once; sections belong to one customer type or to both.
FORM_LAYOUT = [
    ("individual", _("基本信息"), ["gender", "id_type", "id_number", "birth_date", "ethnicity", "id_issuer",
                                 "id_valid_from", "id_valid_until", "marital_status", "education",
                                 "household_address", "current_address"]),
    ("enterprise", _("企业信息"), ["uscc", "legal_representative", "registered_capital", "established_date", "industry",
                                 "business_address"]),
    ("both", _("联系方式"), ["phone", "backup_phone", "email"]),
    ("individual", _("工作与收入"), ["wechat", "occupation", "employer", "employer_address", "employer_phone",
                                  "monthly_income", "social_security"]),
    ("both", _("征信与资产"), ["credit_query_count", "overdue_record", "debt_summary", "debt_amount", "bank_account",
                             "bank_name"]),
    ("both", _("贷款意向"), ["loan_type", "expected_amount", "expected_term_months", "loan_purpose",
                           "acceptable_rate_min", "acceptable_rate_max"]),
    ("both", _("业务跟进"), ["channel", "stage", "next_follow_up_at"]),
    ("both", _("偏好与备注"), ["product_preferences", "special_notes"]),
]  # fmt: skip
