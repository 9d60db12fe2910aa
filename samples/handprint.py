"""Synthetic handprint: block capitals written one per comb box, ticks and signatures.

Used by the sample-envelope generator (to fill forms as a person would) and by the ICR
training script (scripts/train_icr.py) to make labelled cells. The fonts are split once,
here, into TRAIN_FONTS and HOLDOUT_FONTS: a held-out font stands in for a real pen the
model has never seen, so the recognizer's benchmark measures on HOLDOUT_FONTS only.

A font gives the shape of each letter; everything a pen adds is drawn on top: size, slant,
rotation, pen width, where in the box the letter lands, broken strokes, ink colour, and
accents added by hand (people write É as E plus a stroke, and several fonts lack the
accented capitals). All randomness comes from the caller's numpy Generator, so a seed
reproduces a sample exactly.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# --- the fonts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FontStyle:
    """A handwriting-like font standing in for one kind of hand."""

    name: str
    path: str
    hand: str  # what the letters look like, to choose a split of different character
    sketchy: bool = False  # drawn as hatched outlines: close them into solid strokes


_FONTS = "/usr/share/fonts"
BWHT = f"{_FONTS}/opentype/bwht"
HANDPRINT_FONTS: tuple[FontStyle, ...] = (
    FontStyle("bwht-build", f"{BWHT}/BecauseWeBuild-Regular.otf", "narrow felt-tip print"),
    FontStyle("bwht-connect", f"{BWHT}/BecauseWeConnect-Regular.otf", "tall marker print"),
    FontStyle("bwht-create", f"{BWHT}/BecauseWeCreate-Regular.otf", "small thin print"),
    FontStyle("bwht-learn", f"{BWHT}/BecauseWeLearn-Regular.otf", "wide bold print"),
    FontStyle("bwht-mentor", f"{BWHT}/BecauseWeMentor-Regular.otf", "small quirky print"),
    FontStyle("bwht-organize", f"{BWHT}/BecauseWeOrganize-Regular.otf", "wide thin pen print"),
    FontStyle("comic-regular", f"{_FONTS}/opentype/comic-neue/ComicNeue-Regular.otf", "round print"),
    FontStyle("comic-bold", f"{_FONTS}/opentype/comic-neue/ComicNeue-Bold.otf", "round bold print"),
    FontStyle("comic-light-italic", f"{_FONTS}/opentype/comic-neue/ComicNeue-LightItalic.otf",
              "slanted thin print"),
    FontStyle("dancing", f"{_FONTS}/opentype/dancingscript/DancingScript-Regular.otf", "script capitals"),
    FontStyle("kristi", f"{_FONTS}/truetype/kristi/Kristi.ttf", "narrow script capitals"),
    FontStyle("rufscript", f"{_FONTS}/truetype/rufscript/Rufscript010.ttf", "round marker print"),
    FontStyle("cabin-sketch", f"{_FONTS}/truetype/cabinsketch/CabinSketch-Bold.ttf", "rough strokes",
              sketchy=True),
    FontStyle("humor-sans", f"{_FONTS}/truetype/humor-sans/Humor-Sans.ttf", "xkcd-like wobbly print"),
    FontStyle("dkg", f"{_FONTS}/truetype/fifthhorseman/dkg.ttf", "angular tall brush print"),
    FontStyle("breip", f"{_FONTS}/truetype/breip/Breip.ttf", "thin sloppy print, open letters"),
    # More hands for training only (since icr-v5): thirteen fonts left the recognizer reading a third of
    # unseen hands' letters wrong; each of these is another person's print.
    FontStyle("purisa", f"{_FONTS}/opentype/tlwg/Purisa.otf", "even felt-tip print"),
    FontStyle("purisa-bold-oblique", f"{_FONTS}/opentype/tlwg/Purisa-BoldOblique.otf", "slanted bold print"),
    FontStyle("delphine", f"{_FONTS}/truetype/sjfonts/Delphine.ttf", "small quick slanted print"),
    FontStyle("klee", f"{_FONTS}/truetype/klee/KleeOne-Regular.ttf", "pencil print"),
    FontStyle("kiloji", f"{_FONTS}/truetype/kiloji/kiloji.ttf", "narrow upright print"),
    FontStyle("seto", f"{_FONTS}/truetype/seto/setofont.ttf", "rounded bold print"),
    FontStyle("yoz", f"{_FONTS}/truetype/yozvox-yozfont/YOzBA_.ttf", "wide careful print"),
    FontStyle("domestic-manners", f"{_FONTS}/truetype/dustin/Domestic_Manners.ttf", "bold uneven print"),
    FontStyle("tomson-talks", f"{_FONTS}/truetype/tomsontalks/TomsonTalks.ttf", "comic lettering"),
)
# Not used: femkeklaver (hollow outline letters, no pen writes that way), and the other
# variants of dkg and Breip (the same hand as a held-out font: they would leak it into training).

# Held out: three hands unlike each other and unlike most training fonts. Never trained on.
HOLDOUT_NAMES = ("humor-sans", "dkg", "breip")
HOLDOUT_FONTS: tuple[FontStyle, ...] = tuple(f for f in HANDPRINT_FONTS if f.name in HOLDOUT_NAMES)
TRAIN_FONTS: tuple[FontStyle, ...] = tuple(f for f in HANDPRINT_FONTS if f.name not in HOLDOUT_NAMES)


def font_by_name(name: str) -> FontStyle:
    for font in HANDPRINT_FONTS:
        if font.name == name:
            return font
    raise KeyError(f"no handprint font named {name!r}")


# --- every number that shapes the handwriting, in one place --------------------------------

CELL_PX = (42, 56)  # width, height of a comb cell at 200 dpi (15 x 20 pt)
SUPERSAMPLE_TARGET_PX = 160  # draw glyphs with cells about this tall, then shrink: smooth edges
CAP_HEIGHT_FRAC = (0.60, 0.95)  # height of a capital, share of the cell height
ACCENTED_SHRINK = (0.78, 1.0)  # writers shrink a letter that carries an accent
SLANT_DEG = (-12.0, 12.0)  # shear; positive leans right
ROTATION_DEG = 4.0  # +- per writer
PEN_WIDTH_FRAC = (0.035, 0.13)  # ballpoint (~0.3 mm) to felt pen (~1 mm), share of cell height
PEN_ADJUST_MAX = 0.45  # never thin a font's stroke by more than this share (it would vanish)
OFFSET_FRAC = (0.10, 0.08)  # usual x, y offset of the letter from the cell centre, share of cell
WANDER_PROB = 0.12  # the letter strays far enough to touch or cross the box line
WANDER_FRAC = (0.22, 0.16)
SKETCH_CLOSE_FRAC = 0.06  # closing kernel for hatched fonts, share of the font size
INSIDE_INSET_FRAC = 0.07  # otherwise the ink keeps this far (share of the cell) from the line
BROKEN_STROKE_PROB = 0.15  # a dry pen or a faint scan leaves gaps in strokes
COMPOSE_ACCENT_PROB = 0.5  # even if the font has É, half the writers draw the accent themselves
INK_BLACK = (5, 70)  # grey level of black ink after scanning
INK_BLUE = (60, 125)  # blue ballpoint scanned to grey is lighter
BLUE_PEN_PROB = 0.35
PEN_TEXTURE = (0.70, 1.0)  # pressure varies along a stroke
BOX_LINE_GREY = (100, 190)  # the printed comb: dropout-red lines scan to mid-grey (scan/thresholds.py)
WIDTH_FIT_FRAC = (0.72, 0.95)  # writers narrow a wide letter to fit the box: widest ink, share of cell
ACCENTED_FIT_FRAC = (0.85, 1.0)  # letter plus accent, share of the cell height
ASPECT = (0.82, 1.12)  # some hands write narrow, some wide
PER_CHAR_JITTER = {"size": 0.06, "slant": 3.0, "rotation": 2.5, "offset": 0.05}
TICK_STYLES = ("x", "check", "fill", "dot", "cancelled")

# How a hand writes each accent: the base capital plus these marks. ACCENT_MARKS are the
# French ones (scripts/train_icr.py asks this dict whether handprint draws a class; it draws
# the others its own way); MARKS_BEYOND_FRENCH are what a passport from elsewhere prints
# (Á Ñ Ã Å Ş Ğ İ Č Ő Ą, the Vietnamese tone marks), written here so a name is drawn as given.
ACCENT_MARKS = {
    "\u0300": "grave",
    "\u0301": "acute",
    "\u0302": "circumflex",
    "\u0308": "diaeresis",
    "\u0327": "cedilla",
}
MARKS_BEYOND_FRENCH = {
    "\u0303": "tilde",
    "\u0304": "macron",
    "\u0306": "breve",
    "\u0307": "dot",
    "\u0309": "hook",  # Vietnamese hỏi: a small question-mark hook
    "\u030a": "ring",
    "\u030b": "double_acute",
    "\u030c": "caron",
    "\u031b": "horn",  # Ơ Ư: a hook on the letter's upper right
    "\u0323": "dot_below",
    "\u0326": "comma_below",
    "\u0328": "ogonek",
}
_MARKS = ACCENT_MARKS | MARKS_BEYOND_FRENCH
MARKS_BELOW = ("cedilla", "dot_below", "comma_below", "ogonek")
# Letters Unicode does not take apart: the base letter and a stroke across it, its two ends as
# shares of the base letter's ink box (x right, y down; a little outside the box is allowed).
STROKED_LETTERS = {
    "Ø": ("O", ((0.92, -0.1), (0.08, 1.1))),
    "Ł": ("L", ((-0.12, 0.68), (0.5, 0.32))),
    "Đ": ("D", ((-0.15, 0.5), (0.4, 0.5))),
    "Ð": ("D", ((-0.15, 0.5), (0.4, 0.5))),
    "Ħ": ("H", ((-0.1, 0.28), (1.1, 0.28))),
    "Ŧ": ("T", ((0.2, 0.5), (0.8, 0.5))),
}
# Ligatures a font may lack: the two letters squeezed into one box, as people write them.
LIGATURES = {"Æ": "AE", "Œ": "OE"}


@dataclass(frozen=True)
class WriterStyle:
    """How one person writes a whole field: the same pen, size and slant throughout."""

    font: FontStyle
    cap_height_frac: float
    slant_deg: float
    rotation_deg: float
    pen_width_frac: float
    ink_grey: int
    offset_frac: tuple[float, float]  # habitual position in the box (some write low, some left)
    compose_accents: bool  # draws accents by hand even where the font has the glyph
    broken_strokes: bool
    accented_shrink: float
    width_fit_frac: float
    accented_fit_frac: float
    aspect: float


def sample_writer(font: FontStyle, rng: np.random.Generator) -> WriterStyle:
    blue = rng.random() < BLUE_PEN_PROB
    ink = rng.integers(*INK_BLUE) if blue else rng.integers(*INK_BLACK)
    return WriterStyle(
        font=font,
        cap_height_frac=float(rng.uniform(*CAP_HEIGHT_FRAC)),
        slant_deg=float(rng.uniform(*SLANT_DEG)),
        rotation_deg=float(rng.uniform(-ROTATION_DEG, ROTATION_DEG)),
        pen_width_frac=float(rng.uniform(*PEN_WIDTH_FRAC)),
        ink_grey=int(ink),
        offset_frac=(float(rng.normal(0, OFFSET_FRAC[0] / 2)), float(rng.normal(0, OFFSET_FRAC[1] / 2))),
        compose_accents=bool(rng.random() < COMPOSE_ACCENT_PROB),
        broken_strokes=bool(rng.random() < BROKEN_STROKE_PROB),
        accented_shrink=float(rng.uniform(*ACCENTED_SHRINK)),
        width_fit_frac=float(rng.uniform(*WIDTH_FIT_FRAC)),
        accented_fit_frac=float(rng.uniform(*ACCENTED_FIT_FRAC)),
        aspect=float(rng.uniform(*ASPECT)),
    )


# --- fonts: loading, coverage, metrics ----------------------------------------------------

_METRIC_SIZE = 200


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _glyph_mask(path: str, size: int, char: str) -> np.ndarray:
    mask = _font(path, size).getmask(char)
    return np.array(mask, dtype=np.uint8).reshape(mask.size[1], mask.size[0])


@lru_cache(maxsize=4096)
def font_has_glyph(path: str, char: str) -> bool:
    """True when the font draws `char` itself (not its .notdef box, not nothing)."""
    mask = _glyph_mask(path, 64, char)
    if mask.size == 0 or mask.max() == 0:
        return False
    notdef = _glyph_mask(path, 64, "\U0010fffd")
    return not (mask.shape == notdef.shape and np.array_equal(mask, notdef))


@lru_cache(maxsize=64)
def _font_metrics(path: str, sketchy: bool) -> tuple[float, float]:
    """(cap height, stroke width) per unit of font size, measured on 'H'."""
    font = _font(path, _METRIC_SIZE)
    _, top, _, _ = font.getbbox("H", anchor="ls")
    cap = -top / _METRIC_SIZE
    mask = (_glyph_mask(path, _METRIC_SIZE, "H") > 127).astype(np.uint8)
    if sketchy:
        mask = _close_sketch(mask, _METRIC_SIZE * SKETCH_CLOSE_FRAC)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours) or 1.0
    stroke = 2.0 * float(mask.sum()) / perimeter  # a stroke of width w: area ~ w * perimeter / 2
    return cap, stroke / _METRIC_SIZE


def _close_sketch(mask: np.ndarray, size_px: float) -> np.ndarray:
    k = max(3, int(round(size_px)) | 1)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))


# --- drawing a pen stroke -----------------------------------------------------------------


def _polyline(canvas: np.ndarray, points: np.ndarray, width: float) -> None:
    """Draw an anti-aliased pen stroke into a uint8 ink canvas (255 = ink)."""
    shift = 4  # sub-pixel precision of cv2 drawing
    pts = np.round(np.asarray(points, dtype=np.float64) * (1 << shift)).astype(np.int32)
    cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, 255, max(1, int(round(width))),
                  cv2.LINE_AA, shift)


def _dot(canvas: np.ndarray, centre: tuple[float, float], radius: float) -> None:
    shift = 4
    c = (int(round(centre[0] * (1 << shift))), int(round(centre[1] * (1 << shift))))
    cv2.circle(canvas, c, max(1, int(round(radius * (1 << shift)))), 255, -1, cv2.LINE_AA, shift)


def _bezier(p: np.ndarray, n: int = 40) -> np.ndarray:
    """Points of a cubic Bezier curve through control points p (4 x 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1 - t) ** 3) * p[0] + 3 * ((1 - t) ** 2) * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]


