"""Scanned files are kept as received; a page says how to show it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Why: each page used to be decoded and stored again as a PNG (an 8-page G4 TIFF of 168 KB
became 1.1 MB), and the file as received was not kept. Now the file is stored once as the
scanner wrote it (pages.image_path/image_sha256 name it, page `source_page` of it) and
`view` holds the turn and alignment that show the page as the reader saw it (scan/render.py).
Rows of older registries keep their PNG and a NULL view, and are shown from the PNG.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pages", sa.Column("view", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("view")
