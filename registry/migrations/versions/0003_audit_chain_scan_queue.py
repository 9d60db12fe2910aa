"""The audit trail becomes a hash chain; the shared scan queue of many stations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

1. audit_events gets `prev_hash` and `hash` (registry/audit_chain.py): every event's hash
   covers the one before it, so a changed, removed or inserted event shows. The events
   already there are chained here, oldest first (the append-only triggers are lifted for
   that one UPDATE, in this transaction, and put back).
2. The scan queue (registry/work_queue.py): `scan_jobs` (an envelope or a stack a station
   queued, with its scanned files in `scan_files`), `scan_pages` (one row per page to read,
   claimed by workers with SELECT ... FOR UPDATE SKIP LOCKED, with the reading stored) and
   `scan_claims` (every claim, for the record). Used on PostgreSQL only; the tables exist
   on SQLite too so that both backends have one schema.
"""

import sqlalchemy as sa
from alembic import op

from registry.audit_chain import chain_existing

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def utc():
    return sa.DateTime(timezone=True)


def _lift_append_only(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")


def _restore_append_only(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    else:  # as revision 0001 made it
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Plain ADD COLUMN (not a batch rebuild, which would drop the table's triggers on SQLite).
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(64)))
    op.add_column("audit_events", sa.Column("hash", sa.String(64)))
    _lift_append_only(dialect)
    chain_existing(op.get_bind())
    _restore_append_only(dialect)

    op.create_table(
        "scan_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("postmark", sa.Date),
        sa.Column("postmark_illegible", sa.Boolean, nullable=False),
        sa.Column("received", sa.Date),
        sa.Column("envelope_image", sa.LargeBinary),
        sa.Column("page_count", sa.Integer, nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("finished_at", utc()),
        sa.Column("assembled_by", sa.String(64)),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_scan_jobs"),
        sa.UniqueConstraint("input_sha256", name="uq_scan_jobs_input_sha256"),
        sa.CheckConstraint("kind IN ('envelope', 'stack')", name="ck_scan_jobs_kind"),
        sa.CheckConstraint("state IN ('reading', 'ready', 'done', 'failed')", name="ck_scan_jobs_state"),
    )
    op.create_index("ix_scan_jobs_ready", "scan_jobs", ["id"],
                    sqlite_where=sa.text("state = 'ready'"), postgresql_where=sa.text("state = 'ready'"))
    op.create_table(
        "scan_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary),
        sa.PrimaryKeyConstraint("id", name="pk_scan_files"),
        sa.UniqueConstraint("job_id", "position", name="uq_scan_files_job_id_position"),
        sa.ForeignKeyConstraint(["job_id"], ["scan_jobs.id"], name="fk_scan_files_job_id_scan_jobs"),
    )
    op.create_table(
        "scan_pages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("file_id", sa.Integer, nullable=False),
        sa.Column("page_index", sa.Integer, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("read_by", sa.String(64)),
        sa.Column("read_at", utc()),
        sa.Column("reading", sa.Text),
        sa.Column("image_png", sa.LargeBinary),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_scan_pages"),
        sa.UniqueConstraint("job_id", "sequence", name="uq_scan_pages_job_id_sequence"),
        sa.ForeignKeyConstraint(["job_id"], ["scan_jobs.id"], name="fk_scan_pages_job_id_scan_jobs"),
        sa.ForeignKeyConstraint(["file_id"], ["scan_files.id"], name="fk_scan_pages_file_id_scan_files"),
        sa.CheckConstraint("state IN ('waiting', 'read', 'failed')", name="ck_scan_pages_state"),
    )
    # Workers look for the next waiting page: a small partial index, in queue order.
    op.create_index("ix_scan_pages_waiting", "scan_pages", ["job_id", "sequence"],
                    sqlite_where=sa.text("state = 'waiting'"), postgresql_where=sa.text("state = 'waiting'"))
    op.create_table(
        "scan_claims",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("page_id", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("claimed_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scan_claims"),
        sa.ForeignKeyConstraint(["page_id"], ["scan_pages.id"], name="fk_scan_claims_page_id_scan_pages"),
    )
    op.create_index("ix_scan_claims_page_id", "scan_claims", ["page_id"])


def downgrade() -> None:
    op.drop_table("scan_claims")
    op.drop_index("ix_scan_pages_waiting", table_name="scan_pages")
    op.drop_table("scan_pages")
    op.drop_table("scan_files")
    op.drop_index("ix_scan_jobs_ready", table_name="scan_jobs")
    op.drop_table("scan_jobs")
    op.execute("ALTER TABLE audit_events DROP COLUMN hash")
    op.execute("ALTER TABLE audit_events DROP COLUMN prev_hash")
