"""scheduler runs and locks, warnings, notifications and webhooks

Revision ID: ae8192a3cd58
Revises: 9e718293cd47
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import node.core.db


revision = 'ae8192a3cd58'
down_revision = '9e718293cd47'
branch_labels = None
depends_on = None


def _scheduler_tables() -> None:
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", node.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", node.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    op.create_table(
        "scheduler_job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=100), nullable=False),
        sa.Column("scheduled_for", node.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("runner", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", node.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", node.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("reason IN ('schedule', 'catch_up', 'manual')",
                           name=op.f("ck_scheduler_job_runs_reason")),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')",
                           name=op.f("ck_scheduler_job_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_job_runs")),
        sa.UniqueConstraint("job_id", "scheduled_for",
                            name=op.f("uq_scheduler_job_runs_job_id_scheduled_for")),
    )
    op.create_table(
        "scheduler_job_states",
        sa.Column("job_id", sa.String(length=100), nullable=False),
        sa.Column("last_scheduled_for", node.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.String(length=20), nullable=False),
        sa.Column("last_finished_at", node.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_scheduler_job_states")),
    )


def _warning_tables() -> None:
    op.create_table('webhooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks')),
    sa.UniqueConstraint('name', name=op.f('uq_webhooks_name'))
    )
    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email_mode', sa.String(length=10), nullable=False),
    sa.CheckConstraint("email_mode IN ('each', 'digest', 'none')", name=op.f('ck_notification_preferences_email_mode')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_preferences'))
    )
    op.create_table('warnings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('warned_on', sa.Date(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=True),
    sa.Column('report_period', sa.String(length=20), nullable=True),
    sa.Column('due_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('working_days_left', sa.Integer(), nullable=True),
    sa.Column('audience', sa.String(length=20), nullable=False),
    sa.Column('created_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("audience IN ('agency', 'escalated', 'office', 'org_unit')", name=op.f('ck_warnings_audience')),
    sa.CheckConstraint("kind IN ('due_soon', 'due_today', 'overdue', 'transfer_missed', 'receipt_missed', 'feedback_missed', 'checkpoint_missed', 'report_due_soon', 'report_due_today', 'summary_due_soon', 'summary_due_today')", name=op.f('ck_warnings_kind')),
    sa.CheckConstraint('(task_id IS NULL) = (report_period IS NOT NULL)', name=op.f('ck_warnings_task_or_report')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_warnings_org_unit_id_org_units')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_warnings_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warnings'))
    )
    op.create_index('ix_warnings_report_kind_day', 'warnings', ['org_unit_id', 'report_period', 'kind', 'warned_on'], unique=True, sqlite_where=sa.text('task_id IS NULL'), postgresql_where=sa.text('task_id IS NULL'))
    op.create_index('ix_warnings_task_kind_day', 'warnings', ['task_id', 'kind', 'warned_on'], unique=True, sqlite_where=sa.text('task_id IS NOT NULL'), postgresql_where=sa.text('task_id IS NOT NULL'))
    op.create_index('ix_warnings_warned_on', 'warnings', ['warned_on'], unique=False)
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('warning_id', sa.Integer(), nullable=False),
    sa.Column('created_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('email_status', sa.String(length=20), nullable=False),
    sa.Column('emailed_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("email_status IN ('pending', 'sent', 'failed', 'skipped')", name=op.f('ck_notifications_email_status')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['warning_id'], ['warnings.id'], name=op.f('fk_notifications_warning_id_warnings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('user_id', 'warning_id', name=op.f('uq_notifications_user_id_warning_id'))
    )
    op.create_index('ix_notifications_email_status', 'notifications', ['email_status'], unique=False)
    op.create_index('ix_notifications_user_id_read_at', 'notifications', ['user_id', 'read_at'], unique=False)
    op.create_index(op.f('ix_notifications_warning_id'), 'notifications', ['warning_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webhook_id', sa.Integer(), nullable=False),
    sa.Column('warning_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', node.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', node.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_deliveries_status')),
    sa.ForeignKeyConstraint(['warning_id'], ['warnings.id'], name=op.f('fk_webhook_deliveries_warning_id_warnings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], name=op.f('fk_webhook_deliveries_webhook_id_webhooks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('webhook_id', 'warning_id', name=op.f('uq_webhook_deliveries_webhook_id_warning_id'))
    )
    op.create_index('ix_webhook_deliveries_status_next_attempt_at', 'webhook_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_webhook_deliveries_warning_id'), 'webhook_deliveries', ['warning_id'], unique=False)


def upgrade() -> None:
    _scheduler_tables()
    _warning_tables()


def downgrade() -> None:
    op.drop_index(op.f('ix_webhook_deliveries_warning_id'), table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_status_next_attempt_at', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index(op.f('ix_notifications_warning_id'), table_name='notifications')
    op.drop_index('ix_notifications_user_id_read_at', table_name='notifications')
    op.drop_index('ix_notifications_email_status', table_name='notifications')
    op.drop_table('notifications')
    op.drop_index('ix_warnings_warned_on', table_name='warnings')
    op.drop_index('ix_warnings_task_kind_day', table_name='warnings', sqlite_where=sa.text('task_id IS NOT NULL'), postgresql_where=sa.text('task_id IS NOT NULL'))
    op.drop_index('ix_warnings_report_kind_day', table_name='warnings', sqlite_where=sa.text('task_id IS NULL'), postgresql_where=sa.text('task_id IS NULL'))
    op.drop_table('warnings')
    op.drop_table('notification_preferences')
    op.drop_table('webhooks')
    op.drop_table("scheduler_job_states")
    op.drop_table("scheduler_job_runs")
    op.drop_table("scheduler_leases")
