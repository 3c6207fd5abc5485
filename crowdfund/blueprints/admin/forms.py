"""Forms for administrators."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from crowdfund.i18n import ROLE_NAMES


class RolesForm(FlaskForm):
    """The roles one account holds."""

    roles = SelectMultipleField(
        _l("Roles"),
        choices=[SelectChoice(role.value, label) for role, label in ROLE_NAMES.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
