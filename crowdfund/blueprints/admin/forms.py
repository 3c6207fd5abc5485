"""Forms for administrators."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
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


class AuditFilterForm(FlaskForm):
    """Narrow the audit log (a GET form: nothing changes, so no CSRF token)."""

    class Meta:
        csrf = False

    actor = StringField(_l("Actor (e-mail or name)"), validators=[Optional(), Length(max=254)])
    action = SelectField(_l("Action"), validators=[Optional()], choices=[])
    object_type = SelectField(_l("Object type"), validators=[Optional()], choices=[])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end date comes before the start date."))


class PublishForm(FlaskForm):
    """A new version of a legal document, in both languages (Markdown)."""

    document = SelectField(_l("Document"), choices=[])
    version = StringField(_l("Version label"), validators=[DataRequired(), Length(max=40)],
                          description=_l("Letters, digits, dots, dashes, e.g. 2027-01-15. Never reused."))
    title_zh = StringField(_l("Title (Chinese)"), validators=[DataRequired(), Length(max=200)])
    body_zh = TextAreaField(_l("Text (Chinese, Markdown)"), validators=[DataRequired(), Length(max=100_000)])
    title_en = StringField(_l("Title (English)"), validators=[DataRequired(), Length(max=200)])
    body_en = TextAreaField(_l("Text (English, Markdown)"), validators=[DataRequired(), Length(max=100_000)])
