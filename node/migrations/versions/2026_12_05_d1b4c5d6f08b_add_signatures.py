"""document signatures, content fingerprints and approval signatures

Revision ID: d1b4c5d6f08b
Revises: c0a3b4c5ef7a
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import node.core.db  # noqa: F401


revision = 'd1b4c5d6f08b'
down_revision = 'c0a3b4c5ef7a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
