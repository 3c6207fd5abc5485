"""Forms for the account pages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from crowdfund.accounts import PASSWORD_MAX
from crowdfund.blueprints.auth.forms import new_password_fields


class ProfileForm(FlaskForm):
    """What others see of the account."""

    display_name = StringField(_l("Display name"), validators=[InputRequired(), Length(min=1, max=40)])


class ChangePasswordForm(FlaskForm):
    """Replace the password, proving the current one."""

    current_password = PasswordField(_l("Current password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)])
    password, confirm = new_password_fields()
