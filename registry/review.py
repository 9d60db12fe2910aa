"""Review and corrections: what waits for a person, and what people decide.

- `review_list`: the fields (and separator postmarks) waiting for a person, best priority first;
- `review_set`: a person's value for one field, checked, stored as "manual" with the
  machine's reading kept, audited, a concurrent change refused (ConflictError);
- `confirm_empty`: a person confirms required fields read empty (a whole envelope's, or named
  ones; review_set of '' on a required field too), empty_fields.py doing the storing;
- a supervisor's decisions: `set_postmark`, `withdraw` (each with its reason, audited);
- `corrected_readings`: the handwritten fields people saved, what the reader can learn from.
The application's status follows every change (settle.py). The station's claims on the
review queue are in review_claims.py, its statistics in review_stats.py.
"""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select, true, update

from errors import BadArguments, ConflictError, InvalidData, NotFound
from registry import identity_changes
from registry import empty_fields
from registry.filenumber import normalize_file_no
from registry.models import applications, envelopes, field_values, pages
from registry.priority import RULE_SUPERVISOR, mail_priority
from registry.records import (
    BOOL_TYPES,
    POSTMARK_FIELD,
    RegistryParts,
    application_row,
    check_actor,
    check_reason,
    decode,
    encode,
    form_of,
    iso,
    now,
    saved_by_person,
    write_audit,
)
from registry.settle import settle
from templates.spec import load_separator
from templates.validation import check_field, normalize_value, parse_date


def review_list(registry: RegistryParts) -> list[dict]:
    """Fields waiting for a person, best priority first: `{file_no, field, value, reason}`
    (`field` "postmark_date": a separator postmark to confirm, see review_set)."""
    t, fv = applications, field_values
    entries = []
    with registry.db.read() as conn:
        rows = conn.execute(
            select(t.c.file_no, t.c.form_id, t.c.form_version, t.c.priority_date, t.c.draw_key,
                   fv.c.name, fv.c.value, fv.c.reasons)
            .join(fv, fv.c.application_id == t.c.id)
            .where(fv.c.needs_review == true(), t.c.status == "in_review")
        ).all()
        postmarks = conn.execute(
            select(t.c.file_no, t.c.priority_date, t.c.draw_key, envelopes.c.separator_evidence)
            .outerjoin(envelopes, envelopes.c.application_id == t.c.id)
            .where(t.c.postmark_needs_review == true(), t.c.status == "in_review")
        ).all()
    for r in postmarks:
        read = json.loads(r.separator_evidence or "{}").get("postmark_date", {})
        reason = ", ".join(["postmark_uncertain", *read.get("reasons", [])])
        entries.append(((r.priority_date, r.draw_key, r.file_no, -1),
                        {"file_no": r.file_no, "field": POSTMARK_FIELD, "value": read.get("value"), "reason": reason}))
    for r in rows:
        form = form_of(r.form_id, r.form_version)
        order = form.field_names.index(r.name) if r.name in form.field_names else len(form.field_names)
        entries.append(((r.priority_date, r.draw_key, r.file_no, order),
                        {"file_no": r.file_no, "field": r.name, "value": decode(r.value, r.name, form),
                         "reason": r.reasons.replace(",", ", ") or "needs_review"}))
    entries.sort(key=lambda e: e[0])
    return [e for _, e in entries]


def review_set(registry: RegistryParts, file_no: str, field: str, value, *, by: str, expected_version: int | None = None,
               confirmation: identity_changes.Confirmation | None = None) -> dict:
    """A person's value for one field: checked alone (check_field), stored as source
    "manual" and final, the machine's reading kept, audited; then the application's
    status follows. `expected_version` (the field's `version` the person saw) makes a
    concurrent change a ConflictError instead of a silent overwrite. A change of identity
    that would move another file is held for a supervisor instead (identity_changes.py:
    the answer then has "held": true); `confirmation` is that supervisor's yes."""
    try:
        return _review_set(registry, file_no, field, value, by=by, expected_version=expected_version,
                           confirmation=confirmation)
    except identity_changes.HeldForSupervisor as held:
        return identity_changes.hold(registry.db, held)


