"""Views for a creator's projects and verification."""
from flask import abort, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import accountability, ledger, media, projects, review, settlement, verification
from crowdfund.blueprints.creator import bp
from crowdfund.blueprints.creator.forms import VerificationForm
from crowdfund.extensions import db
from crowdfund.htmx import redirect_after_post, render
from crowdfund.security import login_required


@bp.route("/projects")
@login_required
def projects_list():
    """My projects: drafts to resume and everything submitted."""
    items = projects.projects_of(current_user)
    decisions = {p.id: review.latest_decision(p) for p in items
                 if p.status.value in ("changes_requested", "rejected")}
    return render("creator/projects.html", items=items, decisions=decisions,
                  verification=verification.latest(current_user),
                  verified=verification.is_verified(current_user))


@bp.route("/verification", methods=["GET", "POST"])
@login_required
def verify():
    """Hand in identity or business papers (资质核验)."""
    latest = verification.latest(current_user)
    can_submit = not verification.is_verified(current_user) and (latest is None or latest.status.value == "rejected")
    form = VerificationForm()
    if can_submit and form.validate_on_submit():
        try:
            document = media.save_image_or_document(current_user, form.document.data, private=True)
        except media.UploadError as error:
            form.document.errors = list(form.document.errors) + [str(error)]
            db.session.rollback()
        else:
            verification.submit(current_user, form.kind.data, document, real_name=form.real_name.data,
                                id_number=form.id_number.data, organisation_name=form.organisation_name.data,
                                credit_code=form.credit_code.data)
            return redirect_after_post(url_for("creator.verify"), _("Thank you. A moderator will check your papers."))
    status = 422 if form.is_submitted() and can_submit else 200
    return render("creator/verification.html", "verification_form", status=status, form=form, latest=latest,
                  can_submit=can_submit, verified=verification.is_verified(current_user))


@bp.route("/projects/<slug>/explanation", methods=["POST"])
@login_required
def explain(slug):
    """Post the public explanation of a failed, cancelled or suspended project."""
    project = projects.get_by_slug(slug)
    if project is None or project.creator_id != current_user.id:
        abort(404)
    try:
        accountability.explain(project, current_user, request.form.get("explanation", ""))
    except accountability.AccountabilityError:
        return redirect_after_post(url_for("creator.projects_list"), _("Write an explanation first."), "error")
    return redirect_after_post(url_for("projects.show", slug=slug), _("Your explanation is published."))


@bp.route("/projects/<slug>/money", methods=["GET", "POST"])
@login_required
def money(slug):
    """A successful project's money: what is in escrow, and staged withdrawals (POST requests stage 1)."""
    project = projects.get_by_slug(slug)
    if project is None or project.creator_id != current_user.id:
        abort(404)
    if request.method == "POST":
        try:
            settlement.request(project, current_user, stage=1)
        except settlement.SettlementError:
            return redirect_after_post(url_for("creator.money", slug=slug),
                                       _("Nothing is available to withdraw right now."), "error")
        return redirect_after_post(url_for("creator.money", slug=slug), _("Withdrawal requested."))
    available = 0
    try:
        if project.status.value in ("successful", "delivering", "completed"):
            available = settlement.stage_allowance(project, 1)
    except settlement.SettlementError:
        available = 0
    return render("creator/money.html", project=project, funds=ledger.project_funds(project.id),
                  withdrawals=settlement.withdrawals_of(project), available=available)
