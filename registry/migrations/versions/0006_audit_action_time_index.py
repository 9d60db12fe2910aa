"""The audit trail is indexed by action and time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Why: the review statistics (registry/review_stats.py) read the people's saves of the last
days; without this index that is a scan of the whole trail, which holds an event per
registration (a million and more in an intake).
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_action_at", table_name="audit_events")
