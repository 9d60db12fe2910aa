"""Sample envelopes with their truth: what the mailroom scans, and what it should read.

`generate_corpus(out_dir, count=, seed=)` writes `count` envelopes. Each is a seeded
applicant (samples.people; names and places as in the passport, any Latin letter) written
on the form by hand (one writer, one font per envelope: HOLDOUT_FONTS by default, the
hands the recognizer never trained on) or prefilled
(forms.render.prefill_pdf, most often signed by hand afterwards), mixed with supporting
documents and sometimes a blank sheet, then scanned with damage (samples.scanner) and saved
as an image-only PDF, a multi-page TIFF (G4 or grey) or one PNG/JPEG per page. Beside the
files, `truth.json` says what the paper carries, how it was damaged, and every page in scan
order. With `stack=True` envelopes are scanned in stacks, each behind a separator sheet on
which the clerk wrote the postmark date (or ticked "illegible").

Envelope i depends only on (seed, i): generating 10 or 100 envelopes gives the same first 10,
byte for byte.

Truth document (truth.json, one per envelope):
    {"envelope": "env-0003", "kind": "handwritten" | "prefilled", "lang": "fr",
     "fields": {...data document fields as the candidate meant them...},
     "valid": bool, "defect": null | "married_without_spouse" | ..., "problems": [codes],
     "transliterated": {} (names are written as in the passport, ŁUKASIEWICZ, NGUYỄN: nothing is
        transliterated; the key stays for readers of older corpora),
     "postmark_date": "YYYY-MM-DD" | null (illegible), "received_date": "YYYY-MM-DD",
     "format": "pdf" | "tiff-g4" | "tiff-grey" | "jpeg" | "png", "files": [names],
     "envelope_photo": "envelope.jpg" | null, "writer": {"font": ..., "fonts": "holdout", ...},
     "damage": {...summary...}, "expected_problems": ["missing_page:3", ...],
     "pages": [{"file", "index", "kind", "page_no", "document", "rotation", "dpi", ...}, ...],
     "stack": null | {"file", "position", "first_page", "page_count", "separator": {...}}}
`rotation` is how far the sheet was turned clockwise before scanning (turn the image back
counter-clockwise by as much to read it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from samples import handprint
from samples.paper import (
    HandwritingLog,
    TICK_STYLE_WEIGHTS,
    blank_form_pages,
    blank_sheet,
    diploma_copy,
    envelope_photo,
    fill_separator,
    passport_copy,
    prefilled_pages,
    seeded_separator_serial,
    separator_pages,
    write_page,
)
from samples.people import (
    MAIL_DELAY_DAYS,
    PASSPORT_ORIGINS,
    POSTMARK_WINDOW,
    Applicant,
    break_document,
    make_applicant,
)
from samples.scanner import ScanDamage, draw_damage, encode_page, scan_sheet, write_pdf, write_tiff
from templates.spec import load_form
from templates.validation import validate

KINDS = ("handwritten", "prefilled")
FORMATS = ("pdf", "tiff-g4", "tiff-grey", "jpeg", "png")
DAMAGE_LEVELS = ("none", "light", "mixed")
FONT_SETS = ("holdout", "train")

FORMAT_WEIGHTS = {"pdf": 0.35, "tiff-g4": 0.2, "tiff-grey": 0.1, "jpeg": 0.25, "png": 0.1}
# Scanner colour modes each format can carry, with their odds.
FORMAT_MODES = {
    "pdf": {"grey": 0.6, "colour": 0.2, "bilevel": 0.2},
    "tiff-g4": {"bilevel": 1.0},
    "tiff-grey": {"grey": 1.0},
    "jpeg": {"grey": 0.6, "colour": 0.4},
    "png": {"grey": 0.6, "bilevel": 0.4},
}
DPI_WEIGHTS = {150: 0.15, 200: 0.5, 240: 0.05, 300: 0.3}
HI_RES_DPI = 600
# How often each accident happens to an envelope (damage level "mixed"; "light" halves them).
ODDS = {
    "shuffled": 0.3,
    "blank_page": 0.1,
    "missing_page": 0.05,
    "duplicated_page": 0.05,
    "hi_res_page": 0.05,  # one page scanned at 600 dpi (formats that keep a dpi per page)
    "postmark_illegible": 0.06,
    "correction": 0.25,  # a crossed-out letter or a cancelled tick somewhere
    "passport": 0.6,
    "diploma": 0.4,
    "prefilled_unsigned": 0.08,  # printed the prefilled form, mailed it without signing
    "envelope_photo": 1.0,
}


@dataclass(frozen=True)
class EnvelopeSample:
    files: tuple[Path, ...]
    truth: dict
    truth_path: Path


@dataclass
class Sheet:
    """One sheet of paper in the envelope, printed and written on, upright, at `dpi`."""

    pixels: np.ndarray
    dpi: int
    kind: str  # form | supporting | blank | separator
    page_no: int | None = None
    document: str | None = None  # supporting: passport | diploma


@dataclass
class ScannedPage:
    image: np.ndarray
    damage: ScanDamage
    sheet: Sheet
    duplicate: bool = False


@dataclass
class Plan:
    """Every random decision about one envelope, drawn up front (so the truth can state it)."""

    kind: str
    lang: str
    dpi: int
    mode: str
    fmt: str
    level: str
    jpeg_quality: int | None
    font: handprint.FontStyle | None
    tick_habit: str
    tint: str
    shuffled: bool
    blank_page: bool
    missing_page: int | None
    duplicated_page: int | None
    hi_res_page: bool
    supporting: list[str]
    correction: bool
    prefilled_signed: bool
    postmark: date | None
    received: date
    photo: bool
    extra: dict = field(default_factory=dict)


def _weighted(rng: np.random.Generator, weights: dict):
    keys = list(weights)
    p = np.array(list(weights.values()), dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _odds(level: str, name: str) -> float:
    if level == "none":
        return 0.0 if name not in ("passport", "diploma", "envelope_photo") else ODDS[name]
    return ODDS[name] * (0.5 if level == "light" and name not in ("passport", "diploma", "envelope_photo", "correction") else 1.0)


def _fonts(fonts: str) -> tuple[handprint.FontStyle, ...]:
    if fonts not in FONT_SETS:
        raise ValueError(f"fonts must be one of {FONT_SETS}, not {fonts!r}")
    return handprint.HOLDOUT_FONTS if fonts == "holdout" else handprint.TRAIN_FONTS


def plan_envelope(rng: np.random.Generator, *, kind: str, level: str, fonts: str, fmt: str | None = None,
                  mode: str | None = None, dpi: int | None = None, jpeg_quality: int | None = None) -> Plan:
    page_count = len(load_form().pages)
    fmt = fmt or _weighted(rng, FORMAT_WEIGHTS)
    mode = mode or _weighted(rng, FORMAT_MODES[fmt])
    dpi = dpi or (_weighted(rng, DPI_WEIGHTS) if level != "none" else 200)
    quality = int(rng.integers(60, 91)) if fmt in ("pdf", "jpeg") and mode != "bilevel" else None
    if quality is not None and jpeg_quality is not None:
        quality = jpeg_quality
    choices = _fonts(fonts)
    font = choices[int(rng.integers(len(choices)))]
    postmark = POSTMARK_WINDOW[0] + timedelta(days=int(rng.integers(0, (POSTMARK_WINDOW[1] - POSTMARK_WINDOW[0]).days + 1)))
    received = postmark + timedelta(days=int(rng.integers(MAIL_DELAY_DAYS[0], MAIL_DELAY_DAYS[1] + 1)))
    illegible = rng.random() < _odds(level, "postmark_illegible")
    missing = int(rng.integers(1, page_count + 1)) if rng.random() < _odds(level, "missing_page") else None
    duplicated = int(rng.integers(1, page_count + 1)) if rng.random() < _odds(level, "duplicated_page") else None
    if duplicated == missing:
        duplicated = None
    supporting = [d for d in ("passport", "diploma") if rng.random() < _odds(level, d)]
    return Plan(
        kind=kind,
        lang="fr" if rng.random() < 0.7 else "en",
        dpi=dpi,
        mode=mode,
        fmt=fmt,
        level=level,
        jpeg_quality=quality,
        font=font,
        tick_habit=_weighted(rng, TICK_STYLE_WEIGHTS),
        tint="blue" if rng.random() < 0.35 else "black",
        shuffled=rng.random() < _odds(level, "shuffled"),
        blank_page=rng.random() < _odds(level, "blank_page"),
        missing_page=missing,
        duplicated_page=duplicated,
        hi_res_page=fmt in ("pdf", "jpeg", "png") and rng.random() < _odds(level, "hi_res_page"),
        supporting=supporting,
        correction=kind == "handwritten" and rng.random() < _odds(level, "correction"),
        prefilled_signed=not (kind == "prefilled" and rng.random() < _odds(level, "prefilled_unsigned")),
        postmark=None if illegible else postmark,
        received=received,
        photo=rng.random() < _odds(level, "envelope_photo"),
    )


# ------------------------------------------------------------------------------- sheets


def _correction_field(rng: np.random.Generator, fields: dict) -> str | None:
    form = load_form()
    candidates = [f.name for f in form.fields
                  if fields.get(f.name) not in (None, "", False)
                  and (f.type == "text" and len(str(fields[f.name])) >= 3 or f.type == "choice" and len(f.options) > 1)]
    return candidates[int(rng.integers(len(candidates)))] if candidates else None


def form_sheets(plan: Plan, person: Applicant, rng: np.random.Generator, log: HandwritingLog) -> tuple[list[Sheet], dict]:
    """The form's pages, filled in. Returns the sheets and the values the paper carries."""
    form = load_form()
    values = dict(person.fields)
    colour = plan.mode == "colour"
    dpis = [plan.dpi] * len(form.pages)
    if plan.hi_res_page:
        dpis[int(rng.integers(len(dpis)))] = HI_RES_DPI
    sheets = []
    if plan.kind == "handwritten":
        correction = _correction_field(rng, values) if plan.correction else None
        for page, dpi in zip(form.pages, dpis):
            pixels = blank_form_pages(plan.lang, dpi, colour=colour)[page.index]
            write_page(pixels, page, values, dpi, font=plan.font, rng=rng, tick_habit=plan.tick_habit,
                       tint=plan.tint, log=log, correction_field=correction)
            sheets.append(Sheet(pixels, dpi, "form", page.index + 1))
    else:
        printed: dict[int, list[np.ndarray]] = {}
        for dpi in sorted(set(dpis)):
            printed[dpi] = prefilled_pages(person.document, plan.lang, dpi, colour=colour)
        signature_page = form.field("declaration_signed").page_index
        for page, dpi in zip(form.pages, dpis):
            pixels = printed[dpi][page.index]
            if page.index == signature_page and plan.prefilled_signed:
                write_page(pixels, page, {"declaration_signed": True}, dpi, font=plan.font, rng=rng,
                           tick_habit=plan.tick_habit, tint=plan.tint, log=log, only={"declaration_signed"})
            sheets.append(Sheet(pixels, dpi, "form", page.index + 1))
        if not plan.prefilled_signed:
            values["declaration_signed"] = False  # the data codes say true; the paper is not signed
    return sheets, values


