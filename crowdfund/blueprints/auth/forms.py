"""Forms for signing up and logging in."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, ValidationError

from crowdfund import passwords
from crowdfund.accounts import PASSWORD_MAX, PASSWORD_MIN


def not_common(_form, field):
    """Refuse the 10,000 most common passwords (crowdfund/data/common-passwords.txt)."""
    if field.data and passwords.is_common(field.data):
        raise ValidationError(passwords.TOO_COMMON)


def new_password_fields():
    """A password and its confirmation, with the length rules of every new password."""
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX,
                                            message=_l("Use %(min)d to %(max)d characters.",
                                                       min=PASSWORD_MIN, max=PASSWORD_MAX)),
                    not_common],
        description=_l("At least %(min)d characters, and not a commonly used password.", min=PASSWORD_MIN),
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[InputRequired(), EqualTo("password", message=_l("The two passwords do not match."))],
    )
    return password, confirm


class SignupForm(FlaskForm):
    """Create an account."""

    email = EmailField(_l("Email"), validators=[InputRequired(), Email(message=_l("Enter a valid email address.")),
                                                Length(max=254)])
    display_name = StringField(_l("Display name"), validators=[InputRequired(), Length(min=1, max=40)],
                               description=_l("Shown on your profile and next to your comments."))
    password, confirm = new_password_fields()
    accept_terms = BooleanField(
        _l("I have read and accept the user agreement and the privacy policy"),
        validators=[DataRequired(message=_l("You need to accept both documents to create an account."))],
    )
    next = HiddenField()


class LoginForm(FlaskForm):
    """Log in with email and password."""

    email = EmailField(_l("Email"), validators=[InputRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)])
    remember = BooleanField(_l("Keep me logged in on this device"))
    next = HiddenField()


def valid_phone(_form, field):
    """Accept 138 0013 8000, 138-0013-8000, +86 13800138000; keep the normalized number."""
    from crowdfund import phones

    try:
        field.data = phones.normalize(field.data)
    except phones.InvalidPhone:
        raise ValidationError(_l("Enter a mainland China mobile number, e.g. 138 0013 8000.")) from None


def phone_field(label=None):
    return StringField(label or _l("Mobile number"), validators=[InputRequired(), Length(max=32), valid_phone],
                       render_kw={"inputmode": "tel"})


def code_field():
    return StringField(_l("Verification code"), validators=[InputRequired(), Length(max=12)],
                       render_kw={"inputmode": "numeric", "maxlength": "6"})


class PhoneSendForm(FlaskForm):
    """Ask for a code by SMS."""

    phone = phone_field()
    next = HiddenField()


class PhoneLoginForm(FlaskForm):
    """Sign in with the code that was texted."""

    code = code_field()
    remember = BooleanField(_l("Keep me logged in on this device"))
    next = HiddenField()


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ForgotPasswordForm(FlaskForm):
    """Ask for a password-reset link."""

    email = EmailField(_l("Email"), filters=[_strip],
                       validators=[InputRequired(), Email(message=_l("Enter a valid email address.")),
                                   Length(max=254)])


class ResetPasswordForm(FlaskForm):
    """Choose a new password, from a mailed reset link."""

    password, confirm = new_password_fields()
