"""Views for the signed-in person's profile and password."""
from flask import request
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import accounts
from crowdfund.blueprints.account import bp
from crowdfund.blueprints.account.forms import ChangePasswordForm, ProfileForm
from crowdfund.blueprints.auth.routes import start_session
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.security import login_required


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
