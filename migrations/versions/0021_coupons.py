"""coupons bought with points; pledges.coupon_fen and refunds.coupon_fen

Revision ID: 0021_coupons
Revises: 0020_share_codes
Create Date: 2026-12-03 14:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_coupons'
down_revision = '0020_share_codes'
branch_labels = None
depends_on = None


HELD_BY_PLEDGE = "status = 'available' OR pledge_id IS NOT NULL"


def upgrade():
    # MariaDB refuses a CHECK on a column whose foreign key has an ON DELETE action: there, triggers check it on
    # every insert and update (a cascaded SET NULL fires no trigger on MySQL/MariaDB, so that one goes through).
    mysql = op.get_bind().dialect.name == "mysql"
    held_by_pledge = [] if mysql else [sa.CheckConstraint(HELD_BY_PLEDGE, name=op.f('ck_coupons_held_by_pledge'))]
    op.create_table('coupons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('value_fen', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('pledge_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('value_fen > 0', name=op.f('ck_coupons_value_positive')),
    sa.CheckConstraint('points > 0', name=op.f('ck_coupons_points_positive')),
    sa.CheckConstraint("status IN ('available', 'applied', 'used')", name=op.f('ck_coupons_status_known')),
    *held_by_pledge,
    sa.ForeignKeyConstraint(['pledge_id'], ['pledges.id'], name=op.f('fk_coupons_pledge_id_pledges'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_coupons_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_user_status', ['user_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_pledge_id'), ['pledge_id'], unique=False)

    if mysql:
        for event in ("INSERT", "UPDATE"):
            op.execute(f"CREATE TRIGGER coupons_held_by_pledge_{event.lower()} BEFORE {event} ON coupons "
                       "FOR EACH ROW IF NOT (NEW.status = 'available' OR NEW.pledge_id IS NOT NULL) THEN "
                       "SIGNAL SQLSTATE '23000' SET MESSAGE_TEXT = 'ck_coupons_held_by_pledge'; END IF")

    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coupon_fen', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(op.f('ck_pledges_coupon_below_amount'),
                                         'coupon_fen >= 0 AND coupon_fen < amount_fen')

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coupon_fen', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_column('coupon_fen')

    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_pledges_coupon_below_amount'), type_='check')
        batch_op.drop_column('coupon_fen')

    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupons_pledge_id'))
        batch_op.drop_index('ix_coupons_user_status')

    op.drop_table('coupons')
