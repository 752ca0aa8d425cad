"""persona sampling: a persona's own repetition options over the workers' setting

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


# Plain ALTER TABLE (see 0009): no batch copy of `personas`, which answers and votes reference.
# Existing personas get none of their own: the workers' setting applies to them.


def upgrade() -> None:
    op.add_column('personas', sa.Column('sampling', sa.String(length=200), nullable=False,
                                        server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.drop_column('sampling')
