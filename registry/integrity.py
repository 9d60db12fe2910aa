"""`csq registry check`: does what the registry keeps still hold together?

Intake is crash-safe by construction (registry/intake.py `register_mail`): an envelope's rows
are one transaction, and its page images are written before it, by content (images/ab/cd/
<sha256>.png), so an intake cut short leaves at most image files that no row names yet, and
running the intake again finds them in place and uses them (no second copy). This check
says so from the outside, and tidies up:

- rows that lost their application (pages, fields, envelope, idempotency keys, queue places),
  mail applications without their envelope or pages;
- files the rows name that are missing (and with `deep`, whose bytes no longer match their
  sha256);
- image files no row names (left by an intake cut short) and half-written temporary files
  (`.*.tmp`, from a write cut short); `clean` removes those older than `min_age` seconds
  (younger ones may belong to an intake still running);
- the audit trail's hash chain (registry/audit_chain.py).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from registry import audit_chain
from registry.models import applications, envelopes, field_values, idempotency_keys, pages, queue_places

DEFAULT_MIN_AGE_S = 3600
SHOWN = 20  # at most this many names of each kind in the report


@dataclass
class CheckReport:
    applications: int = 0
    pages: int = 0
    files: int = 0
    orphan_rows: dict = field(default_factory=dict)  # table -> count of rows without their application
    inconsistent: list = field(default_factory=list)  # sentences
    missing_files: list = field(default_factory=list)
    corrupt_files: list = field(default_factory=list)
    orphan_files: list = field(default_factory=list)
    temp_files: list = field(default_factory=list)
    cleaned: int = 0
    audit: dict = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """What is wrong (files nobody names are garbage, not a problem: `clean` removes them)."""
        out = [f"{n} row(s) of {table} without their application" for table, n in self.orphan_rows.items() if n]
        out += self.inconsistent
        if self.missing_files:
            out.append(f"{len(self.missing_files)} stored file(s) missing, e.g. {self.missing_files[0]}")
        if self.corrupt_files:
            out.append(f"{len(self.corrupt_files)} stored file(s) whose content changed, e.g. {self.corrupt_files[0]}")
        if self.audit and not self.audit.get("ok", True):
            out.append("audit trail: " + self.audit["broken_text"])
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"ok": self.ok, "problems": self.problems, "applications": self.applications, "pages": self.pages,
                "files": self.files, "orphan_rows": self.orphan_rows, "missing_files": self.missing_files[:SHOWN],
                "corrupt_files": self.corrupt_files[:SHOWN], "orphan_files": len(self.orphan_files),
                "temp_files": len(self.temp_files), "cleaned": self.cleaned, "audit": self.audit}

    def summary(self) -> str:
        garbage = len(self.orphan_files) + len(self.temp_files)
        head = (f"{self.applications} application(s), {self.pages} page(s), {self.files} stored file(s); "
                f"{garbage} file(s) no row names" + (f", {self.cleaned} removed" if self.cleaned else ""))
        chain = f"; audit trail: {self.audit.get('events', 0)} event(s), head {self.audit.get('head', '')[:16]}" if self.audit.get("ok") else ""
        return head + chain + ("; " + "; ".join(self.problems) if self.problems else "; consistent")


def check(registry, *, clean: bool = False, min_age: float = DEFAULT_MIN_AGE_S, deep: bool = False) -> CheckReport:
    report = CheckReport()
    data_dir = Path(registry.data_dir)
    on_disk = _files(data_dir / "images")  # listed before the rows are read: see "clean" below
    with registry.db.read() as conn:
        report.applications = conn.execute(select(func.count()).select_from(applications)).scalar_one()
        report.pages = conn.execute(select(func.count()).select_from(pages)).scalar_one()
        ids = select(applications.c.id)
        for table in (pages, field_values, envelopes, idempotency_keys, queue_places):
            n = conn.execute(select(func.count()).select_from(table).where(table.c.application_id.not_in(ids))).scalar_one()
            if n:
                report.orphan_rows[table.name] = n
        mail = applications.c.channel == "mail"
        no_envelope = conn.execute(select(applications.c.file_no).where(
            mail, applications.c.id.not_in(select(envelopes.c.application_id))).limit(SHOWN)).scalars().all()
        if no_envelope:
            report.inconsistent.append(f"mail application(s) without their envelope: {', '.join(no_envelope)}")
        no_pages = conn.execute(select(applications.c.file_no).where(
            mail, applications.c.id.not_in(select(pages.c.application_id))).limit(SHOWN)).scalars().all()
        if no_pages:
            report.inconsistent.append(f"mail application(s) without any page: {', '.join(no_pages)}")
        named = {}
        for rel, sha in conn.execute(select(pages.c.image_path, pages.c.image_sha256)):
            named[rel] = sha
        for rel, sha in conn.execute(select(envelopes.c.image_path, envelopes.c.image_sha256).where(envelopes.c.image_path.is_not(None))):
            named[rel] = sha
        chain = audit_chain.verify(conn, audit_chain.read_anchors(data_dir))
    report.audit = chain.to_json() | ({"broken_text": chain.broken.describe()} if chain.broken else {})
    report.files = len(named)
    for rel, sha in sorted(named.items()):
        path = data_dir / rel
        if not path.is_file():
            report.missing_files.append(rel)
        elif deep and hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            report.corrupt_files.append(rel)
    named_paths = {(data_dir / rel).resolve() for rel in named}
    for path in on_disk:
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            report.temp_files.append(path)
        elif path.resolve() not in named_paths:
            report.orphan_files.append(path)
    report.temp_files += [p for p in _files(data_dir / "letters") if p.name.startswith(".") and p.name.endswith(".tmp")]
    if clean:
        # Only files listed before the rows were read and older than min_age: an intake
        # writes its images a moment before its transaction commits, never an hour before.
        cutoff = time.time() - min_age
        for path in report.orphan_files + report.temp_files:
            try:
                if path.stat().st_mtime <= cutoff:
                    path.unlink()
                    report.cleaned += 1
            except FileNotFoundError:
                pass
    return report


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.rglob("*") if p.is_file()]
