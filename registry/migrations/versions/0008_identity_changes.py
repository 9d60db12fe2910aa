"""A change of identity that moves another file waits for a supervisor.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Why: one reviewer's edit of passport_number and birth_date on a mail file turned another
candidate's ranked online file into a duplicate. A change of an identity field that would
link, unlink or change the status or priority of ANOTHER file is now held in
`identity_changes` (registry/identity_changes.py) until a second person, a supervisor,
confirms or rejects it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file_no", sa.String(16), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("version_seen", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("affects", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_identity_changes_state", "identity_changes", ["state"])


def downgrade() -> None:
    op.drop_index("ix_identity_changes_state", table_name="identity_changes")
    op.drop_table("identity_changes")