def supporting_sheets(plan: Plan, person: Applicant, rng: np.random.Generator) -> list[Sheet]:
    colour = plan.mode == "colour"
    out = []
    for document in plan.supporting:
        make = passport_copy if document == "passport" else diploma_copy
        out.append(Sheet(make(person.fields, plan.dpi, colour=colour, rng=rng), plan.dpi, "supporting", None, document))
    return out


def envelope_sheets(plan: Plan, person: Applicant, rng: np.random.Generator) -> tuple[list[Sheet], dict, HandwritingLog]:
    log = HandwritingLog()
    forms, values = form_sheets(plan, person, rng, log)
    sheets = forms + supporting_sheets(plan, person, rng)
    if plan.blank_page:
        where = int(rng.integers(len(sheets) + 1))
        sheets.insert(where, Sheet(blank_sheet(plan.dpi, colour=plan.mode == "colour", rng=rng), plan.dpi, "blank"))
    return sheets, values, log


def scan_sheets(plan: Plan, sheets: list[Sheet], rng: np.random.Generator) -> list[ScannedPage]:
    """Feed the sheets through the scanner: order, missing and doubled sheets, damage."""
    order = list(range(len(sheets)))
    if plan.shuffled:
        order = [int(i) for i in rng.permutation(len(sheets))]
    scanned = []
    for i in order:
        sheet = sheets[i]
        if sheet.kind == "form" and sheet.page_no == plan.missing_page:
            continue  # the feeder took two sheets at once: this one never reached the glass
        copies = 2 if sheet.kind == "form" and sheet.page_no == plan.duplicated_page else 1
        for copy in range(copies):
            # A grey TIFF is lossless: without background removal its paper noise weighs megabytes,
            # which is why scanning software removes it by default for that format.
            damage = draw_damage(rng, dpi=sheet.dpi, mode=plan.mode, level=plan.level, jpeg_quality=plan.jpeg_quality,
                                 clean_background=True if plan.fmt in ("tiff-grey", "png") else None)
            scanned.append(ScannedPage(scan_sheet(sheet.pixels, damage, rng), damage, sheet, duplicate=copy > 0))
    return scanned


