"""task list and search indexes

Revision ID: 8c6f7091ab25
Revises: 7b5e6f809a14
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import node.core.db  # noqa: F401


revision = '8c6f7091ab25'
down_revision = '7b5e6f809a14'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The task list orders by issued_on DESC NULLS LAST, id. SQLite's CREATE
    # INDEX rejects NULLS LAST, and SQLite sorts NULLs last in descending order
    # already, so the plain DESC form matches the same order there.
    if op.get_bind().dialect.name == "postgresql":
        issued_on = sa.text("issued_on DESC NULLS LAST")
    else:
        issued_on = sa.text("issued_on DESC")
    op.create_index("ix_documents_issued_on_id", "documents", [issued_on, "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_documents_issued_on_id", table_name="documents")
