"""periodic reports, evaluation scores and rankings

Revision ID: bf92a3b4de69
Revises: ae8192a3cd58
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import node.core.db  # noqa: F401


revision = 'bf92a3b4de69'
down_revision = 'ae8192a3cd58'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rankings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('period_kind', sa.String(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('indicator_set', sa.String(length=60), nullable=False),
    sa.Column('indicator_set_version', sa.Integer(), nullable=False),
    sa.Column('entries', sa.JSON(), nullable=False),
    sa.Column('computed_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.String(length=200), nullable=True),
    sa.CheckConstraint("period_kind IN ('quarter', 'year')", name=op.f('ck_rankings_period_kind')),
    sa.CheckConstraint("scope IN ('local', 'national')", name=op.f('ck_rankings_scope')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rankings')),
    sa.UniqueConstraint('scope', 'period_kind', 'period_start', 'version', name=op.f('uq_rankings_scope_period_kind_period_start_version'))
    )
    op.create_table('evaluation_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('period_kind', sa.String(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('as_of', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('indicator_set', sa.String(length=60), nullable=False),
    sa.Column('indicator_set_version', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('rating', sa.String(length=30), nullable=True),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('computed_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("period_kind IN ('quarter', 'half_year', 'year')", name=op.f('ck_evaluation_scores_period_kind')),
    sa.CheckConstraint("rating IS NULL OR rating IN ('excellent', 'completed', 'not_fully_completed', 'not_completed')", name=op.f('ck_evaluation_scores_rating')),
    sa.CheckConstraint('(score IS NULL) = (rating IS NULL)', name=op.f('ck_evaluation_scores_score_iff_rating')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_evaluation_scores_org_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_scores')),
    sa.UniqueConstraint('org_unit_id', 'period_kind', 'period_start', name=op.f('uq_evaluation_scores_org_unit_id_period_kind_period_start'))
    )
    op.create_index(op.f('ix_evaluation_scores_org_unit_id'), 'evaluation_scores', ['org_unit_id'], unique=False)
    op.create_table('report_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('as_of', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('produced_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('produced_by', sa.String(length=200), nullable=True),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.Column('symbol', sa.String(length=80), nullable=True),
    sa.Column('issued_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('issued_by', sa.String(length=200), nullable=True),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(status = 'issued') = (issued_at IS NOT NULL)", name=op.f('ck_report_snapshots_issued_at_iff_issued')),
    sa.CheckConstraint("kind IN ('monthly', 'quarterly', 'half_yearly', 'yearly', 'ad_hoc')", name=op.f('ck_report_snapshots_kind')),
    sa.CheckConstraint("scope IN ('agency', 'summary')", name=op.f('ck_report_snapshots_scope')),
    sa.CheckConstraint("status IN ('draft', 'issued')", name=op.f('ck_report_snapshots_status')),
    sa.CheckConstraint('period_start <= period_end', name=op.f('ck_report_snapshots_period_order')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_report_snapshots_org_unit_id_org_units')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['report_snapshots.id'], name=op.f('fk_report_snapshots_supersedes_id_report_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_snapshots')),
    sa.UniqueConstraint('kind', 'scope', 'org_unit_id', 'period_start', 'period_end', 'version', name=op.f('uq_report_snapshots_kind_scope_org_unit_id_period_start_period_end_version')),
    sa.UniqueConstraint('symbol', name=op.f('uq_report_snapshots_symbol'))
    )
    op.create_index(op.f('ix_report_snapshots_org_unit_id'), 'report_snapshots', ['org_unit_id'], unique=False)
    op.create_index('ix_report_snapshots_period', 'report_snapshots', ['period_end', 'kind'], unique=False)
    op.create_table('evaluation_explanations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('period_kind', sa.String(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('explanation_request_id', sa.Integer(), nullable=False),
    sa.Column('created_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['explanation_request_id'], ['task_explanation_requests.id'], name=op.f('fk_evaluation_explanations_explanation_request_id_task_explanation_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_evaluation_explanations_org_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_explanations')),
    sa.UniqueConstraint('org_unit_id', 'period_kind', 'period_start', name=op.f('uq_evaluation_explanations_org_unit_id_period_kind_period_start'))
    )
    op.create_index(op.f('ix_evaluation_explanations_org_unit_id'), 'evaluation_explanations', ['org_unit_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_evaluation_explanations_org_unit_id'), table_name='evaluation_explanations')
    op.drop_table('evaluation_explanations')
    op.drop_index('ix_report_snapshots_period', table_name='report_snapshots')
    op.drop_index(op.f('ix_report_snapshots_org_unit_id'), table_name='report_snapshots')
    op.drop_table('report_snapshots')
    op.drop_index(op.f('ix_evaluation_scores_org_unit_id'), table_name='evaluation_scores')
    op.drop_table('evaluation_scores')
    op.drop_table('rankings')
