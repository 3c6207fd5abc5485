"""Views anyone can reach."""
from flask import abort, current_app, jsonify, request, session
from flask_login import current_user

from crowdfund import accounts, discovery, health, pagecache, stats
from crowdfund.blueprints.public import bp
from crowdfund.catalog import category_tree
from crowdfund.htmx import redirect_after_post, render
from crowdfund.i18n import select_locale
from crowdfund.models.base import utcnow
from crowdfund.security import safe_next


@bp.route("/")
def index():
    """The home page: featured, trending, ending soon and new projects, and the categories."""
    sections, progress, on_time = discovery.home_sections()
    return render("public/index.html", sections=sections, progress=progress, on_time=on_time,
                  categories=category_tree())


@bp.route("/stats", endpoint="stats")
def stats_page():
    """Platform statistics anyone may read: totals, success rate, projects per category, raised per month."""
    now = utcnow()
    figures = stats.public_figures(now)
    pagecache.valid_until(stats.next_month_start(now))  # the twelve months move on by themselves
    locale = select_locale()
    return render("public/stats.html", figures=figures, locale=locale, category_name=stats.category_name,
                  raised_chart=stats.raised_chart(figures.months, monthly=True),
                  category_chart=stats.category_chart(figures.categories, locale, count=True))


@bp.route("/locale", methods=["POST"])
def set_locale():
    """Switch the interface language, remembering it on the account."""
    locale = request.form.get("locale")
    if locale not in current_app.config["LANGUAGES"]:
        abort(400)
    session["locale"] = locale
    if current_user.is_authenticated:
        accounts.set_locale(current_user, locale)
    return redirect_after_post(safe_next(request.form.get("next")))


@bp.route("/healthz")
def healthz():
    """Database and Redis status as JSON; 503 when a configured dependency is down."""
    report = health.check()
    response = jsonify(report)
    response.status_code = 200 if report["status"] == "ok" else 503
    response.headers["Cache-Control"] = "no-store"
    return response
