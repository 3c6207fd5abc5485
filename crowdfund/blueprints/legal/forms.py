"""Forms for accepting legal documents."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField
from wtforms.validators import DataRequired


class AcceptForm(FlaskForm):
    """Accept the new versions of the documents listed above the form."""

    accept = BooleanField(_l("I have read and accept the new versions"),
                          validators=[DataRequired(message=_l("Please tick the box to accept the new versions."))])
    next = HiddenField()
