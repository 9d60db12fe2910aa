"""The form template as frozen values, laid out into page geometry.

`load_form()` reads a YAML template and returns a `FormSpec`: every field with its comb
cells or tick boxes in PDF points, every printed text with its position. forms/ draws a
`FormSpec`, scan/ reads pages with it, the validator checks data documents against it.
Nothing else in the project computes geometry.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import yaml
from reportlab.pdfbase.pdfmetrics import stringWidth

from errors import TemplateError
from templates import alphabet
from templates import geometry as g

TEMPLATE_DIR = Path(__file__).resolve().parent
FORM_ID = "csq-rtq"
SEPARATOR_ID = "csq-sep"
CURRENT_VERSION = "2026.1"

VOCABULARY_DIR = Path(__file__).resolve().parent / "vocabularies"


@lru_cache(maxsize=None)
def vocabulary(name: str) -> tuple[str, ...]:
    """The entries of templates/vocabularies/<name>.txt (upper case, comments left out, each once)."""
    path = VOCABULARY_DIR / f"{name}.txt"
    if not path.exists():
        return ()
    entries = (line.split("#", 1)[0].strip().upper() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(dict.fromkeys(e for e in entries if e))


FIELD_TYPES = ("text", "digits", "date", "choice", "checkbox", "signature")
COMB_TYPES = ("text", "digits", "date")

# The characters the READER can name in a comb cell (the ICR's classes, Tesseract's whitelist),
# by field type: a finite set. What a field ACCEPTS is wider, a rule over Unicode properties
# (templates/alphabet.py: any Latin capital, digits, space - ' . @ /): a letter the reader
# cannot name (Ł, Ş, Ễ...) is valid, typed or sent online as written, and a person reads it by hand.
ACCENTED_CAPITALS = "ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ"
TEXT_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + ACCENTED_CAPITALS + "0123456789 -'.@/"
DIGIT_CHARSET = "0123456789"
# A text field of words only (names, places, occupations): no digit, '/' or '@'. The template
# says so per field (`charset: letters`) and the reader asks the ICR to choose among these
# only, so O/0, I/1, S/5, B/8, Z/2, G/6 cannot be confused. The validator still accepts the
# type's whole rule (docs/interface.md: a text field may hold digits, '/' and '@'): a document
# a program sends is never refused for a character the contract allows.
LETTER_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + ACCENTED_CAPITALS + " -'."
CHARSETS = {"text": TEXT_CHARSET, "letters": LETTER_CHARSET, "digits": DIGIT_CHARSET}
# What the type's sets are called in a validation message (French, English).
CHARSET_WORDS = {"text": alphabet.TEXT_WORDS, "digits": alphabet.DIGIT_WORDS}

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points, origin bottom-left


@dataclass(frozen=True)
class Bilingual:
    fr: str
    en: str

    def joined(self, lang: str = "fr") -> str:
        """Both languages on one line, the chosen one first ('Nom / Name')."""
        if not self.en or self.en == self.fr:
            return self.fr
        return f"{self.fr} / {self.en}" if lang == "fr" else f"{self.en} / {self.fr}"


@dataclass(frozen=True)
class OptionSpec:
    value: str
    label: Bilingual
    box: Box
    label_x: float  # where the option's text starts, baseline at box bottom + 2


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: Bilingual
    page_index: int
    section: str
    required: bool = False
    help: Bilingual | None = None
    cells: tuple[Box, ...] = ()
    options: tuple[OptionSpec, ...] = ()
    box: Box | None = None  # checkbox and signature
    label_origin: tuple[float, float] = (0.0, 0.0)  # baseline start of the label
    pattern: str | None = None
    min: int | None = None
    max: int | None = None
    min_year: int | None = None
    max_year: int | None = None
    min_age: int | None = None
    max_age: int | None = None
    vocabulary: str | None = None
    charset_name: str | None = None  # the template's `charset:` (CHARSETS); None: the type's own
    shapes: str | None = None  # a list in templates/vocabularies/ of the value's real formats ('A9A 9A9')
    domains: str | None = None  # a list in templates/vocabularies/ of common e-mail domains
    prefixes: str | None = None  # a list in templates/vocabularies/ of the value's possible openings (calling codes)

    @property
    def charset_kind(self) -> str:
        """The name of the characters expected in this comb field: 'letters', 'text' or 'digits'."""
        return self.charset_name or self.type_charset_kind

    @property
    def charset(self) -> str:
        """The characters expected in this field's boxes (space included for text): the reader chooses among these."""
        return CHARSETS[self.charset_kind]

    @property
    def type_charset_kind(self) -> str:
        """The name of the characters the field's type allows (docs/interface.md): 'text' or 'digits'."""
        return "text" if self.type == "text" else "digits"

    @property
    def type_charset(self) -> str:
        """The characters of the field's type the reader knows: Tesseract's whitelist (what
        validation accepts is templates.alphabet's rule, wider)."""
        return CHARSETS[self.type_charset_kind]

    @property
    def bounds(self) -> Box:
        """The rectangle that holds everything the person writes or ticks for this field."""
        boxes = list(self.cells) + [o.box for o in self.options] + ([self.box] if self.box else [])
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )


    @property
    def view_bounds(self) -> Box:
        """What a person must see to judge the field: its bounds and, for a choice, each
        option's printed words too (the last option's label lies right of every tick box)."""
        x0, y0, x1, y1 = self.bounds
        for o in self.options:
            x1 = max(x1, o.label_x + stringWidth(o.label.joined("fr"), g.FONT_REGULAR, g.LABEL_FONT_SIZE))
        return (x0, y0, x1, y1)

    def option_typed(self, typed: str) -> str | None:
        """The option a person means by `typed`: its number (1, 2...), its code with or without
        the underscore (COMMON LAW), or its French or English words, case and accents folded
        (MARIÉ, MARIEE, conjoint de fait, VEUVE); None when it names no option or several."""
        key = _fold(typed)
        if not key:
            return None
        if key.isdigit():
            n = int(key)
            return self.options[n - 1].value if 1 <= n <= len(self.options) else None
        found = {o.value for o in self.options if key in _option_names(o)}
        return found.pop() if len(found) == 1 else None


