"""The one validator: a data document in, every problem out, each with a bilingual message.

Used by every channel: `forms prefill` refuses bad data with this list, `online submit`
and the API answer with it, scan/ uses `check_field` to judge a machine reading, and the
acknowledgment letter tells the candidate exactly what to fix. The 2016 portal was hated
for vague messages, so each message names the field and says what is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from templates.alphabet import as_written, refused_characters
from templates.spec import CHARSET_WORDS, Bilingual, FieldSpec, FormSpec, load_form


@dataclass(frozen=True)
class Problem:
    field: str
    code: str  # required, type, charset, length, pattern, date, range, unknown_field, rule:<id>
    message: Bilingual

    def to_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message_fr": self.message.fr, "message_en": self.message.en}

    def __str__(self) -> str:
        return f"{self.field}: {self.message.fr} / {self.message.en}"


def _label(f: FieldSpec) -> Bilingual:
    return f.label


def _p(f: FieldSpec, code: str, fr: str, en: str) -> Problem:
    return Problem(f.name, code, Bilingual(f"« {f.label.fr} » : {fr}", f"\u201c{f.label.en}\u201d: {en}"))


def is_empty(value) -> bool:
    return value is None or value == "" or value is False


def parse_date(value) -> date | None:
    """An ISO date YYYY-MM-DD, or None if it is not one."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _years_between(earlier: date, later: date) -> int:
    return later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))


def normalize_value(f: FieldSpec, value):
    """The canonical form of a value as a person or a program may give it: text upper case,
    NFC (GARCÍA given with a combining accent is stored with the one letter Í) and trimmed, a
    date given as YYYYMMDD turned into ISO. Anything else is left for check_field to judge."""
    if f.type in ("text", "digits") and isinstance(value, str):
        v = " ".join(value.split())
        return as_written(v) if f.type == "text" else v
    if f.type in ("text", "digits") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if f.type == "date" and isinstance(value, str):
        v = value.strip()
        if re.fullmatch(r"\d{8}", v):
            return f"{v[:4]}-{v[4:6]}-{v[6:]}"
        return v
    if f.type == "choice" and isinstance(value, str):
        return value.strip().upper()
    return value


def check_field(f: FieldSpec, value, *, today: date | None = None) -> list[Problem]:
    """Problems of one field's value, on its own (cross-field rules come in validate)."""
    today = today or date.today()
    if is_empty(value):
        if f.required and f.type not in ("checkbox",):
            return [_p(f, "required", "ce champ est obligatoire.", "this field is required.")]
        if f.required and f.type == "checkbox":
            return [_p(f, "required", "cochez cette case.", "tick this box.")]
        return []
    if f.type in ("checkbox", "signature"):
        if not isinstance(value, bool):
            return [_p(f, "type", "la valeur doit être vrai ou faux.", "the value must be true or false.")]
        return []
    if f.type == "choice":
        values = [o.value for o in f.options]
        if value not in values:
            return [_p(f, "choice", f"choisissez une des valeurs {', '.join(values)}.", f"choose one of {', '.join(values)}.")]
        return []
    if not isinstance(value, str):
        return [_p(f, "type", "la valeur doit être du texte.", "the value must be text.")]
    if f.type == "date":
        d = parse_date(value)
        if d is None:
            return [_p(f, "date", "date invalide ; écrivez AAAA-MM-JJ (une vraie date).", "invalid date; write YYYY-MM-DD (a real date).")]
        problems = []
        if f.min_year and d.year < f.min_year or f.max_year and d.year > f.max_year:
            problems.append(_p(f, "range", f"l'année doit être entre {f.min_year or '…'} et {f.max_year or '…'}.", f"the year must be between {f.min_year or '…'} and {f.max_year or '…'}."))
        if d > today and (f.min_age is not None or f.max_age is not None):
            problems.append(_p(f, "date", "cette date de naissance est dans le futur.", "this date of birth is in the future."))
        elif f.min_age is not None and _years_between(d, today) < f.min_age:
            problems.append(_p(f, "range", f"la personne doit avoir au moins {f.min_age} ans.", f"the person must be at least {f.min_age} years old."))
        elif f.max_age is not None and _years_between(d, today) > f.max_age:
            problems.append(_p(f, "range", f"âge invraisemblable (plus de {f.max_age} ans) : vérifiez l'année.", f"implausible age (over {f.max_age}): check the year."))
        return problems
    cells = len(f.cells)
    bad = refused_characters(value, f.type_charset_kind)
    if bad:
        allowed, allowed_en = CHARSET_WORDS[f.type_charset_kind]
        return [_p(f, "charset", f"caractères non permis {''.join(bad)!r} ; permis : {allowed}.", f"characters not allowed {''.join(bad)!r}; allowed: {allowed_en}.")]
    if cells and len(value) > cells:
        return [_p(f, "length", f"{len(value)} caractères pour {cells} cases.", f"{len(value)} characters for {cells} boxes.")]
    problems = []
    if f.pattern and not re.fullmatch(f.pattern, value):
        problems.append(_p(f, "pattern", "format invalide (voir l'aide du formulaire).", "invalid format (see the form's help)."))
    if f.type == "digits" and (f.min is not None or f.max is not None):
        n = int(value)
        if (f.min is not None and n < f.min) or (f.max is not None and n > f.max):
            problems.append(_p(f, "range", f"la valeur doit être entre {f.min} et {f.max}.", f"the value must be between {f.min} and {f.max}."))
    return problems


