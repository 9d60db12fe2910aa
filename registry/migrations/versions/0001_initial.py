"""The first registry schema: applications of both channels, envelopes, pages, field values,
the append-only audit trail, idempotency keys of the online API, staff accounts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Values are written out here, not imported from registry/models.py: a migration is a record
of what the schema was at that time and must not change when the models do.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CHANNELS = ("mail", "online")
STATUSES = ("received", "in_review", "complete", "incomplete", "premature", "late", "ranked", "beyond_cap", "withdrawn", "duplicate")
REVIEW_STATES = ("received", "in_review", "complete", "incomplete")
FIELD_SOURCES = ("ocr", "omr", "barcode", "manual", "online")
ROLES = ("clerk", "reviewer", "supervisor")


def one_of(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def utc():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_no", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("review_state", sa.String(16), nullable=False),
        sa.Column("postmark_date", sa.Date),
        sa.Column("postmark_illegible", sa.Boolean, nullable=False),
        sa.Column("postmark_needs_review", sa.Boolean, nullable=False),
        sa.Column("received_date", sa.Date, nullable=False),
        sa.Column("submitted_at", utc()),
        sa.Column("own_priority_date", sa.Date, nullable=False),
        sa.Column("priority_date", sa.Date, nullable=False),
        sa.Column("priority_rule", sa.String(48), nullable=False),
        sa.Column("draw_key", sa.String(64), nullable=False),
        sa.Column("rank", sa.Integer),
        sa.Column("within_cap", sa.Boolean),
        sa.Column("form_id", sa.String(16)),
        sa.Column("form_version", sa.String(16)),
        sa.Column("person_key", sa.String(64)),
        sa.Column("duplicate_of", sa.String(16)),
        sa.Column("withdrawn_at", utc()),
        sa.Column("registered_at", utc(), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.Column("problems", sa.Text, nullable=False),
        sa.Column("letter_written_at", utc()),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
        sa.UniqueConstraint("file_no", name="uq_applications_file_no"),
        sa.ForeignKeyConstraint(["duplicate_of"], ["applications.file_no"], name="fk_applications_duplicate_of_applications"),
        sa.CheckConstraint(one_of("channel", CHANNELS), name="ck_applications_channel"),
        sa.CheckConstraint(one_of("status", STATUSES), name="ck_applications_status"),
        sa.CheckConstraint(one_of("review_state", REVIEW_STATES), name="ck_applications_review_state"),
    )
    op.create_index("ix_applications_person_key", "applications", ["person_key"])
    op.create_index("ix_applications_priority", "applications", ["priority_date", "draw_key", "file_no"])
    op.create_index("ix_applications_registered_at", "applications", ["registered_at"])

    op.create_table(
        "envelopes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("separator_serial", sa.String(64)),
        sa.Column("image_sha256", sa.String(64)),
        sa.Column("image_path", sa.Text),
        sa.Column("separator_evidence", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_envelopes"),
        sa.UniqueConstraint("application_id", name="uq_envelopes_application_id"),
        sa.UniqueConstraint("fingerprint", name="uq_envelopes_fingerprint"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], name="fk_envelopes_application_id_applications"),
    )

    op.create_table(
        "pages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("form_id", sa.String(16)),
        sa.Column("form_version", sa.String(16)),
        sa.Column("page_no", sa.Integer),
        sa.Column("document_id", sa.String(64)),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("source_page", sa.Integer, nullable=False),
        sa.Column("rotation", sa.Integer, nullable=False),
        sa.Column("pixels_sha256", sa.String(64), nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("image_path", sa.Text, nullable=False),
        sa.Column("problems", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pages"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], name="fk_pages_application_id_applications"),
    )
    op.create_index("ix_pages_application_id", "pages", ["application_id"])
    op.create_index("ix_pages_pixels_sha256", "pages", ["pixels_sha256"])

    op.create_table(
        "field_values",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("needs_review", sa.Boolean, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("page_no", sa.Integer),
        sa.Column("box_x0", sa.Float),
        sa.Column("box_y0", sa.Float),
        sa.Column("box_x1", sa.Float),
        sa.Column("box_y1", sa.Float),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("machine_value", sa.Text),
        sa.Column("machine_source", sa.String(8)),
        sa.Column("machine_confidence", sa.Float),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_field_values"),
        sa.UniqueConstraint("application_id", "name", name="uq_field_values_application_id_name"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], name="fk_field_values_application_id_applications"),
        sa.CheckConstraint(one_of("source", FIELD_SOURCES), name="ck_field_values_source"),
        sa.CheckConstraint(one_of("machine_source", FIELD_SOURCES), name="ck_field_values_machine_source"),
    )
    op.create_index(
        "ix_field_values_waiting", "field_values", ["application_id"],
        sqlite_where=sa.text("needs_review"), postgresql_where=sa.text("needs_review"),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", utc(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("file_no", sa.String(16)),
        sa.Column("field", sa.String(64)),
        sa.Column("old", sa.Text),
        sa.Column("new", sa.Text),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_file_no", "audit_events", ["file_no"])

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], name="fk_idempotency_keys_application_id_applications"),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sa.CheckConstraint(one_of("role", ROLES), name="ck_users_role"),
    )

    op.create_table(
        "file_counters",
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("last_sequence", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("year", "channel", name="pk_file_counters"),
    )

    op.create_table(
        "registry_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_registry_settings"),
    )

    # The audit trail is append-only in the database itself, not only by convention.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION csq_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION csq_audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION csq_audit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION csq_audit_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    for table in ("registry_settings", "file_counters", "users", "idempotency_keys", "audit_events",
                  "field_values", "pages", "envelopes", "applications"):
        op.drop_table(table)
