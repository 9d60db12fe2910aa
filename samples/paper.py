"""The paper in the envelope, as pixels: forms filled by hand or prefilled, separator sheets,
supporting documents, blank sheets, and a photo of the envelope itself.

Every sheet is drawn at the dpi it will be "scanned" at, straight from the PDF (pypdfium2),
so the print is as sharp as a scanner sees it; samples/scanner.py then adds what a scanner
does to paper. Handwriting goes on a separate ink layer (white = no ink) that is laid over
the printed sheet: samples.handprint writes on one grey layer, and a colour scan tints it.

Geometry comes only from templates.spec (PDF points, origin bottom-left): a box in points
becomes pixels with x_px = x_pt*D/72, y_px = (792 - y_pt)*D/72.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont

from samples import handprint
from templates.spec import FieldSpec, PageSpec, load_separator

DEJAVU = "/usr/share/fonts/truetype/dejavu"
FONT_SANS = f"{DEJAVU}/DejaVuSans.ttf"
FONT_SANS_BOLD = f"{DEJAVU}/DejaVuSans-Bold.ttf"
FONT_SERIF = f"{DEJAVU}/DejaVuSerif.ttf"
FONT_SERIF_BOLD = f"{DEJAVU}/DejaVuSerif-Bold.ttf"
FONT_MONO = f"{DEJAVU}/DejaVuSansMono.ttf"  # stands in for OCR-B on the passport's MRZ

# What a tick looks like, by how often people draw it that way (samples.handprint styles).
TICK_STYLE_WEIGHTS = {"x": 0.55, "check": 0.3, "fill": 0.15}
WEAK_TICK_PROB = 0.03  # a tick so light it is a dot: the person meant it, a reader may doubt
RIGHT_ALIGNED_DIGITS_PROB = 0.3  # "2" written in the last box of a 2-box number
# Ink colours of a colour scan (how much each channel darkens where the ink layer is black).
INK_TINTS = {"black": (1.0, 1.0, 1.0), "blue": (0.85, 0.7, 0.3)}


def pt_box_to_px(box: tuple[float, float, float, float], dpi: float, page_height_pt: float = 792.0) -> tuple[int, int, int, int]:
    """A box in PDF points (origin bottom-left) as pixels (origin top-left) at `dpi`."""
    s = dpi / 72.0
    x0, y0, x1, y1 = box
    return (int(round(x0 * s)), int(round((page_height_pt - y1) * s)), int(round(x1 * s)), int(round((page_height_pt - y0) * s)))


# ------------------------------------------------------------------------------ rasterizing


def rasterize_pdf(pdf: bytes | Path, dpi: float, *, colour: bool) -> list[np.ndarray]:
    """Every page of a PDF as uint8 pixels: H x W grey, or H x W x 3 RGB."""
    data = pdf if isinstance(pdf, bytes) else Path(pdf).read_bytes()
    document = pdfium.PdfDocument(data)
    try:
        pages = []
        for page in document:
            bitmap = page.render(scale=dpi / 72.0, grayscale=not colour, rev_byteorder=colour)
            pixels = bitmap.to_numpy()
            pages.append(pixels[:, :, :3].copy() if colour else pixels.reshape(pixels.shape[0], pixels.shape[1]).copy())
        return pages
    finally:
        document.close()


@lru_cache(maxsize=12)
def _blank_pages_cached(lang: str, dpi: int, colour: bool) -> tuple[np.ndarray, ...]:
    from forms.render import blank_pdf_bytes

    pages = rasterize_pdf(blank_pdf_bytes(lang=lang), dpi, colour=colour)
    for p in pages:
        p.setflags(write=False)
    return tuple(pages)


def blank_form_pages(lang: str, dpi: int, *, colour: bool) -> list[np.ndarray]:
    """The blank form's pages at `dpi` (fresh copies: callers write on them)."""
    return [p.copy() for p in _blank_pages_cached(lang, dpi, colour)]


def prefilled_pages(doc: dict, lang: str, dpi: int, *, colour: bool) -> list[np.ndarray]:
    from forms.render import prefill_pdf_bytes

    return rasterize_pdf(prefill_pdf_bytes(doc, lang=lang), dpi, colour=colour)


def separator_pages(serials: list[str], dpi: int, *, colour: bool, lang: str = "fr") -> list[np.ndarray]:
    from forms.render import separator_pdf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "separators.pdf"
        separator_pdf(path, serials=serials, lang=lang)
        return rasterize_pdf(path, dpi, colour=colour)


