"""The export: every application as docs/interface.md's export line, streamed in file
order (`export_rows`), or flattened to one CSV row per application (`export_csv`)."""

from __future__ import annotations

import csv
import json
from typing import IO, Iterator

from sqlalchemy import select

from registry.models import applications, field_values
from registry.records import APPLICATION_WITH_PLACE, RegistryParts, decode, form_of, iso, with_places
from templates.spec import load_form

EXPORT_BATCH = 2_000
EXPORT_KEYS = ("file_no", "channel", "status", "postmark_date", "received_date", "submitted_at", "priority_date", "rank")


def export_rows(registry: RegistryParts) -> Iterator[dict]:
    """Every application as docs/interface.md's export line (plus `duplicate_of`,
    `postmark_illegible`, `priority_rule`, `draw_key`, `form_version`), by file order."""
    t = applications
    last_id = 0
    while True:
        with registry.db.read() as conn:
            apps = conn.execute(select(*APPLICATION_WITH_PLACE).select_from(with_places())
                                .where(t.c.id > last_id).order_by(t.c.id).limit(EXPORT_BATCH)).all()
            if not apps:
                return
            fields = conn.execute(
                select(field_values.c.application_id, field_values.c.name, field_values.c.value, field_values.c.source,
                       field_values.c.confidence, field_values.c.needs_review)
                .where(field_values.c.application_id.between(apps[0].id, apps[-1].id))
                .order_by(field_values.c.application_id, field_values.c.id)
            ).all()
        by_app: dict[int, list] = {}
        for f in fields:
            by_app.setdefault(f.application_id, []).append(f)
        for app in apps:
            form = form_of(app.form_id, app.form_version)
            yield {
                "file_no": app.file_no,
                "channel": app.channel,
                "status": app.status,
                "postmark_date": iso(app.postmark_date),
                "received_date": iso(app.received_date),
                "submitted_at": iso(app.submitted_at),
                "priority_date": iso(app.priority_date),
                "rank": app.rank,
                "fields": {
                    f.name: {"value": decode(f.value, f.name, form), "source": f.source,
                             "confidence": f.confidence, "needs_review": f.needs_review}
                    for f in by_app.get(app.id, [])
                },
                "duplicate_of": app.duplicate_of,
                "postmark_illegible": app.postmark_illegible,
                "priority_rule": app.priority_rule,
                "draw_key": app.draw_key,
                "form_version": app.form_version,
            }
        last_id = apps[-1].id


def export_csv(registry: RegistryParts, stream: IO[str]) -> None:
    """The export flattened: one row per application, one column per form field value,
    and `needs_review` listing the fields not yet final."""
    names = list(load_form().field_names)
    extra = ["duplicate_of", "postmark_illegible", "priority_rule"]
    writer = csv.writer(stream)
    writer.writerow(list(EXPORT_KEYS) + extra + names + ["needs_review"])
    for row in export_rows(registry):
        fields = row["fields"]
        values = [row[k] for k in list(EXPORT_KEYS) + extra] + [fields.get(name, {}).get("value") for name in names]
        waiting = " ".join(n for n, f in fields.items() if f["needs_review"])
        writer.writerow([_csv_cell(v) for v in values] + [waiting])


def _csv_cell(value) -> str:
    """Empty for null, true/false for booleans (as in the JSON export), text otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)
