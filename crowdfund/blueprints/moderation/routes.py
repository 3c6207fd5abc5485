"""Views for moderators."""
from flask import abort, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from crowdfund import accountability, discovery, guarantees, projects, review, stats, verification
from crowdfund.blueprints.moderation import bp
from crowdfund.blueprints.moderation.forms import (ApproveForm, ChangesForm, GuaranteeForm, RejectForm,
                                                   VerificationDecisionForm)
from crowdfund.confirmation import Confirmation
from crowdfund.extensions import db
from crowdfund.htmx import redirect_after_post, render
from crowdfund.i18n import format_money, select_locale
from crowdfund.models import CreatorVerification, ProjectStatus, Role, User
from crowdfund.security import role_required, safe_next


@bp.route("/")
@role_required(Role.MODERATOR)
def queue():
    """Projects waiting for review, with their machine-review findings."""
    items = review.queue()
    return render("moderation/queue.html", items=items,
                  findings={p.id: review.findings_for(p) for p in items},
                  pending_verifications=len(verification.pending()))


def _review_page(project, status=200, **forms):
    _, progress, counts = discovery.project_page(project.slug)
    context = dict(project=project, progress=progress, counts=counts, findings=review.findings_for(project),
                   approve_form=ApproveForm(formdata=None), changes_form=ChangesForm(formdata=None),
                   reject_form=RejectForm(formdata=None), own=project.creator_id == current_user.id)
    context.update(forms)
    return render("moderation/review.html", "decision", status=status, **context)


@bp.route("/projects/<slug>", methods=["GET", "POST"])
@role_required(Role.MODERATOR)
def review_project(slug):
    """Full preview, findings, and the approve / request changes / reject decisions."""
    project = projects.get_by_slug(slug) or abort(404)
    if request.method == "GET":
        return _review_page(project)
    if project.status != ProjectStatus.IN_REVIEW:
        abort(409)
    decision = request.form.get("decision")
    try:
        if decision == "approve":
            form = ApproveForm()
            if not form.validate_on_submit():
                return _review_page(project, 422, approve_form=form)
            review.approve(project, current_user, launch_at=form.launch_time())
            message = _("Approved.")
        elif decision == "changes":
            form = ChangesForm()
            if not form.validate_on_submit():
                return _review_page(project, 422, changes_form=form)
            review.request_changes(project, current_user, form.reasons())
            message = _("Sent back to the creator with your notes.")
        elif decision == "reject":
            return _reject(project)
        else:
            abort(400)
    except review.ReviewError:
        abort(403)
    return redirect_after_post(url_for("moderation.queue"), message)


def _reject(project):
    """Reject for good, after confirming, with a reason the creator reads."""
    review.check_moderator(project, current_user)
    step = Confirmation(
        url_for("moderation.review_project", slug=project.slug), subject=project.title, hidden={"decision": "reject"},
        back=url_for("moderation.review_project", slug=project.slug), title=_("Reject this project?"),
        button=_("Yes, reject it"), reason_label=_("Reason for rejection (the creator reads it)"), reason_max=2000,
        reason_missing=_("Give a reason; the creator will read it."),
        consequences=[_("The project is rejected for good: it cannot be edited or submitted again."),
                      _("The creator is told, with your reason.")])
    if (response := step.ask()) is not None:
        return response
    try:
        review.reject(project, current_user, step.reason)
    except review.ReviewError as error:
        db.session.rollback()
        if error.code == "reason":
            return step.refuse(step.reason_missing)
        raise
    return redirect_after_post(url_for("moderation.queue"), _("Rejected."))


@bp.route("/projects/<slug>/featured", methods=["POST"])
@role_required(Role.MODERATOR)
def feature(slug):
    """Put a project on (or take it off) the home page."""
    project = projects.get_by_slug(slug) or abort(404)
    review.set_featured(project, current_user, request.form.get("featured") == "1")
    return redirect_after_post(url_for("projects.show", slug=slug),
                               _("Featured on the home page.") if project.featured else _("No longer featured."))


@bp.route("/users/<int:user_id>/blacklist", methods=["POST"])
@role_required(Role.MODERATOR)
def blacklist(user_id):
    """Blacklist a creator, after confirming: no new projects, live ones suspended for review."""
    user = db.get_or_404(User, user_id)
    back = safe_next(request.form.get("next"), url_for("moderation.queue"))
    try:
        accountability.check_blacklist(user, current_user)
    except accountability.AccountabilityError:
        return redirect_after_post(back, _("You cannot blacklist yourself."), "error")
    live = len(accountability.live_projects_of(user))
    step = Confirmation(
        url_for("moderation.blacklist", user_id=user_id), subject=user.display_name, back=back,
        hidden={"next": back}, title=_("Blacklist %(name)s?", name=user.display_name), button=_("Yes, blacklist"),
        reason_label=_("Reason for the blacklist"), reason_max=300,
        reason_missing=_("Give a reason for the blacklist."),
        consequences=[ngettext("Their %(num)d live project is suspended for review.",
                               "Their %(num)d live projects are suspended for review.", live) if live else
                      _("They have no live project, so nothing is suspended."),
                      _("They can no longer launch projects.")])
    if (response := step.ask()) is not None:
        return response
    try:
        accountability.blacklist(user, current_user, step.reason)
    except accountability.AccountabilityError:
        db.session.rollback()
        return step.refuse(step.reason_missing)
    return redirect_after_post(url_for("moderation.queue"),
                               _("Creator blacklisted; their live projects are suspended."))


