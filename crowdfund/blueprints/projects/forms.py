"""Forms on the public project pages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from crowdfund.reports import PROJECT_REPORT_CATEGORIES, PROJECT_REPORT_TEXT_MAX

REPORT_CATEGORY_NAMES = {
    "fraud": _l("Fraud or a fake project"),
    "prohibited": _l("Prohibited or illegal content"),
    "infringement": _l("Infringes intellectual property"),
    "not_delivering": _l("Not delivering the rewards"),
    "other": _l("Something else"),
}


class ProjectReportForm(FlaskForm):
    """Report a project (举报): why, and what the moderators should know."""

    category = SelectField(_l("Reason"), choices=[SelectChoice(key, REPORT_CATEGORY_NAMES[key])
                                                  for key in PROJECT_REPORT_CATEGORIES], validators=[DataRequired()])
    text = TextAreaField(_l("What the moderators should know"), validators=[Length(max=PROJECT_REPORT_TEXT_MAX)],
                         render_kw={"rows": 3, "maxlength": PROJECT_REPORT_TEXT_MAX})
