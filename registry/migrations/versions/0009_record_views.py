"""Who looked: every staff view of an application's data or images.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

Why: privacy law asks a registry of personal information to say who consulted a file, not
only who changed it. `record_views` holds one narrow row per view (who, when, which file,
what was shown), written by the station (registry/record_views.py); kept apart from the
audit trail's hash chain, which records changes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_views",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("file_no", sa.String(16), nullable=False),
        sa.Column("what", sa.String(80), nullable=False),
    )
    op.create_index("ix_record_views_actor_at", "record_views", ["actor", "at"])
    op.create_index("ix_record_views_file_no_at", "record_views", ["file_no", "at"])


def downgrade() -> None:
    op.drop_index("ix_record_views_file_no_at", table_name="record_views")
    op.drop_index("ix_record_views_actor_at", table_name="record_views")
    op.drop_table("record_views")
