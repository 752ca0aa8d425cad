"""branches and blind votes: a round's parent, the conversation's shown leaf, blind votes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 18:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_rounds_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key('fk_rounds_parent_id_rounds', 'rounds', ['parent_id'],
                                    ['id'], ondelete='CASCADE')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('current_round_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blind', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    # Conversations so far were one line of rounds: each follows the one before it.
    op.execute("UPDATE rounds SET parent_id = (SELECT MAX(earlier.id) FROM rounds AS earlier "
               "WHERE earlier.conversation_id = rounds.conversation_id "
               "AND earlier.id < rounds.id)")


def downgrade() -> None:
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_column('blind')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('current_round_id')
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_constraint('fk_rounds_parent_id_rounds', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_rounds_parent_id'))
        batch_op.drop_column('parent_id')
