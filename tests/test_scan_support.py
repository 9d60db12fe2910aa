"""Shared material of the scan tests: real forms rendered by forms/, scanned-like damage, handprint.

Not a test module by itself (pytest collects it and finds no tests); the scan test files import
its fixtures. Rendering is done once per session: forms/ draws the PDFs, pypdfium2 rasterizes
them at 200 dpi, the damage is a known geometric transform plus blur, noise and JPEG so that
alignment can be checked against the truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from scan.align import box_to_px
from scan.load import load_pages
from templates.spec import load_form

EXAMPLE_DOCUMENT = Path(__file__).resolve().parent.parent / "samples" / "prefill-example.json"


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> dict:
    """PDFs drawn by forms/ once per session, and their pages at 200 dpi."""
    from forms.render import blank_pdf, prefill_pdf, separator_pdf

    out = tmp_path_factory.mktemp("scan-forms")
    document = json.loads(EXAMPLE_DOCUMENT.read_text(encoding="utf-8"))
    other = json.loads(json.dumps(document))
    other["fields"]["family_name"] = "OUÉDRAOGO"
    other["fields"]["given_names"] = "AÏSSATOU"
    paths = {
        "blank": blank_pdf(out / "blank.pdf"),
        "prefill": prefill_pdf(document, out / "prefill.pdf"),
        "prefill_other": prefill_pdf(other, out / "prefill-other.pdf"),
    }
    serials = separator_pdf(out / "separators.pdf", count=3)
    paths["separators"] = out / "separators.pdf"
    pages = {name: [p.pixels for p in load_pages(path)] for name, path in paths.items()}
    return {"dir": out, "paths": paths, "pages": pages, "document": document, "other": other, "serials": serials}


def scan_damage(image: np.ndarray, *, angle: float = 1.5, scale: float = 1.02, shift=(9.0, -6.0), blur: float = 0.9,
                noise: float = 5.0, jpeg: int | None = 70, seed: int = 0, pad: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """The page as a scanner might return it, and the 3x3 map from the page's pixels to the scan's."""
    rng = np.random.default_rng(seed)
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    h, w = padded.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += shift
    out = cv2.warpAffine(padded, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    if blur:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    if noise:
        out = np.clip(out + rng.normal(0, noise, out.shape), 0, 255).astype(np.uint8)
    if jpeg:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        out = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    to_scan = np.vstack([m, [0, 0, 1]]) @ np.array([[1, 0, pad], [0, 1, pad], [0, 0, 1]], dtype=np.float64)
    return out, to_scan


def turn(image: np.ndarray, quarter_turns_clockwise: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image, -quarter_turns_clockwise))


def write_png(path: Path, image: np.ndarray, dpi: int = 200) -> Path:
    from PIL import Image

    Image.fromarray(image).save(path, dpi=(dpi, dpi))
    return path


def handwrite(image: np.ndarray, page_index: int, values: dict, *, seed: int = 1, font_name: str | None = None,
              tick_style: str = "x", form_id: str = "csq-rtq") -> np.ndarray:
    """A copy of a 200 dpi page with `values` written by a synthetic hand (samples/handprint)."""
    from samples import handprint

    rng = np.random.default_rng(seed)
    font = handprint.font_by_name(font_name) if font_name else handprint.HOLDOUT_FONTS[0]
    page = load_form(form_id).pages[page_index]
    out = image.copy()
    for f in page.fields:
        value = values.get(f.name)
        if value in (None, "", False):
            continue
        if f.type in ("text", "digits", "date"):
            text = value.replace("-", "") if f.type == "date" else value
            handprint.write_text_into(out, text, [box_to_px(page, c) for c in f.cells], font=font, rng=rng)
        elif f.type == "choice":
            option = next(o for o in f.options if o.value == value)
            handprint.draw_tick(out, box_to_px(page, option.box), style=tick_style, rng=rng)
        elif f.type == "checkbox":
            handprint.draw_tick(out, box_to_px(page, f.box), style=tick_style, rng=rng)
        elif f.type == "signature":
            handprint.draw_signature(out, box_to_px(page, f.box), rng)
    return out