@bp.route("/projects/<slug>/guarantee", methods=["POST"])
@role_required(Role.MODERATOR)
def guarantee(slug):
    """Record a third-party guarantee the moderator has checked (guarantor, credit code, amount in yuan)."""
    from crowdfund.blueprints.projects.routes import show_page

    project = projects.get_by_slug(slug) or abort(404)
    form = GuaranteeForm()
    if form.validate_on_submit():
        try:
            guarantees.add(project, current_user, form.guarantor.data, form.credit_code.data, form.amount.data)
        except guarantees.GuaranteeError as error:
            db.session.rollback()
            form.guarantor.errors = list(form.guarantor.errors) + [{
                "exists": _("This project already carries a guarantee."),
                "status": _("A guarantee can be recorded only while the project is in review, live or delivering."),
            }.get(error.code, _("Please check the guarantee."))]
        else:
            return redirect_after_post(url_for("projects.show", slug=slug),
                                       _("Guarantee recorded; it shows on the project page."))
    return show_page(slug, block="guarantee_form", status=422, guarantee_form=form)


@bp.route("/projects/<slug>/cancel", methods=["POST"])
@role_required(Role.MODERATOR)
def cancel(slug):
    """Cancel a live or suspended campaign, after confirming; every paid pledge is refunded in full."""
    project = projects.get_by_slug(slug) or abort(404)
    return cancel_campaign(project, back=url_for("projects.show", slug=slug))


def cancel_campaign(project, back):
    """Shared by moderators and the project's creator: confirm, with a reason backers read, then cancel."""
    from crowdfund import closing

    page = url_for("projects.show", slug=project.slug)
    try:
        closing.check_cancel(project, current_user)
    except closing.CancelError:
        return redirect_after_post(page, _("Only a live or suspended campaign can be cancelled."), "error")
    backers, total_fen = closing.refunds_on_cancel(project)
    step = Confirmation(
        url_for(request.endpoint, slug=project.slug), subject=project.title, back=back,
        title=_("Cancel this campaign?"), button=_("Yes, cancel the campaign"),
        reason_label=_("Reason (backers will read it)"), reason_missing=_("Give a reason; backers will see it."),
        consequences=[ngettext("%(num)d backer is refunded in full: %(amount)s in all.",
                               "%(num)d backers are refunded in full: %(amount)s in all.", backers,
                               amount=format_money(total_fen)) if backers else
                      _("No pledge is paid yet, so nothing is refunded."),
                      _("The campaign ends for good and cannot be launched again.")])
    if (response := step.ask()) is not None:
        return response
    try:
        count = closing.cancel(project, current_user, step.reason)
    except closing.CancelError as error:
        db.session.rollback()
        if error.code == "reason":
            return step.refuse(step.reason_missing)
        return redirect_after_post(page, _("Only a live or suspended campaign can be cancelled."), "error")
    return redirect_after_post(page, ngettext("Campaign cancelled; %(num)d pledge is being refunded.",
                                              "Campaign cancelled; %(num)d pledges are being refunded.", count))


@bp.route("/verifications")
@role_required(Role.MODERATOR)
def verifications():
    """Creator verifications waiting for a decision."""
    return render("moderation/verifications.html", items=verification.pending(),
                  form=VerificationDecisionForm(formdata=None))


@bp.route("/verifications/<int:verification_id>", methods=["POST"])
@role_required(Role.MODERATOR)
def decide_verification(verification_id):
    """Approve or reject one verification."""
    row = db.get_or_404(CreatorVerification, verification_id)
    form = VerificationDecisionForm()
    approve = request.form.get("decision") == "approve"
    if not form.validate_on_submit() or (not approve and not (form.reason.data or "").strip()):
        return redirect_after_post(url_for("moderation.verifications"),
                                   _("Give a reason when you reject a verification."), "error")
    try:
        verification.decide(row, current_user, approve, form.reason.data or "")
    except verification.VerificationError:
        abort(409)
    return redirect_after_post(url_for("moderation.verifications"), _("Decision saved."))


@bp.route("/dashboard")
@role_required(Role.MODERATOR)
def dashboard():
    """Platform figures for a period: money, projects by state, success rate, users, per day and per category."""
    figures = stats.dashboard(stats.period_of(request.args.get("period")))
    locale = select_locale()
    return render("moderation/dashboard.html", "figures", figures=figures,
                  raised_chart=stats.raised_chart(figures.buckets, figures.period.monthly),
                  category_chart=stats.category_chart(figures.categories, locale), locale=locale,
                  category_name=stats.category_name)
