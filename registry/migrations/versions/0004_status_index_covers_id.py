"""The status index also holds the application id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Why: ranking counts the places held by applications still being verified (a few percent of
a million), looking each one's place up by id. With the id in the status index PostgreSQL
reads them from the index alone: 0.13 s instead of 0.35-0.55 s at a million, a tenth of the
5-second budget of rank + queue.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_applications_status", table_name="applications")
    op.create_index("ix_applications_status", "applications", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_applications_status", table_name="applications")
    op.create_index("ix_applications_status", "applications", ["status"])
