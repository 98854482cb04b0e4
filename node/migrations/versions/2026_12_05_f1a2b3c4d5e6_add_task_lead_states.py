"""state of each lead agency of a task that reports through a child node

Revision ID: f1a2b3c4d5e6
Revises: f2b3c4d5e6f7
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import node.core.db

revision = 'f1a2b3c4d5e6'
down_revision = 'f2b3c4d5e6f7'
branch_labels = None
depends_on = None

REPORTED_STATES = ('not_started', 'in_progress', 'completed', 'ended_not_completed',
                   'will_not_carry_out')


def upgrade() -> None:
    op.create_table(
        'task_lead_states',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('org_unit_id', sa.Integer(), nullable=False),
        sa.Column('reported_state', sa.String(length=30), nullable=False),
        sa.Column('progress_percent', sa.Integer(), nullable=True),
        sa.Column('completed_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reported_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('progress_update_id', sa.Integer(), nullable=True),
        sa.Column('source_node_id', sa.String(length=64), nullable=False),
        sa.Column('updated_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"reported_state IN ({', '.join(repr(s) for s in REPORTED_STATES)})",
                           name=op.f('ck_task_lead_states_reported_state')),
        sa.CheckConstraint("(reported_state = 'completed') = (completed_at IS NOT NULL)",
                           name=op.f('ck_task_lead_states_completed_at_iff_completed')),
        sa.CheckConstraint('progress_percent IS NULL OR progress_percent BETWEEN 0 AND 100',
                           name=op.f('ck_task_lead_states_progress_percent_range')),
        sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE',
                                name=op.f('fk_task_lead_states_task_id_tasks')),
        sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'],
                                name=op.f('fk_task_lead_states_org_unit_id_org_units')),
        sa.ForeignKeyConstraint(['progress_update_id'], ['task_progress_updates.id'],
                                ondelete='SET NULL',
                                name=op.f('fk_task_lead_states_progress_update_id_task_progress_updates')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_lead_states')),
        sa.UniqueConstraint('task_id', 'org_unit_id',
                            name=op.f('uq_task_lead_states_task_id_org_unit_id')),
    )


def downgrade() -> None:
    op.drop_table('task_lead_states')
