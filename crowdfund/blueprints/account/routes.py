"""Views for the signed-in person's profile, password, personal-data download and account deletion."""
import time
from datetime import datetime, timezone

from flask import abort, current_app, g, request, send_file, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from crowdfund import accounts, privacy
from crowdfund.blueprints.account import bp
from crowdfund.blueprints.account.forms import ChangePasswordForm, DeleteAccountForm, ProfileForm
from crowdfund.blueprints.auth.routes import start_session
from crowdfund.errors import error_response
from crowdfund.extensions import limiter
from crowdfund.forms import EmptyForm
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.security import account_or_address, login_required


@bp.route("/", methods=["GET", "POST"])
@login_required
def profile():
    """Show the profile and edit the display name."""
    form = ProfileForm(obj=current_user)
    saved = False
    if form.validate_on_submit():
        accounts.update_profile(current_user, form.display_name.data)
        if not is_htmx():
            return redirect_after_post(request.path, _("Profile saved."))
        saved = True
    status = 422 if form.errors else 200
    return render("account/profile.html", "profile_form", status=status, form=form, saved=saved)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change the password; other devices are signed out."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.password.data)
        except accounts.WrongPassword:
            form.current_password.errors.append(_("Your current password is not correct."))
        else:
            start_session(current_user._get_current_object(), remember="remember_token" in request.cookies)
            # A new session means new CSRF tokens: reload the page (HX-Redirect for htmx) so every form has one.
            return redirect_after_post(request.path, _("Password changed. Other devices have been signed out."))
    status = 422 if form.errors else 200
    return render("account/password.html", "password_form", status=status, form=form)


SECTION_NAMES = {"profile": _l("profile"), "legal_acceptances": _l("accepted agreements"), "pledges": _l("pledges, "
                 "payments and refunds"), "addresses": _l("addresses"), "comments": _l("comments"),
                 "messages": _l("private messages"), "notifications": _l("notifications"), "follows": _l("follows"),
                 "projects": _l("projects you created")}


def _export_limit_reached(limit):
    """RATELIMIT_DATA_EXPORT used up: say so plainly, and from when a new request is possible."""
    from crowdfund.i18n import format_when

    again = datetime.fromtimestamp(limit.reset_at, timezone.utc)
    return error_response(429, _("You have already asked for your data %(count)d times recently. The latest download "
                                 "stays on this page; you can ask for a new one after %(when)s.",
                                 count=limit.limit.amount, when=format_when(again)),
                          retry_after=max(int(limit.reset_at - time.time()), 1))


def _no_store(response):
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/data", methods=["GET", "POST"])
@login_required
# Only an export actually requested counts: a refused one (already being prepared) does not use the budget up.
@limiter.limit(lambda: current_app.config["RATELIMIT_DATA_EXPORT"], key_func=account_or_address, methods=["POST"],
               scope="data-export", deduct_when=lambda response: g.get("data_export_requested", False),
               on_breach=_export_limit_reached)
def data():
    """下载我的数据: the latest export's state (it polls itself while pending); POST asks for a new one."""
    if request.method == "POST":
        form = EmptyForm()
        if not form.validate_on_submit():
            abort(400)
        try:
            privacy.request_export(current_user._get_current_object())
        except privacy.PrivacyError:
            return redirect_after_post(url_for("account.data"),
                                       _("Your data is already being prepared; it appears here when it is ready."),
                                       "info")
        g.data_export_requested = True
        return redirect_after_post(url_for("account.data"),
                                   _("Your data is being prepared. This takes a minute or two; this page shows "
                                     "the download when it is ready."))
    export = privacy.latest_export(current_user)
    return _no_store(render("account/data.html", "export_status", export=export, state=privacy.shown_status(export),
                            sections=[SECTION_NAMES.get(s.name, s.name) for s in privacy.SECTIONS]))


@bp.route("/data/<int:export_id>/download")
def download(export_id):
    """The export's zip, to its owner only, until it expires: 404 for anyone else, signed in or not, and afterwards."""
    export = privacy.downloadable(current_user, export_id) if current_user.is_authenticated else None
    if export is None:
        abort(404)
    response = send_file(privacy.open_export(export), mimetype="application/zip", as_attachment=True,
                         download_name=f"crowdfund-data-{export.ready_at:%Y%m%d}.zip")
    return _no_store(response)


@bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete():
    """注销账号: explain what happens, list what stands in the way, and delete with the password."""
    form = DeleteAccountForm()
    blockers = privacy.deletion_blockers(current_user)
    if not blockers and form.validate_on_submit():
        try:
            privacy.delete_account(current_user._get_current_object(), form.password.data)
        except privacy.PrivacyError as error:
            if error.code != "password":
                blockers = privacy.deletion_blockers(current_user)
            else:
                form.password.errors.append(_("The password is not correct."))
        else:
            logout_user()
            locale = session.get("locale")
            session.clear()
            if locale:
                session["locale"] = locale
            return redirect_after_post(url_for("public.index"),
                                       _("Your account has been deleted and your personal data erased. "
                                         "Pledge and payment records are kept without your name."))
    status = 422 if form.is_submitted() else 200
    return _no_store(render("account/delete.html", "delete_form", status=status, form=form, blockers=blockers))
