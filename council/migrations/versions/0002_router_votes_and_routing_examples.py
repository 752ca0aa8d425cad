"""router, votes and routing examples

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:51:03.103518
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('router_stats',
    sa.Column('persona_id', sa.Integer(), nullable=False),
    sa.Column('shown', sa.Integer(), nullable=False),
    sa.Column('last_shown', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['persona_id'], ['personas.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('persona_id')
    )
    op.create_table('votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('answer_id', sa.Integer(), nullable=True),
    sa.Column('persona_id', sa.Integer(), nullable=True),
    sa.Column('weights', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['worker_answers.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['persona_id'], ['personas.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_votes_persona_id'), ['persona_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_votes_round_id'), ['round_id'], unique=False)

    op.create_table('routing_examples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('persona_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('vote_id', sa.Integer(), nullable=True),
    sa.Column('embedding', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['persona_id'], ['personas.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vote_id'], ['votes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('routing_examples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_examples_persona_id'), ['persona_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_examples_vote_id'), ['vote_id'], unique=False)

    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('example_messages', sa.JSON(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('routing_rules', sa.JSON(), nullable=False,
                                      server_default='{}'))
        batch_op.add_column(sa.Column('centroid', sa.JSON(), nullable=True))

    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_column('routing')

    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.drop_column('centroid')
        batch_op.drop_column('routing_rules')
        batch_op.drop_column('example_messages')

    with op.batch_alter_table('routing_examples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_examples_vote_id'))
        batch_op.drop_index(batch_op.f('ix_routing_examples_persona_id'))

    op.drop_table('routing_examples')
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_votes_round_id'))
        batch_op.drop_index(batch_op.f('ix_votes_persona_id'))

    op.drop_table('votes')
    op.drop_table('router_stats')
