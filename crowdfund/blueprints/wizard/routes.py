"""Views of the launch wizard. Each step saves on Next/Back/Save draft; htmx swaps just the step panel."""
from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import CombinedMultiDict

from crowdfund import discovery, legal, lifecycle, media, phones, projects, review, verification
from crowdfund.blueprints.legal.routes import require_consent
from crowdfund.blueprints.wizard import bp
from crowdfund.blueprints.wizard.forms import BasicsForm, FundingForm, RiskForm, StoryForm, SubmitForm, TierForm
from crowdfund.catalog import category_choices, get_category
from crowdfund.extensions import db
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.inputs import body_limit
from crowdfund.models import RewardTier
from crowdfund.projects import STEPS
from crowdfund.sanitize import markdown_to_html
from crowdfund.security import email_verified_required, login_required


def owned_project(slug):
    """The signed-in creator's own project, else 404/403."""
    project = projects.get_by_slug(slug)
    if project is None:
        abort(404)
    if project.creator_id != current_user.id:
        abort(403)
    return project


def step_url(project, step):
    return url_for("wizard.edit", slug=project.slug, step=step)


def _shipping(tier, region):
    return tier.shipping_fee(region) if tier is not None else None


def tier_form(tier=None, formdata=None):
    """A reward-tier form, pre-filled from `tier` when given, with a prefix unique on the page."""
    prefix = f"tier{tier.id}" if tier is not None else "new"
    if tier is None:
        return TierForm(formdata=formdata, prefix=prefix)
    return TierForm(formdata=formdata, prefix=prefix, title=tier.title, description=tier.description,
                    price=tier.price_fen, quantity_limit=tier.quantity_limit, delivery_month=tier.delivery_month,
                    physical=tier.physical, unit_cost=tier.unit_cost_fen,
                    ship_mainland=_shipping(tier, "mainland"), ship_hk_mo_tw=_shipping(tier, "hk_mo_tw"),
                    ship_overseas=_shipping(tier, "overseas"))


def step_form(step, project, formdata=None):
    """The step's form, from the request when posted, else from the saved draft."""
    if step == "basics":
        form = BasicsForm(formdata=formdata, title=project.title, summary=project.summary,
                          category=project.category_id, kind=project.kind.value)
        form.category.choices = category_choices()
        return form
    if step == "story":
        return StoryForm(formdata=formdata, story=project.story_source,
                         video_url=project.video_url if not project.video_id else "")
    if step == "funding":
        return FundingForm(formdata=formdata, goal=project.goal_fen, duration=project.duration_days,
                           funding_mode=project.funding_mode.value)
    if step == "risk":
        return RiskForm(formdata=formdata, risk_disclosure=project.risk_disclosure,
                        partner_charity=project.partner_charity, fund_use_plan=project.fund_use_plan)
    return None


def _upload(field, save, *args, **kwargs):
    """Store an uploaded file through `save`, or put the reason on the field; returns the Media or None."""
    if not field.data or not getattr(field.data, "filename", ""):
        return None
    try:
        return save(current_user, field.data, *args, **kwargs)
    except media.UploadError as error:
        field.errors = list(field.errors) + [str(error)]
        return None


def save_step(step, project, form):
    """Apply a valid step form to the draft; returns False when an upload or link was refused."""
    if step == "basics":
        cover = _upload(form.cover, media.save_image)
        if form.cover.errors:
            return False
        projects.update_basics(project, title=form.title.data, summary=form.summary.data,
                               category=get_category(form.category.data), kind=form.kind.data, cover=cover)
    elif step == "story":
        if form.video_url.data:
            try:
                media.video_embed_url(form.video_url.data)
            except media.UploadError as error:
                form.video_url.errors = list(form.video_url.errors) + [str(error)]
        video = _upload(form.video_file, media.save_video)
        document = _upload(form.document_file, media.save_document)
        if form.video_url.errors or form.video_file.errors or form.document_file.errors:
            return False
        projects.update_story(project, story_source=form.story.data, video_url=form.video_url.data or None,
                              video=video, remove_video=form.remove_video.data)
        if document is not None:
            projects.add_document(project, document, form.document_title.data or document.original_name)
    elif step == "funding":
        projects.update_funding(project, goal_fen=form.goal.data, duration_days=form.duration.data,
                                funding_mode=form.funding_mode.data)
    elif step == "risk":
        certificate = _upload(form.certificate, media.save_image_or_document)
        if form.certificate.errors:
            return False
        projects.update_risk(project, risk_disclosure=form.risk_disclosure.data,
                             partner_charity=form.partner_charity.data, charity_certificate=certificate,
                             fund_use_plan=form.fund_use_plan.data)
    return True


