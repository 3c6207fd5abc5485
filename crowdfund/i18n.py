"""Language choice and how money and dates are shown (zh_CN by default, en complete)."""
from datetime import timedelta
from decimal import Decimal

from babel.numbers import format_compact_decimal, format_decimal
from flask import current_app, g, has_request_context, session
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


STATUS_NAMES = {
    "draft": _l("Draft"), "submitted": _l("Submitted"), "in_review": _l("In review"),
    "changes_requested": _l("Changes requested"), "approved": _l("Approved"), "rejected": _l("Rejected"),
    "live": _l("Live"), "successful": _l("Successful"), "failed": _l("Not funded"), "cancelled": _l("Cancelled"),
    "suspended": _l("Suspended"), "delivering": _l("Delivering rewards"), "completed": _l("Completed"),
}
STEP_NAMES = {"basics": _l("Basics"), "story": _l("Story"), "funding": _l("Funding"), "rewards": _l("Rewards"),
              "risk": _l("Risks & verification"), "preview": _l("Preview & submit")}
FIELD_NAMES = {
    "title": _l("Title"), "summary": _l("Summary"), "category": _l("Category"), "cover": _l("Cover image"),
    "story": _l("Story (at least 50 characters)"), "goal": _l("Funding goal"), "duration": _l("Duration"),
    "tiers": _l("Reward tiers"), "risk_disclosure": _l("Risk disclosure"), "partner_charity": _l("Partner charity"),
    "charity_certificate": _l("Registration certificate"), "fund_use_plan": _l("Fund-use plan"),
}
REGION_NAMES = {"mainland": _l("Mainland China"), "hk_mo_tw": _l("Hong Kong, Macao and Taiwan"),
                "overseas": _l("Overseas")}
SORT_NAMES = {"newest": _l("Newest"), "ending": _l("Ending soon"), "most_funded": _l("Most funded"),
              "most_backed": _l("Most backers")}
SEVERITY_NAMES = {"blocking": _l("Blocking"), "warning": _l("Warning"), "info": _l("Note")}
VERIFICATION_STATUS_NAMES = {"pending": _l("Waiting for review"), "approved": _l("Approved"),
                             "rejected": _l("Rejected")}
PLEDGE_STATUS_NAMES = {
    "pending": _l("Waiting for payment"), "paid": _l("Paid"), "expired": _l("Expired, not charged"),
    "closed": _l("Closed, not charged"), "cancelled": _l("Cancelled"),
    "refund_due": _l("Paid after it expired: being refunded"), "refunded": _l("Refunded"),
}
CHANNEL_NAMES = {"pc": _l("On a computer"), "wap": _l("On this phone"), "qr": _l("Scan a QR code with the app")}
PROVIDER_NAMES = {"alipay": _l("Alipay"), "wechatpay": _l("WeChat Pay"), "unionpay": _l("UnionPay")}
LEDGER_KIND_NAMES = {"payment": _l("Payment received"), "late_payment": _l("Late payment (to refund)"),
                     "refund": _l("Refund to backer"), "fee": _l("Platform fee"), "withdrawal": _l("Withdrawal"),
                     "payout": _l("Payout to the creator's bank")}
WITHDRAWAL_STATUS_NAMES = {"requested": _l("Waiting for finance"), "approved": _l("Approved"),
                           "rejected": _l("Rejected"), "paid": _l("Paid out")}
REFUND_STATUS_NAMES = {"pending": _l("Refund in progress"), "succeeded": _l("Refunded"),
                       "failed": _l("Refund failed; our finance team is on it")}
TRADE_STATUS_NAMES = {"WAIT_BUYER_PAY": _l("Waiting for payment"), "TRADE_SUCCESS": _l("Paid"),
                      "TRADE_FINISHED": _l("Paid and settled"), "TRADE_CLOSED": _l("Closed, not paid")}
LABELS = {"trade_status_names": TRADE_STATUS_NAMES, "withdrawal_status_names": WITHDRAWAL_STATUS_NAMES, "ledger_kind_names": LEDGER_KIND_NAMES, "refund_status_names": REFUND_STATUS_NAMES,
          "pledge_status_names": PLEDGE_STATUS_NAMES, "channel_names": CHANNEL_NAMES, "provider_names": PROVIDER_NAMES, "status_names": STATUS_NAMES, "step_names": STEP_NAMES, "field_names": FIELD_NAMES,
          "region_names": REGION_NAMES, "sort_names": SORT_NAMES, "severity_names": SEVERITY_NAMES,
          "verification_status_names": VERIFICATION_STATUS_NAMES}


def select_locale():
    """The session's choice, else the account's, else the site default (also for jobs and the CLI)."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("locale")
    known = g.get("selected_locale")  # decided once per request (a page asks dozens of times)
    if known is not None and known[0] == chosen:
        return known[1]
    supported = current_app.config["LANGUAGES"]
    if chosen in supported:
        locale = chosen
    elif current_user and current_user.is_authenticated and current_user.locale in supported:
        locale = current_user.locale
    else:
        locale = current_app.config["BABEL_DEFAULT_LOCALE"]
    g.selected_locale = (chosen, locale)
    return locale


def fen_to_yuan(fen):
    """Integer fen as an exact Decimal amount of yuan."""
    return (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))


def format_money(fen):
    """¥1,234.50 in the current locale's digit grouping (the sign is ¥ in every locale)."""
    amount = fen_to_yuan(fen)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{format_decimal(abs(amount), format='#,##0.00', locale=str(get_locale()))}"


def format_money_short(fen):
    """¥4.3万 in Chinese, ¥43.2K in English: the compact figure of cards and the project page (CLDR's rules)."""
    yuan = int(fen) // 100
    if abs(yuan) < 10_000:
        return format_money(fen).rsplit(".", 1)[0] if fen % 100 == 0 else format_money(fen)
    sign = "-" if yuan < 0 else ""
    return f"{sign}¥{format_compact_decimal(abs(yuan), locale=str(get_locale()), fraction_digits=1)}"


def format_when(value, fmt="medium"):
    """A UTC timestamp shown in the display time zone (Asia/Shanghai)."""
    if value is None:
        return ""
    return format_datetime(value, fmt)


def html_lang():
    """The lang attribute for <html>: zh-CN or en."""
    return select_locale().replace("_", "-")


def time_left(end_at, now=None):
    """"12 days left" / "5 hours left" / "ended", in the current language."""
    from flask_babel import ngettext

    from crowdfund.models.base import utcnow

    if end_at is None:
        return ""
    from crowdfund.pagecache import valid_until

    seconds = (end_at - (now or utcnow())).total_seconds()
    if seconds <= 0:
        return _l("Ended")
    if seconds >= 86400:
        days = int(seconds // 86400)
        valid_until(end_at - timedelta(days=days))  # the count goes down then
        return ngettext("%(num)d day left", "%(num)d days left", days)
    hours = max(int(seconds // 3600), 1)
    valid_until(end_at - timedelta(hours=hours) if hours > 1 else end_at)
    return ngettext("%(num)d hour left", "%(num)d hours left", hours)


def colon():
    """A label's colon: full-width in Chinese, a colon and a space in English."""
    return "：" if select_locale().startswith("zh") else ": "
