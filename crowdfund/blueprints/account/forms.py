"""Forms for the account pages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from crowdfund.accounts import PASSWORD_MAX
from crowdfund.blueprints.auth.forms import code_field, new_password_fields, phone_field


class ProfileForm(FlaskForm):
    """What others see of the account."""

    display_name = StringField(_l("Display name"), validators=[InputRequired(), Length(min=1, max=40)])


class ChangePasswordForm(FlaskForm):
    """Replace the password, proving the current one."""

    current_password = PasswordField(_l("Current password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)])
    password, confirm = new_password_fields()


class DeleteAccountForm(FlaskForm):
    """注销: the password and an explicit confirmation."""

    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)])
    confirm = BooleanField(_l("I understand that my account and personal data will be erased for good"),
                           validators=[DataRequired(message=_l("Tick the box to confirm."))])


class PhoneNumberForm(FlaskForm):
    """The new mobile number to text a code to."""

    phone = phone_field(_l("New mobile number"))


class PhoneConfirmForm(FlaskForm):
    """The code texted to the new number; to replace a number, also a code to the old one or the password."""

    code = code_field()
    old_code = StringField(_l("Code sent to your current number"), validators=[Optional(), Length(max=12)],
                           render_kw={"inputmode": "numeric", "maxlength": "6"})
    password = PasswordField(_l("Or your password"), validators=[Optional(), Length(max=PASSWORD_MAX)])


class PhoneRemoveForm(FlaskForm):
    """Take the number off the account: the password."""

    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)])


class RedeemForm(FlaskForm):
    """Spend points on one of the coupons on offer (its cost in points names it)."""

    points = IntegerField(validators=[InputRequired()])
