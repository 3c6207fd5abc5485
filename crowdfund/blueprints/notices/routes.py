"""The notification centre, e-mail preferences and one-click unsubscribe."""
from flask import abort, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadData

from crowdfund import notifications as notices
from crowdfund.blueprints.notices import bp
from crowdfund.blueprints.notices.forms import EmailSettingsForm, ProjectEmailForm
from crowdfund.extensions import csrf, db
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.models import Project, User
from crowdfund.security import login_required, safe_next
from crowdfund.inputs import db_int

PER_PAGE = 20


def _badge_count():
    return notices.unread_count(current_user.id, cap=notices.BADGE_CAP)


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def index():
    """Notifications newest first, a page at a time; POST marks them all read."""
    before = request.args.get("before", type=db_int)
    if request.method == "POST":
        notices.mark_all_read(current_user.id)
        if not is_htmx():
            return redirect_after_post(url_for("notices.index", before=before), _("All notifications marked as read."))
    items, next_before = notices.page_of(current_user.id, before=before, per_page=PER_PAGE)
    extra = {"list_badge": 0} if request.method == "POST" else {}
    return render("notices/index.html", "notification_list", items=items, next_before=next_before, before=before,
                  unread=_badge_count(), text=notices.text, **extra)


@bp.route("/account/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def mark_read(notification_id):
    """Mark one of your own notifications read (someone else's is 404)."""
    notification = notices.mark_read(current_user.id, notification_id)
    if notification is None:
        abort(404)
    if is_htmx():
        return render("notices/index.html", "notification", n=notification, text=notices.text,
                      item_badge=_badge_count())
    return redirect_after_post(safe_next(request.form.get("next"), url_for("notices.index")))


@bp.route("/account/notifications/badge")
def badge():
    """The header's unread badge alone, which htmx polls; signed out, an empty badge that stops polling."""
    signed_in = current_user.is_authenticated
    response = make_response(render_template("notices/badge.html", count=_badge_count() if signed_in else 0,
                                             poll=signed_in))
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response


def _groups():
    """The e-mail groups this account can choose; finance alerts only for finance staff."""
    return [group for group in notices.EMAIL_GROUPS if group != "staff" or current_user.has_role("finance")]


@bp.route("/account/notifications/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Which notifications are also e-mailed: all or none, by group, and project by project."""
    groups = _groups()
    form = EmailSettingsForm(data=notices.email_settings(current_user.id))
    saved = False
    if form.validate_on_submit():
        notices.save_email_settings(current_user.id, form.everything.data, {g: form[g].data for g in groups})
        if not is_htmx():
            return redirect_after_post(request.path, _("E-mail settings saved."))
        saved = True
    choices = [] if is_htmx() else notices.project_email_choices(current_user.id)
    return render("notices/settings.html", "email_settings", status=422 if form.errors else 200, form=form,
                  groups=groups, saved=saved, choices=choices)


@bp.route("/account/notifications/settings/projects/<int:project_id>", methods=["POST"])
@login_required
def project_email(project_id):
    """Turn e-mail about one project off or back on (for yourself only)."""
    project = db.get_or_404(Project, project_id)
    form = ProjectEmailForm()
    if not form.validate_on_submit():
        abort(400)
    wanted = form.email.data == "on"
    notices.set_project_email(current_user.id, project.id, wanted)
    if is_htmx():
        return render("notices/settings.html", "project_row", project=project, wanted=wanted, saved_project=True)
    message = _("E-mail about “%(title)s” is on.") if wanted else _("E-mail about “%(title)s” is off.")
    return redirect_after_post(url_for("notices.settings"), message % {"title": project.title})


def _masked(email):
    """a***@example.com: enough to recognise your address on a page whose link may have been forwarded."""
    name, _at, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token):
    """Stop e-mail like the one the link came in. GET asks; POST does it, with no login and no CSRF token,
    because the signed token stands for the account (and mail clients POST here themselves, RFC 8058)."""
    try:
        user_id, kind, project_id = notices.read_unsubscribe_token(token)
    except BadData:
        return render("notices/bad_token.html", status=400)
    account = db.session.get(User, user_id)
    if account is None:
        return render("notices/bad_token.html", status=400)
    project = db.session.get(Project, project_id) if project_id is not None else None
    if request.method == "POST":
        scope = request.form.get("scope") or ("project" if project else "kind")
        if scope not in ("project", "kind") or (scope == "project" and project is None):
            return render("notices/bad_token.html", status=400)
        notices.unsubscribe(account.id, kind, project.id if project else None, scope)
        if request.form.get("List-Unsubscribe") == "One-Click":
            return make_response(_("You are unsubscribed."), 200, {"Content-Type": "text/plain; charset=utf-8"})
        return redirect_after_post(request.path, _("Done. You will no longer receive these e-mails."))
    label = notices.EMAIL_GROUPS[notices.KIND_GROUP[kind]][0]
    return render("notices/unsubscribe.html", email=_masked(account.email), project=project, group_label=label,
                  project_done=project is not None and notices.unsubscribed(account.id, kind, project.id, "project"),
                  kind_done=notices.unsubscribed(account.id, kind, project_id, "kind"))
