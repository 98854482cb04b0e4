"""federation delivery: link state, key rotation, delivery bookkeeping

Revision ID: 9d708192bc36
Revises: 8c6f7091ab25
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import node.core.db


revision = '9d708192bc36'
down_revision = '8c6f7091ab25'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('federation_leases',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('holder', sa.String(length=120), nullable=True),
    sa.Column('expires_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_federation_leases'))
    )
    with op.batch_alter_table('federation_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_at', node.core.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('federation_peers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_changed_at', node.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('previous_public_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('previous_key_valid_until', node.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('key_rotation_sequence', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('federation_peers', schema=None) as batch_op:
        batch_op.drop_column('key_rotation_sequence')
        batch_op.drop_column('previous_key_valid_until')
        batch_op.drop_column('previous_public_key')
        batch_op.drop_column('status_changed_at')

    with op.batch_alter_table('federation_outbox', schema=None) as batch_op:
        batch_op.drop_column('failed_at')

    op.drop_table('federation_leases')
