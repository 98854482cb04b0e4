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


def upgrade() -> None:
    _scheduler_tables()


def downgrade() -> None:
    op.drop_table("scheduler_job_states")
    op.drop_table("scheduler_job_runs")
    op.drop_table("scheduler_leases")
