"""comparisons and eval: a compare round's solo answer and verdict; `council eval`'s cached
answers, judgements and runs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _generation_columns() -> list[sa.Column]:
    """The columns every streamed generation keeps (models._GenerationMixin)."""
    return [
        sa.Column('model', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('done_reason', sa.String(length=32), nullable=True),
        sa.Column('prompt_eval_count', sa.Integer(), nullable=True),
        sa.Column('eval_count', sa.Integer(), nullable=True),
        sa.Column('prompt_eval_duration_ns', sa.BigInteger(), nullable=True),
        sa.Column('eval_duration_ns', sa.BigInteger(), nullable=True),
        sa.Column('total_duration_ns', sa.BigInteger(), nullable=True),
        sa.Column('load_duration_ns', sa.BigInteger(), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('first_token_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        'comparisons',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('round_id', sa.Integer(), nullable=False),
        sa.Column('council_position', sa.String(length=1), nullable=False),
        sa.Column('verdict', sa.String(length=8), nullable=True),
        sa.Column('verdict_at', sa.DateTime(timezone=True), nullable=True),
        *_generation_columns(),
        sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('round_id'),
    )
    op.create_table(
        'eval_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('question_key', sa.String(length=64), nullable=False),
        sa.Column('contestant', sa.String(length=120), nullable=False),
        sa.Column('contestant_key', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('tokens', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('question_key', 'contestant_key'),
    )
    op.create_index('ix_eval_answers_question_key', 'eval_answers', ['question_key'])
    op.create_table(
        'eval_judgements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('judge_key', sa.String(length=64), nullable=False),
        sa.Column('first_id', sa.Integer(), nullable=False),
        sa.Column('second_id', sa.Integer(), nullable=False),
        sa.Column('verdict', sa.String(length=1), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('reply', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['first_id'], ['eval_answers.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['second_id'], ['eval_answers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('judge_key', 'first_id', 'second_id'),
    )
    op.create_index('ix_eval_judgements_judge_key', 'eval_judgements', ['judge_key'])
    op.create_table(
        'eval_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('question_set', sa.Text(), nullable=False),
        sa.Column('contestants', sa.JSON(), nullable=False),
        sa.Column('judge', sa.String(length=200), nullable=False),
        sa.Column('out_dir', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('report', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('eval_runs')
    op.drop_index('ix_eval_judgements_judge_key', table_name='eval_judgements')
    op.drop_table('eval_judgements')
    op.drop_index('ix_eval_answers_question_key', table_name='eval_answers')
    op.drop_table('eval_answers')
    op.drop_table('comparisons')