def _review_set(registry: RegistryParts, file_no: str, field: str, value, *, by: str, expected_version: int | None,
                confirmation: identity_changes.Confirmation | None) -> dict:
    file_no = normalize_file_no(file_no)
    by = check_actor(by)
    if field == POSTMARK_FIELD:
        return _review_postmark(registry, file_no, value, by)
    with registry.db.write() as conn:
        app = application_row(registry, conn, file_no)
        form = form_of(app.form_id, app.form_version)
        try:
            spec = form.field(field)
        except KeyError:
            raise NotFound(f"form {form.form_id} {form.version} has no field {field!r}: see `csq forms layout --json` for the names") from None
        parsed = normalize_value(spec, _parse_typed(value, spec.type))
        problems = check_field(spec, parsed, today=registry.policy.today())
        if [p.code for p in problems] == ["required"]:  # left empty: a person confirms it so
            return _confirm_empty(registry, conn, app, form, by, "left_empty", (field,), expected_version)
        if problems:
            raise InvalidData(f"{file_no} {field}: " + "; ".join(str(p) for p in problems), problems)
        row = conn.execute(select(field_values).where(field_values.c.application_id == app.id, field_values.c.name == field)).first()
        seen = row.version if row is not None else 0
        if expected_version is not None and expected_version != seen:
            raise _conflict(file_no, field, expected_version, row)
        moment = now()
        stored = encode(parsed)
        if row is None:
            conn.execute(field_values.insert().values(
                application_id=app.id, name=field, value=stored, source="manual", confidence=1.0, needs_review=False,
                reasons="", raw="", page_no=None, evidence="", version=1, updated_at=moment, updated_by=by))
            version = 1
        else:
            changed = conn.execute(
                update(field_values).where(field_values.c.id == row.id, field_values.c.version == row.version)
                .values(**saved_by_person(row, stored, by=by, moment=moment))
            ).rowcount
            if changed != 1:
                raise _conflict(file_no, field, row.version, None)
            version = row.version + 1
        write_audit(conn, actor=by, action="review_set", file_no=file_no, field=field,
                    old=row.value if row is not None else None, new=stored,
                    detail=json.dumps({"machine_value": row.value if row is not None and row.source != "manual" else None,
                                       "version": version}))
        conn.execute(update(applications).where(applications.c.id == app.id).values(updated_at=moment))
        since = identity_changes.mark(conn, field)
        settle(registry, conn, app.id, by)
        identity_changes.check(conn, since, file_no=file_no, field=field, value=stored, by=by, version_seen=seen,
                               confirmation=confirmation)
        settled = application_row(registry, conn, file_no)
        status, review_state = settled.status, settled.review_state
        waiting = conn.execute(
            select(field_values.c.name).where(field_values.c.application_id == app.id, field_values.c.needs_review == true())
            .order_by(field_values.c.id)).scalars().all()
        machine = conn.execute(select(field_values.c.machine_value).where(
            field_values.c.application_id == app.id, field_values.c.name == field)).scalar_one()
    return {"file_no": file_no, "field": field, "value": parsed, "version": version, "status": status,
            "review_state": review_state, "machine_value": decode(machine, field, form),
            "needs_review": (([POSTMARK_FIELD] if app.postmark_needs_review else []) + list(waiting))}


def confirm_empty(registry: RegistryParts, file_no: str, *, by: str, reason: str = "blank_page",
                  fields: tuple[str, ...] = ()) -> dict:
    """A person confirms empty the required fields waiting with no value: `fields`, or all
    those of the envelope the reader saw no ink in (a blank page, a page missing). Audited
    field by field (empty_fields.confirm_empty); the application then becomes `incomplete`
    under that person's name."""
    file_no, by = normalize_file_no(file_no), check_actor(by)
    with registry.db.write() as conn:
        app = application_row(registry, conn, file_no)
        return _confirm_empty(registry, conn, app, form_of(app.form_id, app.form_version), by, reason, tuple(fields), None)


def _confirm_empty(registry: RegistryParts, conn, app, form, by: str, reason: str, fields: tuple[str, ...],
                   expected_version: int | None) -> dict:
    def audit(**event):
        write_audit(conn, actor=by, action="empty_confirmed", file_no=app.file_no, **event)

    done = empty_fields.confirm_empty(conn, app.id, form, by=by, reason=reason, fields=fields,
                                      expected_version=expected_version, audit=audit)
    settle(registry, conn, app.id, by)
    settled = application_row(registry, conn, app.file_no)
    waiting = conn.execute(select(field_values.c.name).where(
        field_values.c.application_id == app.id, field_values.c.needs_review == true()).order_by(field_values.c.id)).scalars().all()
    version = conn.execute(select(field_values.c.version).where(
        field_values.c.application_id == app.id, field_values.c.name == fields[0])).scalar_one() if len(fields) == 1 else None
    return {"file_no": app.file_no, **({"field": fields[0], "value": None, "version": version} if len(fields) == 1 else {}),
            **done, "status": settled.status, "review_state": settled.review_state,
            "needs_review": ([POSTMARK_FIELD] if settled.postmark_needs_review else []) + list(waiting)}


def _conflict(file_no: str, field: str, expected: int, row) -> ConflictError:
    if row is None:
        return ConflictError(f"{file_no} {field} was changed by someone else just now: reload it and decide again")
    return ConflictError(
        f"{file_no} {field} was changed by {row.updated_by} at {row.updated_at:%Y-%m-%d %H:%M} UTC "
        f"(version {row.version}, you saw {expected}): reload it and decide again"
    )


def _review_postmark(registry: RegistryParts, file_no: str, value, by: str) -> dict:
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "illegible", "illisible", "none"):
        day = None
    else:
        spec = load_separator().field(POSTMARK_FIELD)
        normalized = normalize_value(spec, text)
        problems = check_field(spec, normalized, today=registry.policy.today())
        if problems:
            raise InvalidData(f"{file_no} {POSTMARK_FIELD}: " + "; ".join(str(p) for p in problems), problems)
        day = parse_date(normalized)
    result = set_postmark(registry, file_no, day, by=by, reason="separator postmark confirmed in review", _action="postmark_reviewed")
    return {"file_no": file_no, "field": POSTMARK_FIELD, "value": iso(day), "version": None, **result}

