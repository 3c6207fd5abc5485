"""Views for the signed-in person's profile, password, signed-in devices, personal-data download and account
deletion."""
import time
from datetime import datetime, timezone

from flask import abort, current_app, g, request, send_file, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from crowdfund import accounts, legal, points, privacy, sessions
from crowdfund.blueprints.account import bp
from crowdfund.blueprints.account.forms import ChangePasswordForm, DeleteAccountForm, ProfileForm
from crowdfund.errors import error_response
from crowdfund.extensions import limiter
from crowdfund.forms import EmptyForm
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.security import account_or_address, login_required


@bp.route("/", methods=["GET", "POST"])
@login_required
def profile():
    """Show the profile and the signed-in devices, and edit the display name."""
    form = ProfileForm(obj=current_user)
    saved = False
    if form.validate_on_submit():
        accounts.update_profile(current_user, form.display_name.data)
        if not is_htmx():
            return redirect_after_post(request.path, _("Profile saved."))
        saved = True
    status = 422 if form.errors else 200
    return render("account/profile.html", "profile_form", status=status, form=form, saved=saved,
                  login_sessions=sessions.active_sessions(current_user),
                  this_session=sessions.current(current_user), describe_browser=sessions.describe_browser,
                  accepted={key: legal.last_accepted(current_user, key) for key in legal.DOCUMENTS},
                  points_balance=points.balance(current_user.id))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change the password; this device stays signed in, every other one is signed out."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.password.data,
                                     keep=sessions.current(current_user))
        except accounts.WrongPassword:
            form.current_password.errors.append(_("Your current password is not correct."))
        except accounts.WeakPassword as error:
            form.password.errors.append(str(error))
        else:
            return redirect_after_post(request.path, _("Password changed. Other devices have been signed out."))
    status = 422 if form.errors else 200
    return render("account/password.html", "password_form", status=status, form=form)


def _signed_out(message):
    """This device's session has just ended: clear the cookies and go to the login page."""
    logout_user()
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    return redirect_after_post(url_for("auth.login"), message)


@bp.route("/sessions/<int:session_id>/revoke", methods=["POST"])
@login_required
def revoke_session(session_id):
    """Sign one of the account's devices out."""
    this = sessions.current(current_user)
    if session_id not in {row.id for row in sessions.active_sessions(current_user)} | (
            {this.id} if this is not None else set()):
        abort(404)  # not one of this account's devices (or already gone from its list)
    if not sessions.revoke(current_user, session_id):
        return redirect_after_post(url_for("account.profile", _anchor="sessions"),
                                   _("That device is already signed out."), "error")
    if this is not None and this.id == session_id:
        return _signed_out(_("You have logged out."))
    return redirect_after_post(url_for("account.profile", _anchor="sessions"), _("That device has been signed out."))


@bp.route("/sessions/revoke-all", methods=["POST"])
@login_required
def log_out_everywhere():
    """Sign every device out, this one included."""
    sessions.log_out_everywhere(current_user)
    return _signed_out(_("You have been logged out on every device."))
SECTION_NAMES = {"profile": _l("profile"), "legal_acceptances": _l("accepted agreements"),
                 "consents": _l("every consent to a legal document"), "pledges": _l("pledges, "
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
    return render("account/data.html", "export_status", export=export, state=privacy.shown_status(export),
                            sections=[SECTION_NAMES.get(s.name, s.name) for s in privacy.SECTIONS])


@bp.route("/data/<int:export_id>/download")
def download(export_id):
    """The export's zip, to its owner only, until it expires: 404 for anyone else, signed in or not, and afterwards."""
    export = privacy.downloadable(current_user, export_id) if current_user.is_authenticated else None
    if export is None:
        abort(404)
    response = send_file(privacy.open_export(export), mimetype="application/zip", as_attachment=True,
                         download_name=f"crowdfund-data-{export.ready_at:%Y%m%d}.zip")
    return response


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
    return render("account/delete.html", "delete_form", status=status, form=form, blockers=blockers)
