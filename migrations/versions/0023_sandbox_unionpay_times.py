"""sandbox_trades.txn_time and pay_timeout: the sandbox UnionPay names an order by orderId and txnTime together,
and refuses payment after payTimeOut

Revision ID: 0023_sandbox_unionpay_times
Revises: 0022_sandbox_providers
Create Date: 2026-12-04 20:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023_sandbox_unionpay_times'
down_revision = '0022_sandbox_providers'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sandbox_trades', schema=None) as batch_op:
        batch_op.add_column(sa.Column('txn_time', sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column('pay_timeout', sa.String(length=14), nullable=True))


def downgrade():
    with op.batch_alter_table('sandbox_trades', schema=None) as batch_op:
        batch_op.drop_column('pay_timeout')
        batch_op.drop_column('txn_time')
