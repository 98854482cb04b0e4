"""dashboard task totals per member, newest aggregate reports, overdue report warnings

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

WARNING_KINDS = ('due_soon', 'due_today', 'overdue', 'transfer_missed', 'receipt_missed',
                 'feedback_missed', 'checkpoint_missed', 'report_due_soon', 'report_due_today',
                 'summary_due_soon', 'summary_due_today')


def _replace_kind_check(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table('warnings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_warnings_kind'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_warnings_kind'), f"kind IN ({', '.join(repr(kind) for kind in kinds)})")


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
    _replace_kind_check((*WARNING_KINDS, 'report_overdue'))


def downgrade() -> None:
    op.execute("DELETE FROM warnings WHERE kind = 'report_overdue'")
    _replace_kind_check(WARNING_KINDS)
    op.drop_index('ix_federation_aggregate_rows_sender_end',
                  table_name='federation_aggregate_rows')
    op.drop_index('ix_dashboard_member_totals_largest', table_name='dashboard_member_totals')
    op.drop_table('dashboard_member_totals')
