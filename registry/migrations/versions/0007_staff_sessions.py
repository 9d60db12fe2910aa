"""Each staff session is known to the server: logout ends it, and it ends 10 hours after login.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Why: a session was only a signed cookie. A cookie saved before logout still opened the
station afterwards, and each use re-issued it with a new time, so its 10-hour limit slid
forever. `staff_sessions` holds one row per login (the SHA-256 of the session's random id,
never the id itself): logout sets `ended_at`, and `expires_at` is fixed at login. Ending
one session leaves that person's sessions on other stations open (users.session_generation
still ends them all when an account is disabled or its password set).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_staff_sessions_expires_at", "staff_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_staff_sessions_expires_at", table_name="staff_sessions")
    op.drop_table("staff_sessions")
