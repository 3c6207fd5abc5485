"""Views for signing up, logging in and out."""
from flask import current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from crowdfund import accounts, sessions
from crowdfund.blueprints.auth import bp
from crowdfund.blueprints.auth.forms import LoginForm, SignupForm
from crowdfund.extensions import limiter
from crowdfund.htmx import redirect_after_post, render
from crowdfund.security import safe_next


def start_session(user, remember=False):
    """Log the user in on a brand-new session (nothing from before login carries over but the language).

    Each login is a server-side LoginSession row, named in both the session and the remember-me cookie.
    """
    locale = session.get("locale")
    session.clear()
    sessions.open_session(user, remember=remember)
    login_user(user, remember=remember)
    if locale:
        session["locale"] = locale


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_SIGNUP"], methods=["POST"],
               # Count accounts created, not typos fixed: only a successful sign-up uses up the limit.
               deduct_when=lambda response: response.status_code == 303 or "HX-Redirect" in response.headers)
def signup():
    """Create an account and log straight in."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")), code=303)
    form = SignupForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            user = accounts.register(form.email.data, form.display_name.data, form.password.data,
                                     locale=session.get("locale"))
        except accounts.EmailTaken:
            form.email.errors.append(_("An account with this email already exists. Log in instead?"))
        except accounts.WeakPassword as error:
            form.password.errors.append(str(error))
        else:
            start_session(user)
            return redirect_after_post(safe_next(form.next.data),
                                       _("Welcome, %(name)s! Your account is ready.", name=user.display_name))
    status = 422 if form.is_submitted() else 200
    return render("auth/signup.html", "signup_form", status=status, form=form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def login():
    """Log in with email and password."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")), code=303)
    form = LoginForm(next=request.args.get("next", ""))
    error = None
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except accounts.InvalidCredentials:
            error = _("Email or password is incorrect.")
        else:
            start_session(user, remember=form.remember.data)
            return redirect_after_post(safe_next(form.next.data),
                                       _("Welcome back, %(name)s.", name=user.display_name))
    status = 422 if form.is_submitted() else 200
    return render("auth/login.html", "login_form", status=status, form=form, error=error)


@bp.route("/logout", methods=["POST"])
def logout():
    """End the session, on the server too: neither its session cookie nor its remember-me cookie works again."""
    if current_user.is_authenticated:
        sessions.revoke_current(current_user)
        logout_user()
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    return redirect_after_post(url_for("public.index"), _("You have logged out."))
