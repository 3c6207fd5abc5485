"""Phone sign-in: a mobile number, a code by SMS, then a fresh session (SPEC 5.3)."""
import time

from flask import current_app, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import phones, sms
from crowdfund.blueprints.auth import bp
from crowdfund.blueprints.auth.forms import PhoneLoginForm, PhoneSendForm
from crowdfund.errors import error_response
from crowdfund.extensions import limiter
from crowdfund.htmx import redirect_after_post, render
from crowdfund.private_pages import private
from crowdfund.security import safe_next

PENDING = "phone_login"  # the number a sign-in code was sent to, kept in the session between the two steps


def _number_from_form():
    try:
        return phones.normalize(request.form.get("phone", ""))
    except phones.InvalidPhone:
        return "invalid"


def _too_many(limit):
    return error_response(429, _("Too many codes have been asked for. Please wait before asking for a new one."),
                          retry_after=max(int(limit.reset_at - time.time()), 1))


def sms_limited(number=_number_from_form):
    """Rate-limit a view that texts a code: RATELIMIT_SMS per number and RATELIMIT_SMS_IP per address, shared by
    every such view; only a message actually sent counts (the view sets `g.sms_sent`)."""
    sent = lambda response: g.get("sms_sent", False)  # noqa: E731
    per_number = limiter.shared_limit(lambda: current_app.config["RATELIMIT_SMS"], scope="sms-number",
                                      key_func=lambda: "sms:" + number(), deduct_when=sent, on_breach=_too_many)
    per_address = limiter.shared_limit(lambda: current_app.config["RATELIMIT_SMS_IP"], scope="sms-address",
                                       deduct_when=sent, on_breach=_too_many)

    def decorator(view):
        return per_address(per_number(view))

    return decorator


def send_code(phone, purpose, user=None):
    """Text a code; None when sent, else what to tell the person (the provider refused or is unreachable)."""
    try:
        phones.send_code(phone, purpose, user=user)
    except sms.SmsError as error:
        return error.user_message
    g.sms_sent = True
    return None


@bp.route("/login/phone", methods=["GET"])
def phone_login():
    """手机号登录, step 1: the number."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")), code=303)
    form = PhoneSendForm(next=request.args.get("next", ""))
    return render("auth/phone_login.html", "phone_form", form=form)


@bp.route("/login/phone/send", methods=["POST"])
@sms_limited()
def phone_login_send():
    """Text a sign-in code: the same answer whether or not an account uses the number."""
    form = PhoneSendForm()
    if form.validate_on_submit() and not _failed(form.phone, send_code(form.phone.data, "login")):
        session[PENDING] = form.phone.data
        return redirect_after_post(url_for("auth.phone_login_code", next=form.next.data or None),
                                   _("We have sent a code to %(phone)s. It works for %(minutes)d minutes.",
                                     phone=phones.mask(form.phone.data),
                                     minutes=current_app.config["SMS_CODE_MINUTES"]))
    return render("auth/phone_login.html", "phone_form", status=422, form=form)


@bp.route("/login/phone/code", methods=["GET", "POST"])
@private
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def phone_login_code():
    """手机号登录, step 2: the code; signs in the account with that verified phone, or says none uses it."""
    from crowdfund.blueprints.auth.routes import start_session

    phone = session.get(PENDING)
    if not phone:
        return redirect(url_for("auth.phone_login", next=request.args.get("next") or None), code=303)
    form = PhoneLoginForm(next=request.args.get("next", ""))
    context = dict(form=form, phone=phone, masked=phones.mask(phone), no_account=False)
    if form.validate_on_submit():
        try:
            user = phones.log_in_with_code(phone, form.code.data)
        except phones.CodeRejected as error:
            form.code.errors.append(code_problem(error))
        else:
            if user is not None:
                start_session(user, remember=form.remember.data)
                return redirect_after_post(safe_next(form.next.data),
                                           _("Welcome back, %(name)s.", name=user.display_name))
            session.pop(PENDING, None)
            context["no_account"] = True
            return render("auth/phone_login_code.html", "code_form", **context)
    status = 422 if form.is_submitted() else 200
    return render("auth/phone_login_code.html", "code_form", status=status, **context)


def _failed(field, problem):
    """Put a sending problem beside the field; whether there was one."""
    if problem:
        field.errors.append(problem)
    return bool(problem)


def code_problem(error):
    """What to say about a refused code."""
    if error.reason == "wrong":
        return _("That code is not right. %(count)d tries left.", count=error.remaining)
    if error.reason == "expired":
        return _("That code has expired. Ask for a new one.")
    if error.reason == "attempts":
        return _("Too many wrong tries: this code no longer works. Ask for a new one.")
    return _("There is no code waiting for this number. Ask for a new one.")
