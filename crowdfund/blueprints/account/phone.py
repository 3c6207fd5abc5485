"""The account's mobile number: bind one, change it (a code to the old one or the password), remove it."""
from flask import abort, current_app, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import phones
from crowdfund.blueprints.account import bp
from crowdfund.blueprints.account.forms import PhoneConfirmForm, PhoneNumberForm, PhoneRemoveForm
from crowdfund.blueprints.auth.phone import code_problem, send_code, sms_limited
from crowdfund.extensions import limiter
from crowdfund.forms import EmptyForm
from crowdfund.htmx import redirect_after_post, render
from crowdfund.security import login_required

PENDING = "phone_new"  # the new number a code was sent to, between "send code" and "confirm"


def _page(status=200, **forms):
    """The phone page with whichever forms are given (fresh ones otherwise)."""
    pending = session.get(PENDING)
    context = dict(number_form=forms.get("number_form") or PhoneNumberForm(),
                   confirm_form=forms.get("confirm_form") or PhoneConfirmForm(),
                   remove_form=forms.get("remove_form") or PhoneRemoveForm(),
                   old_code_error=forms.get("old_code_error"),
                   pending=pending, pending_masked=phones.mask(pending), current=phones.mask(current_user.phone),
                   minutes=current_app.config["SMS_CODE_MINUTES"], next_url=_next())
    return render("account/phone.html", forms.get("block"), status=status, **context)


def _next():
    from crowdfund.security import safe_next

    target = request.values.get("next")
    return safe_next(target) if target else None


def _back(message, category="success"):
    target = _next()
    return redirect_after_post(target or url_for("account.phone"), message, category)


@bp.route("/phone", methods=["GET", "POST"])
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])  # passwords are guessed here too
def phone():
    """Show the number; POST confirms the new one with its code (plus the old one's code or the password)."""
    if request.method == "GET":
        return _page()
    form = PhoneConfirmForm()
    pending = session.get(PENDING)
    if not form.validate_on_submit():
        return _page(422, confirm_form=form, block="confirm_form")
    if not pending:
        form.code.errors.append(_("Ask for a code to the new number first."))
        return _page(422, confirm_form=form, block="confirm_form")
    user = current_user._get_current_object()
    if user.phone and not (form.old_code.data or form.password.data):
        form.old_code.errors.append(_("To change your number, enter the code sent to your current number or your "
                                      "password."))
        return _page(422, confirm_form=form, block="confirm_form")
    try:
        phones.bind(user, pending, form.code.data, old_code=form.old_code.data, password=form.password.data)
    except phones.WrongPassword:
        form.password.errors.append(_("The password is not correct."))
    except phones.CodeRejected as error:
        # Which code was refused: the old number's is checked first.
        field = form.old_code if (user.phone and not form.password.data and error_is_for_old(user, error)) \
            else form.code
        field.errors.append(code_problem(error))
    except phones.PhoneTaken:
        form.code.errors.append(_("This number belongs to another account."))
    else:
        session.pop(PENDING, None)
        return _back(_("Your mobile number %(phone)s is verified.", phone=phones.mask(pending)))
    return _page(422, confirm_form=form, block="confirm_form")


def error_is_for_old(user, error):
    """Whether CodeRejected came from the code to the current number (bind() checks that one first)."""
    return getattr(error, "phone", None) == user.phone


@bp.route("/phone/send", methods=["POST"])
@login_required
@sms_limited()
def phone_send():
    """Text a code to the new number."""
    form = PhoneNumberForm()
    if form.validate_on_submit():
        if form.phone.data == current_user.phone:
            form.phone.errors.append(_("This is already your number."))
        elif not (problem := send_code(form.phone.data, "bind", user=current_user)):
            session[PENDING] = form.phone.data
            return _back(_("We have sent a code to %(phone)s. It works for %(minutes)d minutes.",
                           phone=phones.mask(form.phone.data), minutes=current_app.config["SMS_CODE_MINUTES"]))
        else:
            form.phone.errors.append(problem)
    return _page(422, number_form=form, block="number_form")


@bp.route("/phone/send-current", methods=["POST"])
@login_required
@sms_limited(number=lambda: current_user.phone or "none" if current_user.is_authenticated else "none")
def phone_send_current():
    """Text a code to the current number, to prove it is still yours before changing it."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not current_user.phone:
        return _back(_("There is no number on your account yet."), "error")
    problem = send_code(current_user.phone, "change", user=current_user)
    if problem:
        return _back(problem, "error")
    return _back(_("We have sent a code to your current number %(phone)s.", phone=phones.mask(current_user.phone)))


@bp.route("/phone/remove", methods=["POST"])
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"])
def phone_remove():
    """Take the number off the account, with the password."""
    form = PhoneRemoveForm()
    if form.validate_on_submit():
        try:
            phones.remove(current_user._get_current_object(), form.password.data)
        except phones.WrongPassword:
            form.password.errors.append(_("The password is not correct."))
        except phones.NotBound:
            return _back(_("There is no number on your account."), "error")
        else:
            return _back(_("Your mobile number has been removed."))
    return _page(422, remove_form=form, block="remove_form")