def _add_accent(canvas: np.ndarray, mark: str, box: tuple[float, float, float, float],
                cap: float, pen: float, rng: np.random.Generator) -> None:
    """Draw an accent as a hand does, relative to the base letter's ink box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    cx = (x0 + x1) / 2 + rng.normal(0, 0.05) * cap
    gap = rng.uniform(0.06, 0.2) * cap
    h = rng.uniform(0.14, 0.28) * cap
    w = rng.uniform(0.22, 0.45) * cap
    j = lambda: rng.normal(0, 0.025 * cap)  # noqa: E731 - a hand never hits the same point twice
    if mark == "acute":
        _polyline(canvas, [(cx - w / 3 + j(), y0 - gap + j()), (cx + w / 3 + j(), y0 - gap - h + j())], pen)
    elif mark == "grave":
        _polyline(canvas, [(cx - w / 3 + j(), y0 - gap - h + j()), (cx + w / 3 + j(), y0 - gap + j())], pen)
    elif mark == "circumflex":
        _polyline(canvas, [(cx - w / 2 + j(), y0 - gap + j()), (cx + j(), y0 - gap - h + j()),
                           (cx + w / 2 + j(), y0 - gap + j())], pen)
    elif mark == "diaeresis":
        w = rng.uniform(0.4, 0.65) * cap  # two dots, apart enough to stay two after a thick pen
        r = max(pen * rng.uniform(0.4, 0.65), 1.0)
        for side in (-1, 1):
            centre = (cx + side * w / 3 + j(), y0 - gap - h / 3 + j())
            if rng.random() < 0.3:  # some people write the dots as short dashes
                _polyline(canvas, [(centre[0], centre[1] - r), (centre[0] + j(), centre[1] + r)], pen)
            else:
                _dot(canvas, centre, r)
    elif mark == "cedilla":
        bx = (x0 + x1) / 2 + rng.normal(0, 0.04) * cap
        top = y1 - pen * 0.5
        ctrl = np.array([(bx, top), (bx + j(), top + h * 0.6), (bx + w * 0.6 + j(), top + h * 0.9),
                         (bx - w * 0.3 + j(), top + h * 1.4)])
        _polyline(canvas, _bezier(ctrl, 16), pen)
    else:
        _add_mark_beyond_french(canvas, mark, box, (cx, gap, h, w * 1.15), pen, j, rng)


def _add_mark_beyond_french(canvas: np.ndarray, mark: str, box: tuple[float, float, float, float],
                            size: tuple[float, float, float, float], pen: float, j, rng: np.random.Generator) -> None:
    """The marks of MARKS_BEYOND_FRENCH, placed and sized as _add_accent's (`size`: centre x,
    gap to the letter, height, width; `j` a hand's jitter), a tilde or a ring a little wider."""
    x0, y0, x1, y1 = box
    cx, gap, h, w = size
    base = y0 - gap  # the bottom of a mark above
    if mark == "tilde":
        ctrl = np.array([(cx - w / 2 + j(), base - h * 0.2), (cx - w / 6 + j(), base - h * 1.4),
                         (cx + w / 6 + j(), base + h * 0.4), (cx + w / 2 + j(), base - h)])
        _polyline(canvas, _bezier(ctrl, 20), pen)
    elif mark == "macron":
        y = base - h / 2
        _polyline(canvas, [(cx - w / 2 + j(), y + j()), (cx + w / 2 + j(), y + j())], pen)
    elif mark == "breve":
        ctrl = np.array([(cx - w / 2 + j(), base - h), (cx - w / 3 + j(), base + h * 0.25),
                         (cx + w / 3 + j(), base + h * 0.25), (cx + w / 2 + j(), base - h)])
        _polyline(canvas, _bezier(ctrl, 16), pen)
    elif mark == "caron":
        _polyline(canvas, [(cx - w / 2 + j(), base - h + j()), (cx + j(), base + j()),
                           (cx + w / 2 + j(), base - h + j())], pen)
    elif mark == "dot":
        _dot(canvas, (cx + j(), base - h / 3 + j()), max(pen * rng.uniform(0.5, 0.8), 1.0))
    elif mark == "ring":
        r = max(h * 0.55, pen * 1.2)
        angles = np.linspace(0, 2 * np.pi * rng.uniform(1.0, 1.12), 24)
        centre = (cx + j(), base - r)
        _polyline(canvas, np.stack([centre[0] + r * np.cos(angles), centre[1] + r * np.sin(angles)], 1), pen)
    elif mark == "double_acute":
        for dx in (-w / 4, w / 4):  # two strokes, apart enough to stay two after a thick pen
            _polyline(canvas, [(cx + dx - w / 6 + j(), base + j()), (cx + dx + w / 6 + j(), base - h - h * 0.2 + j())], pen)
    elif mark == "hook":
        ctrl = np.array([(cx - w / 4 + j(), base - h), (cx + w / 3 + j(), base - h * 1.3),
                         (cx + w / 3 + j(), base - h * 0.3), (cx + j(), base - h * 0.2)])
        _polyline(canvas, _bezier(ctrl, 16), pen)
    elif mark == "horn":
        top = y0 + 0.12 * (y1 - y0)
        ctrl = np.array([(x1 - pen, top), (x1 + w * 0.25 + j(), top + j()),
                         (x1 + w * 0.35 + j(), top - h * 0.6), (x1 + w * 0.3 + j(), top - h * 1.1)])
        _polyline(canvas, _bezier(ctrl, 12), pen)
    elif mark == "dot_below":
        _dot(canvas, (cx + j(), y1 + gap + h / 3 + j()), max(pen * rng.uniform(0.5, 0.8), 1.0))
    elif mark == "comma_below":
        _polyline(canvas, [(cx + j(), y1 + gap + j()), (cx - w / 6 + j(), y1 + gap + h + j())], pen)
    elif mark == "ogonek":
        xr = x1 - 0.2 * (x1 - x0)
        ctrl = np.array([(xr, y1 - pen * 0.5), (xr - w * 0.4 + j(), y1 + h * 0.7),
                         (xr - w * 0.1 + j(), y1 + h * 1.3), (xr + w * 0.25 + j(), y1 + h * 1.1)])
        _polyline(canvas, _bezier(ctrl, 16), pen)
    else:
        raise ValueError(f"handprint has no way to write the mark {mark!r}")