def _fold(text: str) -> str:
    """Upper case, accents and underscores gone, spaces single: how an option is compared."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(c))
    return " ".join(plain.upper().replace("_", " ").replace("-", " ").split())


def _option_names(option: OptionSpec) -> set[str]:
    """Every spelling of an option: its code, its English words, its French words with the
    bracketed ending left off, added (MARIEE) or put in place of the last letter (VEUF(VE) -> VEUVE)."""
    french = _fold(option.label.fr)
    names = {_fold(option.value), _fold(option.label.en), french}
    bracket = re.search(r"\(([^)]*)\)", french)
    if bracket:
        stem, ending = french[: bracket.start()].strip(), bracket.group(1)
        names |= {stem, stem + ending, stem[:-1] + ending}
    return names


@dataclass(frozen=True)
class TextItem:
    """A line of printed text that is not a field label: titles, instructions, section text."""

    x: float
    y: float
    size: float
    text: Bilingual
    bold: bool = False


@dataclass(frozen=True)
class Marker:
    corner: str
    aruco_id: int
    box: Box


@dataclass(frozen=True)
class PageSpec:
    form_id: str
    version: str
    index: int  # 0-based
    page_count: int
    width_pt: float
    height_pt: float
    fields: tuple[FieldSpec, ...]
    texts: tuple[TextItem, ...]
    markers: tuple[Marker, ...]
    code_boxes: tuple[Box, ...]
    data_zone: Box
    fingerprint: str

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True)
class Rule:
    """A cross-field rule; exactly one of the kind attributes is set (see validation.py)."""

    id: str
    message: Bilingual
    when: tuple[str, tuple[str, ...]] | None = None
    require: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    date_after: tuple[str, str] | None = None
    count_listed: tuple[str, tuple[str, ...]] | None = None
    pairs: tuple[tuple[str, str], ...] = ()
    not_after_today: str | None = None
    must_be_true: str | None = None

    @cached_property  # asked on every validation (the online API validates each submission)
    def fields(self) -> tuple[str, ...]:
        """The fields this rule speaks about, for flagging them in review."""
        names: list[str] = []
        if self.when:
            names.append(self.when[0])
        names += list(self.require) + list(self.forbid)
        if self.date_after:
            names += list(self.date_after)
        if self.count_listed:
            names += [self.count_listed[0], *self.count_listed[1]]
        for a, b in self.pairs:
            names += [a, b]
        for single in (self.not_after_today, self.must_be_true):
            if single:
                names.append(single)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class FormSpec:
    form_id: str
    version: str
    title: Bilingual
    instructions: Bilingual
    pages: tuple[PageSpec, ...]
    rules: tuple[Rule, ...]
    fingerprint: str

    @cached_property
    def fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for p in self.pages for f in p.fields)

    @cached_property
    def _by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    def field(self, name: str) -> FieldSpec:
        """The field called `name` (KeyError if none); a dict lookup: it is on every hot path."""
        return self._by_name[name]

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


# --------------------------------------------------------------------------- loading


def _bilingual(raw, where: str) -> Bilingual:
    if isinstance(raw, str):
        return Bilingual(raw, raw)
    if not isinstance(raw, dict) or "fr" not in raw:
        raise TemplateError(f"{where}: a text needs 'fr' (and 'en')")
    return Bilingual(str(raw["fr"]), str(raw.get("en", raw["fr"])))


def _label_width(label: Bilingual) -> float:
    return stringWidth(label.joined("fr"), g.FONT_REGULAR, g.LABEL_FONT_SIZE)


def _option_width(label: Bilingual) -> float:
    return g.TICK_BOX_PT + g.OPTION_LABEL_GAP_PT + stringWidth(label.joined("fr"), g.FONT_REGULAR, g.LABEL_FONT_SIZE)


def _content_width(raw: dict) -> float:
    kind = raw["type"]
    if kind in ("text", "digits"):
        return raw["cells"] * g.CELL_WIDTH_PT
    if kind == "date":
        return 8 * g.CELL_WIDTH_PT + 2 * g.DATE_GROUP_GAP_PT
    if kind == "choice":
        widths = [_option_width(_bilingual(o, raw["name"])) for o in raw["options"]]
        return sum(widths) + g.OPTION_GAP_PT * (len(widths) - 1)
    if kind == "checkbox":
        return g.TICK_BOX_PT + g.OPTION_LABEL_GAP_PT + _label_width(_bilingual(raw["label"], raw["name"]))
    if kind == "signature":
        return float(raw.get("width", 220))
    raise TemplateError(f"field {raw.get('name')}: unknown type {kind!r}; use one of {', '.join(FIELD_TYPES)}")


def _content_height(raw: dict) -> float:
    kind = raw["type"]
    if kind in COMB_TYPES:
        return g.CELL_HEIGHT_PT
    if kind == "signature":
        return float(raw.get("height", 40))
    return g.TICK_BOX_PT


def _has_label_line(raw: dict) -> bool:
    return raw["type"] != "checkbox"  # a checkbox's label sits beside its box


def _slot_width(raw: dict) -> float:
    content = _content_width(raw)
    if _has_label_line(raw):
        return max(content, _label_width(_bilingual(raw["label"], raw["name"])))
    return content


def _layout_field(raw: dict, x: float, top: float, page_index: int, section: str) -> FieldSpec:
    name = raw["name"]
    kind = raw["type"]
    label = _bilingual(raw["label"], name)
    has_label = _has_label_line(raw)
    content_top = top - (g.LABEL_HEIGHT_PT if has_label else 0.0)
    height = _content_height(raw)
    bottom = content_top - height
    cells: list[Box] = []
    options: list[OptionSpec] = []
    box: Box | None = None
    label_origin = (x, top - g.LABEL_HEIGHT_PT + 2.0)
    if kind in ("text", "digits"):
        cells = [(x + i * g.CELL_WIDTH_PT, bottom, x + (i + 1) * g.CELL_WIDTH_PT, content_top) for i in range(raw["cells"])]
    elif kind == "date":
        cx = x
        for i in range(8):
            if i in (4, 6):
                cx += g.DATE_GROUP_GAP_PT
            cells.append((cx, bottom, cx + g.CELL_WIDTH_PT, content_top))
            cx += g.CELL_WIDTH_PT
    elif kind == "choice":
        cx = x
        for o in raw["options"]:
            olabel = _bilingual(o, name)
            obox = (cx, bottom, cx + g.TICK_BOX_PT, content_top)
            options.append(OptionSpec(str(o["value"]), olabel, obox, cx + g.TICK_BOX_PT + g.OPTION_LABEL_GAP_PT))
            cx += _option_width(olabel) + g.OPTION_GAP_PT
    elif kind == "checkbox":
        box = (x, bottom, x + g.TICK_BOX_PT, content_top)
        label_origin = (x + g.TICK_BOX_PT + g.OPTION_LABEL_GAP_PT, bottom + 2.5)
    elif kind == "signature":
        box = (x, bottom, x + float(raw.get("width", 220)), content_top)
    expected = {"text": "cells", "digits": "cells"}
    if kind in expected and not isinstance(raw.get("cells"), int):
        raise TemplateError(f"field {name}: a {kind} field needs a whole number of cells")
    charset_name = raw.get("charset")
    if charset_name is not None and (kind != "text" or charset_name not in ("text", "letters")):
        raise TemplateError(f"field {name}: charset {charset_name!r} is not one of a text field's (text, letters)")
    for key, kinds in (("vocabulary", ("text",)), ("shapes", ("text",)), ("domains", ("text",)), ("prefixes", ("text", "digits"))):
        # The reader weighs these lists as priors: a name that lists nothing would silently weigh nothing.
        if raw.get(key) is not None and (kind not in kinds or not (VOCABULARY_DIR / f"{raw[key]}.txt").is_file()):
            raise TemplateError(f"field {name}: {key} {raw[key]!r} is no list of templates/vocabularies/ for a {kind} field")
    return FieldSpec(
        name=name,
        type=kind,
        label=label,
        page_index=page_index,
        section=section,
        required=bool(raw.get("required", False)),
        help=_bilingual(raw["help"], name) if raw.get("help") else None,
        cells=tuple(cells),
        options=tuple(options),
        box=box,
        label_origin=label_origin,
        pattern=raw.get("pattern"),
        min=raw.get("min"),
        max=raw.get("max"),
        min_year=raw.get("min_year"),
        max_year=raw.get("max_year"),
        min_age=raw.get("min_age"),
        max_age=raw.get("max_age"),
        vocabulary=raw.get("vocabulary"),
        charset_name=charset_name,
        shapes=raw.get("shapes"),
        domains=raw.get("domains"),
        prefixes=raw.get("prefixes"),
    )


def _row_height(row: list[dict]) -> float:
    return max((g.LABEL_HEIGHT_PT if _has_label_line(r) else 0.0) + _content_height(r) for r in row) + g.ROW_GAP_PT


def _wrap(text: str, width: float, size: float) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        candidate = f"{line} {w}".strip()
        if stringWidth(candidate, g.FONT_REGULAR, size) > width and line:
            lines.append(line)
            line = w
        else:
            line = candidate
    return lines + ([line] if line else [])


def _markers(ids: dict[str, int]) -> tuple[Marker, ...]:
    s, i = g.MARKER_SIZE_PT, g.MARKER_INSET_PT
    w, h = g.PAGE_WIDTH_PT, g.PAGE_HEIGHT_PT
    corners = {
        "top_left": (i, h - i - s),
        "top_right": (w - i - s, h - i - s),
        "bottom_right": (w - i - s, i),
        "bottom_left": (i, i),
    }
    return tuple(Marker(c, ids[c], (x, y, x + s, y + s)) for c, (x, y) in corners.items())


def _fingerprint(payload) -> str:
    """A short hash of the geometry only (SDAPS does the same): the text may be reworded
    without breaking old scans, a moved box may not."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def _geometry_of(fields: list[FieldSpec]) -> list:
    def r(b):
        return [round(v, 2) for v in b]

    return [
        [f.name, f.type, [r(c) for c in f.cells], [[o.value, r(o.box)] for o in f.options], r(f.box) if f.box else None]
        for f in fields
    ]


