"""persona mode space: where a discovered persona's cluster was found (topic centres, balance)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:55:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mode_space', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.drop_column('mode_space')
