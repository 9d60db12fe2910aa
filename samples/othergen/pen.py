"""Capitals and digits drawn as pen strokes, and accents as separate strokes of their own.

A different hand from samples.handprint on purpose: no font outlines (or, for some writers,
system fonts that handprint never uses), each letter a few polylines in a unit box (x right,
y down, 0..1) bent by the writer's slant, size, aspect and a wobble of every point, drawn with
cv2 at the sheet's own dpi. Accents are never part of a glyph: a letter is decomposed (NFD) and
each mark is a stroke placed above or below it with its own size, angle and offset, sometimes
touching the box line or crossing above the cell.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Stroke = list[tuple[float, float]]
CV_SHIFT = 4  # cv2 sub-pixel bits: points are scaled by 16
CV_SCALE = 1 << CV_SHIFT


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 18) -> Stroke:
    """An elliptic arc from angle a0 to a1 (degrees, 0 = right, 90 = down: image coordinates)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in np.linspace(a0, a1, n)]


# Each glyph: the strokes a pen makes, in a unit box. Variants are alternatives people use.
GLYPHS: dict[str, tuple[list[Stroke], ...]] = {
    "A": ([[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.62), (0.78, 0.62)]],
          [[(0, 1), (0.45, 0), (0.55, 0), (1, 1)], [(0.25, 0.55), (0.8, 0.58)]]),
    "B": ([[(0, 0), (0, 1)], [(0, 0), (0.6, 0), (0.85, 0.1), (0.85, 0.36), (0.6, 0.47), (0, 0.47)],
           [(0.6, 0.47), (0.92, 0.58), (0.95, 0.86), (0.7, 1), (0, 1)]],),
    "C": ([_arc(0.55, 0.5, 0.5, 0.5, -45, -315)],),
    "D": ([[(0, 0), (0, 1)], [(0, 0), (0.5, 0.02), (0.88, 0.25), (0.97, 0.5), (0.88, 0.75), (0.5, 0.98), (0, 1)]],),
    "E": ([[(0.9, 0), (0, 0), (0, 1), (0.92, 1)], [(0, 0.5), (0.7, 0.5)]],
          [[(0.9, 0), (0, 0), (0, 1), (0.92, 1)], [(0, 0.47), (0.55, 0.47)]]),
    "F": ([[(0.9, 0), (0, 0), (0, 1)], [(0, 0.48), (0.7, 0.48)]],),
    "G": ([_arc(0.55, 0.5, 0.5, 0.5, -40, -330) + [(0.98, 0.55), (0.6, 0.55)]],
          [_arc(0.55, 0.5, 0.5, 0.5, -45, -340), [(0.55, 0.58), (1.0, 0.58), (1.0, 1.0)]]),
    "H": ([[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],),
    "I": ([[(0.5, 0), (0.5, 1)]], [[(0.5, 0), (0.5, 1)], [(0.15, 0), (0.85, 0)], [(0.15, 1), (0.85, 1)]]),
    "J": ([[(0.85, 0), (0.85, 0.72), (0.7, 0.95), (0.45, 1), (0.2, 0.92), (0.08, 0.72)]],
          [[(0.3, 0), (1, 0)], [(0.7, 0), (0.7, 0.8), (0.5, 1), (0.15, 0.9)]]),
    "K": ([[(0, 0), (0, 1)], [(0.95, 0), (0, 0.6)], [(0.3, 0.42), (1, 1)]],
          [[(0, 0), (0, 1)], [(0.9, 0), (0.05, 0.52), (0.95, 1)]]),
    "L": ([[(0, 0), (0, 1), (0.85, 1)]],),
    "M": ([[(0, 1), (0.05, 0), (0.5, 0.65), (0.95, 0), (1, 1)]], [[(0, 1), (0, 0), (0.5, 1), (1, 0), (1, 1)]]),
    "N": ([[(0, 1), (0, 0), (1, 1), (1, 0)]],),
    "O": ([_arc(0.5, 0.5, 0.5, 0.5, -90, 275, 24)],),
    "P": ([[(0, 1), (0, 0), (0.62, 0), (0.9, 0.12), (0.92, 0.38), (0.62, 0.52), (0, 0.52)]],),
    "Q": ([_arc(0.5, 0.5, 0.5, 0.5, -90, 275, 24), [(0.58, 0.68), (1.02, 1.05)]],),
    "R": ([[(0, 1), (0, 0), (0.62, 0), (0.9, 0.12), (0.92, 0.38), (0.62, 0.52), (0, 0.52)], [(0.4, 0.52), (1, 1)]],
          [[(0, 1), (0, 0), (0.62, 0), (0.9, 0.12), (0.92, 0.38), (0.62, 0.52), (0.05, 0.52), (1, 1)]]),
    "S": ([[(0.92, 0.14), (0.7, 0), (0.3, 0), (0.08, 0.14), (0.1, 0.36), (0.35, 0.47), (0.68, 0.54), (0.92, 0.66),
            (0.92, 0.88), (0.7, 1), (0.3, 1), (0.04, 0.86)]],),
    "T": ([[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],),
    "U": ([[(0, 0), (0, 0.72), (0.15, 0.95), (0.5, 1), (0.85, 0.95), (1, 0.72), (1, 0)]],
          [[(0, 0), (0, 0.72), (0.15, 0.95), (0.5, 1), (0.85, 0.95), (1, 0.72), (1, 0), (1, 1)]]),
    "V": ([[(0, 0), (0.5, 1), (1, 0)]],),
    "W": ([[(0, 0), (0.25, 1), (0.5, 0.3), (0.75, 1), (1, 0)]], [[(0, 0), (0.2, 1), (0.5, 0), (0.8, 1), (1, 0)]]),
    "X": ([[(0, 0), (1, 1)], [(1, 0), (0, 1)]],),
    "Y": ([[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]], [[(0, 0), (0.5, 0.5)], [(1, 0), (0.2, 1)]]),
    "Z": ([[(0, 0), (1, 0), (0, 1), (1, 1)]], [[(0, 0), (1, 0), (0, 1), (1, 1)], [(0.25, 0.5), (0.75, 0.5)]]),
    "0": ([_arc(0.5, 0.5, 0.45, 0.5, -100, 265, 24)],),
    "1": ([[(0.2, 0.22), (0.6, 0), (0.6, 1)]], [[(0.55, 0), (0.5, 1)]], [[(0.25, 0.2), (0.6, 0), (0.6, 1)], [(0.25, 1), (0.9, 1)]]),
    "2": ([[(0.08, 0.22), (0.3, 0.02), (0.7, 0.02), (0.9, 0.2), (0.86, 0.42), (0.05, 1), (0.95, 1)]],),
    "3": ([[(0.08, 0.12), (0.4, 0), (0.8, 0.05), (0.9, 0.22), (0.75, 0.42), (0.4, 0.48)],
           [(0.4, 0.48), (0.8, 0.55), (0.95, 0.75), (0.8, 0.95), (0.4, 1), (0.05, 0.9)]],
          [[(0.05, 0), (0.9, 0), (0.4, 0.42), (0.8, 0.55), (0.95, 0.78), (0.75, 0.97), (0.4, 1), (0.05, 0.9)]]),
    "4": ([[(0.72, 1), (0.72, 0), (0.0, 0.68), (1, 0.68)]], [[(0.1, 0), (0, 0.62), (1, 0.62)], [(0.75, 0.25), (0.75, 1)]]),
    "5": ([[(0.9, 0), (0.15, 0), (0.1, 0.45), (0.5, 0.38), (0.85, 0.5), (0.95, 0.72), (0.8, 0.95), (0.45, 1), (0.05, 0.9)]],
          [[(0.15, 0), (0.1, 0.45), (0.5, 0.38), (0.85, 0.5), (0.95, 0.72), (0.8, 0.95), (0.45, 1), (0.05, 0.9)],
           [(0.15, 0), (0.9, 0)]]),
    "6": ([[(0.85, 0.05), (0.5, 0), (0.2, 0.2), (0.05, 0.6), (0.15, 0.92), (0.5, 1), (0.85, 0.9), (0.92, 0.68),
            (0.75, 0.5), (0.45, 0.45), (0.12, 0.6)]],),
    "7": ([[(0, 0), (1, 0), (0.35, 1)]], [[(0, 0), (1, 0), (0.4, 1)], [(0.3, 0.5), (0.85, 0.5)]],
          [[(0, 0.15), (0.05, 0), (1, 0), (0.45, 1)]]),
    "8": ([_arc(0.5, 0.25, 0.36, 0.25, 90, 455, 18), _arc(0.5, 0.72, 0.44, 0.28, -90, 275, 18)],),
    "9": ([_arc(0.5, 0.3, 0.42, 0.3, 0, 365, 18), [(0.92, 0.3), (0.88, 0.7), (0.65, 1)]],
          [_arc(0.5, 0.3, 0.42, 0.3, 0, 365, 18), [(0.92, 0.3), (0.92, 1)]]),
    "-": ([[(0.15, 0.55), (0.85, 0.5)]],),
    "'": ([[(0.55, 0), (0.45, 0.3)]],),
    ".": ([[(0.45, 0.93), (0.55, 0.97)]],),
    "/": ([[(0.9, 0), (0.1, 1)]],),
    "@": ([_arc(0.55, 0.55, 0.2, 0.22, 0, 360, 12),
           [(0.75, 0.35), (0.75, 0.72), (0.92, 0.75), (1, 0.5)] + _arc(0.5, 0.5, 0.5, 0.5, 0, -300, 20)],),
}
# Letters with a stroke of their own that Unicode does not decompose.
EXTRA_STROKE = {"Ø": ("O", [(0.98, -0.08), (0.02, 1.08)]), "Ł": ("L", [(-0.12, 0.68), (0.45, 0.32)]),
                "Đ": ("D", [(-0.15, 0.5), (0.35, 0.5)])}
LIGATURES = {"Œ": "OE", "Æ": "AE"}
ABOVE = {"\u0301": "acute", "\u0300": "grave", "\u0302": "circumflex", "\u0303": "tilde", "\u0308": "diaeresis",
         "\u030a": "ring", "\u030c": "caron", "\u0306": "breve", "\u0307": "dot", "\u030b": "double_acute",
         "\u0304": "macron"}
BELOW = {"\u0327": "cedilla", "\u0328": "ogonek", "\u0323": "dot_below"}


def decompose(char: str) -> tuple[str, list[str], list[str], Stroke | None]:
    """A capital as its base letter, the marks above, the marks below and any extra stroke."""
    if char in EXTRA_STROKE:
        base, stroke = EXTRA_STROKE[char]
        return base, [], [], stroke
    parts = unicodedata.normalize("NFD", char)
    base = parts[0]
    return base, [ABOVE[m] for m in parts[1:] if m in ABOVE], [BELOW[m] for m in parts[1:] if m in BELOW], None


def has_glyph(char: str) -> bool:
    if char == " ":
        return True
    if char in LIGATURES:
        return True
    base, *_ = decompose(char)
    return base in GLYPHS


def _mark_strokes(mark: str, rng: np.random.Generator) -> list[Stroke]:
    """An accent in its own unit box (0..1 both ways, centred at 0.5)."""
    if mark == "acute":
        return [[(0.25, 1), (0.75, 0)]]
    if mark == "grave":
        return [[(0.25, 0), (0.75, 1)]]
    if mark == "circumflex":
        return [[(0, 1), (0.5, 0), (1, 1)]]
    if mark == "caron":
        return [[(0, 0), (0.5, 1), (1, 0)]]
    if mark == "tilde":
        return [[(0, 0.8), (0.2, 0.15), (0.45, 0.3), (0.6, 0.75), (0.8, 0.85), (1, 0.2)]]
    if mark == "diaeresis":
        return [[(0.1, 0.45), (0.2, 0.6)], [(0.8, 0.45), (0.9, 0.6)]] if rng.random() < 0.6 else [[(0.15, 0.2), (0.15, 0.8)], [(0.85, 0.2), (0.85, 0.8)]]
    if mark == "ring":
        return [_arc(0.5, 0.5, 0.4, 0.45, 0, 370, 12)]
    if mark == "breve":
        return [_arc(0.5, 0.1, 0.5, 0.8, 160, 20, 8)]
    if mark in ("dot", "dot_below"):
        return [[(0.45, 0.45), (0.55, 0.6)]]
    if mark == "double_acute":
        return [[(0.05, 1), (0.4, 0)], [(0.6, 1), (0.95, 0)]]
    if mark == "macron":
        return [[(0, 0.5), (1, 0.5)]]
    if mark == "cedilla":
        return [[(0.5, 0), (0.55, 0.45), (0.85, 0.6), (0.7, 0.95), (0.25, 1)]] if rng.random() < 0.6 else [[(0.5, 0), (0.3, 1)]]
    if mark == "ogonek":
        return [[(0.7, 0), (0.35, 0.5), (0.5, 0.95), (0.85, 0.85)]]
    raise KeyError(mark)


# ------------------------------------------------------------------------------ writers

# System fonts samples.handprint does not use (neither its training nor its held-out hands).
OTHER_FONTS = (
    "/usr/share/fonts/truetype/fifthhorseman/dkgIt.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf",
    "/usr/share/fonts/truetype/breip/breipfont.ttf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Light.otf",
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Bold.otf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Italic.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Oblique.ttf",
)


@dataclass(frozen=True)
class Writer:
    """One person's hand: everything about how they write, drawn once per envelope."""

    font: str | None  # a system font file, or None: pen strokes
    variants: tuple[int, ...]  # which variant of each glyph (index by hash of the char)
    height: float  # letter height, share of the cell height
    aspect: float  # width over height
    slant: float  # shear, tan of the angle (positive leans right)
    wobble: float  # point jitter, share of the letter height
    pen: float  # pen width, share of the cell height
    ink: int  # grey of the ink (0 black .. 120 light blue ballpoint)
    accent_size: float  # share of the cell height
    accent_high: float  # how far above the letter the accent floats, share of the cell height
    accent_tilt: float  # degrees
    stray: float  # chance a letter strays over the box line into the neighbour or above
    shrink_accented: bool  # writes accented letters smaller to leave room (or not: the accent climbs out)

    def to_json(self) -> dict:
        return {"font": self.font.rsplit("/", 1)[-1] if self.font else "strokes", "height": round(self.height, 3),
                "slant": round(self.slant, 3), "pen": round(self.pen, 3), "ink": self.ink,
                "accent_size": round(self.accent_size, 3), "accent_high": round(self.accent_high, 3),
                "stray": round(self.stray, 3), "shrink_accented": self.shrink_accented}


def sample_writer(rng: np.random.Generator, *, font_share: float = 0.3) -> Writer:
    font = OTHER_FONTS[int(rng.integers(len(OTHER_FONTS)))] if rng.random() < font_share else None
    return Writer(
        font=font,
        variants=tuple(int(v) for v in rng.integers(0, 6, size=64)),
        height=float(rng.uniform(0.5, 0.88)),
        aspect=float(rng.uniform(0.55, 0.9)),
        slant=float(math.tan(math.radians(rng.uniform(-8, 18)))),
        wobble=float(rng.uniform(0.01, 0.05)),
        pen=float(rng.uniform(0.035, 0.11)),
        ink=int(rng.choice([int(rng.integers(0, 40)), int(rng.integers(50, 120))], p=[0.65, 0.35])),
        accent_size=float(rng.uniform(0.12, 0.32)),
        accent_high=float(rng.uniform(0.0, 0.14)),
        accent_tilt=float(rng.uniform(-20, 20)),
        stray=float(rng.choice([0.0, rng.uniform(0.02, 0.12)], p=[0.5, 0.5])),
        shrink_accented=bool(rng.random() < 0.6),
    )


def _draw(ink: np.ndarray, strokes: list[np.ndarray], width_px: float, grey: int) -> None:
    thickness = max(1, int(round(width_px)))
    for s in strokes:
        if len(s) < 2:
            continue
        pts = np.round(s * CV_SCALE).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(ink, [pts], False, int(grey), thickness, cv2.LINE_AA, CV_SHIFT)


def _place(strokes: list[Stroke], box: tuple[float, float, float, float], slant: float, wobble: float,
           rng: np.random.Generator) -> list[np.ndarray]:
    """Unit-box strokes into a pixel box (x, y, w, h), sheared by the slant, each point wobbled."""
    x, y, w, h = box
    out = []
    for s in strokes:
        p = np.array(s, dtype=np.float64)
        if len(p) > 2:  # resample long strokes so the wobble bends them, not only their corners
            t = np.linspace(0, len(p) - 1, max(len(p), 10))
            p = np.stack([np.interp(t, np.arange(len(p)), p[:, 0]), np.interp(t, np.arange(len(p)), p[:, 1])], axis=1)
        noise = rng.normal(0, wobble, size=p.shape)
        noise = cv2.GaussianBlur(noise, (1, 5), 0) if len(p) >= 5 else noise
        p = p + noise
        px = x + p[:, 0] * w + (1 - p[:, 1]) * h * slant
        py = y + p[:, 1] * h
        out.append(np.stack([px, py], axis=1))
    return out


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _font_letter(ink: np.ndarray, char: str, writer: Writer, box: tuple[float, float, float, float],
                 rng: np.random.Generator) -> bool:
    """A letter typeset in the writer's system font into the pixel box; False if it has none."""
    x, y, w, h = box
    size = max(8, int(round(h * 1.35)))
    font = _font(writer.font, size)
    left, top, right, bottom = font.getbbox(char)
    if right - left <= 0 or bottom - top <= 0:
        return False
    mask = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(mask).text((2 - left, 2 - top), char, font=font, fill=255)
    glyph = np.asarray(mask)
    scale = h / max(1, glyph.shape[0])
    gw = max(1, int(round(glyph.shape[1] * scale * (writer.aspect / 0.7))))
    gw = min(gw, int(w * 1.3) + 1)
    glyph = cv2.resize(glyph, (gw, max(1, int(round(h)))), interpolation=cv2.INTER_AREA)
    # The writer's pen, not the font's weight: a thin font's hairlines thickened to the pen.
    grow = int(round(writer.pen * h / 2))
    if grow >= 1:
        glyph = cv2.dilate(glyph, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow + 1, grow + 1)))
    shear = np.float32([[1, -writer.slant, writer.slant * glyph.shape[0]], [0, 1, 0]])
    extra = int(abs(writer.slant) * glyph.shape[0]) + 1
    glyph = cv2.warpAffine(glyph, shear, (glyph.shape[1] + extra, glyph.shape[0]))
    x0 = int(round(x + (w - glyph.shape[1]) / 2 + rng.normal(0, 0.03 * w)))
    y0 = int(round(y))
    _lay(ink, glyph, x0, y0, writer.ink)
    return True


