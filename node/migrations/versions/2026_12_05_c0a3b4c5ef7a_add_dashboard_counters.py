"""dashboard counters kept up to date as tasks change

Revision ID: c0a3b4c5ef7a
Revises: bf92a3b4de69
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import node.core.db  # noqa: F401


revision = 'c0a3b4c5ef7a'
down_revision = 'bf92a3b4de69'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
