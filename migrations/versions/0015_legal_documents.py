"""legal documents: versioned documents in Chinese and English, and recorded consents

Revision ID: 0015_legal_documents
Revises: 0014_sessions_audit
Create Date: 2026-12-03 11:30:00

Seeds version 1 of every document from crowdfund/data/legal and turns each account's recorded acceptance
of the user agreement and the privacy policy (users.terms_version, privacy_version, agreed_at) into consents.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_legal_documents'
down_revision = '0014_sessions_audit'
branch_labels = None
depends_on = None


def upgrade():
    documents = op.create_table('legal_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=30), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('body_zh', sa.Text(), nullable=False),
    sa.Column('body_en', sa.Text(), nullable=False),
    sa.Column('body_zh_html', sa.Text(), nullable=False),
    sa.Column('body_en_html', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_legal_documents_published_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_documents')),
    sa.UniqueConstraint('key', 'version', name='uq_legal_documents_key_version')
    )
    with op.batch_alter_table('legal_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legal_documents_key'), ['key'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('document_key', sa.String(length=30), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=True),
    sa.Column('pledge_id', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['pledge_id'], ['pledges.id'], name=op.f('fk_consents_pledge_id_pledges'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_consents_project_id_projects'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_user_document', ['user_id', 'document_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_consents_pledge_id'), ['pledge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consents_project_id'), ['project_id'], unique=False)

    from datetime import datetime, timezone

    from crowdfund.legal import initial_documents

    now = datetime.now(timezone.utc)
    op.bulk_insert(documents, [dict(row, published_at=now, published_by_id=None) for row in initial_documents()])
    # What each account accepted at sign-up, as consents (no address was kept for them).
    for key, column in (("terms", "terms_version"), ("privacy", "privacy_version")):
        op.execute(f"INSERT INTO consents (user_id, document_key, version, accepted_at) "
                   f"SELECT id, '{key}', {column}, agreed_at FROM users")

    if op.get_bind().dialect.name == "postgresql":
        # Like the audit log (0014): a published version is never rewritten (the ORM refuses too). The one
        # change let through is the publisher's foreign key becoming NULL when an account row is deleted.
        op.execute("""
            CREATE FUNCTION legal_documents_append_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.published_by_id IS NULL AND OLD.published_by_id IS NOT NULL
                   AND NEW.id = OLD.id AND NEW.key = OLD.key AND NEW.version = OLD.version
                   AND NEW.title_zh = OLD.title_zh AND NEW.title_en = OLD.title_en
                   AND NEW.body_zh = OLD.body_zh AND NEW.body_en = OLD.body_en
                   AND NEW.body_zh_html = OLD.body_zh_html AND NEW.body_en_html = OLD.body_en_html
                   AND NEW.published_at = OLD.published_at THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'published legal documents are append-only (% on %)', TG_OP, TG_TABLE_NAME;
            END
            $$ LANGUAGE plpgsql
        """)
        op.execute("CREATE TRIGGER legal_documents_append_only BEFORE UPDATE OR DELETE ON legal_documents "
                   "FOR EACH ROW EXECUTE FUNCTION legal_documents_append_only()")
    elif op.get_bind().dialect.name == "mysql":
        # The same on MySQL/MariaDB, one trigger per event (see 0014 for the cascaded SET NULL there).
        op.execute("""
            CREATE TRIGGER legal_documents_append_only_update BEFORE UPDATE ON legal_documents FOR EACH ROW
            IF NOT (NEW.published_by_id IS NULL AND OLD.published_by_id IS NOT NULL
                    AND NEW.id = OLD.id AND NEW.`key` = OLD.`key` AND NEW.version = OLD.version
                    AND NEW.title_zh = OLD.title_zh AND NEW.title_en = OLD.title_en
                    AND NEW.body_zh = OLD.body_zh AND NEW.body_en = OLD.body_en
                    AND NEW.body_zh_html = OLD.body_zh_html AND NEW.body_en_html = OLD.body_en_html
                    AND NEW.published_at = OLD.published_at) THEN
                SIGNAL SQLSTATE '45000'
                    SET MESSAGE_TEXT = 'published legal documents are append-only (UPDATE on legal_documents)';
            END IF
        """)
        op.execute("CREATE TRIGGER legal_documents_append_only_delete BEFORE DELETE ON legal_documents "
                   "FOR EACH ROW SIGNAL SQLSTATE '45000' "
                   "SET MESSAGE_TEXT = 'published legal documents are append-only (DELETE on legal_documents)'")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS legal_documents_append_only ON legal_documents")
        op.execute("DROP FUNCTION IF EXISTS legal_documents_append_only()")
    elif op.get_bind().dialect.name == "mysql":
        op.execute("DROP TRIGGER IF EXISTS legal_documents_append_only_update")
        op.execute("DROP TRIGGER IF EXISTS legal_documents_append_only_delete")
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_project_id'))
        batch_op.drop_index(batch_op.f('ix_consents_pledge_id'))
        batch_op.drop_index('ix_consents_user_document')
    op.drop_table('consents')
    with op.batch_alter_table('legal_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legal_documents_key'))
    op.drop_table('legal_documents')