def seeded_separator_serial(rng: np.random.Generator) -> str:
    """A well-formed separator serial drawn from `rng` (forms/ draws them from os.urandom,
    which would make a seed's stack differ from run to run)."""
    from forms.serial import ALPHABET, check_separator_serial

    body = "".join(ALPHABET[int(rng.integers(len(ALPHABET)))] for _ in range(8))
    for check in ALPHABET:
        if check_separator_serial(body + check):
            return body + check
    raise AssertionError("no check character fits: forms.serial changed its scheme")


# ------------------------------------------------------------------------------ ink layers


def lay_ink(sheet: np.ndarray, ink: np.ndarray, tint: str = "black") -> None:
    """Lay the ink layer (uint8, 255 = no ink) over a printed sheet in place."""
    if sheet.ndim == 2:
        np.minimum(sheet, ink, out=sheet)
        return
    darkness = 255.0 - ink.astype(np.float32)
    for channel, strength in enumerate(INK_TINTS[tint]):
        inked = (255.0 - darkness * strength).astype(np.uint8)
        np.minimum(sheet[:, :, channel], inked, out=sheet[:, :, channel])


def _cells_px(f: FieldSpec, dpi: int) -> list[tuple[int, int, int, int]]:
    return [pt_box_to_px(c, dpi) for c in f.cells]


def comb_text(f: FieldSpec, value) -> str:
    """What goes in the boxes for a value: a date as YYYYMMDD, text as it is."""
    if f.type == "date":
        return str(value).replace("-", "")
    return str(value)


@dataclass
class HandwritingLog:
    """What the hand did beyond writing the values: the truth's record of it."""

    tick_styles: dict = field(default_factory=dict)
    right_aligned: list = field(default_factory=list)
    corrections: list = field(default_factory=list)
    weak_ticks: list = field(default_factory=list)


def _tick_style(rng: np.random.Generator, habit: str) -> str:
    if rng.random() < 0.85:  # people keep their habit, mostly
        return habit
    styles = list(TICK_STYLE_WEIGHTS)
    return str(rng.choice(styles, p=list(TICK_STYLE_WEIGHTS.values())))


def write_field(ink: np.ndarray, f: FieldSpec, value, dpi: int, *, font, rng: np.random.Generator,
                tick_habit: str, log: HandwritingLog, allow_correction: bool = False) -> None:
    """Write one field's value by hand on the ink layer, the way a person fills that box type."""
    if value is None or value == "" or value is False:
        return
    if f.type in ("text", "digits", "date"):
        text = comb_text(f, value)
        cells = _cells_px(f, dpi)
        if f.type == "digits" and len(text) < len(cells) and rng.random() < RIGHT_ALIGNED_DIGITS_PROB:
            cells = cells[len(cells) - len(text):]
            log.right_aligned.append(f.name)
        if allow_correction and f.type == "text" and len(text) >= 3:
            _write_with_correction(ink, f, text, cells, font=font, rng=rng, log=log)
        else:
            handprint.write_text_into(ink, text, cells, font=font, rng=rng)
    elif f.type == "choice":
        option = next(o for o in f.options if o.value == value)
        if allow_correction and len(f.options) > 1:
            # Ticked the wrong box first, then filled and scribbled it out ("not this one").
            wrong = [o for o in f.options if o.value != value]
            cancelled = wrong[int(rng.integers(len(wrong)))]
            handprint.draw_tick(ink, pt_box_to_px(cancelled.box, dpi), style="cancelled", rng=rng)
            log.corrections.append({"field": f.name, "how": "cancelled_tick", "cancelled": cancelled.value})
        style = _tick_style(rng, tick_habit)
        if rng.random() < WEAK_TICK_PROB:
            style = "dot"
            log.weak_ticks.append(f.name)
        handprint.draw_tick(ink, pt_box_to_px(option.box, dpi), style=style, rng=rng)
        log.tick_styles[f.name] = style
    elif f.type == "checkbox" and value is True:
        style = _tick_style(rng, tick_habit)
        handprint.draw_tick(ink, pt_box_to_px(f.box, dpi), style=style, rng=rng)
        log.tick_styles[f.name] = style
    elif f.type == "signature" and value is True:
        handprint.draw_signature(ink, pt_box_to_px(f.box, dpi), rng)


