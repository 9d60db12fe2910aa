"""The printable paper: the blank form, the prefilled form, separator sheets.

Each function renders the whole PDF in memory and only then writes it (through a temporary
file renamed into place), so a failure never leaves half a PDF behind, and an invalid data
document leaves no file at all.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from reportlab.pdfgen.canvas import Canvas

from errors import BadArguments, InvalidData, StorageError
from forms import draw
from forms.serial import check_separator_serial, grouped, new_separator_serial, normalize_separator_serial
from templates.codes import PageCode, PageData, document_id, encode_page_data
from templates.spec import CURRENT_VERSION, FORM_ID, FormSpec, load_form, load_separator
from templates.validation import is_empty, normalize_document, validate

LANGS = ("fr", "en")


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise BadArguments(f"unknown language {lang!r}; use fr or en")


def _canvas(buf: io.BytesIO, form: FormSpec, lang: str) -> Canvas:
    page = form.pages[0]
    # invariant: no timestamp or random id in the file, so the same input gives the same bytes.
    c = Canvas(buf, pagesize=(page.width_pt, page.height_pt), invariant=1, pageCompression=1)
    c.setTitle(getattr(form.title, lang))
    c.setSubject(f"{form.form_id} {form.version}")
    c.setCreator("csq-intake")
    return c


def _write(out: Path, data: bytes) -> Path:
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise StorageError(
            f"cannot write the file ({exc.strerror or exc}); check that the folder is writable and the disk not full",
            path=str(out),
        ) from exc
    return out


def _page_code(form: FormSpec, index: int, **extra) -> str:
    page = form.pages[index]
    return PageCode(form.form_id, form.version, index + 1, page.page_count, page.fingerprint, **extra).encode()


def blank_pdf(out: Path, *, lang: str = "fr", version: str = CURRENT_VERSION) -> Path:
    """The application form, blank, to print and fill by hand."""
    return _write(out, blank_pdf_bytes(lang=lang, version=version))


def blank_pdf_bytes(*, lang: str = "fr", version: str = CURRENT_VERSION) -> bytes:
    """The blank form's PDF itself (the candidates' page serves it without a file)."""
    _check_lang(lang)
    form = load_form(FORM_ID, version)
    buf = io.BytesIO()
    c = _canvas(buf, form, lang)
    for page in form.pages:
        draw.draw_page(c, form, page, lang, _page_code(form, page.index))
        c.showPage()
    c.save()
    return buf.getvalue()


def prefill_pdf(doc: dict, out: Path, *, lang: str = "fr", version: str = CURRENT_VERSION, source: str | Path | None = None) -> Path:
    """The form with the values of a data document typed in and carried by data QR codes.

    `source` names the data document in error messages. The signature box is left empty for
    the candidate to sign; `declaration_signed` travels in the data codes as given.
    """
    return _write(out, prefill_pdf_bytes(doc, lang=lang, version=version, source=source))


def prefill_pdf_bytes(doc: dict, *, lang: str = "fr", version: str = CURRENT_VERSION, source: str | Path | None = None) -> bytes:
    """The prefilled form's PDF itself (the candidates' page sends it without storing it):
    InvalidData with every problem when the document does not pass the validator."""
    _check_lang(lang)
    form = load_form(FORM_ID, version)
    normalized = normalize_document(doc, form)
    well_formed = isinstance(doc, dict) and isinstance(doc.get("fields"), dict)
    problems = validate(normalized if well_formed else doc, form)  # not a {"fields": {...}} object: say that, not "all empty"
    if problems:
        raise InvalidData(
            f"the data document has {len(problems)} problem{'s' if len(problems) > 1 else ''}; fix them and run again",
            problems,
            path=str(source) if source else None,
        )
    # The document id covers the non-empty values only: exactly what the data codes carry,
    # so a reader can recompute it from the union of the pages it decoded.
    fields = {k: v for k, v in normalized["fields"].items() if not is_empty(v)}
    doc_id = document_id(fields)
    layouts = []
    for page in form.pages:  # every page laid out before anything is drawn: no partial PDF
        page_fields = {f.name: fields[f.name] for f in page.fields if f.name in fields}
        data = PageData(form.form_id, form.version, page.index + 1, doc_id, page_fields)
        layouts.append(draw.layout_data_codes(page, encode_page_data(data)))
    buf = io.BytesIO()
    c = _canvas(buf, form, lang)
    for page, placed in zip(form.pages, layouts):
        draw.draw_page(c, form, page, lang, _page_code(form, page.index, document_id=doc_id), zone_note=False)
        draw.draw_values(c, page, fields)
        draw.draw_data_codes(c, placed)
        c.showPage()
    c.save()
    return buf.getvalue()


def separator_pdf(
    out: Path, *, count: int = 1, serials: list[str] | None = None, version: str = CURRENT_VERSION, lang: str = "fr"
) -> list[str]:
    """`count` separator sheets, each with its own serial; returns the serials in page order.

    `serials` reprints given sheets instead (their number then sets the count; a `count` other
    than the default must agree with it).
    """
    _check_lang(lang)
    if serials is not None:
        bad = [s for s in serials if not check_separator_serial(s)]
        if bad:
            raise BadArguments(f"not a valid separator serial: {', '.join(map(str, bad))}; copy it again from the sheet")
        if count not in (1, len(serials)):
            raise BadArguments(f"--count {count} but {len(serials)} serials given; give one or the other")
        serials = [normalize_separator_serial(s) for s in serials]
    else:
        if count < 1:
            raise BadArguments(f"--count must be at least 1 (got {count})")
        serials = []
        while len(serials) < count:
            s = new_separator_serial()
            if s not in serials:
                serials.append(s)
    if not serials:
        raise BadArguments("no serial given; give at least one or leave out the list")
    form = load_separator(version)
    page = form.pages[0]
    buf = io.BytesIO()
    c = _canvas(buf, form, lang)
    for s in serials:
        draw.draw_page(c, form, page, lang, _page_code(form, 0, serial=s), zone_note=False)
        draw.draw_separator_extras(c, page, form, grouped(s), lang)
        c.showPage()
    c.save()
    _write(out, buf.getvalue())
    return serials


def rasterize_first_page_png(pdf: Path, out: Path, dpi: int = 100) -> Path:
    """Page 1 of a PDF as a PNG (for the README's pictures)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf))
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return _write(Path(out), buf.getvalue())
