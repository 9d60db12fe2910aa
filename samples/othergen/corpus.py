"""Envelopes of the second generator, in samples.generate's folder format (truth.json each).

Who fills the form: a seeded applicant of samples.people (the people are data), sometimes
with the name and city as in the passport (GARCÍA LÓPEZ, MEDELLÍN, ŁÓDŹ: Latin letters beyond
the form's French set, written with their marks), or a form left blank, or prefilled by
forms.render and signed by hand. Everything drawn on the paper is drawn here
(samples.othergen.pen, .marks) and the scanner is this package's own (.damage).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont

from samples.othergen import damage as dmg
from samples.othergen import marks, pen
from samples.people import MAIL_DELAY_DAYS, POSTMARK_WINDOW, Applicant, break_document, make_applicant
from templates.spec import FieldSpec, load_form
from templates.validation import validate

GENERATOR = "othergen"
KIND_WEIGHTS = {"handwritten": 0.78, "prefilled": 0.14, "blank": 0.08}
FORMAT_WEIGHTS = {"pdf": 0.35, "tiff-g4": 0.3, "jpeg": 0.2, "png": 0.15}
FORMAT_MODES = {
    "pdf": {"grey": 0.5, "colour": 0.2, "bilevel": 0.3},
    "tiff-g4": {"bilevel": 1.0},
    "jpeg": {"grey": 0.6, "colour": 0.4},
    "png": {"grey": 0.5, "bilevel": 0.5},
}
DPI_WEIGHTS = {150: 0.3, 200: 0.45, 300: 0.25}
BILEVEL_DPI_WEIGHTS = {150: 0.6, 200: 0.3, 300: 0.1}  # fax-like G4 at 150 dpi is common
ODDS = {
    "missing_page": 0.08,
    "shuffled": 0.2,
    "cover_letter": 0.25,
    "passport_spelling": 0.5,  # names and city as in the passport when they were transliterated
    "latin_person": 0.3,  # a candidate from the names issue's list
    "correction": 0.3,  # one choice scribbled out and another ticked
    "struck_letter": 0.2,  # a wrong letter crossed out in its box, the right one written above it
    "circle_all": 0.08,  # a person who circles every option
    "invalid": 0.12,
}
# (family name, given names, city, country in French) as a passport writes them.
LATIN_PEOPLE = (
    ("SÁNCHEZ", "SEBASTIÁN", "MEDELLÍN", "COLOMBIE"),
    ("GARCÍA LÓPEZ", "JOSÉ MARÍA", "BOGOTÁ", "COLOMBIE"),
    ("CONCEIÇÃO", "JOÃO", "SÃO PAULO", "BRÉSIL"),
    ("ŁUKASIEWICZ", "MAŁGORZATA", "ŁÓDŹ", "POLOGNE"),
    ("ÇAĞLAYAN", "AYŞE", "İSTANBUL", "TURQUIE"),
    ("ØSTERGÅRD", "SØREN", "ÅRHUS", "DANEMARK"),
    ("MÜLLER", "JÜRGEN", "MÜNCHEN", "ALLEMAGNE"),
    ("NÚÑEZ", "ÍÑIGO", "CÓRDOBA", "ARGENTINE"),
    ("DIOP", "NOÉMIE", "THIÈS", "SÉNÉGAL"),
    ("BELAÏD", "ANAÏS", "ORAN", "ALGÉRIE"),
    ("GONÇALVES", "INÊS", "CONCEIÇÃO", "PORTUGAL"),
    ("PÉREZ", "ÁLVARO", "MÁLAGA", "ESPAGNE"),
)
TICK_HABITS = dict(marks.TICK_WEIGHTS)


@dataclass(frozen=True)
class EnvelopeSample:
    """One envelope written: its scan files, its truth and where the truth is (as samples.generate's)."""

    files: tuple[Path, ...]
    truth: dict
    truth_path: Path


@dataclass
class Sheet:
    pixels: np.ndarray
    kind: str  # form | supporting | blank
    page_no: int | None = None
    document: str | None = None


@dataclass
class Log:
    """What the hand did, for the truth."""

    tick_styles: dict = field(default_factory=dict)
    corrections: list = field(default_factory=list)
    accents: list = field(default_factory=list)  # fields whose written value carries a mark above or below


def _weighted(rng: np.random.Generator, weights: dict):
    keys = list(weights)
    p = np.array(list(weights.values()), dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _px(box, dpi: int, page_h: float) -> tuple[int, int, int, int]:
    s = dpi / 72.0
    x0, y0, x1, y1 = box
    return int(round(x0 * s)), int(round((page_h - y1) * s)), int(round(x1 * s)), int(round((page_h - y0) * s))


# ------------------------------------------------------------------------------- paper


def _raster(pdf: bytes, dpi: int) -> list[np.ndarray]:
    document = pdfium.PdfDocument(pdf)
    try:
        out = []
        for page in document:
            bitmap = page.render(scale=dpi / 72.0, grayscale=True)
            arr = bitmap.to_numpy()
            out.append(arr.reshape(arr.shape[0], arr.shape[1]).copy())
        return out
    finally:
        document.close()


@lru_cache(maxsize=6)
def _blank_pages(lang: str, dpi: int) -> tuple[np.ndarray, ...]:
    from forms.render import blank_pdf_bytes

    return tuple(_raster(blank_pdf_bytes(lang=lang), dpi))


def _prefilled_pages(doc: dict, lang: str, dpi: int) -> list[np.ndarray]:
    from forms.render import prefill_pdf_bytes

    return _raster(prefill_pdf_bytes(doc, lang=lang), dpi)


def _cover_letter(person: dict, dpi: int, rng: np.random.Generator) -> np.ndarray:
    """A typed letter to the ministry, the kind of page people add to the envelope."""
    w, h = int(8.5 * dpi), int(11 * dpi)
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf", max(8, dpi // 7))
    lines = [f"{person.get('given_names', '')} {person.get('family_name', '')}", person.get("address_line", ""),
             person.get("city", ""), "", "Objet : demande de certificat de sélection du Québec", "",
             "Madame, Monsieur,", ""]
    words = "veuillez trouver ci-joint ma demande ainsi que les documents demandés dans le guide".split()
    for _ in range(int(rng.integers(6, 14))):
        lines.append(" ".join(words[int(i)] for i in rng.integers(0, len(words), size=9)))
    y = dpi
    for line in lines:
        draw.text((dpi, y), line, fill=20, font=font)
        y += int(dpi * 0.25)
    return np.asarray(img).copy()


# ------------------------------------------------------------------------------ writing


def _written_value(f: FieldSpec, value) -> str:
    return str(value).replace("-", "") if f.type == "date" else str(value)


def _lay(sheet: np.ndarray, ink: np.ndarray) -> None:
    np.minimum(sheet, ink, out=sheet)


def fill_page(sheet: np.ndarray, page, values: dict, dpi: int, writer: pen.Writer, rng: np.random.Generator, *,
              habit: str, log: Log, correction_field: str | None = None, struck_field: str | None = None,
              only: set[str] | None = None) -> dict:
    """Write `values` by hand on one printed page (in place). Returns, per comb field, what each
    cell got (the pen's record: letter box and accent boxes, pixels)."""
    ink = np.full(sheet.shape[:2], 255, np.uint8)
    drawn = {}
    for f in page.fields:
        if only is not None and f.name not in only:
            continue
        value = values.get(f.name)
        if value is None or value == "" or value is False:
            continue
        if f.type in ("text", "digits", "date"):
            text = _written_value(f, value)
            cells = [_px(c, dpi, page.height_pt) for c in f.cells]
            if f.type == "digits" and len(text) < len(cells) and rng.random() < 0.3:
                cells = cells[len(cells) - len(text):]
            if f.name == struck_field:
                drawn[f.name] = _write_struck(ink, f, text, cells, writer, rng, log)
            else:
                drawn[f.name] = {"cells": cells[:len(text)], "text": text,
                                 "chars": pen.write_text(ink, text, cells, writer, rng)}
            if any(c["marks"] for c in drawn[f.name]["chars"]):
                log.accents.append(f.name)
        elif f.type == "choice":
            option = next(o for o in f.options if o.value == value)
            style = habit if rng.random() < 0.85 or habit == "circle" else _weighted(rng, marks.TICK_WEIGHTS)
            if f.name == correction_field and len(f.options) > 1:
                wrong = [o for o in f.options if o.value != value]
                cancelled = wrong[int(rng.integers(len(wrong)))]
                marks.draw_tick(ink, _px(cancelled.box, dpi, page.height_pt), "scribbled", rng, grey=writer.ink)
                log.corrections.append({"field": f.name, "how": "scribbled_box", "cancelled": cancelled.value})
            box = _px(option.box, dpi, page.height_pt)
            marks.draw_tick(ink, box, style, rng, grey=writer.ink, label_px=int(dpi * 0.6))
            log.tick_styles[f.name] = style
        elif f.type == "checkbox" and value is True:
            style = habit if rng.random() < 0.85 or habit == "circle" else _weighted(rng, marks.TICK_WEIGHTS)
            marks.draw_tick(ink, _px(f.box, dpi, page.height_pt), style, rng, grey=writer.ink, label_px=int(dpi * 0.8))
            log.tick_styles[f.name] = style
        elif f.type == "signature" and value is True:
            marks.draw_signature(ink, _px(f.box, dpi, page.height_pt), rng, grey=writer.ink)
    _lay(sheet, ink)
    return drawn


def _write_struck(ink: np.ndarray, f: FieldSpec, text: str, cells: list, writer: pen.Writer, rng: np.random.Generator,
                  log: Log) -> dict:
    """The value with one slip: a wrong letter in box k, crossed out, the right letter written
    small just above the box. The truth is what the person meant."""
    k = int(rng.integers(len(text)))
    while text[k] == " ":
        k = (k + 1) % len(text)
    wrong = "EARNIOTSLU"[int(rng.integers(10))]
    if wrong == text[k]:
        wrong = "M" if text[k] != "M" else "N"
    chars = pen.write_text(ink, text[:k] + wrong + text[k + 1:], cells, writer, rng)
    how = marks.strike(ink, cells[k], rng, grey=writer.ink)
    x0, y0, x1, y1 = cells[k]
    h = y1 - y0
    above = (x0, y0 - int(0.8 * h), x1, y0 - int(0.1 * h))
    pen.write_char(ink, text[k], above, writer, rng)
    log.corrections.append({"field": f.name, "how": f"struck_letter:{how}", "cell": k, "struck": wrong, "above": text[k]})
    return {"cells": cells[:len(text)], "text": text, "chars": chars, "struck": k}


# -------------------------------------------------------------------------------- plan


@dataclass
class Plan:
    kind: str
    lang: str
    fmt: str
    mode: str
    dpi: int
    jpeg_quality: int | None
    writer: pen.Writer
    habit: str
    missing_page: int | None
    shuffled: bool
    cover_letter: bool
    passport_spelling: bool
    latin: tuple[str, str, str, str] | None
    correction: bool
    struck_letter: bool
    postmark: date
    received: date
    toner: float = 1.0


def plan_envelope(rng: np.random.Generator, *, kind: str | None = None, fmt: str | None = None) -> Plan:
    pages = len(load_form().pages)
    kind = kind or _weighted(rng, KIND_WEIGHTS)
    fmt = fmt or _weighted(rng, FORMAT_WEIGHTS)
    mode = _weighted(rng, FORMAT_MODES[fmt])
    dpi = _weighted(rng, BILEVEL_DPI_WEIGHTS if mode == "bilevel" else DPI_WEIGHTS)
    quality = int(rng.integers(35, 86)) if fmt in ("pdf", "jpeg") and mode != "bilevel" else None
    postmark = POSTMARK_WINDOW[0] + timedelta(days=int(rng.integers(0, (POSTMARK_WINDOW[1] - POSTMARK_WINDOW[0]).days + 1)))
    habit = "circle" if rng.random() < ODDS["circle_all"] else _weighted(rng, TICK_HABITS)
    return Plan(
        kind=kind, lang="fr" if rng.random() < 0.7 else "en", fmt=fmt, mode=mode, dpi=dpi, jpeg_quality=quality,
        writer=pen.sample_writer(rng), habit=habit,
        missing_page=int(rng.integers(1, pages + 1)) if kind != "blank" and rng.random() < ODDS["missing_page"] else None,
        shuffled=rng.random() < ODDS["shuffled"], cover_letter=kind != "blank" and rng.random() < ODDS["cover_letter"],
        passport_spelling=rng.random() < ODDS["passport_spelling"],
        latin=LATIN_PEOPLE[int(rng.integers(len(LATIN_PEOPLE)))] if rng.random() < ODDS["latin_person"] else None,
        correction=rng.random() < ODDS["correction"],
        struck_letter=rng.random() < ODDS["struck_letter"],
        postmark=postmark,
        received=postmark + timedelta(days=int(rng.integers(MAIL_DELAY_DAYS[0], MAIL_DELAY_DAYS[1] + 1))),
        toner=dmg.draw_toner(rng),
    )


def _fits(f: FieldSpec, text: str) -> bool:
    return len(text) <= len(f.cells)


def handwritten_values(plan: Plan, person: Applicant) -> dict:
    """What this candidate writes: the document, with names as in the passport where asked."""
    form = load_form()
    values = dict(person.fields)
    if plan.passport_spelling:
        for name, spelling in person.transliterated.items():
            if form.field(name).type == "text" and _fits(form.field(name), spelling.upper()):
                values[name] = spelling.upper()
    if plan.latin:
        family, given, city, country = plan.latin
        for name, value in (("family_name", family), ("given_names", given), ("city", city),
                            ("country_of_birth", country), ("citizenship", country), ("country_of_residence", country)):
            if _fits(form.field(name), value):
                values[name] = value
    return values


# ---------------------------------------------------------------------------- envelope


def _person(seed: int, index: int, kind: str) -> Applicant:
    rng = np.random.default_rng([seed, index, 71])
    person = make_applicant(rng)
    if kind == "handwritten" and rng.random() < ODDS["invalid"]:
        person = break_document(person, rng)
    return person


def envelope_sheets(plan: Plan, person: Applicant, rng: np.random.Generator) -> tuple[list[Sheet], dict, Log, dict]:
    form = load_form()
    log = Log()
    drawn: dict = {}
    if plan.kind == "blank":
        values: dict = {}
        pages = [dmg.print_with_toner(p, plan.toner) for p in _blank_pages(plan.lang, plan.dpi)]
    elif plan.kind == "prefilled":
        values = dict(person.fields)
        pages = [dmg.print_with_toner(p, plan.toner) for p in _prefilled_pages(person.document, plan.lang, plan.dpi)]
        page = form.pages[form.field("declaration_signed").page_index]
        fill_page(pages[page.index], page, {"declaration_signed": True}, plan.dpi, plan.writer, rng, habit=plan.habit, log=log,
                  only={"declaration_signed"})
        values["declaration_signed"] = True
    else:
        values = handwritten_values(plan, person)
        choices = [f.name for f in form.fields if f.type == "choice" and values.get(f.name)]
        correction = choices[int(rng.integers(len(choices)))] if plan.correction and choices else None
        texts = [f.name for f in form.fields if f.type == "text" and len(str(values.get(f.name) or "").strip()) >= 3]
        struck = texts[int(rng.integers(len(texts)))] if plan.struck_letter and texts else None
        pages = [dmg.print_with_toner(p, plan.toner) for p in _blank_pages(plan.lang, plan.dpi)]
        for page in form.pages:
            drawn.update(fill_page(pages[page.index], page, values, plan.dpi, plan.writer, rng, habit=plan.habit, log=log,
                                   correction_field=correction, struck_field=struck))
    sheets = [Sheet(p, "form", i + 1) for i, p in enumerate(pages)]
    if plan.cover_letter:
        sheets.insert(0, Sheet(_cover_letter(values, plan.dpi, rng), "supporting", None, "letter"))
    return sheets, values, log, drawn


def _expected_problems(plan: Plan) -> list[str]:
    return [f"missing_page:{plan.missing_page}"] if plan.missing_page else []


def generate_envelope(out_dir: Path, index: int, *, seed: int) -> EnvelopeSample:
    rng = np.random.default_rng([seed, index, 70])
    plan = plan_envelope(rng)
    person = _person(seed, index, plan.kind)
    sheets, values, log, _ = envelope_sheets(plan, person, rng)
    order = [int(i) for i in rng.permutation(len(sheets))] if plan.shuffled else list(range(len(sheets)))
    scanned = []
    for i in order:
        sheet = sheets[i]
        if sheet.kind == "form" and sheet.page_no == plan.missing_page:
            continue
        d = dmg.draw_damage(rng, dpi=plan.dpi, mode=plan.mode, jpeg_quality=plan.jpeg_quality, ink=plan.writer.ink)
        scanned.append((sheet, d, dmg.scan(sheet.pixels, d, rng)))
    name = f"env-{index:04d}"
    directory = Path(out_dir) / f"{name}-{plan.kind}-{plan.fmt}"
    directory.mkdir(parents=True, exist_ok=True)
    images = [img for _, _, img in scanned]
    if plan.fmt == "pdf":
        files = [dmg.write_pdf(directory / f"{name}.pdf", images, dpi=plan.dpi, jpeg_quality=plan.jpeg_quality)]
        where = [(files[0].name, k) for k in range(len(images))]
    elif plan.fmt == "tiff-g4":
        files = [dmg.write_tiff_g4(directory / f"{name}.tif", images, dpi=plan.dpi)]
        where = [(files[0].name, k) for k in range(len(images))]
    else:
        ext = "jpg" if plan.fmt == "jpeg" else "png"
        files = [dmg.write_image(directory / f"{name}-p{k + 1:02d}.{ext}", img, dpi=plan.dpi, jpeg_quality=plan.jpeg_quality)
                 for k, img in enumerate(images)]
        where = [(f.name, 0) for f in files]
    problems = validate({"fields": values}) if values else []
    truth = {
        "envelope": name,
        "generator": GENERATOR,
        "kind": plan.kind,
        "lang": plan.lang,
        "fields": values,
        "valid": bool(values) and not problems,
        "defect": "blank_form" if plan.kind == "blank" else person.defect,
        "problems": sorted({f"{p.field}:{p.code}" for p in problems}),
        "transliterated": {} if plan.kind == "blank" else dict(person.transliterated),
        "origin": person.origin,
        "postmark_date": plan.postmark.isoformat(),
        "postmark_illegible": False,
        "received_date": plan.received.isoformat(),
        "format": plan.fmt,
        "files": [f.name for f in files],
        "envelope_photo": None,
        "writer": {**plan.writer.to_json(), "fonts": GENERATOR, "tick_habit": plan.habit, "tick_styles": log.tick_styles,
                   "corrections": log.corrections, "accented_fields": log.accents,
                   "passport_spelling": plan.passport_spelling, "latin_person": bool(plan.latin)},
        "damage": {
            "level": "othergen", "dpi": plan.dpi, "mode": plan.mode, "jpeg_quality": plan.jpeg_quality, "toner": round(plan.toner, 3),
            "rotated_pages": sum(1 for _, d, _ in scanned if d.rotation),
            "max_skew_deg": round(max((abs(d.skew_deg) for _, d, _ in scanned), default=0.0), 3),
            "shuffled": plan.shuffled, "missing_pages": [plan.missing_page] if plan.missing_page else [],
            "duplicated_pages": [], "blank_pages": 0, "supporting": ["letter"] if plan.cover_letter else [],
            "hi_res_page": False,
        },
        "expected_problems": _expected_problems(plan),
        "pages": [{"file": f, "index": k, "kind": s.kind, "page_no": s.page_no, "document": s.document,
                   "rotation": d.rotation, "dpi": d.dpi, "duplicate": False, "damage": d.to_json()}
                  for (s, d, _), (f, k) in zip(scanned, where)],
        "stack": None,
    }
    truth_path = directory / "truth.json"
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return EnvelopeSample(tuple(files), truth, truth_path)


def generate_corpus(out_dir: Path, *, count: int, seed: int, progress=None) -> list[EnvelopeSample]:
    """`count` envelopes of this generator from `seed` in `out_dir`, one folder each.
    Envelope i depends only on (seed, i); the same arguments give the same bytes."""
    if count < 0:
        raise ValueError("count must be 0 or more")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for index in range(1, count + 1):
        samples.append(generate_envelope(out_dir, index, seed=seed))
        if progress:
            progress(index, count, samples[-1].truth_path.parent.name)
    return samples
