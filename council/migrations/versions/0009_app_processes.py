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
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('app_process_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('stop_requested', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index('ix_rounds_app_process_id', ['app_process_id'])
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('app_process_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('data_dir', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cancel_requested', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index('ix_jobs_app_process_id', ['app_process_id'])


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_app_process_id')
        batch_op.drop_column('cancel_requested')
        batch_op.drop_column('data_dir')
        batch_op.drop_column('app_process_id')
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_index('ix_rounds_app_process_id')
        batch_op.drop_column('stop_requested')
        batch_op.drop_column('app_process_id')
    op.drop_table('app_processes')
