"""What a recognition returns: fields for the form, the raw lines for the record."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

__all__ = ["DOCUMENT_KINDS", "OcrField", "OcrResult"]

DOCUMENT_KINDS = {
    "id_front": _("身份证人像面"),
    "id_back": _("身份证国徽面"),
    "bank_card": _("银行卡"),
    "business_licence": _("营业执照"),
}


@dataclass
class OcrField:
    """One recognised value: ``key`` is the customer field it fills (``id_number``, ``bank_account``…).

    ``value`` is normalised (ISO dates, ``male``/``female``, 18-character ID numbers, yuan as a decimal
    string) when it passed the project's validators; when it did not, ``value`` is the text as read and
    ``error`` says why in Chinese, for the person to check against the document.
    """

    key: str
    label: str  # Chinese, gettext_lazy
    value: str
    confidence: float  # 0–1, the lowest of the OCR lines the value came from
    error: str = ""


@dataclass
class OcrResult:
    kind: str
    fields: list[OcrField] = field(default_factory=list)
    lines: list[tuple[str, float]] = field(default_factory=list)  # every line read, top to bottom

    def as_dict(self) -> dict:
        """JSON-able: for storing on an upload and for the API (labels in the active language)."""
        return {
            "kind": self.kind,
            "fields": [
                {
                    "key": f.key,
                    "label": str(f.label),
                    "value": f.value,
                    "confidence": round(float(f.confidence), 4),
                    "error": str(f.error),
                }
                for f in self.fields
            ],
            "lines": [[text, round(float(confidence), 4)] for text, confidence in self.lines],
        }
