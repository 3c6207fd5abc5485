"""Creator forms: verification papers and the analytics date range."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from crowdfund import verification


class VerificationForm(FlaskForm):
    kind = RadioField(_l("I am"), choices=[SelectChoice("individual", _l("An individual")),
                                           SelectChoice("organisation", _l("A company or organisation"))],
                      default="individual")
    real_name = StringField(_l("Real name"), validators=[Optional(), Length(max=50)])
    id_number = StringField(_l("Resident ID number"), validators=[Optional(), Length(max=18)],
                            description=_l("Stored securely and only ever shown masked."))
    organisation_name = StringField(_l("Organisation name"), validators=[Optional(), Length(max=100)])
    credit_code = StringField(_l("Unified social credit code"), validators=[Optional(), Length(max=18)])
    document = FileField(_l("Photo of your ID card or business licence"),
                         validators=[FileRequired(_l("Attach a photo or scan."))],
                         description=_l("JPEG, PNG, WebP or PDF."))

    def validate(self, extra_validators=None):
        """The fields the chosen kind needs (checked here: Optional() would skip empty ones)."""
        valid = super().validate(extra_validators)
        if self.kind.data == "individual":
            checks = [(self.real_name, bool((self.real_name.data or "").strip()),
                       _l("Enter your name as on your ID card.")),
                      (self.id_number, verification.valid_id_number(self.id_number.data),
                       _l("Enter a valid 18-character resident ID number."))]
        else:
            checks = [(self.organisation_name, bool((self.organisation_name.data or "").strip()),
                       _l("Enter the organisation's registered name.")),
                      (self.credit_code, verification.valid_credit_code(self.credit_code.data),
                       _l("Enter a valid 18-character unified social credit code."))]
        for field, ok, message in checks:
            if not ok:
                field.errors = list(field.errors) + [message]
                valid = False
        return valid


class AnalyticsRangeForm(FlaskForm):
    """The days an analytics page covers (a GET form: nothing changes, so no CSRF token)."""

    class Meta:
        csrf = False

    start = DateField(_l("From"), name="from", validators=[Optional()])
    end = DateField(_l("To"), name="to", validators=[Optional()])

    def validate(self, extra_validators=None):
        """Dates typed as YYYY-MM-DD, in a plain sentence when they are not."""
        valid = super().validate(extra_validators)
        for field in (self.start, self.end):
            if field.errors:
                field.errors = [_l("Enter a date as YYYY-MM-DD, e.g. 2026-03-01.")]
        return valid
