"""Project updates, the Atom feed, following and reminders."""
from flask import Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crowdfund import follows, lifecycle, media, projects, updates
from crowdfund.blueprints.updates import bp
from crowdfund.blueprints.updates.forms import UpdateForm
from crowdfund.extensions import db
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.inputs import body_limit
from crowdfund.sanitize import markdown_to_html
from crowdfund.security import login_required, safe_next

FOLLOW_MESSAGES = {
    "not_public": _l("This project cannot be followed."),
    "own": _l("This is your own project."),
    "ended": _l("This campaign has ended; there is nothing left to remind you of."),
}


def _visible(slug):
    """The project, if its page may be seen (public, or the creator's or a moderator's)."""
    project = projects.get_by_slug(slug)
    if project is None or not lifecycle.visible_to(project, current_user):
        abort(404)
    return project


@bp.route("/projects/<slug>/updates")
def index(slug):
    """Every update of a project, newest first."""
    project = _visible(slug)
    return render("updates/index.html", project=project, items=updates.of_project(project),
                  reader=updates.reader(project, current_user))


@bp.route("/projects/<slug>/updates/<int:update_id>")
def show(slug, update_id):
    """One update with its edit history (its body only for those who may read it)."""
    project = _visible(slug)
    update = updates.get(project, update_id)
    if update is None:
        abort(404)
    return render("updates/show.html", project=project, update=update, reader=updates.reader(project, current_user))


@bp.route("/projects/<slug>/updates.atom")
def feed(slug):
    """The project's updates as an Atom feed (backers-only ones as a notice, never their text)."""
    project = _visible(slug)
    items = updates.of_project(project, limit=updates.FEED_SIZE)
    body = render_template("updates/feed.xml", project=project, items=items,
                           updated=updates.feed_updated(project, items),
                           feed_title=_("Updates of “%(title)s”", title=project.title),
                           backers_only_notice=_("This update is for backers only. Read it on the site after "
                                                 "backing the project."))
    return Response(body, content_type="application/atom+xml; charset=utf-8")


def _own(slug):
    project = projects.get_by_slug(slug)
    if project is None:
        abort(404)
    return project


def _image_key(field):
    """Store the uploaded image, or put the reason on the field; the key of its widest variant, or None."""
    if not field.data or not getattr(field.data, "filename", ""):
        return None
    try:
        return media.largest(media.save_image(current_user, field.data))
    except media.UploadError as error:
        field.errors = list(field.errors) + [str(error)]
        return None


def _save(form, save):
    """Validate, store the image and call `save(title, body, backers_only)`; the saved update or None.

    Preview stores a chosen image too and puts it into the text, so the picture shows in the preview and
    is not lost when the creator then publishes (a file field cannot be filled again by the server).
    """
    previewing = "preview" in request.form
    if not previewing and not form.validate_on_submit():
        return None
    key = _image_key(form.image)
    if form.image.errors:
        db.session.rollback()
        return None
    body = updates.with_image(form.body.data or "", key)
    if previewing:
        form.body.data = body
        return None
    try:
        return save(form.title.data, body, form.backers_only.data)
    except updates.UpdateError as error:
        db.session.rollback()
        field = form.body if error.code == "body" else form.title
        field.errors = list(field.errors) + [_("Please check this field.")]
        return None


def _form_page(project, form, update=None):
    previewing = "preview" in request.form
    status = 422 if form.is_submitted() and not previewing else 200
    return render("updates/form.html", "update_form", status=status, project=project, form=form, update=update,
                  preview_html=markdown_to_html(form.body.data) if previewing else None)


@bp.route("/me/projects/<slug>/updates/new", methods=["GET", "POST"])
@body_limit(media.upload_body_limit(media.IMAGE_MAX))
@login_required
def create(slug):
    """The creator writes an update (Preview shows it rendered; Publish posts it and notifies)."""
    project = _own(slug)
    if not updates.reader(project, current_user, is_backer=False).can_post:
        abort(403)
    form = UpdateForm()
    update = _save(form, lambda title, body, backers_only: updates.post(project, current_user, title, body,
                                                                        backers_only))
    if update is not None:
        return redirect_after_post(url_for("updates.show", slug=slug, update_id=update.id),
                                   _("Your update is published; followers and backers are being notified."))
    return _form_page(project, form)


@bp.route("/me/projects/<slug>/updates/<int:update_id>/edit", methods=["GET", "POST"])
@body_limit(media.upload_body_limit(media.IMAGE_MAX))
@login_required
def edit(slug, update_id):
    """Correct an update (the creator, or a moderator); what it said before stays in its history."""
    project = _own(slug)
    update = updates.get(project, update_id)
    if update is None:
        abort(404)
    if not updates.reader(project, current_user, is_backer=False).can_edit:
        abort(403)
    form = UpdateForm(obj=update)
    saved = _save(form, lambda title, body, backers_only: updates.edit(update, current_user, title, body,
                                                                       backers_only))
    if saved is not None:
        return redirect_after_post(url_for("updates.show", slug=slug, update_id=update.id), _("Update saved."))
    return _form_page(project, form, update)


def _follow_action(slug, action, done):
    """Run a follow action; htmx gets the funding box's follow block back, a plain form a redirect."""
    project = projects.get_by_slug(slug)
    if project is None or not lifecycle.is_public(project):
        abort(404)
    error = None
    try:
        action(project)
    except follows.FollowError as failure:
        db.session.rollback()
        error = str(FOLLOW_MESSAGES[failure.code])
    if is_htmx():
        return render("updates/_follow.html", "follow_box", status=422 if error else 200, project=project,
                      follow=follows.state(project, current_user), follow_message=error or done,
                      follow_error=bool(error))
    back = safe_next(request.form.get("next"), url_for("projects.show", slug=slug))
    return redirect_after_post(back, error or done, "error" if error else "success")


@bp.route("/projects/<slug>/follow", methods=["POST"])
@login_required
def follow(slug):
    """Follow a project (关注) without backing it."""
    return _follow_action(slug, lambda project: follows.follow(project, current_user),
                          _("You follow this project. You will hear about its updates."))


@bp.route("/projects/<slug>/unfollow", methods=["POST"])
@login_required
def unfollow(slug):
    """Stop following (and any reminder, which the message then says)."""
    project = projects.get_by_slug(slug)
    reminded = project is not None and follows.state(project, current_user).reminding
    return _follow_action(slug, lambda project: follows.unfollow(project, current_user),
                          _("You no longer follow this project, and its reminder is cancelled.") if reminded
                          else _("You no longer follow this project."))


@bp.route("/projects/<slug>/remind", methods=["POST"])
@login_required
def remind(slug):
    """提醒我: follow, and be reminded 48 hours before the campaign ends."""
    return _follow_action(slug, lambda project: follows.follow(project, current_user, remind=True),
                          _("We will remind you 48 hours before the campaign ends."))


@bp.route("/projects/<slug>/remind/cancel", methods=["POST"])
@login_required
def stop_reminder(slug):
    """No reminder before the end (still following)."""
    return _follow_action(slug, lambda project: follows.stop_reminder(project, current_user),
                          _("Reminder cancelled. You still follow this project."))


@bp.route("/me/following")
@login_required
def following():
    """The projects I follow."""
    return render("updates/following.html", items=follows.followed_by(current_user))