# ------------------------------------------------------------------------------- writing


def _write_pages(directory: Path, stem: str, fmt: str, pages: list[ScannedPage]) -> tuple[list[Path], list[tuple[str, int]]]:
    """Write scanned pages in `fmt`. Returns the files and, per page, (file name, index in file)."""
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        path = write_pdf(directory / f"{stem}.pdf", [(p.image, p.damage.dpi, p.damage.jpeg_quality) for p in pages])
        return [path], [(path.name, i) for i in range(len(pages))]
    if fmt in ("tiff-g4", "tiff-grey"):
        compression = "group4" if fmt == "tiff-g4" else "tiff_adobe_deflate"
        path = write_tiff(directory / f"{stem}.tif", [p.image for p in pages], dpi=pages[0].damage.dpi, compression=compression)
        return [path], [(path.name, i) for i in range(len(pages))]
    ext = "jpg" if fmt == "jpeg" else "png"
    files = []
    for i, p in enumerate(pages, start=1):
        path = directory / f"{stem}-p{i:02d}.{ext}"
        path.write_bytes(encode_page(p.image, fmt, dpi=p.damage.dpi, jpeg_quality=p.damage.jpeg_quality))
        files.append(path)
    return files, [(f.name, 0) for f in files]


def _page_truth(page: ScannedPage, file_name: str, index: int) -> dict:
    return {
        "file": file_name,
        "index": index,
        "kind": page.sheet.kind,
        "page_no": page.sheet.page_no,
        "document": page.sheet.document,
        "rotation": page.damage.rotation,
        "dpi": page.damage.dpi,
        "duplicate": page.duplicate,
        "damage": page.damage.to_json(),
    }


