"""Views for a creator's projects and verification."""
from flask import Response, abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from crowdfund import accountability, analytics, comments, delivery, ledger, media, projects, review, settlement, verification
from crowdfund.blueprints.creator import bp
from crowdfund.blueprints.creator.forms import AnalyticsRangeForm, VerificationForm
from crowdfund.confirmation import Confirmation
from crowdfund.extensions import db
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.inputs import body_limit, db_int
from crowdfund.security import login_required


@bp.route("/projects")
@login_required
def projects_list():
    """My projects: drafts to resume and everything submitted."""
    items = projects.projects_of(current_user)
    decisions = {p.id: review.latest_decision(p) for p in items
                 if p.status.value in ("changes_requested", "rejected")}
    explain = {p.id for p in items if accountability.needs_explanation(p)}
    return render("creator/projects.html", items=items, decisions=decisions, explain=explain,
                  waiting=comments.waiting_counts(p.id for p in items),
                  verification=verification.latest(current_user),
                  verified=verification.is_verified(current_user))


@bp.route("/verification", methods=["GET", "POST"])
@body_limit(media.upload_body_limit(media.DOCUMENT_MAX))
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


@bp.route("/projects/<slug>/cancel", methods=["POST"])
@login_required
def cancel(slug):
    """The creator calls off their own live campaign, after confirming; every paid pledge is refunded in full."""
    from crowdfund.blueprints.moderation.routes import cancel_campaign

    return cancel_campaign(own_project(slug), back=url_for("creator.projects_list"))


@bp.route("/projects/<slug>/delete", methods=["POST"])
@login_required
def delete_draft(slug):
    """The creator throws away a draft, after confirming."""
    project = own_project(slug)
    back = url_for("creator.projects_list")
    try:
        projects.check_deletable(project)
        step = Confirmation(
            url_for("creator.delete_draft", slug=slug), subject=project.title or _("Untitled project"), back=back,
            title=_("Delete this draft?"), button=_("Yes, delete this draft"),
            consequences=[_("The draft, its rewards and documents are deleted for good.")])
        if (response := step.ask()) is not None:
            return response
        projects.delete_draft(project)
    except projects.NotEditable:
        return redirect_after_post(back, _("Only a draft that was never submitted can be deleted."), "error")
    return redirect_after_post(back, _("The draft was deleted."))


@bp.route("/projects/<slug>/money", methods=["GET", "POST"])
@login_required
def money(slug):
    """A successful project's money: what is in escrow, and staged withdrawals (POST requests a stage)."""
    project = own_project(slug)
    if request.method == "POST":
        try:
            settlement.request(project, current_user, stage=request.form.get("stage", 1, type=db_int))
        except settlement.SettlementError:
            return redirect_after_post(url_for("creator.money", slug=slug),
                                       _("Nothing is available to withdraw right now."), "error")
        return redirect_after_post(url_for("creator.money", slug=slug), _("Withdrawal requested."))
    available = {}
    for stage in (1, 2):
        try:
            if project.status.value in ("successful", "delivering", "completed"):
                available[stage] = settlement.stage_allowance(project, stage)
        except settlement.SettlementError:
            available[stage] = 0
    return render("creator/money.html", project=project, funds=ledger.project_funds(project.id),
                  withdrawals=settlement.withdrawals_of(project), available=available,
                  progress=delivery.progress(project), stage2_share=current_app.config["WITHDRAWAL_STAGE2_CONFIRMED"])


PRESETS = {"7": 7, "30": 30, "all": None}


def _analytics_range(project):
    """The form and the (start, end) days it asks for; the range is None when the form has errors."""
    form = AnalyticsRangeForm(request.args)
    preset = request.args.get("days", "")
    if preset in PRESETS and not (request.args.get("from") or request.args.get("to")):
        start, end = analytics.preset_range(project, PRESETS[preset])
    elif not form.validate():
        return form, None
    else:
        start, end = analytics.default_range(project)
        start, end = form.start.data or start, form.end.data or end
        try:
            analytics.check_range(start, end)
        except analytics.RangeError as error:
            form.end.errors = [str(error)]
            return form, None
    form.start.data, form.end.data = start, end
    return form, (start, end)


@bp.route("/projects/<slug>/analytics")
@login_required
def analytics_page(slug):
    """How the campaign is doing: visits, conversion, the funding curve and breakdowns over a date range."""
    project = own_project(slug)
    form, days = _analytics_range(project)
    figures = analytics.figures(project, *days) if days else None
    return render("creator/analytics.html", "figures", status=200 if days else 422, project=project, form=form,
                  figures=figures, charts=analytics.chart_set(figures) if figures else {}, presets=PRESETS)


