"""Offline OCR for intake (进件): 身份证 (both sides), 银行卡 and 营业执照 images → customer fields.

    from loancrm.intake.ocr import DOCUMENT_KINDS, recognise

    result = recognise("id_front", upload.read())  # ValidationError for a bad image (Chinese message)
    for field in result.fields:  # OcrField(key, label, value, confidence, error)
        ...
    upload.ocr = result.as_dict()  # JSON-able

Everything runs on this machine (RapidOCR with the ONNX models shipped in its wheel): no image or text
leaves it, and nothing is downloaded. The first call in a process loads the engine (about a second);
see ``engine.py`` for memory and threads, ``parsers.py`` for how fields are found and checked, and
``synthetic.py`` for drawn test documents.
"""

from __future__ import annotations

from .results import DOCUMENT_KINDS, OcrField, OcrResult

__all__ = ["DOCUMENT_KINDS", "OcrField", "OcrResult", "recognise"]


def recognise(kind: str, image: bytes) -> OcrResult:
    """Read a JPEG/PNG image of document ``kind`` (a key of DOCUMENT_KINDS) and pick out its fields.

    Raises ValueError for an unknown kind and ``django.core.exceptions.ValidationError`` (Chinese
    message) for bytes that are not a JPG/PNG image, are over 10 MB or cannot be decoded.
    """
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(DOCUMENT_KINDS)}")
    from .engine import read_lines
    from .parsers import parse

    lines = read_lines(image)
    return OcrResult(kind=kind, fields=parse(kind, lines), lines=[(text, conf) for text, conf, _box in lines])
