"""Views for the signed-in person's profile, password and signed-in devices."""
from flask import request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from crowdfund import accounts, sessions
from crowdfund.blueprints.account import bp
from crowdfund.blueprints.account.forms import ChangePasswordForm, ProfileForm
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.security import login_required


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
                  this_session=sessions.current(current_user), describe_browser=sessions.describe_browser)


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
