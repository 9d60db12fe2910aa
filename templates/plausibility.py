"""Plausibility of a date a person types in review: warnings, never refusals.

check_field refuses what cannot be (31 February, a year out of range); this says what is
possible but unlikely on this form, for a person to look twice before saving: a date after
the form was signed, in the future, or before the candidate was born. A date the form's own
rules expect after the signature (the passport's expiry) is left alone.
"""

from __future__ import annotations

from datetime import date

from templates.spec import Bilingual, FieldSpec, FormSpec
from templates.validation import parse_date

BIRTH_FIELD = "birth_date"
SIGNATURE_FIELD = "signature_date"


def _ahead_of_signature(form: FormSpec) -> set[str]:
    """Fields a rule of the form wants later than the signature (passport_expiry)."""
    return {r.date_after[0] for r in form.rules if r.date_after and r.date_after[1] == SIGNATURE_FIELD}


def date_warnings(form: FormSpec, spec: FieldSpec, typed: date, others: dict[str, str | None], today: date) -> list[Bilingual]:
    """Why `typed` for date field `spec` looks unlikely, given the application's other stored
    values (`others`: field name -> ISO date or None) and today's date."""
    if spec.type != "date":
        return []
    ahead = spec.name in _ahead_of_signature(form)
    signed = parse_date(others.get(SIGNATURE_FIELD) or "")
    born = parse_date(others.get(BIRTH_FIELD) or "")
    out = []
    if typed > today and not ahead:
        out.append(Bilingual(f"{typed} est dans le futur.", f"{typed} is in the future."))
    if signed and typed > signed and not ahead and spec.name != SIGNATURE_FIELD:
        out.append(Bilingual(f"{typed} est après la date de signature du formulaire ({signed}).",
                             f"{typed} is after the date the form was signed ({signed})."))
    # A field with a minimum age is an adult's own birth date (the candidate's, the spouse's):
    # it may well come before the candidate's.
    if born and typed < born and spec.min_age is None:
        out.append(Bilingual(f"{typed} est avant la naissance du candidat ({born}).",
                             f"{typed} is before the candidate was born ({born})."))
    return out
