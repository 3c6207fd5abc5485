"""reconciliation runs record their state and progress (queued, running, finished, failed)

Revision ID: 0009_recon_progress
Revises: 0008
Create Date: 2026-12-10 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_recon_progress'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reconciliation_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='finished', nullable=False))
        batch_op.add_column(sa.Column('total', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('error', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('in_progress', sa.Boolean(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_reconciliation_runs_in_progress'), ['in_progress'])
    # Runs recorded before this revision were written only once finished.
    op.execute("UPDATE reconciliation_runs SET total = checked, started_at = ran_at, finished_at = ran_at")


def downgrade():
    with op.batch_alter_table('reconciliation_runs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_reconciliation_runs_in_progress'), type_='unique')
        batch_op.drop_column('in_progress')
        batch_op.drop_column('error')
        batch_op.drop_column('finished_at')
        batch_op.drop_column('started_at')
        batch_op.drop_column('total')
        batch_op.drop_column('status')