def _layout_page(raw_page: dict, index: int, page_count: int, form_id: str, version: str, marker_ids) -> PageSpec:
    fields: list[FieldSpec] = []
    texts: list[TextItem] = []
    top = g.BODY_TOP_PT
    width = g.BODY_RIGHT_PT - g.BODY_LEFT_PT
    for section in raw_page.get("sections", []):
        title = _bilingual(section["title"], f"page {index + 1}")
        texts.append(TextItem(g.BODY_LEFT_PT, top - 11.0, g.SECTION_FONT_SIZE, title, bold=True))
        top -= g.SECTION_TITLE_HEIGHT_PT
        if section.get("text"):
            body = _bilingual(section["text"], title.fr)
            for lang in ("fr", "en"):
                for line in _wrap(getattr(body, lang), width, g.TEXT_FONT_SIZE):
                    texts.append(TextItem(g.BODY_LEFT_PT, top - 7.0, g.TEXT_FONT_SIZE, Bilingual(line, line)))
                    top -= g.SECTION_TEXT_LINE_PT
            top -= 3.0
        for row in section.get("rows", []):
            x = g.BODY_LEFT_PT
            for raw in row:
                slot = _slot_width(raw)
                if x + slot > g.BODY_RIGHT_PT + 0.01:
                    raise TemplateError(
                        f"field {raw['name']} on page {index + 1} does not fit its row "
                        f"({x + slot - g.BODY_RIGHT_PT:.0f} pt too wide): move it to a row of its own"
                    )
                fields.append(_layout_field(raw, x, top, index, title.fr))
                x += slot + g.FIELD_GAP_PT
            top -= _row_height(row)
        top -= g.SECTION_GAP_PT
    if top < g.BODY_BOTTOM_PT:
        raise TemplateError(f"page {index + 1} of {form_id} overflows by {g.BODY_BOTTOM_PT - top:.0f} pt: move a section to another page")
    names = [f.name for f in fields]
    return PageSpec(
        form_id=form_id,
        version=version,
        index=index,
        page_count=page_count,
        width_pt=g.PAGE_WIDTH_PT,
        height_pt=g.PAGE_HEIGHT_PT,
        fields=tuple(fields),
        texts=tuple(texts),
        markers=_markers(marker_ids),
        code_boxes=g.PAGE_CODE_BOXES,
        data_zone=g.DATA_ZONE,
        fingerprint=_fingerprint([form_id, version, index, names, _geometry_of(fields)]),
    )


