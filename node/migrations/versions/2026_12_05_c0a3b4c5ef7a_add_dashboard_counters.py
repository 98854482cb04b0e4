"""dashboard counters kept up to date as tasks change

Revision ID: c0a3b4c5ef7a
Revises: bf92a3b4de69
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import sqlalchemy as sa
from alembic import op

import node.core.db
from node.core.timezone import VN_TZ

revision = 'c0a3b4c5ef7a'
down_revision = 'bf92a3b4de69'
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        'dashboard_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('change_count', sa.BigInteger(), nullable=False),
        sa.Column('is_built', sa.Boolean(), nullable=False),
        sa.Column('horizon_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('rebuilt_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_state')),
    )
    op.create_table(
        'dashboard_counters',
        sa.Column('dimension', sa.String(length=20), nullable=False),
        sa.Column('member', sa.String(length=40), nullable=False),
        sa.Column('level', sa.String(length=30), nullable=False),
        sa.Column('task_count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('dimension', 'member', 'level',
                                name=op.f('pk_dashboard_counters')),
    )
    op.create_table(
        'dashboard_daily_snapshots',
        sa.Column('day_on', sa.Date(), nullable=False),
        sa.Column('taken_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('level_counts', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('day_on', name=op.f('pk_dashboard_daily_snapshots')),
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_completed_at', ['completed_at'], unique=False)

    # An empty node has nothing to count, so its counters are built from the
    # start; a node with tasks builds them on the first dashboard read or with
    # `theodoi dashboard recount`.
    has_tasks = op.get_bind().execute(sa.text("SELECT 1 FROM tasks LIMIT 1")).first() is not None
    now = datetime.now(UTC)
    horizon = datetime.combine(now.astimezone(VN_TZ).date(), time(0), tzinfo=VN_TZ)
    op.bulk_insert(state, [{
        'id': 1, 'change_count': 0, 'is_built': not has_tasks,
        'horizon_at': None if has_tasks else horizon, 'rebuilt_at': None if has_tasks else now,
    }])


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_completed_at')
    op.drop_table('dashboard_daily_snapshots')
    op.drop_table('dashboard_counters')
    op.drop_table('dashboard_state')
