"""Creator verification form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

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

    def validate_real_name(self, field):
        if self.kind.data == "individual" and not (field.data or "").strip():
            raise ValidationError(_l("Enter your name as on your ID card."))

    def validate_id_number(self, field):
        if self.kind.data == "individual" and not verification.valid_id_number(field.data):
            raise ValidationError(_l("Enter a valid 18-character resident ID number."))

    def validate_organisation_name(self, field):
        if self.kind.data == "organisation" and not (field.data or "").strip():
            raise ValidationError(_l("Enter the organisation's registered name."))

    def validate_credit_code(self, field):
        if self.kind.data == "organisation" and not verification.valid_credit_code(field.data):
            raise ValidationError(_l("Enter a valid 18-character unified social credit code."))
