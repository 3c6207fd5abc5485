"""users.share_code: the short random code share links carry as ?ref=

Revision ID: 0020_share_codes
Revises: 0019_risk_alerts
Create Date: 2026-12-03 14:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_share_codes'
down_revision = '0019_risk_alerts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('share_code', sa.String(length=16), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_share_code'), ['share_code'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_share_code'), type_='unique')
        batch_op.drop_column('share_code')
