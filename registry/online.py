"""The online channel: one submission at a time, or many in one transaction at rush hour.

`submit()` (`Registry.submit_online`) registers one application per transaction, letter
included: right for `csq online submit`, but a portal's import job on deadline day sends
hundreds a second. The API's submissions that arrive together are registered together
("group commit"):

- `prepare()` validates one document (the same validator and normalization as
  `submit_online`) into a frozen `OnlineSubmission`, before it waits for a transaction: a
  bad document is refused at once and never holds up the others;
- `register_batch()` registers a list of them in ONE transaction, with one statement per
  table instead of one per row, and answers one `IntakeResult` (or the error of that
  submission) per submission, in order. A document is registered exactly as
  `submit_online` would register it (same rows, same audit events, same statuses); what
  differs is only how many go per commit.

The letter is not written here: a registration must not wait for a PDF. The caller queues
`written` file numbers for a letter writer; `csq letters print` writes any letter still
missing, so none is lost if the process stops first.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, update
from sqlalchemy import exc as sa_exc

from errors import ConflictError, CsqError, DatabaseError, InvalidData
from registry.models import applications, audit_events, field_values, idempotency_keys
from registry.priority import PriorityDate, as_utc, draw_key, online_priority, person_key
from registry import acknowledgments
from registry.intake import allocate_file_nos, intake_result
from registry.people import lock_person
from registry.records import ONLINE_ACTOR, RegistryParts, encode, now, stored_status
from registry.settle import settle
from scan.model import IntakeResult
from templates.spec import load_form
from templates.validation import normalize_document, validate

CHANNEL = "online"


@dataclass(frozen=True)
class OnlineSubmission:
    """One validated online document, ready to register."""

    values: dict  # the normalized document's fields
    submitted_at: datetime  # aware, UTC
    priority: PriorityDate
    digest: str  # sha256 of the normalized document: the same key must bring the same document
    idempotency_key: str | None

    @property
    def person(self) -> str | None:
        """Passport number and birth date, as `settle` keys a person (None if either is missing)."""
        return person_key(encode(self.values.get("passport_number")), encode(self.values.get("birth_date")))


def prepare(registry: RegistryParts, doc: dict, *, submitted_at: datetime | None = None,
            idempotency_key: str | None = None) -> OnlineSubmission:
    """Validate one document as `submit_online` does; InvalidData lists its problems."""
    form = load_form()
    well_formed = isinstance(doc, dict) and isinstance(doc.get("fields"), dict)
    normalized = normalize_document(doc, form) if well_formed else {"fields": {}}
    problems = validate(normalized if well_formed else doc, form, today=registry.policy.today())
    if problems:
        shown = "; ".join(str(p) for p in problems[:3]) + ("; …" if len(problems) > 3 else "")
        raise InvalidData(f"the application has {len(problems)} problem(s), nothing registered: {shown}", problems)
    moment = as_utc(submitted_at or now(), registry.policy)
    digest = hashlib.sha256(json.dumps(normalized, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return OnlineSubmission(values=normalized["fields"], submitted_at=moment, priority=online_priority(moment, registry.policy),
                            digest=digest, idempotency_key=idempotency_key)


def submit(registry: RegistryParts, doc: dict, *, submitted_at: datetime | None = None,
           idempotency_key: str | None = None, by: str = ONLINE_ACTOR) -> IntakeResult:
    """An application from the online portal: validated in full, then registered as
    complete (fields final: source "online", confidence 1), its letter written. A naive
    `submitted_at` is Montreal time. The same `idempotency_key` again returns the first
    application (`created=False`); with a different document it is a ConflictError.
    The API registers many at once (`register_batch`); this is the same, one."""
    submission = prepare(registry, doc, submitted_at=submitted_at, idempotency_key=idempotency_key)
    outcome = register_batch(registry, [submission], by=by)[0]
    if outcome.error is not None:
        raise outcome.error
    if outcome.written:
        acknowledgments.try_letter(registry, outcome.result.file_no)
    return outcome.result


@dataclass(frozen=True)
class BatchOutcome:
    """What one submission of a batch came to: a result, or the error to answer with."""

    result: IntakeResult | None
    error: CsqError | None = None
    written: bool = False  # a new registration (its letter is still to write)


def register_batch(registry: RegistryParts, batch: list[OnlineSubmission], *, by: str = ONLINE_ACTOR) -> list[BatchOutcome]:
    """Register `batch` in one transaction; one outcome per submission, in order.

    If another process commits one of the batch's idempotency keys meanwhile, the
    transaction fails on the key's uniqueness and nothing of it stays: the submissions are
    then registered one transaction each, so that the replayed one gets the other
    process's file number and the rest are registered all the same."""
    if not batch:
        return []
    try:
        return _register(registry, batch, by)
    except sa_exc.IntegrityError:
        pass
    return [_register_alone(registry, submission, by) for submission in batch]


