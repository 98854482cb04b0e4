"""dashboard task totals per member, and the index of the newest aggregate reports

Revision ID: e2a3b4c5d6e7
Revises: d1b4c5d6f08b
Create Date: 2026-12-05 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'e2a3b4c5d6e7'
down_revision = 'd1b4c5d6f08b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dashboard_member_totals',
        sa.Column('dimension', sa.String(length=20), nullable=False),
        sa.Column('member', sa.String(length=40), nullable=False),
        sa.Column('task_count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('dimension', 'member', name=op.f('pk_dashboard_member_totals')),
    )
    op.create_index('ix_dashboard_member_totals_largest', 'dashboard_member_totals',
                    ['dimension', sa.text('task_count DESC'), 'member'], unique=False)
    op.create_index('ix_federation_aggregate_rows_sender_end', 'federation_aggregate_rows',
                    ['sender_node_id', 'period_end', 'as_of'], unique=False)
    # The totals are the sums of the counters, so a node with built counters
    # gets exact totals without a recount.
    op.execute(
        "INSERT INTO dashboard_member_totals (dimension, member, task_count) "
        "SELECT dimension, member, sum(task_count) FROM dashboard_counters "
        "GROUP BY dimension, member HAVING sum(task_count) <> 0")


def downgrade() -> None:
    op.drop_index('ix_federation_aggregate_rows_sender_end',
                  table_name='federation_aggregate_rows')
    op.drop_index('ix_dashboard_member_totals_largest', table_name='dashboard_member_totals')
    op.drop_table('dashboard_member_totals')
