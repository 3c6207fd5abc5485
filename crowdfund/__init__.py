"""众筹 Crowdfund: a reward-crowdfunding platform, server-rendered with htmx on top."""
import logging
import os

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from crowdfund.config import Config

HTMX_VERSION = "2.0.11"


def create_app(config=None):
    """Build the app; `config` (a dict) overrides what the environment says."""
    app = Flask(__name__, instance_path=os.environ.get("INSTANCE_PATH") or None,
                instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    settings = Config(app.instance_path)
    for key, value in (config or {}).items():
        setattr(settings, key, value)
    settings.finish(app.instance_path)
    app.config.from_object(settings)
    from crowdfund.security import SecureCookiesOverHttps

    app.wsgi_app = SecureCookiesOverHttps(app.wsgi_app)
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    logging.getLogger("crowdfund").setLevel(logging.INFO)

    from crowdfund import inputs

    inputs.init_app(app)  # URL converters before any rule is added, the input filter before CSRF
    init_extensions(app)
    register_blueprints(app)
    from crowdfund.errors import register_error_handlers
    from crowdfund.cli import register_cli

    register_error_handlers(app)
    register_cli(app)
    register_templating(app)
    return app


def init_extensions(app):
    """Bind the extensions to this app."""
    from sqlalchemy import event

    from crowdfund import jobs, models  # noqa: F401 - register models and periodic jobs
    from crowdfund import closing, delivery  # noqa: F401 - register the closing and auto-confirm jobs
    from crowdfund import comments  # noqa: F401 - register the unanswered-question reminders
    from crowdfund import follows, updates  # noqa: F401 - register the reminder and fan-out catch-up jobs
    from crowdfund import mailer  # noqa: F401 - register the notification e-mail jobs and commit hooks
    from crowdfund.payments import callbacks, reconciliation  # noqa: F401 - register the reconciliation jobs
    from crowdfund.extensions import babel, compress, csrf, db, limiter, login_manager, migrate
    from crowdfund.i18n import select_locale
    from crowdfund.models.base import render_item

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith(("mysql", "mariadb")):
        from crowdfund.databases import configure_engine

        with app.app_context():
            configure_engine(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"),
                     render_as_batch=True, compare_type=True, render_item=render_item)
    csrf.init_app(app)
    compress.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)
    from crowdfund import pagecache

    pagecache.init_app(app)
    from crowdfund import visits

    visits.init_app(app)


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _load_user(identity):
    """Flask-Login loader: "<id>:<session token>:<session key>"; a revoked or unknown session is logged out."""
    from crowdfund.sessions import load

    return load(identity)


def register_blueprints(app):
    """Mount every blueprint."""
    from crowdfund.blueprints.account import bp as account_bp
    from crowdfund.blueprints.assets import bp as assets_bp
    from crowdfund.blueprints.admin import bp as admin_bp
    from crowdfund.blueprints.auth import bp as auth_bp
    from crowdfund.blueprints.finance import bp as finance_bp
    from crowdfund.blueprints.legal import bp as legal_bp
    from crowdfund.blueprints.creator import bp as creator_bp
    from crowdfund.blueprints.media import bp as media_bp
    from crowdfund.blueprints.moderation import bp as moderation_bp
    from crowdfund.blueprints.projects import bp as projects_bp
    from crowdfund.blueprints.public import bp as public_bp
    from crowdfund.blueprints.sharing import bp as sharing_bp
    from crowdfund.blueprints.payments import bp as payments_bp
    from crowdfund.blueprints.pledges import bp as pledges_bp
    from crowdfund.blueprints.wizard import bp as wizard_bp
    from crowdfund.blueprints.comments import bp as comments_bp
    from crowdfund.blueprints.messages import bp as messages_bp
    from crowdfund.blueprints.notices import bp as notices_bp
    from crowdfund.blueprints.updates import bp as updates_bp

    for bp in (public_bp, legal_bp, auth_bp, account_bp, admin_bp, projects_bp, wizard_bp, creator_bp, moderation_bp,
               media_bp, pledges_bp, payments_bp, finance_bp, comments_bp, updates_bp, messages_bp, notices_bp,
               assets_bp, sharing_bp):
        app.register_blueprint(bp)
    if app.config["PAYMENT_SANDBOX"]:
        from crowdfund.blueprints.sandbox import bp as sandbox_bp
        from crowdfund.blueprints.sandbox_unionpay import bp as sandbox_unionpay_bp
        from crowdfund.blueprints.sandbox_wechatpay import bp as sandbox_wechatpay_bp

        for bp in (sandbox_bp, sandbox_wechatpay_bp, sandbox_unionpay_bp):
            app.register_blueprint(bp)
    if app.config["SMS_PROVIDER"] == "dev" and app.config["ENV_NAME"] != "production":
        from crowdfund.blueprints.devsms import bp as devsms_bp

        app.register_blueprint(devsms_bp)


def register_templating(app):
    """Template helpers, filters and the after-request security headers."""
    from crowdfund.assets import asset_url
    from crowdfund.forms import EmptyForm
    from crowdfund.legal import DOCUMENTS as LEGAL_DOCUMENTS
    from crowdfund.i18n import (LABELS, LOCALE_NAMES, ROLE_NAMES, colon, fen_to_yuan, format_money, format_money_short,
                                format_when, html_lang, select_locale, time_left)
    from crowdfund.media import largest, media_url, safe_embed_url, srcset
    from crowdfund.notifications import unread_notifications
    from crowdfund.private_pages import add_no_store, private_page
    from crowdfund.refunds import refunds_of
    from crowdfund.security import add_security_headers

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["money"] = format_money
    from crowdfund.phones import mask

    app.jinja_env.filters["masked_phone"] = mask
    app.jinja_env.filters["money_short"] = format_money_short
    app.jinja_env.filters["when"] = format_when
    app.jinja_env.filters["yuan"] = fen_to_yuan
    app.jinja_env.globals.update(srcset=srcset, largest=largest, media_url=media_url,
                                 video_embed_url=safe_embed_url, unread_notifications=unread_notifications,
                                 time_left=time_left, colon=colon, refunds_of=refunds_of, private_page=private_page)
    app.after_request(add_security_headers)
    app.after_request(add_no_store)

    @app.context_processor
    def globals_for_templates():
        return {
            "empty_form": EmptyForm,
            "html_lang": html_lang,
            "current_locale": select_locale,
            "locale_names": LOCALE_NAMES,
            "role_names": ROLE_NAMES,
            "htmx_version": HTMX_VERSION,
            "asset_url": asset_url,
            "icp_number": app.config["ICP_NUMBER"],
            "psb_number": app.config["PSB_NUMBER"],
            "legal_documents": LEGAL_DOCUMENTS,
            "here": lambda: request.full_path.rstrip("?"),
            **LABELS,
        }
