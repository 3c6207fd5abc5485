"""Views for a creator's projects and verification."""
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import media, projects, review, verification
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
