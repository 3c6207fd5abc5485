"""email verification: when the account's e-mail address was confirmed

Revision ID: 0016_email_verification
Revises: 0015_legal_documents
Create Date: 2026-12-03 11:30:00

Accounts that exist already stay unconfirmed: they confirm their address the first time they pledge or launch.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_email_verification'
down_revision = '0015_legal_documents'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
