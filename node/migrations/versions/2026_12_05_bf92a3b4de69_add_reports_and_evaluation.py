"""periodic reports, evaluation scores and rankings

Revision ID: bf92a3b4de69
Revises: ae8192a3cd58
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import node.core.db  # noqa: F401


revision = 'bf92a3b4de69'
down_revision = 'ae8192a3cd58'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