@bp.route("/projects/<slug>/analytics.csv")
@login_required
def analytics_csv(slug):
    """The figures per day over the chosen range, as CSV."""
    project = own_project(slug)
    form, days = _analytics_range(project)
    if days is None:
        abort(422)
    return _csv_response(analytics.figures_csv(analytics.figures(project, *days)),
                         f"analytics-{project.slug}-{days[0].isoformat()}-{days[1].isoformat()}.csv")


@bp.route("/projects/<slug>/backers.csv")
@login_required
def backers_csv(slug):
    """Every paid pledge as CSV; anonymous backers stay anonymous, and no contact details."""
    project = own_project(slug)
    return _csv_response(analytics.backers_csv(project), f"backers-{project.slug}.csv")


def _csv_response(text, filename):
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    return response


def own_project(slug):
    project = projects.get_by_slug(slug)
    if project is None or project.creator_id != current_user.id:
        abort(404)
    return project


def delivery_message(code):
    return {
        "tracking": _("Enter the carrier and the tracking number of a physical reward."),
        "received": _("The backer already confirmed receipt."),
        "status": _("Rewards can be shipped once the campaign has succeeded."),
        "pledge": _("No such paid reward pledge in this project."),
        "duplicate": _("This pledge appears twice."),
        "header": _("The first line must name the columns, including pledge and tracking_number."),
        "file": _("Choose the shipping list you downloaded here, saved as CSV."),
    }.get(code, _("Please check this shipment."))


def _delivery_page(project, status=200, block=None, **context):
    return render("creator/delivery.html", block, status=status, project=project,
                  items=delivery.reward_pledges(project), progress=delivery.progress(project),
                  late=delivery.is_late, **context)


@bp.route("/projects/<slug>/delivery")
@login_required
def deliveries(slug):
    """Shipping the rewards: every paid reward pledge with its address, one by one or by CSV."""
    return _delivery_page(own_project(slug))


@bp.route("/projects/<slug>/delivery/<int:pledge_id>", methods=["POST"])
@login_required
def ship(slug, pledge_id):
    """Mark one pledge shipped; htmx swaps just its row."""
    project = own_project(slug)
    error = None
    try:
        delivery.mark_shipped(project, current_user, pledge_id, request.form.get("carrier", ""),
                              request.form.get("tracking_number", ""))
    except delivery.DeliveryError as failure:
        db.session.rollback()
        error = delivery_message(failure.code)
    typed = {name: request.form.get(name, "") for name in ("carrier", "tracking_number")} if error else None
    if is_htmx():
        pledge = next((p for p in delivery.reward_pledges(project) if p.id == pledge_id), None)
        if pledge is None:
            abort(404)
        return render("creator/delivery.html", "pledge_row", status=422 if error else 200, project=project,
                      pledge=pledge, row_error=error, error_pledge=pledge_id, typed=typed, late=delivery.is_late,
                      oob_progress=delivery.progress(project))
    if error:
        return _delivery_page(project, status=422, row_error=error, error_pledge=pledge_id, typed=typed)
    return redirect_after_post(url_for("creator.deliveries", slug=slug), _("Marked as shipped."))


@bp.route("/projects/<slug>/delivery.csv")
@login_required
def delivery_csv(slug):
    """The shipping list to fill in with tracking numbers and upload again."""
    project = own_project(slug)
    response = Response(delivery.shipping_csv(project), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename=shipping-{project.slug}.csv"
    return response


@bp.route("/projects/<slug>/delivery/import", methods=["POST"])
@body_limit(media.upload_body_limit(media.CSV_MAX))
@login_required
def import_tracking(slug):
    """Ship many pledges from an uploaded CSV: every row with a tracking number, or nothing."""
    project = own_project(slug)
    upload = request.files.get("file")
    text = ""
    if upload is not None:
        raw = upload.read(media.CSV_MAX)
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    try:
        count = delivery.import_tracking(project, current_user, text)
    except delivery.ImportFailed as failure:
        problems = [_("Line %(line)d: %(problem)s", line=line, problem=delivery_message(code)) if line
                    else delivery_message(code) for line, code in failure.errors[:20]]
        if len(failure.errors) > 20:
            problems.append(_("… and %(count)d more.", count=len(failure.errors) - 20))
        return _delivery_page(project, status=422, block="import_form", import_errors=problems)
    except delivery.DeliveryError as failure:
        return _delivery_page(project, status=422, block="import_form", import_errors=[delivery_message(failure.code)])
    return redirect_after_post(url_for("creator.deliveries", slug=slug),
                               ngettext("%(num)d pledge marked as shipped.", "%(num)d pledges marked as shipped.",
                                        count))