def _damage_summary(plan: Plan, pages: list[ScannedPage]) -> dict:
    return {
        "level": plan.level,
        "dpi": plan.dpi,
        "mode": plan.mode,
        "jpeg_quality": plan.jpeg_quality,
        "rotated_pages": sum(1 for p in pages if p.damage.rotation),
        "max_skew_deg": round(max((abs(p.damage.skew_deg) for p in pages), default=0.0), 3),
        "shuffled": plan.shuffled,
        "missing_pages": [plan.missing_page] if plan.missing_page else [],
        "duplicated_pages": [plan.duplicated_page] if plan.duplicated_page else [],
        "blank_pages": int(plan.blank_page),
        "supporting": list(plan.supporting),
        "hi_res_page": plan.hi_res_page,
    }


def _expected_problems(plan: Plan) -> list[str]:
    out = []
    if plan.missing_page:
        out.append(f"missing_page:{plan.missing_page}")
    if plan.duplicated_page:
        out.append(f"duplicated_page:{plan.duplicated_page}")
    if plan.blank_page:
        out.append("blank_page")
    return out


def _truth(name: str, plan: Plan, person: Applicant, values: dict, log: HandwritingLog, fonts: str) -> dict:
    problems = validate({"fields": values})
    defect = person.defect or (None if plan.prefilled_signed else "prefilled_not_signed")
    return {
        "envelope": name,
        "kind": plan.kind,
        "lang": plan.lang,
        "fields": values,
        "valid": not problems,
        "defect": defect,
        "problems": sorted({f"{p.field}:{p.code}" for p in problems}),
        "transliterated": dict(person.transliterated),
        "origin": person.origin,
        "postmark_date": plan.postmark.isoformat() if plan.postmark else None,
        "postmark_illegible": plan.postmark is None,
        "received_date": plan.received.isoformat(),
        "format": plan.fmt,
        "writer": {
            "fonts": fonts,
            "font": plan.font.name if plan.font else None,
            "tick_habit": plan.tick_habit,
            "ink": plan.tint,
            "tick_styles": log.tick_styles,
            "weak_ticks": log.weak_ticks,
            "right_aligned_digits": log.right_aligned,
            "corrections": log.corrections,
        },
        "expected_problems": _expected_problems(plan),
    }


def _person(seed: int, index: int, invalid_share: float, kind: str) -> Applicant:
    rng = np.random.default_rng([seed, index, 1])
    # Names as in the passport (the form asks for them so): ŁUKASIEWICZ, NGUYỄN, SÃO PAULO.
    person = make_applicant(rng, as_in_passport=True, origins=PASSPORT_ORIGINS)
    # A prefilled form cannot carry a broken document: forms/ refuses to print one.
    if kind == "handwritten" and rng.random() < invalid_share:
        person = break_document(person, rng)
    return person


