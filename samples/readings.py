"""Scanned envelopes ready-made, as scan/ hands them over, and staff accounts: registry data
for the station's benchmark (bench/station.py), its screenshots and the tests.

Everything is built through the registry's public API, as the mail and online channels do:
`submit_online` for online files, `register_mail` with an EnvelopeReading whose pages are
real images (the blank form rendered by forms/, rasterized at 200 dpi with pypdfium2, the
candidate's letters drawn into the comb cells with Pillow), with the fields the reader
doubted chosen by the caller.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from datetime import date
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from scan.model import EnvelopeReading, FieldReading, PageRecord
from station import limits
from templates.spec import FieldSpec, load_form

SAMPLE_DOCUMENT = Path(__file__).resolve().parent / "prefill-example.json"
HAND_FONTS = ("/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PASSWORD = "correct-horse-battery"  # every test account's password (10+ characters)
STAFF = {"clara": "clerk", "remi": "reviewer", "sophie": "supervisor", "rachel": "reviewer"}


def sample_document() -> dict:
    return json.loads(SAMPLE_DOCUMENT.read_text(encoding="utf-8"))


def px(value_pt: float) -> float:
    return value_pt * limits.PAGE_DPI / limits.POINTS_PER_INCH


@lru_cache(maxsize=1)
def blank_pages_png() -> tuple[bytes, ...]:
    """Every page of the blank form at 200 dpi, greyscale PNG (rendered once per process)."""
    import pypdfium2 as pdfium

    from forms.render import blank_pdf_bytes

    document = pdfium.PdfDocument(blank_pdf_bytes())
    try:
        out = []
        for page in document:
            image = page.render(scale=limits.PAGE_DPI / limits.POINTS_PER_INCH, grayscale=True).to_pil().convert("L")
            buf = io.BytesIO()
            image.save(buf, format="PNG", compress_level=3)
            out.append(buf.getvalue())
        return tuple(out)
    finally:
        document.close()


@lru_cache(maxsize=64)
@lru_cache(maxsize=1)
def separator_page_png(written_postmark: str = "20261001") -> tuple[str, bytes]:
    """A separator sheet at 200 dpi with a postmark date written by the clerk; (serial, PNG)."""
    import tempfile

    import pypdfium2 as pdfium

    from forms.render import separator_pdf
    from templates.spec import load_separator

    with tempfile.TemporaryDirectory() as tmp:
        serial = separator_pdf(Path(tmp) / "separator.pdf")[0]
        document = pdfium.PdfDocument(str(Path(tmp) / "separator.pdf"))
        try:
            image = document[0].render(scale=limits.PAGE_DPI / limits.POINTS_PER_INCH, grayscale=True).to_pil().convert("L")
        finally:
            document.close()
    page = load_separator().pages[0]
    write_into_cells(ImageDraw.Draw(image), page.field("postmark_date"), written_postmark, page.height_pt)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)
    return serial, buf.getvalue()


def _font(size: int, char: str = "A") -> ImageFont.ImageFont:
    """A hand-like font, or DejaVu for the letters it lacks (Humor Sans has no accents)."""
    paths = HAND_FONTS if char.isascii() else HAND_FONTS[1:]
    for path in paths:
        with contextlib.suppress(OSError):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def write_into_cells(draw: ImageDraw.ImageDraw, spec: FieldSpec, text: str, height_pt: float) -> None:
    """One capital per comb cell, as a candidate writes them (dark blue ink)."""
    for cell, char in zip(spec.cells, text):
        x0, y0, x1, y1 = cell
        size = int(px(y1 - y0) * 0.72)
        left, top = px(x0), px(height_pt - y1)
        w, h = px(x1 - x0), px(height_pt - y0) - top
        font = _font(size, char)
        bbox = draw.textbbox((0, 0), char, font=font)
        draw.text((left + (w - (bbox[2] - bbox[0])) / 2 - bbox[0], top + (h - (bbox[3] - bbox[1])) / 2 - bbox[1]),
                  char, fill=40, font=font)


def tick(draw: ImageDraw.ImageDraw, box, height_pt: float) -> None:
    x0, y0, x1, y1 = box
    draw.line([(px(x0) + 3, px(height_pt - y1) + 3), (px(x1) - 3, px(height_pt - y0) - 3)], fill=40, width=4)
    draw.line([(px(x0) + 3, px(height_pt - y0) - 3), (px(x1) - 3, px(height_pt - y1) + 3)], fill=40, width=4)


def scribble(draw: ImageDraw.ImageDraw, box, height_pt: float) -> None:
    """A signature: a few loops of a pen across the middle of the box."""
    import math

    x0, y0, x1, y1 = box
    left, right = px(x0) + 20, px(x0 + (x1 - x0) * 0.6)
    middle, amplitude = px(height_pt - (y0 + y1) / 2), px(y1 - y0) * 0.25
    points = [(left + (right - left) * t / 200, middle + amplitude * math.sin(t / 9) * (1 - t / 260)) for t in range(201)]
    draw.line(points, fill=30, width=4, joint="curve")


def filled_pages_png(written: dict[str, str | bool]) -> tuple[bytes, ...]:
    """The blank pages with `written` (field → text or tick) drawn in by hand."""
    return _filled_pages_png(json.dumps(written, sort_keys=True))


@lru_cache(maxsize=4)
def _filled_pages_png(written_json: str) -> tuple[bytes, ...]:
    written = json.loads(written_json)
    form = load_form()
    out = []
    for index, blank in enumerate(blank_pages_png()):
        page_spec = form.pages[index]
        image = Image.open(io.BytesIO(blank)).convert("L")
        draw = ImageDraw.Draw(image)
        for spec in page_spec.fields:
            value = written.get(spec.name)
            if value in (None, "", False):
                continue
            if spec.cells:
                write_into_cells(draw, spec, str(value).replace("-", "") if spec.type == "date" else str(value),
                                 page_spec.height_pt)
            elif spec.options:
                for option in spec.options:
                    if option.value == value:
                        tick(draw, option.box, page_spec.height_pt)
            elif spec.box is not None and value is True and spec.type == "signature":
                scribble(draw, spec.box, page_spec.height_pt)
            elif spec.box is not None and value is True:
                tick(draw, spec.box, page_spec.height_pt)
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=3)
        out.append(buf.getvalue())
    return tuple(out)


def envelope_reading(serial: int, *, doubtful: dict[str, str | bool | None], pages_png: tuple[bytes, ...] | None = None,
                     truth: dict | None = None) -> EnvelopeReading:
    """An envelope as scan/ would hand it over: every field read, those in `doubtful` read
    as the given (maybe wrong) value and flagged low_confidence, the others read right."""
    form = load_form()
    truth = truth or sample_document()["fields"]
    pages_png = pages_png or filled_pages_png(truth)
    tag = f"test-envelope-{serial}"
    pages = tuple(
        PageRecord(sequence=i, source_file=f"{tag}.pdf", source_page=i, kind="form",
                   pixels_sha256=hashlib.sha256(f"{tag}:{i}".encode()).hexdigest(), image_png=png,
                   form_id=form.form_id, version=form.version, page_no=i + 1)
        for i, png in enumerate(pages_png)
    )
    fields = []
    for spec in form.fields:
        value = truth.get(spec.name)
        flagged = spec.name in doubtful
        if flagged:
            value = doubtful[spec.name]
        source = "omr" if spec.type in ("choice", "checkbox", "signature") else "ocr"
        fields.append(FieldReading(
            name=spec.name, value=value, raw=str(value) if value is not None else "", source=source,
            confidence=0.41 if flagged else 0.995, needs_review=flagged, reasons=("low_confidence",) if flagged else (),
            page_no=spec.page_index + 1, box=spec.bounds,
        ))
    fingerprint = hashlib.sha256("".join(sorted(p.pixels_sha256 for p in pages)).encode()).hexdigest()
    return EnvelopeReading(fingerprint=fingerprint, pages=pages, fields=tuple(fields), form_id=form.form_id,
                           version=form.version)


def with_doubtful_separator(reading: EnvelopeReading, *, read_as: str = "2026-10-07") -> EnvelopeReading:
    """The envelope as part of a batch: a separator sheet whose postmark was read with doubt
    (the registry then asks a supervisor to confirm it)."""
    from dataclasses import replace

    from scan.model import SeparatorReading

    serial, png = separator_page_png()
    page = PageRecord(sequence=len(reading.pages), source_file="batch.pdf", source_page=0, kind="separator",
                      pixels_sha256=hashlib.sha256(f"sep:{reading.fingerprint}".encode()).hexdigest(), image_png=png,
                      form_id="csq-sep", version=reading.version, page_no=1)

    def read(name, value, doubtful):
        return FieldReading(name=name, value=value, raw=str(value), source="ocr", confidence=0.4 if doubtful else 0.99,
                            needs_review=doubtful, reasons=("low_confidence",) if doubtful else ())

    separator = SeparatorReading(serial=serial, postmark_date=read("postmark_date", read_as, True),
                                 postmark_illegible=read("postmark_illegible", False, False),
                                 received_date=read("received_date", "2026-10-09", False), page=page)
    return replace(reading, separator=separator)


@lru_cache(maxsize=4)
def envelope_png(postmark: str = "2026-10-06") -> bytes:
    """A photographed envelope: an address block and a round postmark with its date."""
    image = Image.new("L", (900, 420), 236)
    draw = ImageDraw.Draw(image)
    font = _font(26, "É")
    draw.multiline_text((430, 220), "Ministère de l'Immigration\n285, rue Notre-Dame Ouest\nMontréal (Québec) H2Y 1T8",
                        fill=40, font=font, spacing=8)
    draw.ellipse((40, 30, 260, 250), outline=70, width=5)
    draw.text((150, 115), "POSTES", fill=70, font=_font(22, "A"), anchor="mm")
    draw.text((150, 150), postmark, fill=70, font=_font(24, "A"), anchor="mm")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# A handwritten envelope read with three doubts: a misread name, a date, a tick.
DEFAULT_DOUBTS = {"family_name": "GAGNE-TREMELAY", "birth_date": "1990-04-11", "sex": "F"}


def register_mail_envelope(registry, serial: int, *, doubtful: dict | None = None, postmark: date | None = date(2026, 10, 6),
                           received: date = date(2026, 10, 9), doubtful_separator: bool = False) -> str:
    reading = envelope_reading(serial, doubtful=DEFAULT_DOUBTS if doubtful is None else doubtful)
    if doubtful_separator:
        reading, postmark = with_doubtful_separator(reading), None
    return registry.register_mail(reading, postmark=postmark, received=received,
                                  envelope_image=envelope_png(postmark.isoformat() if postmark else "?")).file_no


def add_staff(registry) -> None:
    for name, role in STAFF.items():
        registry.add_user(name, role, PASSWORD)