def _write_with_correction(ink, f: FieldSpec, text: str, cells, *, font, rng, log: HandwritingLog) -> None:
    """A slip of the pen: one box holds a wrong letter struck through, the right letter written
    just above the box. The truth is what the person meant."""
    k = int(rng.integers(len(text)))
    while text[k] == " ":
        k = (k + 1) % len(text)
    alphabet = "ABCDEFGHIJKLMNOPRSTUVEI"
    wrong = alphabet[int(rng.integers(len(alphabet)))]
    if wrong == text[k]:
        wrong = "X" if text[k] != "X" else "K"
    handprint.write_text_into(ink, text[:k] + wrong + text[k + 1:], cells, font=font, rng=rng)
    x0, y0, x1, y1 = cells[k]
    pen = max(2, int(round((y1 - y0) * 0.06)))
    cv2.line(ink, (x0 - pen, int(y0 + 0.75 * (y1 - y0))), (x1 + pen, int(y0 + 0.25 * (y1 - y0))), 30, pen, cv2.LINE_AA)
    above = (x0, y0 - int(0.85 * (y1 - y0)), x1, y0 - int(0.15 * (y1 - y0)))
    handprint.write_text_into(ink, text[k], [above], font=font, rng=rng)
    log.corrections.append({"field": f.name, "how": "struck_letter", "cell": k, "struck": wrong, "above": text[k]})


def write_page(sheet: np.ndarray, page: PageSpec, values: dict, dpi: int, *, font, rng: np.random.Generator,
               tick_habit: str, tint: str, log: HandwritingLog, correction_field: str | None = None,
               only: set[str] | None = None) -> None:
    """Fill one printed page by hand (in place): every value of `values` on this page, or only
    the fields named in `only`."""
    ink = np.full(sheet.shape[:2], 255, dtype=np.uint8)
    for f in page.fields:
        if only is not None and f.name not in only:
            continue
        write_field(ink, f, values.get(f.name), dpi, font=font, rng=rng, tick_habit=tick_habit, log=log,
                    allow_correction=(f.name == correction_field))
    lay_ink(sheet, ink, tint)


def fill_separator(sheet: np.ndarray, dpi: int, *, postmark: date | None, received: date, initials: str,
                   font, rng: np.random.Generator, tint: str = "black") -> None:
    """What the clerk writes on a separator sheet: the postmark date, or a tick in the
    'illegible' box, the day received and initials."""
    page = load_separator().pages[0]
    log = HandwritingLog()
    values = {
        "postmark_date": postmark.isoformat() if postmark else None,
        "postmark_illegible": postmark is None,
        "received_date": received.isoformat(),
        "clerk_initials": initials,
    }
    write_page(sheet, page, values, dpi, font=font, rng=rng, tick_habit="x", tint=tint, log=log)


# ------------------------------------------------------------------------ other sheets


def _letter_canvas(dpi: int, colour: bool, tone: int = 255) -> Image.Image:
    size = (int(round(8.5 * dpi)), int(round(11 * dpi)))
    return Image.new("RGB" if colour else "L", size, (tone, tone, tone) if colour else tone)


def _ink(colour: bool, grey: int, rgb: tuple[int, int, int] | None = None):
    return (rgb or (grey, grey, grey)) if colour else grey


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


# ISO 3166 alpha-3 of the countries the sample people come from (for the passport's MRZ).
ISO3 = {
    "FRANCE": "FRA", "BELGIQUE": "BEL", "SUISSE": "CHE", "MAROC": "MAR", "ALGÉRIE": "DZA", "TUNISIE": "TUN",
    "SÉNÉGAL": "SEN", "BURKINA FASO": "BFA", "CÔTE D'IVOIRE": "CIV", "MALI": "MLI", "GUINÉE": "GIN",
    "CAMEROUN": "CMR", "COLOMBIE": "COL", "MEXIQUE": "MEX", "PÉROU": "PER", "CHILI": "CHL", "BRÉSIL": "BRA",
    "ARGENTINE": "ARG", "VIET NAM": "VNM", "CHINE": "CHN", "CORÉE DU SUD": "KOR", "INDE": "IND",
    "PHILIPPINES": "PHL", "LIBAN": "LBN", "HAÏTI": "HTI", "IRAN": "IRN", "SYRIE": "SYR",
}


