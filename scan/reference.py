"""The template pages as the printer prints them, on the canonical raster: references for reading.

- `printed_mask`: where a blank page carries ink (labels, hints, lines), in either language,
  grown by a few pixels: ink found elsewhere near a field was put there by a hand;
- `blank_page`: the page rendered blank, for the feature-based alignment fallback.

Rendered once per process from forms/ (the same code that prints the paper), kept in memory.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from scan import thresholds as t
from scan.load import load_pages
from templates.spec import SEPARATOR_ID


@lru_cache(maxsize=8)
def _rendered(form_id: str, version: str, lang: str) -> tuple[np.ndarray, ...]:
    from forms.render import blank_pdf, separator_pdf  # forms/ needs reportlab: load it only when used

    with tempfile.TemporaryDirectory(prefix="csq-reference-") as tmp:
        out = Path(tmp) / "blank.pdf"
        if form_id == SEPARATOR_ID:
            separator_pdf(out, count=1, version=version, lang=lang)
        else:
            blank_pdf(out, lang=lang, version=version)
        return tuple(p.pixels for p in load_pages(out))


def blank_page(form_id: str, version: str, index: int, lang: str = "fr") -> np.ndarray:
    return _rendered(form_id, version, lang)[index]


@lru_cache(maxsize=16)
def printed_mask(form_id: str, version: str, index: int) -> np.ndarray:
    """True where the blank page (French or English edition) has printed ink, grown for slack."""
    mask = np.zeros_like(blank_page(form_id, version, index, "fr"), dtype=np.uint8)
    for lang in ("fr", "en"):
        mask |= (blank_page(form_id, version, index, lang) < t.LAYOUT_DARK_LEVEL).astype(np.uint8)
    size = 2 * t.PRINTED_MASK_DILATE_PX + 1
    grown = cv2.dilate(mask, np.ones((size, size), np.uint8)).astype(bool)
    grown.flags.writeable = False
    return grown
