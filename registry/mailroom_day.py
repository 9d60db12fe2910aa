"""The clerk's day: what the mailroom read today, what went wrong, and what to scan again.

- `record_file`: the consume folder (mailroom/watch.py) says what became of each scanned file
  (done with its applications, or failed with its reason), as an audit event `mailroom_file`:
  the day's files survive a restart and stand in the tamper-evident trail with the rest;
- `day_report`: one intake day's files and stacks, envelopes and pages registered, problems
  (pages missing, illegible postmarks, postmarks waiting for a supervisor, stacks cut short,
  failed files with their reason), and the letters ready to print or held back;
- `rescan_queue`: files with pages missing or unreadable, the page numbers wanted, best
  priority first (queXF's rescan queue): what the clerk pulls from the envelope and scans again
  with `csq scan ingest PAGES --into FILE_NO`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, or_, select

from registry.models import applications, audit_events, field_values, pages

FILE_ACTION = "mailroom_file"
MISSING_PAGES = re.compile(r"missing page\(s\) ([\d, ]+) of (\d+)")
UNREADABLE_REASON = "page_unreadable"
RESCAN_QUEUE_MAX = 500


@dataclass(frozen=True)
class RescanItem:
    file_no: str
    priority_date: str
    registered_at: str
    pages_wanted: tuple[int, ...]
    page_count: int | None
    why: str  # "missing" or "unreadable"

    def to_json(self) -> dict:
        return {"file_no": self.file_no, "priority_date": self.priority_date, "registered_at": self.registered_at,
                "pages_wanted": list(self.pages_wanted), "page_count": self.page_count, "why": self.why}


def record_file(db, *, name: str, status: str, pages: int, file_nos: list[str], reason: str | None, actor: str) -> None:
    """One scanned file of the consume folder, done or failed, in the audit trail."""
    detail = json.dumps({"name": name, "status": status, "pages": pages, "file_nos": file_nos, "reason": reason},
                        ensure_ascii=False, sort_keys=True)
    with db.write() as conn:
        conn.execute(audit_events.insert().values(at=datetime.now(timezone.utc), actor=actor, action=FILE_ACTION,
                                                  detail=detail))


def pages_wanted(problems: str | None) -> tuple[tuple[int, ...], int | None]:
    """The page numbers an application's problems say are missing, and of how many."""
    match = MISSING_PAGES.search(problems or "")
    if not match:
        return (), None
    return tuple(int(n) for n in match.group(1).replace(" ", "").split(",") if n), int(match.group(2))


def rescan_queue(db, *, limit: int = RESCAN_QUEUE_MAX) -> list[RescanItem]:
    """Mail files with a page missing or unreadable, best priority first."""
    t = applications
    unreadable = (select(field_values.c.application_id).where(field_values.c.reasons.contains(UNREADABLE_REASON))
                  .scalar_subquery())
    query = (select(t.c.id, t.c.file_no, t.c.priority_date, t.c.registered_at, t.c.problems)
             .where(t.c.channel == "mail", t.c.withdrawn_at.is_(None), t.c.duplicate_of.is_(None),
                    or_(t.c.problems.contains("missing page(s)"), t.c.id.in_(unreadable)))
             .order_by(t.c.priority_date, t.c.draw_key).limit(limit))
    with db.read() as conn:
        rows = conn.execute(query).all()
        unreadable_pages = _unreadable_pages(conn, [r.id for r in rows])
    items = []
    for r in rows:
        wanted, count = pages_wanted(r.problems)
        why = "missing"
        if not wanted and unreadable_pages.get(r.id):
            wanted, why = tuple(sorted(unreadable_pages[r.id])), "unreadable"
        items.append(RescanItem(r.file_no, r.priority_date.isoformat(), r.registered_at.isoformat(), wanted, count, why))
    return items


def _unreadable_pages(conn, ids: list[int]) -> dict[int, set[int]]:
    if not ids:
        return {}
    found: dict[int, set[int]] = {}
    for app_id, page_no in conn.execute(select(field_values.c.application_id, field_values.c.page_no)
                                        .where(field_values.c.application_id.in_(ids),
                                               field_values.c.reasons.contains(UNREADABLE_REASON))):
        if page_no is not None:
            found.setdefault(app_id, set()).add(page_no)
    return found


def day_report(registry, day: date) -> dict:
    """What the mailroom did on `day` (the intake's calendar day)."""
    start = registry.policy.day_start(day)
    end = registry.policy.day_start(day + timedelta(days=1))
    t = applications
    with registry.db.read() as conn:
        apps = conn.execute(
            select(t.c.id, t.c.file_no, t.c.status, t.c.postmark_illegible, t.c.postmark_needs_review, t.c.problems)
            .where(t.c.channel == "mail", t.c.registered_at >= start, t.c.registered_at < end).order_by(t.c.id)).all()
        page_counts = dict(conn.execute(select(pages.c.application_id, func.count()).where(
            pages.c.application_id.in_([a.id for a in apps])).group_by(pages.c.application_id)).all()) if apps else {}
        events = conn.execute(select(audit_events.c.at, audit_events.c.actor, audit_events.c.detail)
                              .where(audit_events.c.action == FILE_ACTION, audit_events.c.at >= start,
                                     audit_events.c.at < end).order_by(audit_events.c.id)).all()
    files = []
    for e in events:
        detail = json.loads(e.detail or "{}")
        files.append({"at": e.at.isoformat(), "by": e.actor, **detail})
    problems = []
    for a in apps:
        lines = [line for line in (a.problems or "").splitlines() if line]
        if a.postmark_needs_review:
            lines.append("postmark written on the separator waits for a supervisor")
        elif a.postmark_illegible:
            lines.append("postmark illegible or missing: the published rule applies")
        if lines:
            problems.append({"file_no": a.file_no, "status": a.status, "problems": lines})
    held = registry.letters_held_back(day)
    return {
        "day": day.isoformat(),
        "files": files,
        "files_failed": [f for f in files if f.get("status") == "failed"],
        "envelopes": len(apps),
        "pages": sum(page_counts.values()),
        "problems": problems,
        "letters_ready": len(apps) - len([h for h in held if h in {a.file_no for a in apps}]),
        "letters_held_back": held,
    }
