"""task list and search indexes

Revision ID: 8c6f7091ab25
Revises: 7b5e6f809a14
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import node.core.db  # noqa: F401


revision = '8c6f7091ab25'
down_revision = '7b5e6f809a14'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