def _mrz_name(text: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFD", text.upper())
    return "".join(ch if "A" <= ch <= "Z" else "<" for ch in plain if not unicodedata.combining(ch))


def mrz_check_digit(field_text: str) -> str:
    weights = (7, 3, 1)
    total = 0
    for i, ch in enumerate(field_text):
        value = int(ch) if ch.isdigit() else ord(ch) - 55 if ch.isalpha() else 0
        total += value * weights[i % 3]
    return str(total % 10)


def passport_mrz(fields: dict) -> tuple[str, str]:
    """The two 44-character lines of a TD3 passport's machine-readable zone (ICAO 9303)."""
    country = ISO3.get(str(fields.get("citizenship", "")), "UTO")
    names = f"{_mrz_name(fields.get('family_name', ''))}<<{_mrz_name(fields.get('given_names', ''))}"
    line1 = f"P<{country}{names}"[:44].ljust(44, "<")
    number = str(fields.get("passport_number", "X00000000"))[:9].ljust(9, "<")

    def yymmdd(iso) -> str:
        return str(iso or "2000-01-01").replace("-", "")[2:]

    birth, expiry = yymmdd(fields.get("birth_date")), yymmdd(fields.get("passport_expiry"))
    sex = fields.get("sex") if fields.get("sex") in ("F", "M") else "<"
    optional = "<" * 14
    line2 = f"{number}{mrz_check_digit(number)}{country}{birth}{mrz_check_digit(birth)}{sex}{expiry}{mrz_check_digit(expiry)}{optional}{mrz_check_digit(optional)}"
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    return line1, line2 + mrz_check_digit(composite)


def passport_copy(fields: dict, dpi: int, *, colour: bool, rng: np.random.Generator) -> np.ndarray:
    """A photocopy of the passport's data page on a letter sheet: photo, printed data, MRZ.
    No page code: the reader must recognise it as a supporting document."""
    canvas = _letter_canvas(dpi, colour)
    draw = ImageDraw.Draw(canvas)
    s = dpi / 72.0
    ox, oy = (60 + rng.uniform(-15, 40)) * s, (90 + rng.uniform(-20, 120)) * s
    w, h = 360 * s, 250 * s
    paper = _ink(colour, 225, (222, 230, 214))
    draw.rounded_rectangle([ox, oy, ox + w, oy + h], radius=10 * s, fill=paper, outline=_ink(colour, 90), width=max(1, int(s)))
    # Guilloche-like background lines, then the photo.
    for k in range(14):
        y = oy + (k + 1) * h / 16
        pts = [(ox + x, y + 4 * s * np.sin(x / (9 * s) + k)) for x in np.linspace(0, w, 60)]
        draw.line(pts, fill=_ink(colour, 205, (200, 215, 195)), width=1)
    px0, py0 = ox + 14 * s, oy + 40 * s
    draw.rectangle([px0, py0, px0 + 90 * s, py0 + 115 * s], fill=_ink(colour, 160, (170, 150, 135)))
    draw.ellipse([px0 + 25 * s, py0 + 18 * s, px0 + 65 * s, py0 + 62 * s], fill=_ink(colour, 90, (95, 70, 60)))
    draw.ellipse([px0 + 10 * s, py0 + 65 * s, px0 + 80 * s, py0 + 140 * s], fill=_ink(colour, 90, (60, 60, 90)))
    small, bold = _font(FONT_SANS, int(7 * s)), _font(FONT_SANS_BOLD, int(9 * s))
    head = _font(FONT_SANS_BOLD, int(11 * s))
    draw.text((ox + 14 * s, oy + 12 * s), f"PASSEPORT / PASSPORT   {fields.get('citizenship', '')}", font=head, fill=_ink(colour, 40))
    rows = [
        ("Nom / Surname", fields.get("family_name", "")),
        ("Prénoms / Given names", fields.get("given_names", "")),
        ("Nationalité / Nationality", fields.get("citizenship", "")),
        ("Date de naissance / Date of birth", fields.get("birth_date", "")),
        ("Sexe / Sex", fields.get("sex", "")),
        ("Date d'expiration / Date of expiry", fields.get("passport_expiry", "")),
        ("N° du passeport / Passport No.", fields.get("passport_number", "")),
    ]
    tx, ty = px0 + 105 * s, oy + 38 * s
    for label, value in rows:
        draw.text((tx, ty), label, font=small, fill=_ink(colour, 90))
        draw.text((tx, ty + 8 * s), str(value), font=bold, fill=_ink(colour, 20))
        ty += 21 * s
    mono = _font(FONT_MONO, int(10.5 * s))
    line1, line2 = passport_mrz(fields)
    draw.text((ox + 12 * s, oy + h - 40 * s), line1, font=mono, fill=_ink(colour, 10))
    draw.text((ox + 12 * s, oy + h - 24 * s), line2, font=mono, fill=_ink(colour, 10))
    # "Certified true copy" stamp of the notary, askew, as on many copies.
    stamp = Image.new("L", (int(170 * s), int(60 * s)), 0)
    sd = ImageDraw.Draw(stamp)
    sd.rectangle([2, 2, stamp.width - 3, stamp.height - 3], outline=255, width=max(2, int(1.5 * s)))
    sd.text((10 * s, 12 * s), "COPIE CERTIFIÉE", font=_font(FONT_SANS_BOLD, int(12 * s)), fill=255)
    sd.text((10 * s, 32 * s), "CONFORME", font=_font(FONT_SANS_BOLD, int(12 * s)), fill=255)
    stamp = stamp.rotate(float(rng.uniform(-12, 12)), expand=True)
    where = (int(ox + w * 0.5), int(oy + h + 40 * s))
    canvas.paste(Image.new(canvas.mode, stamp.size, _ink(colour, 110, (60, 60, 160))), where, stamp)
    return np.asarray(canvas).copy()


def diploma_copy(fields: dict, dpi: int, *, colour: bool, rng: np.random.Generator) -> np.ndarray:
    """A copy of a diploma: border, institution, the holder's name, the field and the year."""
    canvas = _letter_canvas(dpi, colour, tone=250)
    draw = ImageDraw.Draw(canvas)
    s = dpi / 72.0
    W, H = canvas.size
    m = 40 * s
    draw.rectangle([m, m, W - m, H - m], outline=_ink(colour, 70, (120, 90, 30)), width=int(4 * s))
    draw.rectangle([m + 8 * s, m + 8 * s, W - m - 8 * s, H - m - 8 * s], outline=_ink(colour, 110, (150, 120, 50)), width=max(1, int(s)))

    def centred(y: float, text: str, font_path: str, size: float, grey: int = 30) -> None:
        font = _font(font_path, int(size * s))
        width = draw.textlength(text, font=font)
        draw.text(((W - width) / 2, y * s), text, font=font, fill=_ink(colour, grey))

    centred(120, str(fields.get("institution") or "UNIVERSITÉ"), FONT_SERIF_BOLD, 20)
    centred(200, "DIPLÔME", FONT_SERIF_BOLD, 34)
    centred(260, "décerné à / awarded to", FONT_SERIF, 12, 80)
    centred(300, f"{fields.get('given_names', '')} {fields.get('family_name', '')}".strip(), FONT_SERIF_BOLD, 22)
    level = {"SECONDARY": "Diplôme d'études secondaires", "POSTSECONDARY": "Diplôme d'études techniques",
             "BACHELOR": "Licence / Baccalauréat", "MASTER": "Master / Maîtrise", "DOCTORATE": "Doctorat"}
    centred(360, level.get(str(fields.get("education_level")), "Diplôme"), FONT_SERIF, 16)
    centred(390, f"Spécialité : {str(fields.get('field_of_study', '')).title()}", FONT_SERIF, 14)
    centred(440, f"Session {fields.get('diploma_year', '')}", FONT_SERIF, 14)
    # Seal and signatures.
    cx, cy, r = W * 0.25, 600 * s, 45 * s
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=_ink(colour, 90, (160, 40, 40)), width=int(3 * s))
    draw.ellipse([cx - r * 0.75, cy - r * 0.75, cx + r * 0.75, cy + r * 0.75], outline=_ink(colour, 90, (160, 40, 40)), width=max(1, int(s)))
    sig = np.full((canvas.size[1], canvas.size[0]), 255, dtype=np.uint8)
    handprint.draw_signature(sig, (int(W * 0.55), int(570 * s), int(W * 0.85), int(620 * s)), rng)
    pixels = np.asarray(canvas).copy()
    lay_ink(pixels, sig)
    return pixels


