"""Staff sessions can be ended from the server.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Why: a session is a signed cookie; without a server-side check, a staff member whose account
was disabled (or whose password was reset after a leak) kept working until the cookie
expired. `users.session_generation` is copied into the session at login and checked on
every request; disabling an account, re-enabling it, or setting its password moves it on,
so every cookie given before is worth nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