def _register_alone(registry: RegistryParts, submission: OnlineSubmission, by: str) -> BatchOutcome:
    try:
        return _register(registry, [submission], by)[0]
    except sa_exc.IntegrityError:
        pass  # its key was committed by another process a moment ago: now it is a replay
    try:
        return _register(registry, [submission], by)[0]
    except sa_exc.IntegrityError as exc:
        raise DatabaseError(f"the registry {registry.db.shown_url} refused an online application twice "
                            f"({registry.db.explain(exc)}); nothing of it was kept: send it again") from exc


def _register(registry: RegistryParts, batch: list[OnlineSubmission], by: str) -> list[BatchOutcome]:
    form = load_form()
    outcomes: list[BatchOutcome | None] = [None] * len(batch)
    replays: dict[int, str] = {}  # index -> file number registered before (same key)
    same_as: dict[int, int] = {}  # index -> index of the first submission with its key in this batch
    fresh: list[int] = []
    with registry.db.write() as conn:
        known = _known_keys(conn, [s.idempotency_key for s in batch if s.idempotency_key is not None])
        first_with_key: dict[str, int] = {}
        for i, s in enumerate(batch):
            key = s.idempotency_key
            earlier = known.get(key) if key is not None else None
            if earlier is not None:
                file_no, digest = earlier
                if digest == s.digest:
                    replays[i] = file_no
                else:
                    outcomes[i] = BatchOutcome(None, _key_conflict(key, file_no))
            elif key is not None and key in first_with_key:
                j = first_with_key[key]
                if batch[j].digest == s.digest:
                    same_as[i] = j
                else:
                    outcomes[i] = BatchOutcome(None, ConflictError(
                        f"idempotency key {key!r} was sent twice at once with two different documents: use a new key for a new application"))
            else:
                if key is not None:
                    first_with_key[key] = i
                fresh.append(i)

        for run in _runs_of_distinct_people(fresh, [batch[i].person for i in fresh]):
            for i, (file_no, status) in zip(run, _insert(registry, conn, form, [batch[i] for i in run], by)):
                outcomes[i] = BatchOutcome(IntakeResult(file_no=file_no, status=status, pages=0, created=True), written=True)
        for i, file_no in replays.items():
            outcomes[i] = BatchOutcome(intake_result(registry, conn, file_no, created=False))
    for i, j in same_as.items():
        first = outcomes[j].result
        outcomes[i] = BatchOutcome(IntakeResult(file_no=first.file_no, status=first.status, pages=first.pages, created=False))
    return outcomes


def _runs_of_distinct_people(indexes: list[int], people: list[str | None]) -> list[list[int]]:
    """`indexes` cut, in order, into runs where no person comes twice: the second
    application of a person is settled after the first one is in, as one at a time."""
    runs: list[list[int]] = [[]]
    seen: set[str] = set()
    for i, who in zip(indexes, people):
        if who is not None and who in seen:
            runs.append([])
            seen = set()
        runs[-1].append(i)
        if who is not None:
            seen.add(who)
    return [run for run in runs if run]


def _known_keys(conn: Connection, keys: list[str]) -> dict[str, tuple[str, str]]:
    if not keys:
        return {}
    rows = conn.execute(
        select(idempotency_keys.c.key, applications.c.file_no, idempotency_keys.c.request_sha256)
        .join(applications, applications.c.id == idempotency_keys.c.application_id)
        .where(idempotency_keys.c.key.in_(keys))
    ).all()
    return {r.key: (r.file_no, r.request_sha256) for r in rows}


def _key_conflict(key: str, file_no: str) -> ConflictError:
    return ConflictError(f"idempotency key {key!r} was used for another document (file {file_no}): use a new key for a new application")


