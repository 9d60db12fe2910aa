"""The registry: one place where applications of both channels are kept, ordered and reviewed.

`Registry.open(db_url, data_dir)` migrates the database and returns the service. Every
public method is one short transaction (or a streaming read); library errors are
errors.CsqError subclasses with a message for a person.

`Registry` is a facade: each method hands over to the module of its concern, which holds
the work and says it in its docstring —

- intake.py: the mail channel, and the steps both channels share (file numbers, results);
- online.py: the online channel, one submission or a batch in one transaction;
- settle.py: the derived facts (review state, person, status) kept right after each change;
- people.py: one application per person, the others duplicates of it;
- ranking.py: the ranking and the queue in priority order; rules.py: the published rules;
- review.py: the review list, people's corrections, a supervisor's decisions;
- empty_fields.py: required fields read empty, sent to a person (settle) and confirmed by one (review);
- staff.py: staff accounts; acknowledgments.py: the acknowledgment letters;
- export.py: the export; application_view.py: one application and the audit trail;
- records.py: what they all share (stored values, status expressions, audit writing).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import IO, Iterator, Mapping

from registry import (
    acknowledgments,
    application_view,
    export,
    identity_changes,
    intake,
    online,
    ranking,
    rescans,
    review,
    review_stats,
    rules,
    staff,
)
from registry.db import Database
from registry.intake import MailDates
from registry.priority import PriorityPolicy, load_policy
from registry.records import MAIL_ACTOR, ONLINE_ACTOR, status_column, with_places
from registry.staff import StaffLogin
from registry.store import ImageStore
from scan.model import EnvelopeReading, IntakeResult

# The names callers import from here (the facade's own types and the status expressions).
__all__ = ["MAIL_ACTOR", "ONLINE_ACTOR", "MailDates", "Registry", "StaffLogin", "status_column", "with_places"]


class Registry:
    """The registry's one entry point for cli.py, station/ and samples/ (see the module docstring)."""

    def __init__(self, db: Database, data_dir: Path, policy: PriorityPolicy):
        self.db = db
        self.data_dir = Path(data_dir)
        self.policy = policy
        self.images = ImageStore(self.data_dir)

    @classmethod
    def open(cls, db_url: str, data_dir: Path, *, policy: PriorityPolicy | None = None) -> "Registry":
        """The registry at `db_url`, its schema brought up to date (the explicit `init` too)."""
        policy = policy or load_policy()
        db = Database(db_url)
        try:
            db.migrate()
            registry = cls(db, Path(data_dir), policy)
            rules.adopt_rules(registry)
        except BaseException:
            db.dispose()
            raise
        return registry

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- intake (intake.py, online.py)

    def register_mail(self, reading: EnvelopeReading, *, postmark: date | None = None, received: date | None = None,
                      envelope_image: bytes | None = None, by: str = MAIL_ACTOR,
                      scans: Mapping[str, bytes] | None = None) -> IntakeResult:
        """One envelope becomes one application (intake.register_mail)."""
        return intake.register_mail(self, reading, postmark=postmark, received=received,
                                    envelope_image=envelope_image, by=by, scans=scans)

    def mail_dates(self, reading: EnvelopeReading, postmark: date | None, received: date | None) -> MailDates:
        """The postmark and received dates of an envelope, from the clerk and the separator."""
        return intake.mail_dates(self.policy, reading, postmark, received)

    def submit_online(self, doc: dict, *, submitted_at: datetime | None = None, idempotency_key: str | None = None,
                      by: str = ONLINE_ACTOR) -> IntakeResult:
        """An application from the online portal, registered complete (online.submit)."""
        return online.submit(self, doc, submitted_at=submitted_at, idempotency_key=idempotency_key, by=by)

    def join_pages(self, file_no: str, reading: EnvelopeReading, *, replace: bool = False, by: str = MAIL_ACTOR) -> IntakeResult:
        """A rescan: the form pages of `reading` join mail application `file_no` (rescans.join_pages)."""
        return rescans.join_pages(self, file_no, reading, replace=replace, by=by)

    def recent_same_person(self, file_no: str) -> list[dict]:
        """The same person's other files of the last 30 days (rescans.recent_same_person)."""
        return rescans.recent_same_person(self, file_no)

    # ---------------------------------------------------------------------- queue (ranking.py)

    def rank(self, cap: int | None = None) -> dict:
        """Rank the queue; the first `cap` places within the cap (ranking.rank)."""
        return ranking.rank(self, cap)

    def iter_queue(self) -> Iterator[dict]:
        """The queue in priority order, streamed: `{file_no, rank, priority_date, channel}`."""
        return ranking.iter_queue(self)

    def queue(self) -> list[dict]:
        return list(self.iter_queue())

    # ----------------------------------------------------------------------- export (export.py)

    def export_rows(self) -> Iterator[dict]:
        """Every application as docs/interface.md's export line, by file order."""
        return export.export_rows(self)

    def export_csv(self, stream: IO[str]) -> None:
        """The export flattened: one CSV row per application."""
        export.export_csv(self, stream)

    # ----------------------------------------------------------------------- review (review.py)

    def review_list(self) -> list[dict]:
        """Fields waiting for a person, best priority first: `{file_no, field, value, reason}`."""
        return review.review_list(self)

    def review_set(self, file_no: str, field: str, value, *, by: str, expected_version: int | None = None,
                   confirmation: identity_changes.Confirmation | None = None) -> dict:
        """A person's value for one field, checked, stored, audited (review.review_set); a change of
        identity that would move another file is held for a supervisor (identity_changes.py)."""
        return review.review_set(self, file_no, field, value, by=by, expected_version=expected_version,
                                 confirmation=confirmation)

    def confirm_empty(self, file_no: str, *, by: str, reason: str = "blank_page", fields: tuple[str, ...] = ()) -> dict:
        """A person confirms empty the required fields of one envelope read empty (all those the
        reader saw no ink in, or `fields`): audited, the application then `incomplete`
        (review.confirm_empty over empty_fields.py)."""
        return review.confirm_empty(self, file_no, by=by, reason=reason, fields=tuple(fields))

    def set_postmark(self, file_no: str, postmark: date | None, *, by: str, reason: str, _action: str = "set_postmark") -> dict:
        """A supervisor's decision on a mail application's postmark (None: illegible)."""
        return review.set_postmark(self, file_no, postmark, by=by, reason=reason, _action=_action)

    def withdraw(self, file_no: str, *, by: str, reason: str) -> dict:
        """The candidate withdrew (or staff closed the file): out of the queue, audited."""
        return review.withdraw(self, file_no, by=by, reason=reason)

    def corrected_readings(self, since: date | None = None) -> list[dict]:
        """Handwritten fields a person saved over the machine's reading (review.corrected_readings)."""
        return review.corrected_readings(self, since)

    def review_stats(self, since: date) -> dict:
        """People's saves since the start of `since` (intake time zone): per person and per
        field (registry/review_stats.py)."""
        return review_stats.review_stats(self.db, self.policy.day_start(since))

    # ------------------------------------------------------- one application (application_view.py)

    def application(self, file_no: str) -> dict:
        """Everything about one application, its audit history included."""
        return application_view.application(self, file_no)

    def audit_trail(self, file_no: str | None = None) -> list[dict]:
        """The audit events (of one application, or all), oldest first."""
        return application_view.audit_trail(self, file_no)

    # ------------------------------------------------------------------------ users (staff.py)

    def add_user(self, name: str, role: str, password: str, *, by: str = "admin") -> dict:
        """A staff account of the review station (password hashed with argon2id)."""
        return staff.add_user(self, name, role, password, by=by)

    def verify_user(self, name: str, password: str) -> StaffLogin | None:
        """The role and session generation of an active user whose password matches, else None."""
        return staff.verify_user(self, name, password)

    def staff_session(self, name: str) -> StaffLogin | None:
        """What a session of `name` is worth now (None: the account is gone or disabled)."""
        return staff.staff_session(self, name)

    def set_user_active(self, name: str, active: bool, *, by: str) -> None:
        """Disable or enable an account; either way its sessions end."""
        staff.set_user_active(self, name, active, by=by)

    def set_user_password(self, name: str, password: str, *, by: str) -> None:
        """A new password; the account's sessions end."""
        staff.set_user_password(self, name, password, by=by)

    def set_user_role(self, name: str, role: str, *, by: str) -> None:
        """Another role, from the account's next request."""
        staff.set_user_role(self, name, role, by=by)

    def list_users(self) -> list[dict]:
        return staff.list_users(self)

    # -------------------------------------------------------------- letters (acknowledgments.py)

    def letter_path(self, file_no: str) -> Path:
        return acknowledgments.letter_path(self, file_no)

    def write_letter(self, file_no: str) -> Path:
        """(Re)write the acknowledgment letter of one application from its current state."""
        return acknowledgments.write_letter(self, file_no)

    def letters_missing(self, since: date) -> list[str]:
        """Registrations since `since` whose letter was never written (those held back excepted)."""
        return acknowledgments.letters_missing(self, since)

    def letters_held_back(self, since: date) -> list[str]:
        """Registrations since `since` whose letter waits: name or address still under review."""
        return acknowledgments.letters_held_back(self, since)

    def letters_print(self, since: date, out: Path) -> Path:
        """One PDF for the mailroom with the letters of the registrations since `since`."""
        return acknowledgments.letters_print(self, since, out)