def _kind(seed: int, index: int, kinds: tuple[str, ...], prefilled_share: float) -> str:
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; use {', '.join(KINDS)}")
    if len(set(kinds)) == 1:
        return kinds[0]
    return "prefilled" if np.random.default_rng([seed, index, 2]).random() < prefilled_share else "handwritten"


def generate_envelope(out_dir: Path, index: int, *, seed: int, kind: str = "handwritten", fonts: str = "holdout",
                      damage: str = "mixed", fmt: str | None = None, mode: str | None = None, dpi: int | None = None,
                      jpeg_quality: int | None = None, invalid_share: float = 0.15) -> EnvelopeSample:
    """Envelope number `index` of the corpus of `seed`, as a folder of its own in `out_dir`."""
    if damage not in DAMAGE_LEVELS:
        raise ValueError(f"damage must be one of {DAMAGE_LEVELS}, not {damage!r}")
    rng = np.random.default_rng([seed, index, 0])
    person = _person(seed, index, invalid_share, kind)
    plan = plan_envelope(rng, kind=kind, level=damage, fonts=fonts, fmt=fmt, mode=mode, dpi=dpi, jpeg_quality=jpeg_quality)
    sheets, values, log = envelope_sheets(plan, person, rng)
    pages = scan_sheets(plan, sheets, rng)
    name = f"env-{index:04d}"
    directory = Path(out_dir) / f"{name}-{kind}-{plan.fmt}"
    files, where = _write_pages(directory, name, plan.fmt, pages)
    truth = _truth(name, plan, person, values, log, fonts)
    truth["files"] = [f.name for f in files]
    truth["envelope_photo"] = None
    if plan.photo:
        photo = directory / "envelope.jpg"
        photo.write_bytes(envelope_photo(values, plan.postmark, rng=rng))
        truth["envelope_photo"] = photo.name
    truth["damage"] = _damage_summary(plan, pages)
    truth["pages"] = [_page_truth(p, f, i) for p, (f, i) in zip(pages, where)]
    truth["stack"] = None
    truth_path = directory / "truth.json"
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return EnvelopeSample(tuple(files), truth, truth_path)


# -------------------------------------------------------------------------------- stacks

CLERK_INITIALS = ("MT", "JPL", "SB", "ANG", "FD", "LC")


