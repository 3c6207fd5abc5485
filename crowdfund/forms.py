"""Forms shared across blueprints."""
from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """A form with only its CSRF token, for one-button actions."""
