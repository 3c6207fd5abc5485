"""Language choice and how money and dates are shown (zh_CN by default, en complete)."""
from decimal import Decimal

from babel.numbers import format_decimal
from flask import current_app, session
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crowdfund.models import Role

LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
ROLE_NAMES = {
    Role.CREATOR: _l("Creator"),
    Role.MODERATOR: _l("Moderator"),
    Role.FINANCE: _l("Finance"),
    Role.ADMIN: _l("Administrator"),
}


def select_locale():
    """The session's choice, else the account's, else the site default."""
    supported = current_app.config["LANGUAGES"]
    chosen = session.get("locale")
    if chosen in supported:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in supported:
        return current_user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def fen_to_yuan(fen):
    """Integer fen as an exact Decimal amount of yuan."""
    return (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))


def format_money(fen):
    """¥1,234.50 in the current locale's digit grouping (the sign is ¥ in every locale)."""
    amount = fen_to_yuan(fen)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{format_decimal(abs(amount), format='#,##0.00', locale=str(get_locale()))}"


def format_when(value, fmt="medium"):
    """A UTC timestamp shown in the display time zone (Asia/Shanghai)."""
    if value is None:
        return ""
    return format_datetime(value, fmt)


def html_lang():
    """The lang attribute for <html>: zh-CN or en."""
    return select_locale().replace("_", "-")