def _rule_problems(form: FormSpec, fields: dict, today: date) -> list[Problem]:
    out: list[Problem] = []
    for rule in form.rules:
        first = rule.fields[0]

        def flag(name: str = first) -> None:
            out.append(Problem(name, f"rule:{rule.id}", rule.message))

        if rule.when:
            name, values = rule.when
            if fields.get(name) in values:
                for n in rule.require:
                    if is_empty(fields.get(n)):
                        flag(n)
                for n in rule.forbid:
                    if not is_empty(fields.get(n)):
                        flag(n)
        if rule.date_after:
            later, earlier = (parse_date(fields.get(n)) for n in rule.date_after)
            if later and earlier and later <= earlier:
                flag(rule.date_after[0])
        if rule.count_listed:
            count_name, listed = rule.count_listed
            raw = fields.get(count_name)
            if isinstance(raw, str) and raw.isdigit():
                count = int(raw)
                n_listed = sum(not is_empty(fields.get(n)) for n in listed)
                if n_listed != min(count, len(listed)):
                    flag(count_name)
        for name_field, date_field in rule.pairs:
            if not is_empty(fields.get(name_field)) and is_empty(fields.get(date_field)):
                flag(date_field)
        if rule.not_after_today:
            d = parse_date(fields.get(rule.not_after_today))
            if d and d > today:
                flag(rule.not_after_today)
        if rule.must_be_true and fields.get(rule.must_be_true) is not True:
            flag(rule.must_be_true)
    return out


def normalize_document(doc: dict, form: FormSpec | None = None) -> dict:
    """The document's fields in canonical form (see normalize_value); unknown names kept."""
    form = form or load_form()
    fields = doc.get("fields", {}) if isinstance(doc, dict) else {}
    out = {}
    for name, value in (fields.items() if isinstance(fields, dict) else []):
        try:
            out[name] = normalize_value(form.field(name), value)
        except KeyError:
            out[name] = value
    return {"fields": out}


def validate(doc, form: FormSpec | None = None, *, today: date | None = None) -> list[Problem]:
    """Every problem of a data document `{"fields": {...}}`; an empty list means valid."""
    form = form or load_form()
    today = today or date.today()
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
        return [Problem("fields", "type", Bilingual(
            'Le document doit être un objet JSON {"fields": {...}}.',
            'The document must be a JSON object {"fields": {...}}.'))]
    fields = doc["fields"]
    problems: list[Problem] = []
    known = set(form.field_names)
    for name in fields:
        if name not in known:
            problems.append(Problem(name, "unknown_field", Bilingual(
                f"champ inconnu « {name} » : ce formulaire ne le contient pas.",
                f"unknown field \u201c{name}\u201d: this form has no such field.")))
    for f in form.fields:
        problems += check_field(f, fields.get(f.name), today=today)
    problems += _rule_problems(form, fields, today)
    return problems
