"""One application as staff and the CLI see it: everything about it (`application`), and
the audit trail of one application or of all (`audit_trail`)."""

from __future__ import annotations

import json

from sqlalchemy import select

from registry.acknowledgments import letter_path
from registry.filenumber import normalize_file_no
from registry.models import applications, envelopes, field_values, pages
from registry.records import RegistryParts, application_row, audit_rows, decode, document, form_of, iso, split_lines
from templates.validation import validate


def application(registry: RegistryParts, file_no: str) -> dict:
    """Everything about one application: dates, status, fields with their evidence,
    pages with image paths, the envelope, the audit history."""
    file_no = normalize_file_no(file_no)
    with registry.db.read() as conn:
        app = application_row(registry, conn, file_no)
        form = form_of(app.form_id, app.form_version)
        fields = conn.execute(select(field_values).where(field_values.c.application_id == app.id).order_by(field_values.c.id)).all()
        page_rows = conn.execute(select(pages).where(pages.c.application_id == app.id).order_by(pages.c.sequence, pages.c.id)).all()
        envelope = conn.execute(select(envelopes).where(envelopes.c.application_id == app.id)).first()
        duplicates = conn.execute(select(applications.c.file_no).where(applications.c.duplicate_of == file_no)
                                  .order_by(applications.c.id)).scalars().all()
        history = audit_rows(conn, file_no)
    letter = letter_path(registry, file_no)
    return {
        "file_no": app.file_no, "channel": app.channel, "status": app.status, "review_state": app.review_state,
        "postmark_date": iso(app.postmark_date), "postmark_illegible": app.postmark_illegible,
        "postmark_needs_review": app.postmark_needs_review, "received_date": iso(app.received_date),
        "submitted_at": iso(app.submitted_at), "own_priority_date": iso(app.own_priority_date),
        "priority_date": iso(app.priority_date), "priority_rule": app.priority_rule, "draw_key": app.draw_key,
        "rank": app.rank, "within_cap": app.within_cap, "form_id": app.form_id, "form_version": app.form_version,
        "duplicate_of": app.duplicate_of, "duplicates": list(duplicates), "withdrawn_at": iso(app.withdrawn_at),
        "registered_at": iso(app.registered_at), "registered_by": app.registered_by, "updated_at": iso(app.updated_at),
        "problems": split_lines(app.problems),
        "validation": [p.to_dict() for p in validate({"fields": document(fields, form)}, form, today=registry.policy.today())] if fields else [],
        "letter": str(letter) if letter.exists() else None,
        "fields": {
            f.name: {
                "value": decode(f.value, f.name, form), "source": f.source, "confidence": f.confidence,
                "needs_review": f.needs_review, "reasons": [r for r in f.reasons.split(",") if r], "raw": f.raw,
                "page_no": f.page_no,
                "box": [f.box_x0, f.box_y0, f.box_x1, f.box_y1] if f.box_x0 is not None else None,
                "evidence": f.evidence, "machine_value": decode(f.machine_value, f.name, form),
                "machine_source": f.machine_source, "machine_confidence": f.machine_confidence,
                "version": f.version, "updated_at": iso(f.updated_at), "updated_by": f.updated_by,
            }
            for f in fields
        },
        "pages": [
            {
                "sequence": p.sequence, "kind": p.kind, "form_id": p.form_id, "form_version": p.form_version,
                "page_no": p.page_no, "document_id": p.document_id, "source_file": p.source_file,
                "source_page": p.source_page, "rotation": p.rotation, "pixels_sha256": p.pixels_sha256,
                "image_sha256": p.image_sha256, "image_path": str(registry.images.path(p.image_path)),
                "stored_as": "received" if p.view else "png",
                "problems": split_lines(p.problems),
            }
            for p in page_rows
        ],
        "envelope": None if envelope is None else {
            "fingerprint": envelope.fingerprint, "separator_serial": envelope.separator_serial,
            "image_sha256": envelope.image_sha256,
            "image_path": str(registry.images.path(envelope.image_path)) if envelope.image_path else None,
            "separator": json.loads(envelope.separator_evidence) if envelope.separator_evidence else None,
        },
        "audit": history,
    }


def audit_trail(registry: RegistryParts, file_no: str | None = None) -> list[dict]:
    """The audit events (of one application, or all), oldest first."""
    with registry.db.read() as conn:
        return audit_rows(conn, normalize_file_no(file_no) if file_no else None)
