"""ledger verifications: the recorded result of each check of the hash chain, shown on the funds page

Revision ID: 0010_ledger_verifications
Revises: 0009_recon_progress
Create Date: 2026-12-11 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_ledger_verifications'
down_revision = '0009_recon_progress'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ledger_verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('checked', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('broken_seq', sa.Integer(), nullable=True),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_verifications'))
    )
    with op.batch_alter_table('ledger_verifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_verifications_started_at'), ['started_at'], unique=False)


def downgrade():
    with op.batch_alter_table('ledger_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_verifications_started_at'))
    op.drop_table('ledger_verifications')