# =========================================================== supervisor actions


def set_postmark(registry: RegistryParts, file_no: str, postmark: date | None, *, by: str, reason: str, _action: str = "set_postmark") -> dict:
    """A supervisor's decision on a mail application's postmark (None: illegible, the
    published rule applies). Audited with the reason; the priority date follows."""
    file_no, by, reason = normalize_file_no(file_no), check_actor(by), check_reason(reason, "changing the postmark")
    with registry.db.write() as conn:
        app = application_row(registry, conn, file_no)
        if app.channel != "mail":
            raise BadArguments(f"{file_no} came online: it has no postmark; its priority is its submission date")
        if postmark is not None and postmark > app.received_date:
            raise BadArguments(f"the postmark {postmark} is after the date received {app.received_date}: check the envelope")
        unchanged = app.postmark_illegible if postmark is None else (app.postmark_date == postmark and not app.postmark_illegible)
        if unchanged and not app.postmark_needs_review:
            # Not a correction: an audit line `illegible → illegible` would say it was fixed.
            raise BadArguments(f"the postmark of {file_no} is already {iso(postmark) or 'illegible'}: nothing to correct")
        priority = mail_priority(postmark, app.received_date, registry.policy)
        rule = RULE_SUPERVISOR if postmark is not None else priority.rule
        conn.execute(update(applications).where(applications.c.id == app.id).values(
            postmark_date=postmark, postmark_illegible=priority.postmark_illegible, postmark_needs_review=False,
            own_priority_date=priority.day, priority_date=priority.day, priority_rule=rule, updated_at=now()))
        write_audit(conn, actor=by, action=_action, file_no=file_no, field="postmark_date",
                    old=iso(app.postmark_date) if not app.postmark_illegible else "illegible",
                    new=iso(postmark) or "illegible", detail=reason)
        settle(registry, conn, app.id, by)
        row = application_row(registry, conn, file_no)
    return {"status": row.status, "priority_date": iso(row.priority_date), "priority_rule": row.priority_rule}


def withdraw(registry: RegistryParts, file_no: str, *, by: str, reason: str) -> dict:
    """The candidate withdrew (or staff closed the file): out of the queue, audited."""
    file_no, by, reason = normalize_file_no(file_no), check_actor(by), check_reason(reason, "the withdrawal")
    with registry.db.write() as conn:
        app = application_row(registry, conn, file_no)
        if app.withdrawn_at is not None:
            return {"file_no": file_no, "status": app.status}
        conn.execute(update(applications).where(applications.c.id == app.id).values(withdrawn_at=now(), updated_at=now()))
        write_audit(conn, actor=by, action="withdrawn", file_no=file_no, detail=reason)
        settle(registry, conn, app.id, by)
        return {"file_no": file_no, "status": application_row(registry, conn, file_no).status}


def corrected_readings(registry: RegistryParts, since: date | None = None) -> list[dict]:
    """Handwritten fields a person saved over the machine's reading (corrected or
    confirmed), with the stored image of the page they were read on: what the reader can
    learn from (scan/corrections.py cuts their boxes for the ICR's training)."""
    query = (
        select(applications.c.file_no, field_values.c.name, field_values.c.value, field_values.c.machine_value,
               field_values.c.page_no, field_values.c.updated_at, pages.c.image_path, pages.c.view, pages.c.form_id,
               pages.c.form_version)
        .select_from(field_values.join(applications, applications.c.id == field_values.c.application_id)
                     .join(pages, (pages.c.application_id == field_values.c.application_id)
                           & (pages.c.page_no == field_values.c.page_no) & (pages.c.kind == "form")))
        .where(field_values.c.source == "manual", field_values.c.machine_source == "ocr",
               field_values.c.value.is_not(None))
        .order_by(applications.c.file_no, field_values.c.id, pages.c.sequence)
    )
    if since is not None:
        query = query.where(field_values.c.updated_at >= registry.policy.day_start(since))
    out, seen = [], set()
    with registry.db.read() as conn:
        for r in conn.execute(query):
            if (r.file_no, r.name) in seen:
                continue  # a page scanned twice: its first copy
            seen.add((r.file_no, r.name))
            out.append({"file_no": r.file_no, "field": r.name, "value": r.value, "machine_value": r.machine_value,
                        "page_no": r.page_no, "image": str(registry.images.path(r.image_path)), "view": r.view, "form_id": r.form_id,
                        "form_version": r.form_version})
    return out


def _parse_typed(value, field_type: str):
    """A value as a person typed it (the CLI gives text) in the type of the field."""
    if field_type in BOOL_TYPES and isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes", "oui", "x", "vrai"):
            return True
        if text in ("false", "0", "no", "non", "", "faux"):
            return False
        raise InvalidData(f"{value!r} is not true or false: write true or false")
    if isinstance(value, str) and not value.strip():
        return None
    return value