def render_step(project, step, form=None, status=200, **extra):
    """The wizard page for one step (the step panel only, for htmx)."""
    context = dict(project=project, step=step, steps=STEPS, form=form,
                   reasons=review.latest_change_request(project) if project.status.value == "changes_requested"
                   else {}, **extra)
    if step == "rewards":
        context.setdefault("tier_forms", {t.id: tier_form(t) for t in project.tiers})
        context.setdefault("new_tier_form", tier_form())
    if step == "preview":
        _, progress, counts = discovery.project_page(project.slug)
        context.update(progress=progress, counts=counts, missing=projects.missing_fields(project),
                       verified=verification.is_verified(current_user),
                       phone_verified=phones.has_verified_phone(current_user),
                       verification=verification.latest(current_user), submit_form=SubmitForm())
    return render("wizard/edit.html", "step_panel", status=status, retitle=True, **context)


def go(project, step, nav):
    """After a successful save: on to the next step, back, or out to "My projects"."""
    index = STEPS.index(step)
    if nav == "save":
        return redirect_after_post(url_for("creator.projects_list"), _("Draft saved."))
    target = STEPS[max(index - 1, 0)] if nav == "back" else STEPS[min(index + 1, len(STEPS) - 1)]
    projects.reach_step(project, target)
    db.session.commit()
    if is_htmx():
        response = render_step(project, target, step_form(target, project))
        response.headers["HX-Push-Url"] = step_url(project, target)
        return response
    return redirect(step_url(project, target), code=303)


@bp.route("/new", methods=["POST"])
@login_required
def create():
    """Start a new draft and open its first step."""
    try:
        project = projects.create_draft(current_user)
    except projects.Blacklisted:
        return redirect_after_post(url_for("creator.projects_list"),
                                   _("This account may not launch projects."), "error")
    return redirect_after_post(step_url(project, "basics"))


# What each step may upload: the cover, a video and a PDF with the story, the charity's certificate.
STEP_UPLOADS = {"basics": (media.IMAGE_MAX,), "story": (media.VIDEO_MAX, media.DOCUMENT_MAX),
                "risk": (media.DOCUMENT_MAX,)}


@bp.route("/<slug>/edit/<step>", methods=["GET", "POST"])
@body_limit(lambda args: media.upload_body_limit(*STEP_UPLOADS[args["step"]]) if args.get("step") in STEP_UPLOADS
            else None)
@login_required
def edit(slug, step):
    """Show or save one wizard step."""
    project = owned_project(slug)
    if step not in STEPS:
        abort(404)
    if not lifecycle.is_editable(project):
        flash(_("This project has been submitted and can no longer be edited."), "error")
        return redirect(url_for("creator.projects_list"), code=303)
    if request.method == "GET":
        return render_step(project, step, step_form(step, project))
    nav = request.form.get("nav", "next")
    if step in ("rewards", "preview"):
        # Tiers are saved by their own forms; this form only moves between steps.
        return go(project, step, nav)
    form = step_form(step, project, formdata=CombinedMultiDict([request.files, request.form]))
    if step == "story" and nav == "preview":
        if form.validate_on_submit():
            return render_step(project, step, form, preview_html=markdown_to_html(form.story.data))
    elif form.validate_on_submit() and save_step(step, project, form):
        return go(project, step, nav)
    db.session.rollback()
    return render_step(project, step, form, status=422)


