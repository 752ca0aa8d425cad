"""adapter served: how each persona's adapter was registered and verified on which servers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


# Plain ALTER TABLE (see 0009): no batch copy of `personas`, which answers and votes reference.
# Adapters registered before this revision have no record: they answer prompt-only until they
# are registered again, since nothing says which server verified them.


def upgrade() -> None:
    op.add_column('personas', sa.Column('adapter_served', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.drop_column('adapter_served')