def _rule(raw: dict) -> Rule:
    rid = raw.get("id", "?")
    kwargs: dict = {"id": rid, "message": _bilingual(raw["message"], f"rule {rid}")}
    if "when" in raw:
        kwargs["when"] = (raw["when"]["field"], tuple(raw["when"]["in"]))
    for key in ("require", "forbid"):
        if key in raw:
            kwargs[key] = tuple(raw[key])
    if "date_after" in raw:
        kwargs["date_after"] = tuple(raw["date_after"])
    if "count_listed" in raw:
        kwargs["count_listed"] = (raw["count_listed"]["count"], tuple(raw["count_listed"]["listed"]))
    if "pairs" in raw:
        kwargs["pairs"] = tuple(tuple(p) for p in raw["pairs"])
    for key in ("not_after_today", "must_be_true"):
        if key in raw:
            kwargs[key] = raw[key]
    return Rule(**kwargs)


def _template_path(form_id: str, version: str) -> Path:
    name = "csq-rtq" if form_id == FORM_ID else "separator"
    return TEMPLATE_DIR / f"{name}-{version}.yaml"


@lru_cache(maxsize=None)
def load_form(form_id: str = FORM_ID, version: str = CURRENT_VERSION) -> FormSpec:
    """The laid-out form `form_id` at `version` (the application or the separator sheet)."""
    path = _template_path(form_id, version)
    if not path.exists():
        raise TemplateError(f"no template for form {form_id} version {version} ({path.name}); registered: {', '.join(registered_versions(form_id)) or 'none'}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path.name}: not valid YAML ({exc})") from exc
    marker_ids = g.MARKER_IDS if form_id == FORM_ID else g.SEPARATOR_MARKER_IDS
    raw_pages = raw["pages"]
    pages = tuple(_layout_page(p, i, len(raw_pages), raw["form"], str(raw["version"]), marker_ids) for i, p in enumerate(raw_pages))
    names = [f.name for p in pages for f in p.fields]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TemplateError(f"{path.name}: field names used twice: {', '.join(dupes)}")
    rules = tuple(_rule(r) for r in raw.get("rules") or [])
    for rule in rules:
        unknown = [n for n in rule.fields if n not in names]
        if unknown:
            raise TemplateError(f"{path.name}: rule {rule.id} names unknown fields {', '.join(unknown)}")
    return FormSpec(
        form_id=str(raw["form"]),
        version=str(raw["version"]),
        title=_bilingual(raw["title"], "title"),
        instructions=_bilingual(raw.get("instructions", ""), "instructions"),
        pages=pages,
        rules=rules,
        fingerprint=_fingerprint([p.fingerprint for p in pages]),
    )


