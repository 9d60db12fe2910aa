"""The review desk: what the station shows and does, between the web routes and the registry.

Routes (station/pages.py) stay thin: they check the session and the role, then call the
desk. The desk claims fields (registry/review_claims.py), turns registry rows into the
"cards" the templates render, and sends every correction through Registry.review_set
(validated, audited, versioned) or Registry.set_postmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

from errors import BadArguments, ConflictError, InvalidData, NotFound, PermissionDenied
from registry import identity_changes
from registry import review_claims as claims
from registry.filenumber import normalize_file_no
from station import limits
from station.auth import Staff
from station.http_errors import problem_dicts
from station.images import PageImages
from scan.alternatives import other_readings
from templates import plausibility
from templates.spec import Bilingual, FieldSpec, load_form, load_separator
from templates.validation import check_field, normalize_value, parse_date

BOOL_TYPES = ("checkbox", "signature")
CLAIM_TIMEOUT = timedelta(seconds=limits.CLAIM_TIMEOUT_S)

# Why a field was flagged, for a person. Rule ids come from the form template instead.
REASON_TEXTS = {
    "low_confidence": Bilingual("lecture incertaine", "uncertain reading"),
    "needs_review": Bilingual("à vérifier", "to check"),
    "pattern": Bilingual("format inattendu", "unexpected format"),
    "required": Bilingual("obligatoire mais vide", "required but empty"),
    "charset": Bilingual("caractère non permis", "character not allowed"),
    "length": Bilingual("longueur", "length"),
    "date": Bilingual("date impossible", "impossible date"),
    "range": Bilingual("hors limites", "out of range"),
    "vocabulary": Bilingual("hors vocabulaire", "not in the vocabulary"),
    "ambiguous": Bilingual("cases ambiguës", "ambiguous ticks"),
    "multiple_ticks": Bilingual("plusieurs cases cochées", "several boxes ticked"),
    "barcode_mismatch": Bilingual("code-barres et écriture diffèrent", "barcode and handwriting differ"),
    "engines_disagree": Bilingual("les deux lecteurs diffèrent", "the two readers disagree"),
    "postmark_uncertain": Bilingual("cachet lu avec doute", "postmark read with doubt"),
    # The scanner's own reasons (scan/judge.py, scan/pipeline.py).
    "alternative": Bilingual("autre lecture possible", "another reading is possible"),
    "doubtful_ink": Bilingual("encre douteuse", "doubtful ink"),
    "faint_scan": Bilingual("numérisation pâle", "faint scan"),
    "correction": Bilingual("rature ou correction", "crossed out or corrected"),
    "faint_mark": Bilingual("coche pâle", "faint mark"),
    "faint_signature": Bilingual("signature pâle", "faint signature"),
    "changed_by_hand": Bilingual("changé à la main", "changed by hand"),
    "cancelled_mark": Bilingual("coche annulée", "cancelled mark"),
    "cancelled_only": Bilingual("seulement des coches annulées", "only cancelled marks"),
    "filled_box": Bilingual("case noircie", "box filled in"),
    "speck": Bilingual("point ou tache", "speck"),
    "near_threshold": Bilingual("près du seuil", "near the threshold"),
    "empty": Bilingual("vide", "empty"),
    "missing": Bilingual("absent", "missing"),
    "page_missing": Bilingual("page manquante", "page missing"),
    "page_unreadable": Bilingual("page illisible", "page unreadable"),
    "duplicate_page_disagrees": Bilingual("page en double, lectures différentes", "duplicate page read differently"),
    "type": Bilingual("type de valeur", "type of value"),
    "choice": Bilingual("choix inconnu", "unknown choice"),
    "rule:postmark_and_illegible": Bilingual("date et case Illisible à la fois", "a date and the Illegible box both"),
    "rule:postmark_after_received": Bilingual("cachet après la réception", "postmark after the date received"),
    "rule:postmark_in_future": Bilingual("cachet dans le futur", "postmark in the future"),
    "empty_required": Bilingual("obligatoire, lu vide : confirmez (laissez vide et enregistrez)",
                                "required, read empty: confirm it (leave it empty and save)"),
    "ink_around_box": Bilingual("encre autour d'une case (entourée, barrée ?)", "ink around a box (circled, slashed?)"),
    "blot": Bilingual("tache sur une case (perforation, agrafe ?)", "a blot over a box (punch hole, staple?)"),
    "line_through_box": Bilingual("une ligne traverse la case (pli, rayure du scanner ?)", "a line runs through a box (a fold, a scanner streak?)"),
    "unexplained_mark": Bilingual("trait au-dessus ou au-dessous d'une lettre (accent ?)", "a mark above or below a letter (an accent?)"),
    "vocabulary_disagrees": Bilingual("la liste contredit une case lue", "the list contradicts a box read"),
    "bilevel_close_call": Bilingual("chiffres proches sur un scan noir et blanc", "close digits on a black-and-white scan"),
    "lookalike_disagrees": Bilingual("lettre ou chiffre ? (I ou 1, S ou 5, O ou 0)", "a letter or a digit? (I or 1, S or 5, O or 0)"),
    "stroke_through_box": Bilingual("trait léger qui déborde de la case (coche ou trait égaré ?)",
                                    "a light stroke running out of the box (a tick or a stray line?)"),
    "signed_long_before": Bilingual("signé plus de six mois avant l'arrivée : vérifiez l'année",
                                    "signed over six months before it arrived: check the year"),
}
POSTMARK_LABEL = Bilingual("Date du cachet de la poste (feuille séparatrice)", "Postmark date (separator sheet)")

TYPE_HINTS = {
    "date": "AAAA-MM-JJ ou AAAAMMJJ · YYYY-MM-DD or YYYYMMDD",
    "digits": "chiffres · digits",
    "checkbox": "X = coché · ticked, vide = non · empty",
    "signature": "X = signé · signed, vide = non · not signed",
}
# The accented capitals a US keyboard lacks, by the letter whose Alt+key cycles through
# them: French first, then the Latin letters of other names (issue 14). Clickable too.
ACCENT_KEYS = (
    ("E", "ÉÈÊË"), ("A", "ÀÂÁÃÄÅ"), ("C", "Ç"), ("I", "ÎÏÍ"), ("O", "ÔÓÕÖØ"), ("U", "ÙÛÜÚ"),
    ("N", "Ñ"), ("L", "Ł"), ("S", "Ş"), ("Y", "Ÿ"),
)
POSTMARK_HINT = "AAAA-MM-JJ, ou vide = illisible · YYYY-MM-DD, or empty = illegible"


@dataclass(frozen=True)
class SaveOutcome:
    """What a save came to: saved (result), or refused with the card to show again."""

    status: int  # 200 saved, 409 conflict, 422 invalid value
    saved: dict | None
    card: dict | None  # the refused field again (conflict or problems), or None when saved


def _shown_box(item: claims.WaitingField, spec: FieldSpec | None):
    """The stored box, widened for a choice to its options' printed words (the template's)."""
    return spec.view_bounds if spec is not None and spec.options else item.box


def _file_no_or_none(text: str | None) -> str | None:
    """A file number from a link (?after=), or None when it is not one: a hint, never an error."""
    try:
        return normalize_file_no(text) if text else None
    except BadArguments:
        return None


def _problem(field: str, code: str, fr: str, en: str) -> dict:
    return {"field": field, "code": code, "message_fr": fr, "message_en": en}


def reason_text(code: str, rules: dict[str, Bilingual]) -> dict:
    if code.startswith("rule:") and code[5:] in rules:
        text = rules[code[5:]]
    else:
        # An unknown code still reads in both languages, named as what it is.
        text = REASON_TEXTS.get(code, Bilingual(f"motif {code}", f"reason {code}"))
    return {"code": code, "fr": text.fr, "en": text.en}


def input_text(value, field_type: str) -> str:
    """A stored or decoded value as the person types it: text as is, a tick as X."""
    if value is None:
        return ""
    if field_type in BOOL_TYPES:
        truth = value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "x")
        return "X" if truth else ""
    return str(value)


def shown_text(value, field_type: str) -> str:
    if field_type in BOOL_TYPES:
        return "☒ oui · yes" if input_text(value, field_type) == "X" else "☐ non · no"
    return input_text(value, field_type)


class ReviewDesk:
    def __init__(self, registry, images: PageImages):
        self.registry = registry
        self.db = registry.db
        self.images = images

    # ------------------------------------------------------------------ form facts

    @staticmethod
    def _spec(item: claims.WaitingField | None, form_id, version, field: str) -> FieldSpec | None:
        try:
            if field == claims.POSTMARK_FIELD:
                return load_separator().field(field)
            return load_form(form_id, version).field(field) if form_id else load_form().field(field)
        except KeyError:
            return None

    @staticmethod
    def _page_size(item: claims.WaitingField) -> tuple[float, float]:
        if item.field == claims.POSTMARK_FIELD or not item.form_id:
            page = (load_separator() if item.field == claims.POSTMARK_FIELD else load_form()).pages[0]
        else:
            page = load_form(item.form_id, item.form_version).pages[(item.page_no or 1) - 1]
        return page.width_pt, page.height_pt

    @staticmethod
    def _rules(form_id, version) -> dict[str, Bilingual]:
        form = load_form(form_id, version) if form_id else load_form()
        return {r.id: r.message for r in form.rules}

    # ----------------------------------------------------------------------- cards

    def crop_url(self, item: claims.WaitingField) -> str | None:
        if item.box is None or item.page_image is None:
            return None
        return f"/images/{item.file_no}/fields/{item.field}.png"

    def card(self, item: claims.WaitingField, staff: Staff, *, remaining: int, upcoming: claims.WaitingField | None = None,
             holder: claims.Claim | None = None, conflict: dict | None = None, problems: list[dict] | None = None,
             typed: str | None = None, return_to: str = "") -> dict:
        spec = self._spec(item, item.form_id, item.form_version, item.field)
        field_type = spec.type if spec else "text"
        label = spec.label if spec else Bilingual(item.field, item.field)
        if item.field == claims.POSTMARK_FIELD:
            label = POSTMARK_LABEL
        width_pt, height_pt = self._page_size(item)
        outline = None
        if item.box is not None:
            x0, y0, x1, y1 = _shown_box(item, spec)
            outline = {"left": round(x0 / width_pt * 100, 3), "top": round((height_pt - y1) / height_pt * 100, 3),
                       "width": round((x1 - x0) / width_pt * 100, 3), "height": round((y1 - y0) / height_pt * 100, 3)}
        may_edit = staff.may("supervisor") if item.field == claims.POSTMARK_FIELD else staff.may("reviewer")
        machine = input_text(item.value, field_type)
        by_person = item.source == "manual" and item.updated_by is not None
        return {
            # A value a person saved is shown as theirs (who, when), the machine's first reading beside it.
            "saved_by": item.updated_by if by_person else None,
            "saved_at": item.updated_at.strftime("%Y-%m-%d %H:%M UTC") if by_person and item.updated_at else None,
            "first_reading": shown_text(item.machine_value, field_type) if by_person and item.machine_value is not None else None,
            "file_no": item.file_no, "field": item.field, "type": field_type, "label": label,
            "version": item.version if item.version is not None else "",
            "input_value": typed if typed is not None else machine, "machine_value": machine,
            "machine_display": shown_text(item.value, field_type),
            "reasons": [reason_text(r, self._rules(item.form_id, item.form_version)) for r in item.reasons],
            "confidence": item.confidence, "source": item.source,
            "crop_url": self.crop_url(item), "page_no": item.page_no,
            "page_url": f"/images/{item.file_no}/fields/{item.field}/page.png" if item.page_image else None,
            "outline": outline,
            "options": [{"value": o.value, "label": o.label.joined(), "key": str(i)}
                        for i, o in enumerate(spec.options if spec else (), start=1)],
            "accents": ACCENT_KEYS if field_type == "text" else (),
            # The reader's other readings, best first: ↓ brings each in turn (a person's value has none).
            "suggestions": (other_readings(spec, item.evidence, machine)
                            if spec is not None and may_edit and not by_person and item.field != claims.POSTMARK_FIELD else []),
            "hint": POSTMARK_HINT if item.field == claims.POSTMARK_FIELD else TYPE_HINTS.get(field_type, ""),
            "rank": item.rank, "priority_date": item.priority_date, "remaining": remaining,
            "upcoming_crop_url": self.crop_url(upcoming) if upcoming else None,
            "claimed_by_other": holder.claimed_by if holder else None,
            "can_edit": may_edit and holder is None,
            "conflict": conflict, "problems": problems or [],
            "app_url": f"/applications/{item.file_no}",
            "history_url": f"/applications/{item.file_no}/fields/{item.field}/history",
            "return_to": return_to,
        }

    def next_card(self, staff: Staff, postponed: list[tuple[str, str]], *, same_file: str | None = None) -> dict | None:
        """Claim the best waiting field for this person and return its card (None: none left);
        after a field of `same_file`, that file's other waiting fields first."""
        supervisor = staff.may("supervisor")
        # A field whose change waits for a supervisor (four eyes) is not offered meanwhile.
        skip = list(postponed) + identity_changes.waiting_fields(self.db)
        item, upcoming = claims.claim_next_and_peek(self.db, staff.name, timeout=CLAIM_TIMEOUT, skip=skip,
                                                    may_postmark=supervisor,
                                                    prefer_file=_file_no_or_none(same_file))
        if item is None:
            return None
        return self.card(item, staff, remaining=self.remaining(staff), upcoming=upcoming)

    def remaining(self, staff: Staff) -> int:
        """Items waiting that this person's role can do, counted afresh for every card: a
        count that lags behind the saves makes a clerk doubt the saves (one indexed count)."""
        return claims.pending_count(self.db, with_postmarks=staff.may("supervisor"))

    def field_card(self, staff: Staff, file_no: str, field: str, *, return_to: str = "") -> dict:
        """One given field, claimed for this person unless a colleague holds it."""
        file_no = normalize_file_no(file_no)
        item = claims.field_for_review(self.db, file_no, field)
        if item is None:
            raise NotFound(f"no field {field!r} in application {file_no}")
        holder = claims.claim(self.db, file_no, field, staff.name, timeout=CLAIM_TIMEOUT) if staff.may("reviewer") else None
        return self.card(item, staff, remaining=self.remaining(staff), holder=holder, return_to=return_to)

    # ----------------------------------------------------------------------- saves

    def save(self, staff: Staff, file_no: str, field: str, value: str, version: str,
             acknowledged: str | None = None) -> SaveOutcome:
        """A person's value for a field, never over a newer change (409 with what changed).
        An unlikely date (templates/plausibility.py) comes back once with its warnings (422)
        unless `acknowledged` is that same value: the second Enter saves it."""
        file_no = normalize_file_no(file_no)
        if field == claims.POSTMARK_FIELD:
            if not staff.may("supervisor"):
                raise PermissionDenied(f"{staff.name} is a {staff.role}: only a supervisor may decide a postmark date")
            expected = None
        else:
            if not staff.may("reviewer"):
                raise PermissionDenied(f"{staff.name} is a {staff.role}: correcting fields needs the reviewer role")
            try:
                expected = int(version)
            except (TypeError, ValueError):
                raise BadArguments("the form lost the field's version: reload the page") from None
        spec = self._spec(None, None, None, field) if field != claims.POSTMARK_FIELD else None
        if spec is not None and spec.options:
            value = spec.option_typed(value) or value  # 2, MARIÉ, COMMON LAW: the option's code
        if spec is not None and spec.type == "date":
            warnings = self._date_warnings(file_no, spec, value)
            if warnings and normalize_value(spec, acknowledged or "") != normalize_value(spec, value):
                return SaveOutcome(422, None, self._refused_card(staff, file_no, field, typed=value, warnings=warnings))
        try:
            saved = self.registry.review_set(file_no, field, value, by=staff.name, expected_version=expected)
        except ConflictError:
            return SaveOutcome(409, None, self._refused_card(staff, file_no, field, conflict=True))
        except (InvalidData, BadArguments) as exc:
            # BadArguments: a value valid alone but not here (a postmark after the date received).
            problems = problem_dicts(getattr(exc, "problems", ())) or [
                {"field": field, "code": "invalid", "message_fr": str(exc), "message_en": str(exc)}]
            return SaveOutcome(422, None, self._refused_card(staff, file_no, field, problems=problems, typed=value, version=expected))
        claims.release(self.db, file_no, field, staff.name)
        return SaveOutcome(200, saved, None)

    def _date_warnings(self, file_no: str, spec: FieldSpec, value: str) -> list[dict]:
        typed = normalize_value(spec, value or "")
        day = parse_date(typed)
        if day is None or check_field(spec, typed, today=self.registry.policy.today()):
            return []  # no date, or an impossible one: the registry refuses it with its own message
        others = claims.stored_values(self.db, file_no, (plausibility.BIRTH_FIELD, plausibility.SIGNATURE_FIELD))
        found = plausibility.date_warnings(load_form(), spec, day, others, self.registry.policy.today())
        return [{"fr": w.fr, "en": w.en} for w in found]

    def _refused_card(self, staff: Staff, file_no: str, field: str, *, conflict: bool = False,
                      problems: list[dict] | None = None, typed: str | None = None, version: int | None = None,
                      warnings: list[dict] | None = None) -> dict:
        item = claims.field_for_review(self.db, file_no, field)
        if item is None:
            raise NotFound(f"no field {field!r} in application {file_no}")
        details = None
        if conflict:
            # What the winner wrote: the loser decides again on top of it (the new version).
            spec = self._spec(item, item.form_id, item.form_version, field)
            details = {"value": shown_text(item.value, spec.type if spec else "text"), "by": item.updated_by,
                       "at": item.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC") if item.updated_at else None,
                       "version": item.version}
        elif version is not None and item.version != version:
            details = None  # a newer version arrived meanwhile: the next save will say so
        card = self.card(item, staff, remaining=self.remaining(staff), conflict=details, problems=problems, typed=typed)
        if warnings:
            card["warnings"], card["acknowledged"] = warnings, typed
        return card

    def postpone(self, staff: Staff, file_no: str, field: str) -> None:
        claims.release(self.db, normalize_file_no(file_no), field, staff.name)

    def set_postmark(self, staff: Staff, file_no: str, postmark: str, illegible: bool, reason: str) -> dict:
        """A supervisor's postmark decision from the application page. A date typed while the
        Illegible box is ticked is refused, not read as "illegible": the supervisor meant a
        date, and dropping it while saying "corrected" would keep the candidate's later place.
        Refusals are InvalidData with bilingual problems (the page shows them beside the form)."""
        if not staff.may("supervisor"):
            raise PermissionDenied(f"{staff.name} is a {staff.role}: only a supervisor may change a postmark date")
        file_no = normalize_file_no(file_no)
        typed = (postmark or "").strip()
        problems = []
        if illegible and typed:
            problems.append(_problem("postmark_date", "contradiction",
                                     f"Une date ({typed}) est tapée et la case Illisible est cochée : décochez Illisible pour "
                                     "garder la date, ou effacez la date.",
                                     f"A date ({typed}) is typed and Illegible is ticked: untick Illegible to keep the date, "
                                     "or clear the date."))
        day = None
        if not illegible and not problems:
            try:
                day = date.fromisoformat(typed) if typed else None
            except ValueError:
                day = None
            if day is None:
                problems.append(_problem("postmark_date", "date",
                                         f"Date du cachet « {typed} » : écrivez AAAA-MM-JJ, ou cochez Illisible.",
                                         f"Postmark date '{typed}': write YYYY-MM-DD, or tick Illegible."))
        if len((reason or "").strip()) < 3:
            problems.append(_problem("reason", "required",
                                     "Motif obligatoire (3 caractères au moins) : il est gardé dans le journal d'audit.",
                                     "A reason is required (3 characters or more): it is kept in the audit trail."))
        if not problems:
            app = self.registry.application(file_no)
            if day is not None and app.get("received_date") and day.isoformat() > app["received_date"]:
                problems.append(_problem("postmark_date", "after_received",
                                         f"Le cachet {day} est après la date de réception {app['received_date']} : "
                                         "vérifiez l'enveloppe.",
                                         f"The postmark {day} is after the date received {app['received_date']}: "
                                         "check the envelope."))
            elif not app.get("postmark_needs_review") and (
                    (day is None and app.get("postmark_illegible"))
                    or (day is not None and app.get("postmark_date") == day.isoformat())):
                shown = day.isoformat() if day else "illisible"
                problems.append(_problem("postmark_date", "unchanged",
                                         f"Le cachet est déjà {shown} : rien à corriger.",
                                         f"The postmark is already {day.isoformat() if day else 'illegible'}: nothing to correct."))
        if problems:
            raise InvalidData(f"{file_no} postmark: " + "; ".join(p["message_en"] for p in problems), problems)
        result = self.registry.set_postmark(file_no, day, by=staff.name, reason=reason.strip())
        claims.release(self.db, file_no, claims.POSTMARK_FIELD, staff.name)
        return result

    # ---------------------------------------------------------------------- groups

    def _label(self, field: str) -> tuple[Bilingual, str]:
        spec = self._spec(None, None, None, field)
        return (spec.label, spec.type) if spec else (Bilingual(field, field), "text")

    def field_label(self, field: str) -> Bilingual:
        """A field's bilingual label from the form (the postmark's from the separator)."""
        return POSTMARK_LABEL if field == claims.POSTMARK_FIELD else self._label(field)[0]

    def queue_rows(self, rows: list[dict]) -> list[dict]:
        """The queue's rows with each waiting item's label and reasons in words, not codes."""
        rules = self._rules(None, None)
        return [{**row, "fields": [{**f, "label": self.field_label(f["field"]),
                                    "reasons": [reason_text(c.strip(), rules) for c in f["reason"].split(",") if c.strip()]}
                                   for f in row["fields"]]} for row in rows]

    def groups(self, staff: Staff, set_aside: list[tuple[str, str]]) -> list[dict]:
        """Readings shared by several waiting fields, biggest group first."""
        if not staff.may("reviewer"):
            raise PermissionDenied(f"{staff.name} is a {staff.role}: correcting fields needs the reviewer role")
        out = []
        for g in claims.waiting_groups(self.db, staff.name, min_size=limits.GROUP_MIN_SIZE, limit=limits.GROUP_LIST_MAX,
                                       skip=set_aside):
            label, field_type = self._label(g.field)
            out.append({"field": g.field, "value": g.value, "label": label, "shown": shown_text(g.value, field_type),
                        "count": g.count})
        return out

    def group(self, staff: Staff, field: str, value: str, set_aside: list[tuple[str, str]]) -> dict:
        """One group's fields, claimed for this person: their crops side by side."""
        if not staff.may("reviewer"):
            raise PermissionDenied(f"{staff.name} is a {staff.role}: correcting fields needs the reviewer role")
        items = claims.claim_group(self.db, staff.name, field, value, timeout=CLAIM_TIMEOUT,
                                   limit=limits.GROUP_PAGE_ITEMS, skip=set_aside)
        label, field_type = self._label(field)
        return {
            "field": field, "value": value, "label": label, "shown": shown_text(value, field_type),
            "fields": [{"file_no": i.file_no, "version": i.version, "crop_url": self.crop_url(i),
                       "confidence": i.confidence, "app_url": f"/applications/{i.file_no}",
                       "reasons": [reason_text(r, self._rules(i.form_id, i.form_version)) for r in i.reasons]}
                      for i in items],
        }

    def confirm_group(self, staff: Staff, field: str, value: str, shown: list[tuple[str, str]],
                      confirmed: set[str]) -> dict:
        """Save the group's reading for every `confirmed` file (each one audited as a person's
        save, never over a newer change); the files shown but unticked are left to the
        one-by-one loop, still claimed by this person so that they come next.
        `shown`: (file_no, version) of every field the page showed."""
        saved, changed, refused, set_aside, held = [], [], [], [], []
        typed = input_text(value, self._label(field)[1])
        for file_no, version in shown:
            if file_no not in confirmed:
                set_aside.append(file_no)
                continue
            # The version shown guards the save: a field someone saved meanwhile is a 409, nothing overwritten.
            outcome = self.save(staff, file_no, field, typed, version, acknowledged=typed)  # the group was looked at
            if outcome.status == 200 and outcome.saved.get("held"):  # four eyes: it would move another file
                held.append(file_no)
                continue
            (saved if outcome.status == 200 else changed if outcome.status == 409 else refused).append(file_no)
        return {"saved": saved, "changed": changed, "refused": refused, "set_aside": set_aside, "held": held}

    # ---------------------------------------------------------------------- images

    def field_crop(self, file_no: str, field: str) -> bytes:
        item = claims.field_for_review(self.db, normalize_file_no(file_no), field)
        if item is None or item.box is None or item.page_image is None:
            raise NotFound(f"application {file_no} has no image of field {field!r}")
        spec = self._spec(item, item.form_id, item.form_version, item.field)
        return self.images.crop(item.page_image, _shown_box(item, spec), page_height_pt=self._page_size(item)[1],
                                cells=spec.cells if spec else ())

    def field_page(self, file_no: str, field: str):
        item = claims.field_for_review(self.db, normalize_file_no(file_no), field)
        if item is None or item.page_image is None:
            raise NotFound(f"application {file_no} has no page image for field {field!r}")
        return self.images.full(item.page_image)

    def page_image(self, file_no: str, sequence: int):
        path = claims.page_image_path(self.db, normalize_file_no(file_no), sequence)
        if path is None:
            raise NotFound(f"application {file_no} has no page {sequence}")
        return path

    def envelope_image(self, file_no: str) -> str:
        path = claims.envelope_image_path(self.db, normalize_file_no(file_no))
        if path is None:
            raise NotFound(f"application {file_no} has no envelope image")
        return path

    # ---------------------------------------------------------- application, history

    def application_view(self, file_no: str) -> dict:
        app = self.registry.application(file_no)
        form = load_form(app["form_id"], app["form_version"]) if app["form_id"] else load_form()
        rules = {r.id: r.message for r in form.rules}
        order = {name: i for i, name in enumerate(form.field_names)}
        fields = []
        for name, f in sorted(app["fields"].items(), key=lambda kv: order.get(kv[0], len(order))):
            try:
                spec = form.field(name)
                field_type, label = spec.type, spec.label
            except KeyError:
                field_type, label = "text", Bilingual(name, name)
            machine = f.get("machine_value") if f.get("machine_source") else None
            fields.append({
                "name": name, "label": label, "display": shown_text(f["value"], field_type),
                "machine_display": shown_text(machine, field_type) if f.get("machine_source") else None,
                "source": f["source"], "confidence": f["confidence"], "needs_review": f["needs_review"],
                "reasons": [reason_text(r, rules) for r in f["reasons"]], "version": f["version"],
            })
        pending = sum(1 for f in fields if f["needs_review"]) + (1 if app.get("postmark_needs_review") else 0)
        pages = [{
            "label": f"p. {p['page_no']}" if p.get("page_no") else f"#{p['sequence'] + 1}", "kind": p["kind"],
            "thumb_url": f"/images/{app['file_no']}/pages/{p['sequence']}.png?thumb=1",
            "full_url": f"/images/{app['file_no']}/pages/{p['sequence']}.png", "problems": p.get("problems") or [],
        } for p in app.get("pages", [])]
        duplicates = [{"file_no": d, "why": "doublon de ce dossier · duplicate of this file"} for d in app.get("duplicates", [])]
        if app.get("duplicate_of"):
            duplicates.insert(0, {"file_no": app["duplicate_of"], "why": "dossier retenu · the file kept"})
        envelope = app.get("envelope") or {}
        written = claims.field_for_review(self.db, app["file_no"], claims.POSTMARK_FIELD) if app["channel"] == "mail" else None
        return {**app, "fields": fields, "pages": pages, "duplicates": duplicates, "pending": pending,
                "envelope_url": f"/images/{app['file_no']}/envelope.png" if envelope.get("image_path") else None,
                # The date the clerk wrote on the separator sheet, where there was one.
                "postmark_crop_url": self.crop_url(written) if written else None}

    def public_status(self, file_no: str) -> dict:
        """What the online API tells the portal about an application (no personal data)."""
        app = self.registry.application(file_no)
        keys = ("file_no", "channel", "status", "priority_date", "priority_rule", "rank", "submitted_at",
                "postmark_date", "received_date", "duplicate_of")
        return {k: app.get(k) for k in keys}

    def history(self, *, file_no: str | None = None, field: str | None = None, before_id: int | None = None) -> list[dict]:
        if file_no:
            events = self.registry.audit_trail(normalize_file_no(file_no))
            if field:
                events = [e for e in events if e["field"] == field]
            events = list(reversed(events))  # newest first, as on every history page
        else:
            events = claims.recent_audit(self.db, limit=limits.HISTORY_PAGE_SIZE, before_id=before_id)
        return [_event_view(e) for e in events]


def _event_view(e: dict) -> dict:
    detail = e.get("detail") or ""
    reason = detail
    if detail.startswith("{"):
        try:
            parsed = json.loads(detail)
            reason = ", ".join(f"{k}: {v}" for k, v in parsed.items() if v not in (None, ""))
        except ValueError:
            pass
    at = (e.get("at") or "").replace("T", " ")[:19]
    return {"id": e.get("id"), "at": at, "by": e.get("actor"), "action": e.get("action"), "file_no": e.get("file_no"),
            "field": e.get("field"), "old": e.get("old") or "", "new": e.get("new") or "", "reason": reason}