def _insert(registry: RegistryParts, conn: Connection, form, batch: list[OnlineSubmission], by: str) -> list[tuple[str, str]]:
    """Insert the batch's applications, fields, keys and events; settle them. Returns
    (file number, stored status) per submission, in order."""
    policy = registry.policy
    moment = now()
    by_year: dict[int, list[int]] = defaultdict(list)
    for n, s in enumerate(batch):
        by_year[s.priority.day.year].append(n)
    file_nos: list[str] = [""] * len(batch)
    for year, members in sorted(by_year.items()):
        for n, file_no in zip(members, allocate_file_nos(registry, conn, year, CHANNEL, len(members))):
            file_nos[n] = file_no
    # A validated online document is complete: no field in doubt, no rule broken (the
    # review state `settle` would compute), and its person key is known at once.
    keys = [s.person for s in batch]
    ids = conn.execute(applications.insert().returning(applications.c.id, sort_by_parameter_order=True), [
        dict(file_no=file_no, channel=CHANNEL, status="received", review_state="complete",
             postmark_date=None, postmark_illegible=False, postmark_needs_review=False,
             received_date=s.priority.day, submitted_at=s.submitted_at,
             own_priority_date=s.priority.day, priority_date=s.priority.day, priority_rule=s.priority.rule,
             draw_key=draw_key(policy.draw_seed, file_no), form_id=form.form_id, form_version=form.version,
             person_key=key, registered_at=moment, registered_by=by, updated_at=moment, problems="")
        for s, file_no, key in zip(batch, file_nos, keys)
    ]).scalars().all()
    _insert_field_rows(conn, [
        (app_id, f.name, encode(s.values.get(f.name)))
        for s, app_id in zip(batch, ids)
        for f in form.fields
    ], moment, by)
    keyed = [{"key": s.idempotency_key, "application_id": app_id, "request_sha256": s.digest, "created_at": moment}
             for s, app_id in zip(batch, ids) if s.idempotency_key is not None]
    if keyed:
        conn.execute(idempotency_keys.insert(), keyed)
    conn.execute(audit_events.insert(), [
        {"at": moment, "actor": by, "action": "registered", "file_no": file_no, "field": None, "old": None, "new": CHANNEL,
         "detail": json.dumps({"submitted_at": s.submitted_at.isoformat(), "priority_date": s.priority.day.isoformat(),
                               "idempotency_key": s.idempotency_key})}
        for s, file_no in zip(batch, file_nos)
    ])

    # Someone already known by passport and birth date (or twice in this batch) is settled
    # the one careful way, `settle` (duplicates, earliest priority); the rest stand alone.
    shared = _shared_person_keys(registry, conn, sorted({k for k in keys if k is not None}))
    linked = [app_id for app_id, key in zip(ids, keys) if key in shared]
    alone = [app_id for app_id, key in zip(ids, keys) if key not in shared]
    for app_id in linked:
        settle(registry, conn, app_id, by, registering=True)
    if alone:
        conn.execute(update(applications).where(applications.c.id.in_(alone)).values(status=stored_status(registry.policy)))
    stored = dict(conn.execute(select(applications.c.id, applications.c.status).where(applications.c.id.in_(ids))).all())
    if alone:
        conn.execute(audit_events.insert(), [
            {"at": moment, "actor": by, "action": "status", "file_no": file_no, "field": "status", "old": None,
             "new": stored[app_id], "detail": "review state complete"}
            for app_id, file_no, key in zip(ids, file_nos, keys) if key not in shared
        ])
    return [(file_no, stored[app_id]) for app_id, file_no in zip(ids, file_nos)]


# The columns of an online field row; the rest keep their defaults (NULL, "" or 1).
_FIELD_ROW = ("application_id", "name", "value", "source", "confidence", "needs_review", "reasons", "raw", "evidence",
              "version", "updated_at", "updated_by")


def _insert_field_rows(conn: Connection, rows: list[tuple[int, str, str | None]], now: datetime, by: str) -> None:
    """(application id, name, value) rows of online fields, in one driver-level executemany.

    Sixty-odd rows per application make this the bulk of a batch; SQLAlchemy's per-row
    parameter processing cost more than the database's own work. The values are plain
    text, numbers and booleans; the one time is turned into what the column stores by the
    column type's own bind processor. PostgreSQL: COPY; SQLite: the driver's executemany."""
    when = field_values.c.updated_at.type._cached_bind_processor(conn.dialect)(now)
    full = ((app_id, name, value, CHANNEL, 1.0, False, "", "", "", 1, when, by) for app_id, name, value in rows)
    if conn.dialect.name == "postgresql":
        # COPY, in this transaction: psycopg's executemany still sends a statement per row.
        with conn.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {field_values.name} ({', '.join(_FIELD_ROW)}) FROM STDIN") as copy:
                for row in full:
                    copy.write_row(row)
        return
    statement = f"INSERT INTO {field_values.name} ({', '.join(_FIELD_ROW)}) VALUES ({', '.join('?' * len(_FIELD_ROW))})"
    conn.exec_driver_sql(statement, list(full))


def _shared_person_keys(registry: RegistryParts, conn: Connection, keys: list[str]) -> set[str]:
    """The keys held by more than one application (the batch's own rows included)."""
    if not keys:
        return set()
    for key in keys:  # as `_resolve_person` does, in one order: no deadlock
        lock_person(registry, conn, key)
    counted = conn.execute(
        select(applications.c.person_key).where(applications.c.person_key.in_(keys))
        .group_by(applications.c.person_key).having(func.count() > 1)
    ).scalars()
    return set(counted)
