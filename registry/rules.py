"""The published rules in force, applied to what is stored.

The rules (priority.toml: draw seed, window, illegible-postmark rule) are published and
should not change once the intake is open; `adopt_rules` runs at every opening of the
registry and, if they changed, brings every stored draw key, priority date and status in
line, audited with the old and new rules, and voids the last ranking.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from registry.models import applications, queue_places, settings
from registry.people import resolve_person
from registry.priority import RULE_ILLEGIBLE, PriorityPolicy, draw_key, mail_priority
from registry.records import STREAM_BATCH, RegistryParts, iso, stored_status, write_audit

RULES_SETTING = "priority_rules"  # the published rules the stored dates, keys and statuses follow


def published_rules(policy: PriorityPolicy) -> dict:
    """The rules as recorded in the registry (the seed by its hash only)."""
    p = policy
    return {"draw_seed_sha256": p.seed_sha256, "opening_date": iso(p.opening_date), "closing_date": iso(p.closing_date),
            "illegible_postmark_rule": p.illegible_postmark_rule,
            "illegible_postmark_offset_days": p.illegible_postmark_offset_days}


def adopt_rules(registry: RegistryParts) -> None:
    """Bring stored draw keys, dates and statuses in line with the rules in force.

    The rules are published and should not change once the intake is open; when they do
    (a new priority.toml, CSQ_PRIORITY_CONFIG), the change is applied to every
    application, audited with the old and new rules, and the last ranking is voided."""
    current = json.dumps(published_rules(registry.policy), sort_keys=True)
    read_stored = select(settings.c.value).where(settings.c.key == RULES_SETTING)
    with registry.db.read() as conn:
        if conn.execute(read_stored).scalar_one_or_none() == current:
            return
    with registry.db.write() as conn:
        stored = conn.execute(read_stored).scalar_one_or_none()
        if stored == current:
            return
        insert_ = pg_insert if registry.db.dialect == "postgresql" else sqlite_insert
        conn.execute(insert_(settings).values(key=RULES_SETTING, value=current)
                     .on_conflict_do_update(index_elements=["key"], set_={"value": current}))
        old, new = json.loads(stored) if stored else {}, published_rules(registry.policy)
        sample = conn.execute(select(applications.c.file_no, applications.c.draw_key).limit(1)).first()
        if sample is None:
            return  # nothing registered yet: the rules are simply recorded
        if sample.draw_key != draw_key(registry.policy.draw_seed, sample.file_no):
            _recompute_draw_keys(registry, conn)
        if stored is None:
            return  # a registry from before rules were recorded: same rules, now on record
        if old.get("illegible_postmark_offset_days") != new["illegible_postmark_offset_days"]:
            illegible = conn.execute(select(applications.c.id, applications.c.received_date)
                                     .where(applications.c.priority_rule == RULE_ILLEGIBLE)).all()
            for r in illegible:
                day = mail_priority(None, r.received_date, registry.policy).day
                conn.execute(update(applications).where(applications.c.id == r.id).values(own_priority_date=day, priority_date=day))
        # The window decides who is a duplicate of whom, and every status.
        people = conn.execute(select(applications.c.person_key).where(applications.c.person_key.is_not(None))
                              .group_by(applications.c.person_key).having(func.count() > 1)).scalars().all()
        for key in people:
            resolve_person(registry, conn, key, "rules")
        conn.execute(update(applications).values(status=stored_status(registry.policy)))
        conn.execute(delete(queue_places))
        write_audit(conn, actor="rules", action="rules_changed", old=stored, new=current,
                    detail="draw keys, priority dates and statuses follow the new rules; the last ranking is void: rank again")


def _recompute_draw_keys(registry: RegistryParts, conn: Connection) -> None:
    rows = conn.execute(select(applications.c.id, applications.c.file_no)).all()
    for start in range(0, len(rows), STREAM_BATCH):
        conn.execute(
            update(applications).where(applications.c.id == bindparam("b_id")).values(draw_key=bindparam("b_key")),
            [{"b_id": r.id, "b_key": draw_key(registry.policy.draw_seed, r.file_no)} for r in rows[start:start + STREAM_BATCH]],
        )
