"""What review staff did, and what their corrections say of the reader (queXF's per-operator
pages): read from the audit trail, which records every person's save with the machine's
reading it replaced.

- per person: fields saved, how many of them kept the value shown (Enter on a right
  reading, or a group confirmed) and how many changed it, each save once, and their pace:
  the median time between two saves of one sitting (gaps over PACE_GAP_S are breaks, not work);
- per field: how often the machine's reading was right when people looked (judged by the
  last value a person saved: a reading accepted, then corrected, was wrong). On real mail
  this is the reader's field accuracy where it doubted, the one figure the generated
  benchmark cannot give: a field that people nearly always confirm is one whose threshold
  may be too strict, one they nearly always change is one the reader cannot do.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from registry.models import audit_events

PACE_GAP_S = 300.0  # longer between two saves: a break or other work, not the pace of review


@dataclass
class PersonTally:
    name: str
    saved: int = 0
    kept_reading: int = 0  # the value shown (machine's or a colleague's) saved as it was
    changed_reading: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    _gaps: list[float] = field(default_factory=list, repr=False)

    @property
    def median_seconds_per_field(self) -> float | None:
        return round(statistics.median(self._gaps), 1) if self._gaps else None

    def as_dict(self) -> dict:
        return {"name": self.name, "saved": self.saved, "kept_reading": self.kept_reading,
                "changed_reading": self.changed_reading, "median_seconds_per_field": self.median_seconds_per_field,
                "first_at": self.first_at.isoformat() if self.first_at else None,
                "last_at": self.last_at.isoformat() if self.last_at else None}


@dataclass
class FieldTally:
    name: str
    reviewed: int = 0
    reading_right: int = 0  # the person kept the machine's reading

    def as_dict(self) -> dict:
        return {"field": self.name, "reviewed": self.reviewed, "reading_right": self.reading_right,
                "reading_right_share": round(self.reading_right / self.reviewed, 3) if self.reviewed else None}


def review_stats(db, since: datetime) -> dict:
    """People's saves of fields since `since` (aware): per person and per field, busiest first.

    Every save counts once for its person, as kept (the value saved is the one shown: the
    machine's reading, or a colleague's value) or changed, so kept + changed = saved. Per field,
    a reading counts once, by the last word a person had on it in the period: accepted then
    corrected by someone else, it was not right."""
    people: dict[str, PersonTally] = {}
    fields: dict[str, FieldTally] = {}
    readings: dict[tuple[str, str], list] = {}  # (file, field) -> [machine's reading, last value saved]
    with db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.actor, audit_events.c.at, audit_events.c.file_no, audit_events.c.field,
                   audit_events.c.old, audit_events.c.new, audit_events.c.detail)
            .where(audit_events.c.action == "review_set", audit_events.c.at >= since)
            .order_by(audit_events.c.at, audit_events.c.id)
        ).all()
    for r in sorted(rows, key=lambda r: (r.actor, r.at)):
        person = people.setdefault(r.actor, PersonTally(r.actor))
        if person.last_at is not None:
            gap = (r.at - person.last_at).total_seconds()
            if 0 <= gap <= PACE_GAP_S:
                person._gaps.append(gap)
        person.first_at = person.first_at or r.at
        person.last_at = r.at
        person.saved += 1
        kept = r.new == r.old
        person.kept_reading += kept
        person.changed_reading += not kept
    for r in rows:  # in time order
        machine = _machine_value(r.detail)
        seen = readings.get((r.file_no, r.field))
        if seen is None:
            if machine is None:
                continue  # first saved before the period, or never read by the machine: says nothing of the reader
            readings[(r.file_no, r.field)] = [machine, r.new]
        else:
            seen[1] = r.new
    for (_, name), (machine, last) in readings.items():
        tally = fields.setdefault(name, FieldTally(name))
        tally.reviewed += 1
        tally.reading_right += machine == last
    return {
        "since": since.isoformat(),
        "people": [p.as_dict() for p in sorted(people.values(), key=lambda p: (-p.saved, p.name))],
        "fields": [f.as_dict() for f in sorted(fields.values(), key=lambda f: (-f.reviewed, f.name))],
    }


def _machine_value(detail: str | None) -> str | None:
    try:
        return json.loads(detail or "{}").get("machine_value")
    except (ValueError, AttributeError):
        return None
