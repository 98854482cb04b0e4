"""federation delivery: link state, key rotation, delivery bookkeeping

Revision ID: 9d708192bc36
Revises: 8c6f7091ab25
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import node.core.db  # noqa: F401


revision = '9d708192bc36'
down_revision = '8c6f7091ab25'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
