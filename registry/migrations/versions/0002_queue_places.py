"""The ranking moves to its own narrow table, queue_places; the queue gets a covering index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Why: ranking rewrote every application row (rank, within_cap, status), about 15 us a row
on SQLite and non-HOT updates of six indexes on PostgreSQL: a minute for a million. Now a
ranking writes (application_id, rank, within_cap) rows, and the queue is read from one
partial index that holds every column it needs. Applications ranked under 0001 keep their
rank; their stored status goes back to "complete" (ranked/beyond_cap are now read through
queue_places).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

QUEUE_PREDICATE = "withdrawn_at IS NULL AND duplicate_of IS NULL AND review_state IN ('received', 'in_review', 'complete')"
QUEUE_COLUMNS = ["priority_date", "draw_key", "file_no", "channel", "review_state", "withdrawn_at", "duplicate_of", "id"]


def upgrade() -> None:
    op.create_table(
        "queue_places",
        sa.Column("application_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("within_cap", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("application_id", name="pk_queue_places"),
    )
    op.execute(
        "INSERT INTO queue_places (application_id, rank, within_cap) "
        "SELECT id, rank, COALESCE(within_cap, rank IS NOT NULL) FROM applications WHERE rank IS NOT NULL"
    )
    op.execute("UPDATE applications SET status = 'complete' WHERE status IN ('ranked', 'beyond_cap')")
    op.drop_index("ix_applications_priority", table_name="applications")
    # Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): neither column is indexed or
    # constrained, so SQLite need not rebuild the table (which its foreign keys would forbid).
    op.execute("ALTER TABLE applications DROP COLUMN rank")
    op.execute("ALTER TABLE applications DROP COLUMN within_cap")
    op.create_index("ix_applications_status", "applications", ["status"])
    op.create_index(
        "ix_applications_queue", "applications", QUEUE_COLUMNS,
        sqlite_where=sa.text(QUEUE_PREDICATE), postgresql_where=sa.text(QUEUE_PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("ix_applications_queue", table_name="applications")
    op.drop_index("ix_applications_status", table_name="applications")
    op.add_column("applications", sa.Column("rank", sa.Integer))
    op.add_column("applications", sa.Column("within_cap", sa.Boolean))
    op.execute(
        "UPDATE applications SET "
        "rank = (SELECT q.rank FROM queue_places q WHERE q.application_id = applications.id), "
        "within_cap = (SELECT q.within_cap FROM queue_places q WHERE q.application_id = applications.id)"
    )
    op.execute(
        "UPDATE applications SET status = CASE WHEN within_cap THEN 'ranked' ELSE 'beyond_cap' END "
        "WHERE status = 'complete' AND within_cap IS NOT NULL"
    )
    op.create_index("ix_applications_priority", "applications", ["priority_date", "draw_key", "file_no"])
    op.drop_table("queue_places")