def blank_sheet(dpi: int, *, colour: bool, rng: np.random.Generator) -> np.ndarray:
    """An empty sheet (the back of a page, a cover): paper, maybe a faint show-through."""
    tone = int(rng.integers(244, 256))
    canvas = np.full((int(round(11 * dpi)), int(round(8.5 * dpi))) + ((3,) if colour else ()), tone, dtype=np.uint8)
    if rng.random() < 0.5:  # print of the other side showing through, very light
        y = int(rng.integers(canvas.shape[0] // 8, canvas.shape[0] // 2))
        cv2.rectangle(canvas, (dpi // 2, y), (canvas.shape[1] - dpi // 2, y + dpi // 3), (tone - 6,) * 3 if colour else tone - 6, -1)
    return canvas


# --------------------------------------------------------------------- the envelope photo

MONTHS_FR = ("JANV", "FEVR", "MARS", "AVRIL", "MAI", "JUIN", "JUIL", "AOUT", "SEPT", "OCT", "NOV", "DEC")


def envelope_photo(fields: dict, postmark: date | None, *, rng: np.random.Generator) -> bytes:
    """A JPEG photo of the envelope: sender, the ministry's address, a stamp and a round
    postmark whose date is legible, or smudged when `postmark` is None."""
    W, H = 1100, 500
    img = Image.new("RGB", (W, H), (int(rng.integers(60, 90)),) * 3)  # the table under it
    env = Image.new("RGB", (1000, 420), tuple(int(v) for v in rng.integers(225, 245, size=3)))
    d = ImageDraw.Draw(env)
    hand = Image.new("L", env.size, 255)
    hd = ImageDraw.Draw(hand)
    sender = [f"{fields.get('given_names', '')} {fields.get('family_name', '')}", str(fields.get("address_line", "")),
              f"{fields.get('postal_code', '')} {fields.get('city', '')}", str(fields.get("country_of_residence", ""))]
    for i, line in enumerate(sender):
        hd.text((30, 30 + 22 * i), line, font=_font(FONT_SANS, 15), fill=40)
    address = ["MINISTÈRE DE L'IMMIGRATION, DE LA FRANCISATION", "ET DE L'INTÉGRATION", "PROGRAMME RÉGULIER DES TRAVAILLEURS QUALIFIÉS",
               "C. P. 2016, SUCC. PLACE-D'ARMES", "MONTRÉAL (QUÉBEC)  H2Y 3L9", "CANADA"]
    for i, line in enumerate(address):
        d.text((380, 200 + 26 * i), line, font=_font(FONT_SANS_BOLD, 17), fill=(25, 25, 35))
    env.paste(Image.new("RGB", env.size, (20, 30, 90)), (0, 0), Image.eval(hand, lambda v: 255 - v))
    # Stamp and postmark.
    sx, sy = 860, 25
    d.rectangle([sx, sy, sx + 110, sy + 130], fill=tuple(int(v) for v in rng.integers(80, 200, size=3)), outline=(250, 250, 250), width=5)
    pm = Image.new("L", (230, 230), 0)
    pd = ImageDraw.Draw(pm)
    pd.ellipse([10, 10, 220, 220], outline=255, width=5)
    pd.ellipse([40, 40, 190, 190], outline=255, width=3)
    pd.text((60, 70), str(fields.get("city", "POSTE"))[:10], font=_font(FONT_SANS_BOLD, 20), fill=255)
    if postmark:
        pd.text((55, 105), f"{postmark.day:02d} {MONTHS_FR[postmark.month - 1]}", font=_font(FONT_SANS_BOLD, 26), fill=255)
        pd.text((75, 140), f"{postmark.year}", font=_font(FONT_SANS_BOLD, 26), fill=255)
    else:  # a smudge where the date should be
        pd.rectangle([55, 105, 175, 170], fill=120)
    for k in range(5):  # cancellation waves
        pd.line([(200 + 0, 90 + 14 * k), (229, 92 + 14 * k)], fill=255, width=3)
    pm = pm.rotate(float(rng.uniform(-30, 30)))
    ink = Image.new("RGB", pm.size, (30, 30, 40))
    env.paste(ink, (720, 0), pm.point(lambda v: int(v * 0.8)))
    env = env.rotate(float(rng.uniform(-4, 4)), expand=True, fillcolor=img.getpixel((0, 0)))
    img.paste(env, ((W - env.width) // 2, (H - env.height) // 2))
    arr = cv2.GaussianBlur(np.asarray(img), (0, 0), float(rng.uniform(0.3, 1.0)))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(rng.integers(70, 90)))
    return buf.getvalue()
