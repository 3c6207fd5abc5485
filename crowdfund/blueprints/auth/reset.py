"""Forgot password: ask for a link by e-mail, then choose a new password from it (issue 12)."""
from flask import current_app, url_for
from flask_babel import gettext as _

from crowdfund import accounts, password_reset
from crowdfund.blueprints.auth import bp
from crowdfund.blueprints.auth.forms import ForgotPasswordForm, ResetPasswordForm
from crowdfund.extensions import limiter
from crowdfund.htmx import redirect_after_post, render
from crowdfund.private_pages import private


def _minutes():
    return current_app.config["PASSWORD_RESET_MAX_AGE"] // 60


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_PASSWORD_RESET"], methods=["POST"], scope="password-reset")
def forgot_password():
    """忘记密码: an address; the same answer whether or not an account uses it."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        password_reset.request_reset(form.email.data)
        return redirect_after_post(url_for("auth.forgot_password_sent"))
    status = 422 if form.is_submitted() else 200
    return render("auth/forgot_password.html", "forgot_form", status=status, form=form)


@bp.route("/password/forgot/sent")
def forgot_password_sent():
    """After asking: look for our mail (this page says the same whatever the address was)."""
    return render("auth/forgot_password_sent.html", minutes=_minutes())


def _link_problem(error):
    """The friendly page for a reset link that cannot be used."""
    if isinstance(error, password_reset.LinkExpired):
        status, problem = 410, _("This link has expired. Reset links work for %(minutes)d minutes.",
                                 minutes=_minutes())
    elif isinstance(error, password_reset.LinkUsed):
        status, problem = 410, _("This link has already been used, or the password has been changed since it was "
                                 "sent. Each link works once.")
    else:
        status, problem = 404, _("This link is not valid. It may have been cut short: open it from the e-mail "
                                 "again, or ask for a new one.")
    return render("auth/reset_password.html", "reset_form", status=status, problem=problem)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@private
def reset_password(token):
    """A mailed reset link: GET shows the new-password form, POST sets it, ends every session and logs in anew."""
    from crowdfund.blueprints.auth.routes import start_session

    try:
        user = password_reset.read_token(token)
    except password_reset.LinkError as error:
        return _link_problem(error)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            password_reset.reset_password(user, form.password.data)
        except accounts.WeakPassword as error:
            form.password.errors.append(str(error))
        except password_reset.LinkError as error:  # used by a parallel request a moment ago
            return _link_problem(error)
        else:
            start_session(user)
            return redirect_after_post(url_for("account.profile"),
                                       _("Your password has been changed and every other device has been logged "
                                         "out. Welcome back, %(name)s.", name=user.display_name))
    status = 422 if form.is_submitted() else 200
    return render("auth/reset_password.html", "reset_form", status=status, form=form, token=token, user=user)
