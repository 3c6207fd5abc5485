"""Forms for the notification centre and e-mail settings."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import AnyOf

from crowdfund.notifications import EMAIL_GROUPS


class EmailSettingsForm(FlaskForm):
    """All e-mail on or off, then one checkbox per group of notification kinds."""

    everything = BooleanField(_l("Send me e-mail about my notifications"), id="email-everything")


for _group, (_label, _kinds) in EMAIL_GROUPS.items():
    setattr(EmailSettingsForm, _group, BooleanField(_label, id=f"email-{_group}"))  # "messages" is taken


class ProjectEmailForm(FlaskForm):
    """E-mail about one project on or off (the value of the button pressed)."""

    email = StringField(validators=[AnyOf(["on", "off"])])
