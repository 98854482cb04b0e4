"""federation content: directives received, task links, aggregates and published rankings

Revision ID: 9e718293cd47
Revises: 9d708192bc36
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import node.core.db


revision = '9e718293cd47'
down_revision = '9d708192bc36'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('federation_aggregate_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_node_id', sa.String(length=64), nullable=False),
    sa.Column('period_kind', sa.String(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('org_unit_code', sa.String(length=40), nullable=False),
    sa.Column('org_unit_name', sa.String(length=300), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('as_of', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('received_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("period_kind IN ('month', 'quarter', 'half_year', 'year')", name=op.f('ck_federation_aggregate_rows_period_kind')),
    sa.CheckConstraint('total >= 0', name=op.f('ck_federation_aggregate_rows_total_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_aggregate_rows')),
    sa.UniqueConstraint('sender_node_id', 'period_kind', 'period_start', 'org_unit_code', name='uq_federation_aggregate_rows_sender_period_unit')
    )
    with op.batch_alter_table('federation_aggregate_rows', schema=None) as batch_op:
        batch_op.create_index('ix_federation_aggregate_rows_period', ['period_kind', 'period_start'], unique=False)

    op.create_table('federation_received_rankings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_node_id', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('period_kind', sa.String(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('published_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('method', sa.Text(), nullable=False),
    sa.Column('entries', sa.JSON(), nullable=False),
    sa.Column('received_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("period_kind IN ('month', 'quarter', 'half_year', 'year', 'custom')", name=op.f('ck_federation_received_rankings_period_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_received_rankings')),
    sa.UniqueConstraint('message_id', name=op.f('uq_federation_received_rankings_message_id'))
    )
    with op.batch_alter_table('federation_received_rankings', schema=None) as batch_op:
        batch_op.create_index('ix_federation_received_rankings_period', ['period_kind', 'period_start'], unique=False)

    op.create_table('federation_sent_directives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('peer_node_id', sa.String(length=64), nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('task_refs', sa.JSON(), nullable=False),
    sa.Column('transferred_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_message_id', sa.String(length=36), nullable=False),
    sa.Column('updated_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_federation_sent_directives_document_id_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_sent_directives')),
    sa.UniqueConstraint('document_id', 'peer_node_id', name=op.f('uq_federation_sent_directives_document_id_peer_node_id'))
    )
    op.create_table('federation_task_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('peer_node_id', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('task_ref', sa.String(length=160), nullable=False),
    sa.Column('document_reference', sa.String(length=120), nullable=False),
    sa.Column('created_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("direction IN ('sent', 'received')", name=op.f('ck_federation_task_links_direction')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_federation_task_links_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_task_links')),
    sa.UniqueConstraint('peer_node_id', 'direction', 'task_ref', name=op.f('uq_federation_task_links_peer_node_id_direction_task_ref')),
    sa.UniqueConstraint('task_id', 'peer_node_id', 'direction', name=op.f('uq_federation_task_links_task_id_peer_node_id_direction'))
    )


def downgrade() -> None:
    op.drop_table('federation_task_links')
    op.drop_table('federation_sent_directives')
    with op.batch_alter_table('federation_received_rankings', schema=None) as batch_op:
        batch_op.drop_index('ix_federation_received_rankings_period')

    op.drop_table('federation_received_rankings')
    with op.batch_alter_table('federation_aggregate_rows', schema=None) as batch_op:
        batch_op.drop_index('ix_federation_aggregate_rows_period')

    op.drop_table('federation_aggregate_rows')