def _tier_list(project, status=200, tier_forms=None, new_tier_form=None):
    """The reward list block after a tier change (or the whole rewards step for a plain form)."""
    forms = {t.id: tier_form(t) for t in project.tiers}
    forms.update(tier_forms or {})
    new_form = new_tier_form or tier_form()
    if is_htmx():
        return render("wizard/_rewards.html", "tier_list", status=status, project=project,
                      tier_forms=forms, new_tier_form=new_form)
    return render_step(project, "rewards", status=status, tier_forms=forms, new_tier_form=new_form)


@bp.route("/<slug>/tiers", methods=["POST"])
@login_required
def add_tier(slug):
    """Add a reward tier (the "Add tier" button, with or without JS)."""
    project = owned_project(slug)
    if not lifecycle.is_editable(project):
        abort(409)
    form = tier_form(formdata=request.form)
    if not form.validate_on_submit():
        return _tier_list(project, status=422, new_tier_form=form)
    projects.add_tier(project, **form.tier_fields())
    if is_htmx():
        return _tier_list(project)
    return redirect_after_post(step_url(project, "rewards") + "#tiers", _("Reward added."))


@bp.route("/<slug>/tiers/<int:tier_id>", methods=["POST"])
@login_required
def change_tier(slug, tier_id):
    """Save, remove or move one reward tier."""
    project = owned_project(slug)
    tier = db.session.get(RewardTier, tier_id)
    if tier is None or tier.project_id != project.id:
        abort(404)
    if not lifecycle.is_editable(project):
        abort(409)
    action = request.form.get("action", "save")
    if action == "remove":
        projects.remove_tier(tier)
    elif action in ("up", "down"):
        projects.move_tier(tier, -1 if action == "up" else 1)
    else:
        form = tier_form(tier, formdata=request.form)
        if not form.validate_on_submit():
            return _tier_list(project, status=422, tier_forms={tier.id: form})
        projects.update_tier(tier, **form.tier_fields())
    if is_htmx():
        return _tier_list(project)
    return redirect_after_post(step_url(project, "rewards") + "#tiers")


@bp.route("/<slug>/documents/<int:document_id>/remove", methods=["POST"])
@login_required
def remove_document(slug, document_id):
    """Take a PDF off the story step."""
    project = owned_project(slug)
    if not lifecycle.is_editable(project):
        abort(409)
    if "story" in request.form:  # the button submits the story form: keep what was typed
        projects.update_story(project, story_source=request.form["story"])
    projects.remove_document(project, document_id)
    if is_htmx():
        return render_step(project, "story", step_form("story", project))
    return redirect_after_post(step_url(project, "story"), _("Document removed."))


SUBMIT_REFUSALS = {
    projects.NotVerified: _l("Only verified creators can submit a project. Please verify your identity first."),
    projects.PhoneNotVerified: _l("Launching a project needs a verified mobile number (real-name rules). Add one "
                                  "under My account → Mobile number."),
    projects.Incomplete: _l("Some required information is still missing."),
}


def submit_refused(project, error):
    """Back to the preview with why the project could not be submitted (409 when it is no longer a draft)."""
    message = SUBMIT_REFUSALS.get(type(error))
    if message is None:
        abort(409)
    flash(str(message), "error")
    return redirect_after_post(step_url(project, "preview"))


@bp.route("/<slug>/submit", methods=["POST"])
@login_required
@email_verified_required(_l("Submitting a project for review needs a confirmed e-mail address."),
                         back_to=lambda slug: url_for("wizard.edit", slug=slug, step="preview"))
def submit(slug):
    """Send the project to review, recording the creator's acceptance of the current project rules."""
    project = owned_project(slug)
    due = require_consent(legal.LAUNCH, step_url(project, "preview"))
    if due is not None:
        return due
    form = SubmitForm()
    if not form.validate_on_submit():
        flash(_("Please accept the project rules to submit."), "error")
        return redirect_after_post(step_url(project, "preview"))
    # The acceptance is committed with the submission (the state change commits), or not at all.
    legal.record(current_user, ("creator_rules",), project=project)
    try:
        projects.submit(project, current_user)
    except projects.ProjectError as error:
        db.session.rollback()
        return submit_refused(project, error)
    return redirect_after_post(url_for("creator.projects_list"), _("Submitted. We will review your project shortly."))
