"""sandbox_trades.provider: the sandbox gateways of WeChat Pay and UnionPay keep their trades beside Alipay's

Revision ID: 0022_sandbox_providers
Revises: 0021_coupons
Create Date: 2026-12-04 19:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_sandbox_providers'
down_revision = '0021_coupons'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sandbox_trades', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider', sa.String(length=20), nullable=False, server_default='alipay'))


def downgrade():
    with op.batch_alter_table('sandbox_trades', schema=None) as batch_op:
        batch_op.drop_column('provider')
