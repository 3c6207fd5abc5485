"""Views for signing up, logging in and out."""
from flask import abort, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user

from crowdfund import accounts, email_verification, sessions, throttle
from crowdfund.blueprints.auth import bp
from crowdfund.blueprints.auth.forms import LoginForm, SignupForm
from crowdfund.errors import error_response
from crowdfund.extensions import limiter
from crowdfund.forms import EmptyForm
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.private_pages import private
from crowdfund.security import account_or_address, login_required, safe_next


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
# Every POST counts (invalid ones too); accepted sign-ups, each sending a mail, have a smaller budget.
@limiter.limit(lambda: current_app.config["RATELIMIT_SIGNUP_ATTEMPTS"], methods=["POST"], scope="attempts")
@limiter.limit(lambda: current_app.config["RATELIMIT_SIGNUP"], methods=["POST"],
               deduct_when=lambda response: response.status_code == 303 or "HX-Redirect" in response.headers)
def signup():
    """Sign up: the same answer whether or not the address has an account; the mailed link finishes it."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")), code=303)
    form = SignupForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        next_url = safe_next(form.next.data) if form.next.data else None
        try:
            email_verification.sign_up(form.email.data, form.display_name.data, form.password.data,
                                       locale=session.get("locale"), next_url=next_url)
        except accounts.WeakPassword as error:
            form.password.errors.append(str(error))
        else:
            return redirect_after_post(url_for("auth.signup_sent"))
    status = 422 if form.is_submitted() else 200
    return render("auth/signup.html", "signup_form", status=status, form=form)


@bp.route("/signup/sent")
def signup_sent():
    """After signing up: look for our mail (whatever happened to the address, this page says the same)."""
    return render("auth/signup_sent.html", hours=current_app.config["EMAIL_VERIFY_MAX_AGE"] // 3600)


@bp.route("/verify-email/<token>", methods=["GET", "POST"])
@private
def verify_email(token):
    """A mailed confirmation link: GET asks, POST confirms the address and logs the new account in."""
    next_url = safe_next(request.args.get("next")) if request.args.get("next") else None
    try:
        user = email_verification.read_token(token)
    except email_verification.LinkExpired:
        return render("auth/verify_link.html", status=410, next_url=next_url,
                      problem=_("This confirmation link has expired. Links work for %(hours)d hours.",
                                hours=current_app.config["EMAIL_VERIFY_MAX_AGE"] // 3600))
    except email_verification.LinkInvalid:
        return render("auth/verify_link.html", status=404, next_url=next_url,
                      problem=_("This confirmation link is not valid. It may have been cut short, or the account's "
                                "e-mail address has changed since it was sent."))
    if request.method == "GET":
        return render("auth/verify_link.html", user=user, token=token, next_url=next_url)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if email_verification.confirm(user):
        start_session(user)
        return redirect_after_post(next_url or url_for("public.index"),
                                   _("Your e-mail address is confirmed. Welcome, %(name)s!", name=user.display_name))
    # Used before: the link confirms, it does not log in a second time.
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect_after_post(next_url or url_for("account.profile"),
                                   _("Your e-mail address was already confirmed."))
    return redirect_after_post(url_for("auth.login", next=next_url),
                               _("This e-mail address was already confirmed. Please log in."))


@bp.route("/verify-email")
@login_required
@private
def verify_status():
    """Whether the account's address is confirmed, with a button for a new link."""
    next_url = safe_next(request.args.get("next")) if request.args.get("next") else None
    return render("auth/verify_needed.html", "verify_needed", next_url=next_url, purpose=None)


def verification_needed(purpose, next_url=None):
    """The gate's answer (403): pledging or launching needs a confirmed address; offers a new link."""
    response = render("auth/verify_needed.html", "verify_needed", status=403, purpose=purpose, next_url=next_url)
    if is_htmx():
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


@bp.route("/verify-email/resend", methods=["POST"])
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_VERIFY_RESEND"], key_func=account_or_address,
               scope="verify-resend")
def resend_verification():
    """Mail a new confirmation link to the account's address."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    next_url = safe_next(request.form.get("next")) if request.form.get("next") else None
    back = url_for("auth.verify_status", next=next_url)
    outcome = email_verification.resend(current_user._get_current_object(), next_url)
    if outcome == "verified":
        return redirect_after_post(next_url or url_for("account.profile"), _("Your e-mail address is confirmed."))
    if outcome == "limited":
        return error_response(429, _("We have sent several messages to this address recently. Please use the "
                                     "latest link, or try again later."))
    return redirect_after_post(back, _("We sent a new link to %(email)s.", email=current_user.email))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def login():
    """Log in with email and password; failed attempts are also counted per address typed."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")), code=303)
    form = LoginForm(next=request.args.get("next", ""))
    error = None
    if form.validate_on_submit():
        # Checked before the password, and the same for unknown addresses: it tells nothing about the account.
        wait = throttle.login_blocked(form.email.data)
        if wait:
            minutes = max(1, -(-wait // 60))
            return error_response(429, ngettext("Too many failed attempts to log in with this e-mail address. "
                                                "Please try again in %(num)d minute.",
                                                "Too many failed attempts to log in with this e-mail address. "
                                                "Please try again in %(num)d minutes.", minutes), retry_after=wait)
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except accounts.InvalidCredentials:
            throttle.note_failed_login(form.email.data)
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