def _lay(ink: np.ndarray, coverage: np.ndarray, x0: int, y0: int, grey: int) -> None:
    h, w = coverage.shape
    H, W = ink.shape[:2]
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    cov = coverage[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0].astype(np.float32) / 255.0
    region = ink[ay0:ay1, ax0:ax1]
    inked = (255.0 - cov * (255.0 - grey)).astype(np.uint8)
    np.minimum(region, inked, out=region)


def write_char(ink: np.ndarray, char: str, cell: tuple[int, int, int, int], writer: Writer, rng: np.random.Generator,
               *, neighbour_gap: int = 0) -> dict:
    """One capital in one comb cell (pixels x0, y0, x1, y1) on the ink layer (255 = no ink).
    Returns what was drawn where (for the truth and the tests): the letter's pixel box and
    the accents' boxes."""
    if char == " ":
        return {"char": char, "box": None, "marks": []}
    if char in LIGATURES:  # two letters squeezed in one box
        x0, y0, x1, y1 = cell
        mid = (x0 + x1) // 2
        a = write_char(ink, LIGATURES[char][0], (x0, y0, mid + 2, y1), writer, rng)
        write_char(ink, LIGATURES[char][1], (mid - 2, y0, x1, y1), writer, rng)
        return {"char": char, "box": a["box"], "marks": []}
    x0, y0, x1, y1 = cell
    cw, ch = x1 - x0, y1 - y0
    base, above, below, extra = decompose(char)
    jitter = rng.normal(0, 0.04)
    height = float(np.clip(writer.height + jitter, 0.4, 0.95))
    accented = bool(above or below)
    if accented and writer.shrink_accented:
        height *= float(rng.uniform(0.7, 0.85))
    lh = height * ch
    lw = min(writer.aspect * lh * float(rng.uniform(0.9, 1.1)), 0.86 * cw)
    if base in "IJ1'.-/":
        lw = min(lw, 0.5 * cw) if base in "I1'." else lw
    # Where the letter sits: low in the cell if it carries an accent and the writer makes room.
    free_y = ch - lh
    if above and writer.shrink_accented:
        top = y0 + free_y * float(rng.uniform(0.65, 0.95))
    elif below:
        top = y0 + free_y * float(rng.uniform(0.1, 0.4))
    else:
        top = y0 + free_y * float(rng.uniform(0.3, 0.7))
    left = x0 + (cw - lw) / 2 + rng.normal(0, 0.05 * cw) - writer.slant * lh / 2
    if rng.random() < writer.stray:  # over the box line, into the next cell or above it
        if rng.random() < 0.6:
            left += float(rng.choice([-1, 1])) * cw * float(rng.uniform(0.18, 0.3))
        else:
            top -= ch * float(rng.uniform(0.12, 0.25))
    pen = max(1.0, writer.pen * ch * float(rng.uniform(0.85, 1.15)))
    box = (left, top, lw, lh)
    drawn = False
    if writer.font is not None and base not in "'.":
        drawn = _font_letter(ink, base, writer, box, rng)
    if not drawn:
        options = GLYPHS[base]
        variant = options[writer.variants[ord(base) % len(writer.variants)] % len(options)]
        _draw(ink, _place(variant, box, writer.slant, writer.wobble, rng), pen, writer.ink)
    if extra is not None:
        _draw(ink, _place([extra], box, writer.slant, writer.wobble, rng), pen, writer.ink)
    marks = []
    for k, mark in enumerate(above):
        size = writer.accent_size * ch * float(rng.uniform(0.75, 1.3))
        aw = size * (1.3 if mark in ("diaeresis", "tilde", "double_acute", "macron", "breve") else 0.9)
        if mark in ("diaeresis", "double_acute"):  # two marks far enough apart to stay two at 150 dpi
            aw = max(aw, 0.3 * ch)
        ah = size * (0.45 if mark in ("tilde", "macron", "breve") else 0.8)
        gap = (writer.accent_high + float(rng.uniform(-0.04, 0.05))) * ch
        cx = left + lw / 2 + writer.slant * lh + rng.normal(0, 0.12 * lw)
        bottom = top - gap - k * ah * 1.1
        marks.append(_draw_mark(ink, mark, (cx - aw / 2, bottom - ah, aw, ah), writer, pen, rng))
    for mark in below:
        size = writer.accent_size * ch * float(rng.uniform(0.8, 1.2))
        cx = left + lw / 2 + rng.normal(0, 0.08 * lw) + (0.2 * lw if mark == "ogonek" else 0)
        marks.append(_draw_mark(ink, mark, (cx - size * 0.4, top + lh - pen / 2, size * 0.8, size), writer, pen, rng))
    return {"char": char, "box": [int(left), int(top), int(left + lw), int(top + lh)], "marks": marks}


def _draw_mark(ink: np.ndarray, mark: str, box: tuple[float, float, float, float], writer: Writer, pen: float,
               rng: np.random.Generator) -> dict:
    x, y, w, h = box
    strokes = _place(_mark_strokes(mark, rng), box, 0.0, writer.wobble * 0.5, rng)
    angle = math.radians(writer.accent_tilt + rng.normal(0, 6))
    cx, cy = x + w / 2, y + h / 2
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    strokes = [(s - (cx, cy)) @ rot.T + (cx, cy) for s in strokes]
    thin = max(1.5, pen * float(rng.uniform(0.8, 1.1)))  # thinner than a hair, no one would see it
    if mark in ("dot", "dot_below", "diaeresis"):
        thin = pen * float(rng.uniform(1.2, 1.8))
    _draw(ink, strokes, thin, writer.ink)
    return {"mark": mark, "box": [int(x), int(y), int(x + w), int(y + h)]}


def write_text(ink: np.ndarray, text: str, cells: list[tuple[int, int, int, int]], writer: Writer,
               rng: np.random.Generator) -> list[dict]:
    """`text` one capital per comb cell, from the first cell."""
    return [write_char(ink, ch, cell, writer, rng) for ch, cell in zip(text, cells)]
