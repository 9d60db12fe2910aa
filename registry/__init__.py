"""The registry of csq-intake: one registry for the mail and online channels.

- service.py: `Registry` — intake (mail, online), priority, ranking, queue, export, review,
  supervisor actions, users, audit trail, acknowledgment letters.
- priority.py + priority.toml: the published priority rules (PRIORITY.md says them in words).
- filenumber.py: file numbers with a Damm check digit.
- models.py + migrations/: the schema (Alembic, run in code by db.py).
- letters.py: the acknowledgment letter; store.py: content-addressed image files.
- bench.py: `bench_queue`, rank and queue timings at a million applications.
"""
