"""What a letter typed by forms/ looks like on the aligned page, to tell the letters the product
printed from one a hand wrote over (the prefilled check in scan/read.py).

forms/ types every value in one font at one size (forms.draw: TYPED_FONT_FILE, TYPED_FONT_SIZE).
A page comes back at 150 to 600 dpi, in grey or bilevel, and is aligned onto the 200 dpi raster:
a letter's edges fall at any fraction of a pixel and, on a bilevel scan, are hard steps. A template
drawn straight at 200 dpi misses on all three counts (FreeType's hinting bends a 31-pixel glyph,
its edges sit on whole pixels, it is grey): a clean 6 matched its own template at 0.81 (issue 11).
So the template is the font's outline drawn GLYPH_SUPERSAMPLE times larger, where hinting no
longer shows, averaged down to 200 dpi at GLYPH_PHASES x GLYPH_PHASES sub-pixel offsets, and the
cell and the templates are softened by the same Gaussian, which makes a grey and a bilevel scan
of the same letter alike. Any character the font draws is made the same way: there is no list of
letters here, a new one in the form's alphabet needs nothing.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from scan import thresholds as t


def typed_font_file(char: str) -> Path | None:
    """The font file forms/ typed `char` with, or None if it is not installed (forms/ then falls
    back to a built-in PDF font, which we cannot draw: the check is skipped)."""
    from forms.draw import TYPED_FONT_FILE

    return TYPED_FONT_FILE if TYPED_FONT_FILE.exists() else None


@lru_cache(maxsize=1024)
def glyph_templates(char: str) -> tuple[np.ndarray, ...] | None:
    """`char` as forms/ prints it, at the working resolution: one softened float32 template per
    sub-pixel phase, cut to the letter's ink plus GLYPH_MARGIN_PX. None if the font is missing or
    the character has no ink (a space)."""
    from PIL import Image, ImageDraw, ImageFont

    from forms.draw import TYPED_FONT_SIZE

    path = typed_font_file(char)
    if path is None:
        return None
    k = t.GLYPH_SUPERSAMPLE
    font = ImageFont.truetype(str(path), TYPED_FONT_SIZE * t.WORKING_DPI / 72 * k)  # a float size: no rounding
    left, top, right, bottom = font.getbbox(char)
    if right <= left or bottom <= top:
        return None
    pad = (t.GLYPH_MARGIN_PX + 1) * k
    width = -(-(right - left + 2 * pad) // k) * k  # whole output pixels
    height = -(-(bottom - top + 2 * pad) // k) * k
    step = k // t.GLYPH_PHASES
    out = []
    for dy in range(0, k, step):
        for dx in range(0, k, step):
            canvas = Image.new("L", (width, height), 255)
            ImageDraw.Draw(canvas).text((pad - left + dx, pad - top + dy), char, font=font, fill=0)
            small = cv2.resize(np.asarray(canvas), (width // k, height // k), interpolation=cv2.INTER_AREA)
            out.append(_softened(small))
    if min(float(g.min()) for g in out) > 250:  # the font has no ink for it
        return None
    return tuple(out)


def glyph_match(interior: np.ndarray, char: str) -> float:
    """How much the cell interior looks like the typed `char`: the best normalised correlation of
    its templates anywhere in the interior (1 = the same; a clean print scores above 0.95 at any
    resolution, grey or bilevel). 1.0 when the font is missing (nothing to compare with)."""
    templates = glyph_templates(char)
    if templates is None:
        return 1.0
    gh, gw = templates[0].shape
    pad_y, pad_x = max(0, gh - interior.shape[0] + 2), max(0, gw - interior.shape[1] + 2)
    paper = float(np.partition(interior.ravel(), int(interior.size * 0.9))[int(interior.size * 0.9)]) if interior.size else 255.0
    area = cv2.copyMakeBorder(interior, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=paper)
    area = _softened(area)
    if area.std() < 1:  # paper only
        return 0.0
    return max(float(cv2.matchTemplate(area, g, cv2.TM_CCOEFF_NORMED).max()) for g in templates)


def _softened(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), t.GLYPH_BLUR_SIGMA)
