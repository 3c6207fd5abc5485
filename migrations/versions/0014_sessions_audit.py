"""sessions and audit: server-side login sessions; audit-log rows append-only in the database

Revision ID: 0014_sessions_audit
Revises: 0013_data_exports
Create Date: 2026-12-03 07:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_sessions_audit'
down_revision = '0013_data_exports'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.Column('remember', sa.Boolean(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_login_sessions_key_hash'))
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_created_at'), ['created_at'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Like the ledger (0004): the database refuses to rewrite the audit log (the ORM refuses too, on every
        # backend). The one change let through is the actor's foreign key becoming NULL when an account is
        # deleted (ON DELETE SET NULL), with every other column left as it was.
        op.execute("""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
                   AND NEW.id = OLD.id AND NEW.action = OLD.action AND NEW.object_type = OLD.object_type
                   AND NEW.object_id = OLD.object_id AND NEW.details::text = OLD.details::text
                   AND NEW.created_at = OLD.created_at THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'audit rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
            END
            $$ LANGUAGE plpgsql
        """)
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
    elif op.get_bind().dialect.name == "mysql":
        # The same on MySQL/MariaDB, one trigger per event. (There a cascaded SET NULL fires no trigger at all;
        # the exception is kept so the rule reads the same on both.)
        op.execute("""
            CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log FOR EACH ROW
            IF NOT (NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
                    AND NEW.id = OLD.id AND NEW.action = OLD.action AND NEW.object_type = OLD.object_type
                    AND NEW.object_id = OLD.object_id AND NEW.details <=> OLD.details
                    AND NEW.created_at = OLD.created_at) THEN
                SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit rows are append-only (UPDATE on audit_log)';
            END IF
        """)
        op.execute("CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log FOR EACH ROW "
                   "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit rows are append-only (DELETE on audit_log)'")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    elif op.get_bind().dialect.name == "mysql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only_delete")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_created_at'))
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_user_id'))
    op.drop_table('login_sessions')
