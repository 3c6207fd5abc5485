"""Views backers use to find and read projects."""
from flask import abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import (accountability, comments, delivery, discovery, growth, guarantees, ledger, lifecycle,
                       messaging, pagecache, projects, reports, updates)
from crowdfund.blueprints.projects import bp
from crowdfund.catalog import category_tree
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.extensions import db, limiter
from crowdfund.security import account_or_address, login_required
from crowdfund.models import Role, User
from crowdfund.models.base import utcnow
from crowdfund.inputs import db_int

# Reports of projects, per account; refused input (422) does not use the budget up.
report_limit = limiter.shared_limit(lambda: current_app.config["RATELIMIT_REPORT"], scope="project-report",
                                    key_func=account_or_address, methods=["POST"],
                                    deduct_when=lambda response: response.status_code < 400)


@bp.route("/projects/<slug>")
def show(slug):
    """A project's page."""
    return show_page(slug)


def show_page(slug, block=None, status=200, guarantee_form=None, **extra):
    """The project page (or one of its blocks), also for the moderators' tools that post back to it."""
    project, progress, counts = discovery.project_page(slug)
    if project is None or not lifecycle.visible_to(project, current_user):
        abort(404)
    pagecache.valid_until(project.launch_at if project.launch_at and project.launch_at > utcnow() else project.end_at)
    guarantee = guarantees.of(project)
    if guarantee_form is None and guarantee is None and project.status in guarantees.OPEN_STATES \
            and current_user.is_authenticated and current_user.has_role(Role.MODERATOR):
        from crowdfund.blueprints.moderation.forms import GuaranteeForm

        guarantee_form = GuaranteeForm(formdata=None)
    community = {}
    if not (block and is_htmx()):  # a moderator's tool posting back gets its own block: no conversation needed
        community = {**comments.page_context(project, current_user), **updates.page_context(project, current_user),
                     **messaging.page_context(project, current_user)}
        if lifecycle.is_public(project):
            community["share"] = growth.share_context(project, current_user)
    return render("projects/show.html", block, status=status, project=project, progress=progress, counts=counts,
                  can_pledge=lifecycle.accepts_pledges(project), reliability=delivery.reliability(project.creator_id),
                  guarantee=guarantee, guarantee_form=guarantee_form,
                  show_explanation=bool(project.creator_explanation) and accountability.needs_explanation(project),
                  **_report_context(project, extra), **community)


def _report_context(project, extra):
    """The report form for signed-in visitors other than the creator (anonymous ones get a sign-in link)."""
    from crowdfund.blueprints.projects.forms import ProjectReportForm

    if not current_user.is_authenticated or current_user.id == project.creator_id:
        return {"report_form": None, **extra}
    context = {"report_form": ProjectReportForm(formdata=None),
               "reported": reports.has_reported(project, current_user), **extra}
    return context


@bp.route("/projects/<slug>/report", methods=["POST"])
@login_required
@report_limit
def report(slug):
    """Report a project to the moderators (举报), once per person."""
    from crowdfund.blueprints.projects.forms import ProjectReportForm

    project = projects.get_by_slug(slug)
    if project is None or not lifecycle.is_public(project):
        abort(404)
    form = ProjectReportForm()
    if not form.validate_on_submit():
        return show_page(slug, block="report_project", status=422, report_form=form)
    try:
        new = reports.report_project(project, current_user, form.category.data, form.text.data)
    except reports.ReportError:
        abort(403)  # its own creator (who is offered no form)
    notice = _("Thank you. A moderator will look at it.") if new else _("You have already reported this project.")
    if is_htmx():
        return show_page(slug, block="report_project", report_notice=notice, reported=True)
    return redirect_after_post(url_for("projects.show", slug=slug), notice)


@bp.route("/creators/<int:user_id>")
def creator(user_id):
    """A creator's public profile: reliability score, projects, and what backers said."""
    user = db.session.get(User, user_id)
    items, progress = discovery.by_creator(user_id) if user else ([], {})
    if user is None or not items:
        abort(404)
    return render("projects/creator.html", creator=user, items=items, progress=progress,
                  reliability=delivery.reliability(user_id), ratings=delivery.recent_ratings(user_id))


def _listing(template, **filters):
    sort = request.args.get("sort", "newest")
    if sort not in discovery.SORTS:
        sort = "newest"
    page = min(max(request.args.get("page", 1, type=db_int), 1), 10_000)
    extra = {k: filters.pop(k) for k in list(filters) if k == "categories"}
    items, has_more, progress = discovery.browse(sort=sort, page=page, **filters)
    block = "more_results" if request.args.get("more") else "results"
    return render(template, block, items=items, has_more=has_more, progress=progress, sort=sort, page=page,
                  sorts=discovery.SORTS, q=filters.get("q") or "",
                  category=filters.get("category"), subcategory=filters.get("subcategory"), **extra)


@bp.route("/projects/<slug>/backers")
def backers(slug):
    """The public backer list; backers who asked to stay anonymous are shown without their name."""
    project, progress, _ = discovery.project_page(slug)
    if project is None or not lifecycle.visible_to(project, current_user):
        abort(404)
    page = min(max(request.args.get("page", 1, type=db_int), 1), 10_000)
    rows, has_more = discovery.backer_list(project.id, page)
    return render("projects/backers.html", project=project, progress=progress, rows=rows, page=page,
                  has_more=has_more)


@bp.route("/projects/<slug>/funds")
def funds(slug):
    """Where the project's money is, from the ledger alone (no personal data), and the last check of its chain."""
    project, _, _ = discovery.project_page(slug)
    if project is None or not lifecycle.visible_to(project, current_user):
        abort(404)
    return render("projects/funds.html", project=project, funds=ledger.project_funds(project.id),
                  timeline=ledger.project_transactions(project.id), chain=ledger.chain_status())


@bp.route("/categories/<slug>")
def category(slug):
    """Projects of a category, optionally one subcategory."""
    chosen = discovery.categories_by_slug(slug)
    if chosen is None:
        abort(404)
    top = chosen.parent or chosen
    sub = chosen if chosen.parent else None
    sub_slug = request.args.get("sub")
    if sub_slug:
        sub = next((c for c in top.children if c.slug == sub_slug), None)
        if sub is None:
            abort(404)
    return _listing("projects/category.html", category=top, subcategory=sub)


@bp.route("/search")
def search():
    """Search titles, summaries and creator names (Chinese works: substring match)."""
    q = (request.args.get("q") or "").strip()[:100]
    return _listing("projects/search.html", q=q, categories=category_tree())
