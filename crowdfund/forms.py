"""Forms shared across blueprints."""
from flask_wtf import FlaskForm
from wtforms import TextAreaField


class EmptyForm(FlaskForm):
    """A form with only its CSRF token, for one-button actions."""


class ConfirmForm(FlaskForm):
    """The confirm step of a destructive action: its CSRF token and, when others will read it, a reason."""

    reason = TextAreaField()
