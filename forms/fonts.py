"""Fonts that have the letters people's names are written with.

reportlab's built-in Helvetica and Courier know WinAnsi only: ŁUKASIEWICZ, ÇAĞLAYAN or NGUYỄN
would print with holes. Names, places and addresses (any Latin capital, templates/alphabet.py)
are drawn with DejaVu (fonts-dejavu-core, scripts/install.sh), registered once per process:
- typed values in comb boxes: DejaVu Sans Mono, and DejaVu Sans for the letters the monospaced
  face lacks (Vietnamese letters with two marks, Ǆ, ẞ...), one letter a box either way;
- free text (letters, labels with a name in them): Helvetica while it can say it, else DejaVu
  Sans, so the common letter costs no embedded font.
Only reportlab here (registry/ draws its letters with these and must not load opencv).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
TYPED_FONT = "CsqTyped"
TYPED_FONT_FILE = DEJAVU_DIR / "DejaVuSansMono.ttf"
TYPED_FALLBACK_FONT = "Courier"  # WinAnsi: the French capitals, not Ł or Ễ
# The proportional face of the same family: same cap height, every Latin capital but Ỽ Ỿ.
WIDE_FONT = "CsqLatin"
WIDE_FONT_FILE = DEJAVU_DIR / "DejaVuSans.ttf"
WIDE_BOLD_FONT = "CsqLatin-Bold"
WIDE_BOLD_FONT_FILE = DEJAVU_DIR / "DejaVuSans-Bold.ttf"
WIDE_OBLIQUE_FONT = "CsqLatin-Oblique"
WIDE_OBLIQUE_FONT_FILE = DEJAVU_DIR / "DejaVuSans-Oblique.ttf"
# A built-in font and the DejaVu face that stands in for it when a text needs more than WinAnsi.
_STAND_INS = {
    "Helvetica": (WIDE_FONT, WIDE_FONT_FILE),
    "Helvetica-Bold": (WIDE_BOLD_FONT, WIDE_BOLD_FONT_FILE),
    "Helvetica-Oblique": (WIDE_OBLIQUE_FONT, WIDE_OBLIQUE_FONT_FILE),
}


@lru_cache(maxsize=None)
def _registered(name: str, path: Path) -> TTFont | None:
    """The font registered with reportlab under `name`, or None if its file is not installed."""
    if not path.exists():
        return None
    font = TTFont(name, str(path))
    pdfmetrics.registerFont(font)
    return font


def _has(font: TTFont | None, ch: str) -> bool:
    return font is not None and ord(ch) in font.face.charToGlyph


def typed_font() -> str:
    """The registered font for typed values (DejaVu Sans Mono if installed, else Courier)."""
    return TYPED_FONT if _registered(TYPED_FONT, TYPED_FONT_FILE) else TYPED_FALLBACK_FONT


@lru_cache(maxsize=1024)
def typed_face(ch: str) -> tuple[str, Path | None]:
    """The font a typed letter is drawn with, and its file (what scan/ renders to compare the
    page with): the monospaced face if it has the letter, else DejaVu Sans if it has it."""
    mono = _registered(TYPED_FONT, TYPED_FONT_FILE)
    if mono is None:
        return TYPED_FALLBACK_FONT, None
    if not _has(mono, ch):
        wide = _registered(WIDE_FONT, WIDE_FONT_FILE)
        if _has(wide, ch):
            return WIDE_FONT, WIDE_FONT_FILE
    return TYPED_FONT, TYPED_FONT_FILE


@lru_cache(maxsize=1024)
def ink_top(ch: str) -> float:
    """How far the ink of `ch` rises above its baseline, in ems of the face typed_face chooses
    (A 0.73, É 0.93, Ễ 1.06 with its two marks); 0 without that face."""
    from PIL import ImageFont

    _, path = typed_face(ch)
    if path is None:
        return 0.0
    box = ImageFont.truetype(str(path), 1000).getbbox(ch, anchor="ls")
    return max(0.0, -box[1] / 1000)


def speaks_winansi(s: str) -> bool:
    """True if a built-in font (WinAnsi, cp1252) can draw every character of `s`."""
    try:
        s.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def text_font(s: str, font: str = "Helvetica") -> str:
    """`font` (a built-in Helvetica) if it can draw `s`, else its DejaVu stand-in, registered."""
    if speaks_winansi(s) or font not in _STAND_INS:
        return font
    name, path = _STAND_INS[font]
    return name if _registered(name, path) else font
