"""The OCR engine: RapidOCR (PP-OCRv6 detection and recognition, text-direction classifier) on onnxruntime.

One engine per process, created on first use under a lock and kept (about 1 s to load; ~250 MB
resident once loaded, ~450 MB after the first documents, peaks of 0.5–1 GB while reading one). The three
ONNX models ship inside the ``rapidocr`` wheel; their paths are given explicitly so that RapidOCR never
takes its download path, images reach it as decoded arrays, never as a path or URL, and onnxruntime's
telemetry is switched off: nothing is fetched or sent at run time. Once created the engine may be called from several threads at once
(onnxruntime sessions are thread-safe); each call uses ``LOANCRM_OCR_THREADS`` cores (default 1).
"""

from __future__ import annotations

import importlib.util
import io
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:  # importing rapidocr pulls in onnxruntime, OpenCV and numpy: only when OCR is used
    import numpy as np
    from rapidocr import RapidOCR

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "decode_image", "get_engine", "model_paths", "read_lines"]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel photo; larger is a decompression bomb, not a document

_NOT_AN_IMAGE = _("图片无法识别：不是 JPG/PNG 图片")
_BROKEN = _("图片无法识别：文件已损坏或不完整")
_EMPTY = _("图片无法识别：文件是空的")
_TOO_LARGE = _("图片太大：请上传 10 MB 以内的 JPG/PNG 图片")
_TOO_MANY_PIXELS = _("图片尺寸过大：请上传 5000 万像素以内的图片")

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_engine: RapidOCR | None = None
_engine_lock = threading.Lock()


def model_paths() -> dict[str, Path]:
    """The detection, classification and recognition models inside the installed rapidocr package."""
    spec = importlib.util.find_spec("rapidocr")  # located, not imported: importing starts onnxruntime
    if spec is None or spec.origin is None:
        raise RuntimeError("the rapidocr package is not installed")
    models = Path(spec.origin).resolve().parent / "models"
    return {
        "Det": models / "PP-OCRv6_det_small.onnx",
        "Cls": models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        "Rec": models / "PP-OCRv6_rec_small.onnx",
    }


def _threads() -> int:
    try:
        return max(1, min(int(os.environ.get("LOANCRM_OCR_THREADS", "1")), os.cpu_count() or 1))
    except ValueError:
        return 1


def _quiet_onnxruntime() -> None:
    """Turn off onnxruntime's usage telemetry (1.32 on Linux stores events under ~/.cache/Microsoft and
    uploads them over HTTPS). The variable is read when onnxruntime initialises, so this runs before the
    first import; the API call covers a process that imported onnxruntime earlier."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime

    disable = getattr(onnxruntime, "disable_telemetry_events", None)
    if disable is not None:
        disable()


def _create() -> RapidOCR:
    _quiet_onnxruntime()
    from rapidocr import RapidOCR

    paths = model_paths()
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        # The wheel ships them; their absence means a broken install, never a reason to download.
        raise RuntimeError("OCR models missing from the rapidocr package: " + ", ".join(missing))
    threads = _threads()
    params = {
        "Global.log_level": "error",  # an empty page is a result, not a warning
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        # Keep fainter text regions (default 0.5): a lone 男/女 beside 性别 is otherwise sometimes missed.
        "Det.box_thresh": 0.3,
        **{f"{task}.model_path": str(path) for task, path in paths.items()},
    }
    engine = RapidOCR(params=params)
    # RapidOCR loads each model on its first use; load them now so that the first document is not slower.
    for loader in ("_load_det_model", "_load_cls_model", "_load_rec_model"):
        if hasattr(engine, loader):
            getattr(engine, loader)()
    return engine


def get_engine() -> RapidOCR:
    """The process-wide engine, created on the first call (thread-safe)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = _create()
    return _engine


def decode_image(image: bytes) -> np.ndarray:
    """JPEG or PNG bytes → a BGR array (EXIF rotation applied); ValidationError with a Chinese message else."""
    import numpy as np
    from PIL import Image, ImageOps

    if isinstance(image, (bytearray, memoryview)):
        image = bytes(image)
    if not isinstance(image, bytes):
        raise ValidationError(_NOT_AN_IMAGE, code="not_an_image")
    if not image:
        raise ValidationError(_EMPTY, code="empty")
    if len(image) > MAX_IMAGE_BYTES:
        raise ValidationError(_TOO_LARGE, code="too_large")
    if not (image.startswith(_JPEG_MAGIC) or image.startswith(_PNG_MAGIC)):
        raise ValidationError(_NOT_AN_IMAGE, code="not_an_image")
    try:
        with Image.open(io.BytesIO(image), formats=("JPEG", "PNG", "MPO")) as picture:
            width, height = picture.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValidationError(_TOO_MANY_PIXELS, code="too_many_pixels")
            picture.load()
            picture = ImageOps.exif_transpose(picture) or picture
            rgb = np.asarray(picture.convert("RGB"))
    except ValidationError:
        raise
    except Image.DecompressionBombError:
        raise ValidationError(_TOO_MANY_PIXELS, code="too_many_pixels") from None
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError… for broken files
        raise ValidationError(_BROKEN, code="broken") from None
    if min(rgb.shape[:2]) < 16:
        raise ValidationError(_BROKEN, code="broken")
    return np.ascontiguousarray(rgb[:, :, ::-1])


def read_lines(image: bytes) -> list[tuple[str, float, list[list[float]]]]:
    """The text lines in a JPEG/PNG image: [(text, confidence, box)], box = four [x, y] corners, top to bottom."""
    array = decode_image(image)
    output = get_engine()(array)
    if output.boxes is None or output.txts is None:
        return []
    return [
        (str(text), float(score), [[float(x), float(y)] for x, y in box])
        for text, score, box in zip(output.txts, output.scores, output.boxes, strict=True)
    ]
