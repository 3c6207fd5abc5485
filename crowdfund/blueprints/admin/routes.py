"""Views for administrators."""
from zoneinfo import ZoneInfo

from flask import current_app, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crowdfund import accounts, audit, legal
from crowdfund.blueprints.admin import bp
from crowdfund.blueprints.admin.forms import AuditFilterForm, PublishForm, RolesForm
from crowdfund.extensions import db
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.models import Role, User
from crowdfund.security import role_required
from crowdfund.i18n import select_locale
from crowdfund.inputs import db_int


def role_forms(users):
    """One pre-filled roles form per account."""
    return {user.id: RolesForm(formdata=None, prefix=f"u{user.id}", roles=[r.value for r in user.roles])
            for user in users}


@bp.route("/users")
@role_required(Role.ADMIN)
def users():
    """List accounts with the roles they hold."""
    page = max(request.args.get("page", 1, type=db_int), 1)
    rows, total = accounts.list_users(page)
    return render("admin/users.html", "user_list", users=rows, total=total, page=page,
                  forms=role_forms(rows))


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@role_required(Role.ADMIN)
def update_roles(user_id):
    """Grant or take away roles."""
    user = db.get_or_404(User, user_id)
    form = RolesForm(prefix=f"u{user.id}")
    error = None
    if form.validate_on_submit():
        wanted = set(form.roles.data)
        if user.id == current_user.id and Role.ADMIN.value not in wanted:
            error = _("You cannot remove your own administrator role.")
        else:
            accounts.set_roles(user, wanted, changed_by=current_user)
            if not is_htmx():
                return redirect_after_post(url_for("admin.users"),
                                           _("Roles of %(name)s saved.", name=user.display_name))
            form = RolesForm(formdata=None, prefix=f"u{user.id}", roles=[r.value for r in user.roles])
    status = 422 if error or form.errors else 200
    if status == 422 and not is_htmx():
        return redirect_after_post(url_for("admin.users"), error or _("Please check the roles."), "error")
    return render("admin/users.html", "user_row", status=status, user=user, form=form,
                  forms={user.id: form}, users=[user], total=1, page=1, error=error,
                  saved=status == 200)


@bp.route("/audit")
@role_required(Role.ADMIN)
def audit_log():
    """The audit log, newest first, filtered by actor, action, object type and dates."""
    actions, types = audit.known_values()
    form = AuditFilterForm(request.args)
    form.action.choices = [("", _("Any action"))] + [(a, a) for a in actions]
    form.object_type.choices = [("", _("Any object"))] + [(t, t) for t in types]
    page = min(max(request.args.get("page", 1, type=int), 1), 10_000)
    rows, has_more = [], False
    valid = form.validate()
    if valid:
        since, until = audit.day_bounds(form.since.data, form.until.data,
                                        ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))
        rows, has_more = audit.search(actor=form.actor.data, action=form.action.data,
                                      object_type=form.object_type.data, since=since, until=until, page=page)
    filters = {name: value for name, value in request.args.items() if name != "page" and value}
    return render("admin/audit.html", "audit_list", status=200 if valid else 422, form=form, rows=rows,
                  page=page, has_more=has_more, filters=filters)


PUBLISH_ERRORS = {
    "version_format": _l("Use letters, digits, dots and dashes only (at most 40), starting with a letter or digit."),
    "version_taken": _l("This document already has a version with this label: choose a new one."),
    "unknown_document": _l("Choose one of the documents."),
}


@bp.route("/legal", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def legal_documents():
    """Every legal document with its versions, and a form publishing a new version (older ones never change)."""
    form = PublishForm()
    form.document.choices = [(key, str(name)) for key, name in legal.DOCUMENTS.items()]
    if request.method == "GET":
        chosen = request.args.get("document")
        chosen = chosen if chosen in legal.DOCUMENTS else "terms"
        base = legal.current(chosen)
        form = PublishForm(formdata=None, document=chosen, **({} if base is None else dict(
            title_zh=base.title_zh, body_zh=base.body_zh, title_en=base.title_en, body_en=base.body_en)))
        form.document.choices = [(key, str(name)) for key, name in legal.DOCUMENTS.items()]
    elif form.validate_on_submit():
        try:
            doc = legal.publish(current_user, form.document.data, form.version.data, title_zh=form.title_zh.data,
                                body_zh=form.body_zh.data, title_en=form.title_en.data, body_en=form.body_en.data)
        except legal.LegalError as error:
            form.version.errors.append(str(PUBLISH_ERRORS[error.code]))
        else:
            return redirect_after_post(url_for("admin.legal_documents"),
                                       _("Version %(version)s of “%(title)s” is published.", version=doc.version,
                                         title=doc.title(select_locale())))
    documents = {key: legal.history(key) for key in legal.DOCUMENTS}
    counts = {(doc.key, doc.version): legal.count_consents(doc.key, doc.version)
              for versions in documents.values() for doc in versions}
    return render("admin/legal.html", "publish_form", status=422 if form.is_submitted() else 200, form=form,
                  documents=documents, counts=counts, locale=select_locale())
