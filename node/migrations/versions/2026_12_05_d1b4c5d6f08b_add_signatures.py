"""document signatures, content fingerprints and approval signatures

Revision ID: d1b4c5d6f08b
Revises: c0a3b4c5ef7a
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import node.core.db  # noqa: F401


revision = 'd1b4c5d6f08b'
down_revision = 'c0a3b4c5ef7a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approval_signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('audit_entry_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('object_type', sa.String(length=60), nullable=False),
    sa.Column('object_id', sa.String(length=100), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('algorithm', sa.String(length=40), nullable=False),
    sa.Column('certificate_sha256', sa.String(length=64), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('signed_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['audit_entry_id'], ['audit_entries.id'], name=op.f('fk_approval_signatures_audit_entry_id_audit_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_signatures')),
    sa.UniqueConstraint('audit_entry_id', name=op.f('uq_approval_signatures_audit_entry_id'))
    )
    op.create_table('document_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('is_authenticated', sa.Boolean(), nullable=False),
    sa.Column('checked_signatures', sa.Integer(), nullable=False),
    sa.Column('total_signatures', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('uploaded_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by', sa.String(length=200), nullable=True),
    sa.Column('verified_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_files_document_id_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_files'))
    )
    op.create_index(op.f('ix_document_files_document_id'), 'document_files', ['document_id'], unique=False)
    op.create_index(op.f('ix_document_files_sha256'), 'document_files', ['sha256'], unique=False)
    op.create_table('document_file_signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('field_name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('signer_name', sa.String(length=300), nullable=True),
    sa.Column('signer_organisation', sa.String(length=300), nullable=True),
    sa.Column('signing_time', node.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('certificate_sha256', sa.String(length=64), nullable=False),
    sa.Column('certificate_subject', sa.Text(), nullable=False),
    sa.Column('certificate_issuer', sa.Text(), nullable=False),
    sa.Column('not_before', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('not_after', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('covers_whole_file', sa.Boolean(), nullable=False),
    sa.Column('modification_level', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['file_id'], ['document_files.id'], name=op.f('fk_document_file_signatures_file_id_document_files'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_file_signatures'))
    )
    op.create_index(op.f('ix_document_file_signatures_file_id'), 'document_file_signatures', ['file_id'], unique=False)
    op.create_table('task_source_fingerprints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['document_files.id'], name=op.f('fk_task_source_fingerprints_file_id_document_files'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_source_fingerprints_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_source_fingerprints')),
    sa.UniqueConstraint('task_id', 'file_id', name=op.f('uq_task_source_fingerprints_task_id_file_id'))
    )
    op.create_index(op.f('ix_task_source_fingerprints_file_id'), 'task_source_fingerprints', ['file_id'], unique=False)
    op.create_index(op.f('ix_task_source_fingerprints_task_id'), 'task_source_fingerprints', ['task_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_task_source_fingerprints_task_id'), table_name='task_source_fingerprints')
    op.drop_index(op.f('ix_task_source_fingerprints_file_id'), table_name='task_source_fingerprints')
    op.drop_table('task_source_fingerprints')
    op.drop_index(op.f('ix_document_file_signatures_file_id'), table_name='document_file_signatures')
    op.drop_table('document_file_signatures')
    op.drop_index(op.f('ix_document_files_sha256'), table_name='document_files')
    op.drop_index(op.f('ix_document_files_document_id'), table_name='document_files')
    op.drop_table('document_files')
    op.drop_table('approval_signatures')
