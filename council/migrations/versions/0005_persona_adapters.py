"""persona adapters: adapter model, variant per persona and per answer

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adapter_model', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('variant', sa.String(length=8), server_default='prompt',
                                      nullable=False))
    with op.batch_alter_table('worker_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.String(length=8), server_default='prompt',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('worker_answers', schema=None) as batch_op:
        batch_op.drop_column('variant')
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.drop_column('variant')
        batch_op.drop_column('adapter_model')