def _add_stroke(canvas: np.ndarray, ends, box: tuple[float, float, float, float], pen: float,
                rng: np.random.Generator) -> None:
    """The stroke of Ø, Ł, Đ across the base letter's ink box, where a hand puts it."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    pts = [(x0 + fx * w + rng.normal(0, 0.03 * w), y0 + fy * h + rng.normal(0, 0.03 * h)) for fx, fy in ends]
    _polyline(canvas, pts, pen)


# --- one character ---------------------------------------------------------------------------


def _decompose(char: str) -> tuple[str, tuple[str, ...], tuple | None]:
    """(base letter, marks a hand adds above or below it, the ends of a stroke across it)."""
    if char in STROKED_LETTERS:
        base, ends = STROKED_LETTERS[char]
        return base, (), ends
    parts = unicodedata.normalize("NFD", char)
    unknown = [m for m in parts[1:] if m not in _MARKS]
    if unknown:  # a generator bug, never to be drawn as a bare letter: the truth would lie
        raise ValueError(f"handprint cannot write {char!r}: no way to draw {[unicodedata.name(m) for m in unknown]}")
    return parts[0], tuple(_MARKS[m] for m in parts[1:]), None


def _ink_mask(char: str, style: WriterStyle, cell_w: int, cell_h: int, margin: int,
              rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (0..1 float32) of one character on a canvas of the cell plus `margin`
    pixels each side; the cell occupies [margin, margin + cell) in both axes."""
    ss = max(1, int(round(SUPERSAMPLE_TARGET_PX / cell_h)))
    canvas_w, canvas_h = (cell_w + 2 * margin) * ss, (cell_h + 2 * margin) * ss
    font = style.font
    cap_ratio, stroke_ratio = _font_metrics(font.path, font.sketchy)

    base, marks, stroke = _decompose(char)
    by_hand = bool(marks or stroke) and (style.compose_accents or not font_has_glyph(font.path, char))
    shape = base if by_hand else char
    if char in LIGATURES and not font_has_glyph(font.path, char):
        shape = LIGATURES[char]  # Œ as O and E squeezed into the box (the width fit narrows it)
    elif not shape.isascii() and not font_has_glyph(font.path, shape):
        raise ValueError(f"handprint cannot write {char!r} in {font.name}: the font has no {shape!r}")
    size_jitter = 1.0 + rng.normal(0, PER_CHAR_JITTER["size"])
    cap_px = style.cap_height_frac * cell_h * ss * size_jitter
    if marks:
        cap_px *= style.accented_shrink
    font_size = max(4, 2 * int(round(cap_px / cap_ratio / 2)))  # even sizes: fewer fonts to load
    pil_font = _font(font.path, font_size)

    # Draw the glyph on a canvas with room above (accents) and below (cedilla, descenders).
    left, top, right, bottom = pil_font.getbbox(shape, anchor="ls")
    above = sum(1 for m in marks if m not in MARKS_BELOW)
    pad = int(cap_px * 0.5 * max(1, above)) + 4  # stacked marks (Ễ, Ằ) need room for each
    gw, gh = int(right - left) + 2 * pad, int(bottom - top) + 2 * pad
    glyph = Image.new("L", (max(gw, 1), max(gh, 1)), 0)
    origin = (pad - left, pad - top)  # where the baseline-left point lands
    ImageDraw.Draw(glyph).text(origin, shape, font=pil_font, fill=255, anchor="ls")
    g = np.asarray(glyph, dtype=np.uint8).copy()
    if font.sketchy:  # hatched outlines: close them into strokes a pen would make
        g = _close_sketch(g, font_size * SKETCH_CLOSE_FRAC)

    font_pen = stroke_ratio * font_size
    if by_hand:
        x, y, w, h = cv2.boundingRect((g > 96).astype(np.uint8))
        if w:
            box = (float(x), float(y), float(x + w - 1), float(y + h - 1))
            if stroke is not None:
                _add_stroke(g, stroke, box, font_pen, rng)
            top = box[1]
            for mark in marks:
                if mark in MARKS_BELOW:
                    _add_accent(g, mark, box, cap_px, font_pen, rng)
                    continue
                # A second mark above (Ễ: circumflex then tilde) goes above the first.
                _add_accent(g, mark, (box[0], top, box[2], box[3]), cap_px, font_pen, rng)
                _, top, _, _ = cv2.boundingRect((g > 96).astype(np.uint8))
                top = float(top)

    # Reference point: the middle of the capital's height, the middle of the ink horizontally.
    # Punctuation keeps its place relative to the capitals ('.' low, "'" high, '-' middle); a
    # letter with an accent is centred as a whole and shrunk until the accent fits the box.
    inked = (g > 32).astype(np.uint8)
    bx, by, ink_w, ink_h = cv2.boundingRect(inked)
    scale_x, scale = style.aspect, 1.0
    if ink_w:
        scale_x = min(scale_x, style.width_fit_frac * cell_w * ss / ink_w)
        moments = cv2.moments(inked[by:by + ink_h, bx:bx + ink_w], binaryImage=True)
        mass_cx = bx + moments["m10"] / moments["m00"]
        ink_cx = bx + (ink_w - 1) / 2 if shape in "-'." else mass_cx
        ref_y = origin[1] - cap_px / 2
        if marks:
            scale = min(1.0, style.accented_fit_frac * cell_h * ss / ink_h)
            ref_y = by + (ink_h - 1) / 2
        ref = np.array([ink_cx, ref_y])
    else:
        ref = np.array([float(origin[0]), origin[1] - cap_px / 2])

    # Where the reference lands in the cell: habit of the writer + jitter, now and then a stray.
    ox, oy = style.offset_frac
    ox += rng.normal(0, PER_CHAR_JITTER["offset"])
    oy += rng.normal(0, PER_CHAR_JITTER["offset"])
    wanders = rng.random() < WANDER_PROB
    if wanders:
        ox += rng.choice([-1, 1]) * rng.uniform(0.5, 1.0) * WANDER_FRAC[0]
        oy += rng.choice([-1, 1]) * rng.uniform(0.5, 1.0) * WANDER_FRAC[1]
    target = np.array([(margin + cell_w * (0.5 + ox)) * ss, (margin + cell_h * (0.5 + oy)) * ss])

    slant = np.radians(style.slant_deg + rng.normal(0, PER_CHAR_JITTER["slant"]))
    rot = np.radians(style.rotation_deg + rng.normal(0, PER_CHAR_JITTER["rotation"]))
    shear = np.array([[1.0, -np.tan(slant)], [0.0, 1.0]])  # x moves right as y goes up
    rotation = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    linear = rotation @ shear @ np.diag([scale_x * scale, scale])
    if ink_w and not wanders:
        # A writer keeps the letter off the printed line: pull it back inside if it spills.
        x1, y1 = bx + ink_w - 1, by + ink_h - 1
        corners = np.array([[bx, by], [x1, by], [bx, y1], [x1, y1]], dtype=np.float64) - ref
        placed = corners @ linear.T + target
        inset = np.array([cell_w, cell_h]) * INSIDE_INSET_FRAC * ss
        low = np.array([margin, margin]) * ss + inset
        high = np.array([margin + cell_w, margin + cell_h]) * ss - inset
        push_low = np.maximum(low - placed.min(axis=0), 0)
        push_high = np.minimum(high - placed.max(axis=0), 0)
        target = target + np.where(push_low > 0, push_low, push_high) * (push_low * push_high == 0)
    matrix = np.hstack([linear, (target - linear @ ref)[:, None]])
    ink = cv2.warpAffine(g, matrix, (canvas_w, canvas_h), flags=cv2.INTER_LINEAR, borderValue=0)

    # Pen width: move the font's stroke towards the writer's pen, within what the font allows.
    want = style.pen_width_frac * cell_h * ss * rng.uniform(0.9, 1.1)
    delta = float(np.clip(want - font_pen, -PEN_ADJUST_MAX * font_pen, 3 * font_pen))
    radius = int(round(abs(delta) / 2))
    if radius >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        ink = cv2.dilate(ink, kernel) if delta > 0 else cv2.erode(ink, kernel)

    # Gaps break strokes; a dot or a short dash has no stroke to break (a gap would erase it).
    if shape not in "-'." and (style.broken_strokes or rng.random() < BROKEN_STROKE_PROB / 3):
        gaps = np.zeros_like(ink)
        for _ in range(int(rng.integers(1, 4))):
            p = rng.uniform([0, 0], [canvas_w, canvas_h])
            angle = rng.uniform(0, np.pi)
            d = np.array([np.cos(angle), np.sin(angle)]) * canvas_h * 0.12
            _polyline(gaps, [p - d, p + d], rng.uniform(0.25, 0.6) * want + 1)
        ink = cv2.subtract(ink, gaps)

    out_w, out_h = cell_w + 2 * margin, cell_h + 2 * margin
    coverage = cv2.resize(ink, (out_w, out_h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    texture = rng.uniform(*PEN_TEXTURE, size=(4, 4)).astype(np.float32)
    return coverage * cv2.resize(texture, (out_w, out_h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _lay_ink(image: np.ndarray, coverage: np.ndarray, x0: int, y0: int, ink_grey: int) -> None:
    """Darken `image` in place where the coverage (placed with its top-left at x0, y0) has ink."""
    h, w = coverage.shape
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + w, image.shape[1]), min(y0 + h, image.shape[0])
    if ix0 >= ix1 or iy0 >= iy1:
        return
    cov = coverage[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
    inked = (255.0 - cov * (255.0 - ink_grey)).round().clip(0, 255).astype(np.uint8)
    region = image[iy0:iy1, ix0:ix1]
    np.minimum(region, inked, out=region)


def _draw_box_lines(image: np.ndarray, rng: np.random.Generator) -> None:
    grey = int(rng.integers(*BOX_LINE_GREY))
    h, w = image.shape
    width = 2 if rng.random() < 0.25 else 1
    image[:width, :] = np.minimum(image[:width, :], grey)
    image[h - width:, :] = np.minimum(image[h - width:, :], grey)
    image[:, :width] = np.minimum(image[:, :width], grey)
    image[:, w - width:] = np.minimum(image[:, w - width:], grey)


def render_cell(char: str, *, font: FontStyle, rng: np.random.Generator,
                cell_px: tuple[int, int] = CELL_PX, with_box_lines: bool = True) -> np.ndarray:
    """One comb cell (uint8, H x W, white paper) with `char` written in it by a fresh writer.

    cell_px is (width, height); the box lines, when drawn, run along the image's edges, and
    ink that strays past them is cut off as the reader's crop would cut it. A space gives an
    empty cell.
    """
    cell_w, cell_h = cell_px
    image = np.full((cell_h, cell_w), 255, dtype=np.uint8)
    if with_box_lines:
        _draw_box_lines(image, rng)
    write_text_into(image, char, [(0, 0, cell_w, cell_h)], font=font, rng=rng)
    return image


def write_text_into(image: np.ndarray, text: str, cell_boxes_px: list[tuple[int, int, int, int]],
                    *, font: FontStyle, rng: np.random.Generator) -> None:
    """Handprint `text` into a page image in place, one character per cell box (x0, y0, x1, y1),
    top-left origin, in the page's pixels (any dpi). One writer for the whole field; spaces and
    characters beyond the last box are skipped. Ink only darkens the page."""
    style = sample_writer(font, rng)
    for char, (x0, y0, x1, y1) in zip(text, cell_boxes_px):
        if char.isspace():
            continue
        cell_w, cell_h = int(round(x1 - x0)), int(round(y1 - y0))
        margin = cell_h // 3  # room for a letter that strays over the line
        coverage = _ink_mask(char, style, cell_w, cell_h, margin, rng)
        _lay_ink(image, coverage, int(round(x0)) - margin, int(round(y0)) - margin, style.ink_grey)


# --- ticks and signatures --------------------------------------------------------------------


def draw_tick(image: np.ndarray, box_px: tuple[int, int, int, int], *, style: str,
              rng: np.random.Generator) -> None:
    """Mark a tick box in place. Styles: 'x' (a cross), 'check' (a check mark), 'fill' (box
    blacked in), 'dot' (a small dot or dash: a weak mark), 'cancelled' (filled in, then
    scribbled over: the person withdrew the answer)."""
    if style not in TICK_STYLES:
        raise ValueError(f"tick style must be one of {TICK_STYLES}, not {style!r}")
    x0, y0, x1, y1 = (float(v) for v in box_px)
    w, h = x1 - x0, y1 - y0
    margin = int(round(max(w, h) * 0.5))
    ss = 4
    cw, ch = int(round(w)) + 2 * margin, int(round(h)) + 2 * margin
    canvas = np.zeros((ch * ss, cw * ss), dtype=np.uint8)
    pen = max(w, h) * rng.uniform(0.08, 0.16) * ss
    j = lambda s=0.08: rng.normal(0, s * max(w, h)) * ss  # noqa: E731
    bx0, by0, bx1, by1 = margin * ss, margin * ss, (margin + w) * ss, (margin + h) * ss
    bw, bh = bx1 - bx0, by1 - by0

    def fill_box() -> None:
        # Back-and-forth strokes, as a pen fills a box: nearly all of it, a little over the edge.
        n = int(rng.integers(6, 10))
        pts = []
        for i in range(n + 1):
            y = by0 + bh * (i / n) + j(0.02)
            pts.append((bx0 + j(0.05) + (0 if i % 2 == 0 else bw), y))
        _polyline(canvas, pts, max(pen * 1.8, bh / n * 1.6))

    if style == "x":
        _polyline(canvas, [(bx0 + j(), by0 + j()), (bx1 + j(), by1 + j())], pen)
        _polyline(canvas, [(bx1 + j(), by0 + j()), (bx0 + j(), by1 + j())], pen)
    elif style == "check":
        ctrl = [(bx0 + 0.1 * bw + j(), by0 + 0.55 * bh + j()), (bx0 + 0.4 * bw + j(), by1 - 0.05 * bh + j()),
                (bx1 + 0.1 * bw + j(), by0 - 0.15 * bh + j())]
        _polyline(canvas, ctrl, pen)
    elif style == "fill":
        fill_box()
    elif style == "dot":
        if rng.random() < 0.5:
            _dot(canvas, (bx0 + bw / 2 + j(0.12), by0 + bh / 2 + j(0.12)), pen * rng.uniform(0.6, 1.2))
        else:
            cx, cy = bx0 + bw / 2 + j(0.12), by0 + bh / 2 + j(0.12)
            _polyline(canvas, [(cx - 0.15 * bw, cy + j(0.03)), (cx + 0.15 * bw, cy + j(0.03))], pen)
    elif style == "cancelled":
        fill_box()
        # The scribble over it runs well outside the box: that is what says "not this one".
        pts = []
        for i in range(int(rng.integers(4, 8))):
            pts.append((bx0 - 0.4 * bw + rng.uniform(0, 1.8 * bw), by0 - 0.4 * bh + rng.uniform(0, 1.8 * bh)))
        _polyline(canvas, pts, pen)

    coverage = cv2.resize(canvas.astype(np.float32) / 255.0, (cw, ch), interpolation=cv2.INTER_AREA)
    ink = int(rng.integers(*INK_BLUE)) if rng.random() < BLUE_PEN_PROB else int(rng.integers(*INK_BLACK))
    _lay_ink(image, coverage, int(round(x0)) - margin, int(round(y0)) - margin, ink)


def draw_signature(image: np.ndarray, box_px: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    """A scribbled signature in place: a few joined Bezier strokes across most of the box."""
    x0, y0, x1, y1 = (float(v) for v in box_px)
    w, h = x1 - x0, y1 - y0
    ss = 3
    canvas = np.zeros((int(round(h)) * ss, int(round(w)) * ss), dtype=np.uint8)
    pen = max(1.0, h * rng.uniform(0.03, 0.06)) * ss
    start = rng.uniform(0.03, 0.2) * w
    end = rng.uniform(0.5, 0.95) * w
    n_strokes = int(rng.integers(2, 5))
    xs = np.linspace(start, end, n_strokes + 1)
    for i in range(n_strokes):
        loops = int(rng.integers(2, 5))
        knots = np.linspace(xs[i], xs[i + 1], loops + 1)
        for a, b in zip(knots[:-1], knots[1:]):
            ctrl = np.array([
                (a, h * rng.uniform(0.3, 0.8)),
                (a + rng.uniform(-0.2, 0.6) * (b - a), h * rng.uniform(0.05, 0.5)),
                (a + rng.uniform(0.4, 1.2) * (b - a), h * rng.uniform(0.5, 0.95)),
                (b, h * rng.uniform(0.3, 0.8)),
            ])
            _polyline(canvas, _bezier(ctrl * ss, 30), pen)
    if rng.random() < 0.6:  # an underline flourish
        y = h * rng.uniform(0.75, 0.92)
        _polyline(canvas, [(start * ss, y * ss), (end * ss * rng.uniform(0.9, 1.05), (y + rng.normal(0, h * 0.05)) * ss)],
                  pen * 0.8)
    coverage = cv2.resize(canvas.astype(np.float32) / 255.0, (int(round(w)), int(round(h))),
                          interpolation=cv2.INTER_AREA)
    ink = int(rng.integers(*INK_BLUE)) if rng.random() < BLUE_PEN_PROB else int(rng.integers(*INK_BLACK))
    _lay_ink(image, coverage, int(round(x0)), int(round(y0)), ink)
