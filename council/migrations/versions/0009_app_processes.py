"""app processes: who runs each round and job, so several app processes share one database

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 03:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, no batch mode: SQLite adds these columns in place, while batch mode would
# copy `rounds` and drop the original, and with foreign keys on that drop deletes every answer,
# vote and follow-up round that references it.


def upgrade() -> None:
    op.create_table(
        'app_processes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('boot_id', sa.String(length=64), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('start_ticks', sa.BigInteger(), nullable=False),
        sa.Column('data_dir', sa.Text(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'))
    op.add_column('rounds', sa.Column('app_process_id', sa.Integer(), nullable=True))
    op.add_column('rounds', sa.Column('stop_requested', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_index('ix_rounds_app_process_id', 'rounds', ['app_process_id'])
    op.add_column('jobs', sa.Column('app_process_id', sa.Integer(), nullable=True))
    op.add_column('jobs', sa.Column('data_dir', sa.Text(), nullable=True))
    op.add_column('jobs', sa.Column('cancel_requested', sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    op.create_index('ix_jobs_app_process_id', 'jobs', ['app_process_id'])


def downgrade() -> None:
    op.drop_index('ix_jobs_app_process_id', 'jobs')
    for column in ('cancel_requested', 'data_dir', 'app_process_id'):
        op.drop_column('jobs', column)
    op.drop_index('ix_rounds_app_process_id', 'rounds')
    for column in ('stop_requested', 'app_process_id'):
        op.drop_column('rounds', column)
    op.drop_table('app_processes')
