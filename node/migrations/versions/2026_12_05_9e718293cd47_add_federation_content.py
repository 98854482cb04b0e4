"""federation content: directives received, task links, aggregates and published rankings

Revision ID: 9e718293cd47
Revises: 9d708192bc36
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import node.core.db  # noqa: F401


revision = '9e718293cd47'
down_revision = '9d708192bc36'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
