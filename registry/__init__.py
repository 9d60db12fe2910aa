"""The registry of csq-intake: one registry for the mail and online channels.

- service.py: `Registry`, the facade everyone outside calls; each of its methods hands over
  to the module of its concern, plain functions over the database:
  intake.py (mail; file numbers and results both channels share), online.py (online, one or
  a batch), settle.py (derived facts after each change), people.py (duplicates), ranking.py
  (rank, queue), rules.py (the published rules applied), review.py (review list, corrections,
  supervisor's decisions), staff.py (accounts), acknowledgments.py (which letters, when),
  export.py, application_view.py (one application, the audit trail); records.py holds what
  they share. No circle among them, no private name used across (tests/test_registry_layout.py).
- priority.py + priority.toml: the published priority rules (PRIORITY.md says them in words).
- filenumber.py: file numbers with a Damm check digit.
- models.py + migrations/: the schema (Alembic, run in code by db.py).
- letters.py: the acknowledgment letter drawn; store.py: content-addressed image files.
- review_claims.py, review_stats.py: the station's review queue and its figures.
- work_queue.py, integrity.py, audit_chain.py: the shared scan queue, the consistency check,
  the audit trail's hash chain.
The benchmark of ranking a million applications is bench/ranking.py.
"""