def generate_stack(out_dir: Path, indices: list[int], stack_no: int, *, seed: int, kinds: tuple[str, ...] = KINDS,
                   fonts: str = "holdout", damage: str = "mixed", fmt: str | None = None, prefilled_share: float = 0.25,
                   invalid_share: float = 0.15) -> list[EnvelopeSample]:
    """Envelopes `indices` scanned in one go, each behind a separator sheet, into one file."""
    rng = np.random.default_rng([seed, 10_000 + stack_no])
    fmt = fmt or _weighted(rng, {"pdf": 0.6, "tiff-g4": 0.3, "tiff-grey": 0.1})
    mode = _weighted(rng, FORMAT_MODES[fmt])
    dpi = 200 if damage == "none" else _weighted(rng, {150: 0.1, 200: 0.6, 300: 0.3})
    clerk_font = _fonts(fonts)[int(rng.integers(len(_fonts(fonts))))]
    initials = CLERK_INITIALS[int(rng.integers(len(CLERK_INITIALS)))]
    # A stack is the mail opened on one day: one received date, postmarks some days before it.
    first_day = POSTMARK_WINDOW[0] + timedelta(days=MAIL_DELAY_DAYS[1])
    received = first_day + timedelta(days=int(rng.integers(0, (POSTMARK_WINDOW[1] - first_day).days + 3)))
    directory = Path(out_dir) / f"stack-{stack_no:03d}-{fmt}"
    all_pages: list[ScannedPage] = []
    parts = []
    for index in indices:
        kind = _kind(seed, index, kinds, prefilled_share)
        env_rng = np.random.default_rng([seed, index, 0])
        person = _person(seed, index, invalid_share, kind)
        # The stack's scanner settings hold for every envelope in it; one dpi for the whole file.
        plan = plan_envelope(env_rng, kind=kind, level=damage, fonts=fonts, fmt=fmt, mode=mode, dpi=dpi)
        plan.hi_res_page = False
        plan.received = received
        if plan.postmark is not None:
            plan.postmark = received - timedelta(days=int(env_rng.integers(MAIL_DELAY_DAYS[0], MAIL_DELAY_DAYS[1] + 1)))
        sheets, values, log = envelope_sheets(plan, person, env_rng)
        serial = seeded_separator_serial(env_rng)
        separator = separator_pages([serial], dpi, colour=mode == "colour")[0]
        fill_separator(separator, dpi, postmark=plan.postmark, received=plan.received, initials=initials, font=clerk_font, rng=env_rng)
        sep_sheet = Sheet(separator, dpi, "separator")
        sep_damage = draw_damage(env_rng, dpi=dpi, mode=mode, level=damage, jpeg_quality=plan.jpeg_quality, rotation_prob=0.05,
                                 clean_background=True if fmt == "tiff-grey" else None)
        sep_page = ScannedPage(scan_sheet(separator, sep_damage, env_rng), sep_damage, sep_sheet)
        pages = scan_sheets(plan, sheets, env_rng)
        first = len(all_pages)
        all_pages += [sep_page] + pages
        parts.append((index, kind, plan, person, values, log, serial, first, [sep_page] + pages))
    stem = f"stack-{stack_no:03d}"
    files, where = _write_pages(directory, stem, fmt, all_pages)
    samples = []
    manifest = {"stack": stem, "files": [f.name for f in files], "envelopes": []}
    for position, (index, kind, plan, person, values, log, serial, first, pages) in enumerate(parts):
        name = f"env-{index:04d}"
        truth = _truth(name, plan, person, values, log, fonts)
        truth["files"] = [f.name for f in files]
        truth["envelope_photo"] = None
        truth["damage"] = _damage_summary(plan, pages[1:])
        truth["pages"] = [_page_truth(p, *where[first + k]) for k, p in enumerate(pages)]
        truth["stack"] = {
            "file": files[0].name if len(files) == 1 else None,
            "position": position,
            "first_page": first,
            "page_count": len(pages),
            "separator": {"serial": serial, "postmark_date": truth["postmark_date"], "postmark_illegible": plan.postmark is None,
                          "received_date": truth["received_date"], "clerk_initials": initials, "clerk_font": clerk_font.name},
        }
        truth_path = directory / f"{name}.truth.json"
        truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        manifest["envelopes"].append({"envelope": name, "truth": truth_path.name, "first_page": first, "page_count": len(pages)})
        samples.append(EnvelopeSample(tuple(files), truth, truth_path))
    (directory / "stack.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return samples


# -------------------------------------------------------------------------------- corpus


def generate_corpus(out_dir: Path, *, count: int, seed: int, kinds=KINDS, fonts: str = "holdout", stack: bool = False,
                    damage: str = "mixed", prefilled_share: float = 0.25, invalid_share: float = 0.15,
                    stack_size: tuple[int, int] = (2, 4), progress=None) -> list[EnvelopeSample]:
    """`count` envelopes from `seed` in `out_dir` (one folder per envelope, or per stack with
    `stack=True`). Deterministic: the same arguments give the same files, byte for byte.
    `progress(done, total, what)` is called after each envelope."""
    if count < 0:
        raise ValueError("count must be 0 or more")
    kinds = tuple(kinds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    samples: list[EnvelopeSample] = []
    if not stack:
        for index in range(1, count + 1):
            kind = _kind(seed, index, kinds, prefilled_share)
            samples.append(generate_envelope(out_dir, index, seed=seed, kind=kind, fonts=fonts, damage=damage,
                                             invalid_share=invalid_share))
            if progress:
                progress(index, count, samples[-1].truth_path.parent.name)
        return samples
    rng = np.random.default_rng([seed, 20_000])
    index, stack_no = 1, 1
    while index <= count:
        size = min(int(rng.integers(stack_size[0], stack_size[1] + 1)), count - index + 1)
        samples += generate_stack(out_dir, list(range(index, index + size)), stack_no, seed=seed, kinds=kinds, fonts=fonts,
                                  damage=damage, prefilled_share=prefilled_share, invalid_share=invalid_share)
        index += size
        stack_no += 1
        if progress:
            progress(index - 1, count, f"stack-{stack_no - 1:03d}")
    return samples


def timed_generate(out_dir: Path, **kwargs) -> tuple[list[EnvelopeSample], float]:
    start = time.perf_counter()
    samples = generate_corpus(out_dir, **kwargs)
    return samples, time.perf_counter() - start