def load_separator(version: str = CURRENT_VERSION) -> FormSpec:
    return load_form(SEPARATOR_ID, version)


def registered_versions(form_id: str = FORM_ID) -> list[str]:
    name = "csq-rtq" if form_id == FORM_ID else "separator"
    return sorted(p.stem[len(name) + 1 :] for p in TEMPLATE_DIR.glob(f"{name}-*.yaml"))


def _box(b: Box) -> list[float]:
    return [round(v, 2) for v in b]


def page_layout(page: PageSpec, lang: str = "fr") -> dict:
    """One page's geometry in the shape docs/interface.md gives for `csq forms layout`."""
    out = []
    for f in page.fields:
        item: dict = {"name": f.name, "type": f.type, "label": f.label.joined(lang), "required": f.required}
        if f.cells:
            item["cells"] = [_box(c) for c in f.cells]
        if f.options:
            item["options"] = [{"value": o.value, "label": o.label.joined(lang), "box": _box(o.box)} for o in f.options]
        if f.box:
            item["box"] = _box(f.box)
        out.append(item)
    return {
        "index": page.index,
        "width_pt": page.width_pt,
        "height_pt": page.height_pt,
        "fingerprint": page.fingerprint,
        "markers": [{"corner": m.corner, "aruco_id": m.aruco_id, "box": _box(m.box)} for m in page.markers],
        "page_codes": [_box(b) for b in page.code_boxes],
        "fields": out,
    }


def form_layout(lang: str = "fr", version: str = CURRENT_VERSION) -> dict:
    """The whole `csq forms layout --json` document."""
    form = load_form(FORM_ID, version)
    separator = load_separator(version)
    sep_page = page_layout(separator.pages[0], lang)
    return {
        "form": form.form_id,
        "version": form.version,
        "fingerprint": form.fingerprint,
        "pages": [page_layout(p, lang) for p in form.pages],
        "separator": sep_page,
    }
