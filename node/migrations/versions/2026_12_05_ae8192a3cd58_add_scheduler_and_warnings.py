"""scheduler runs and locks, warnings, notifications and webhooks

Revision ID: ae8192a3cd58
Revises: 9e718293cd47
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import node.core.db  # noqa: F401


revision = 'ae8192a3cd58'
down_revision = '9e718293cd47'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
