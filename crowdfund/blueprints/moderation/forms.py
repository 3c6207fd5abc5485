"""Moderators' decision forms."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from crowdfund.fields import YuanField


class ApproveForm(FlaskForm):
    when = RadioField(_l("Launch"), choices=[SelectChoice("now", _l("Now")),
                                             SelectChoice("later", _l("At a chosen time"))], default="now")
    launch_at = StringField(_l("Launch time (Beijing time)"), validators=[Optional()],
                            render_kw={"type": "datetime-local"})

    def launch_time(self):
        """The chosen launch time as aware UTC, or None for "now"."""
        if self.when.data != "later":
            return None
        local = datetime.fromisoformat(self.launch_at.data)
        return local.replace(tzinfo=ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))

    def validate(self, extra_validators=None):
        """A later launch needs a valid time in the future (checked here: Optional() would skip it)."""
        valid = super().validate(extra_validators)
        if self.when.data == "later":
            try:
                chosen = self.launch_time()
            except ValueError:
                self.launch_at.errors = list(self.launch_at.errors) + [_l("Choose a date and time.")]
                return False
            if chosen <= datetime.now(chosen.tzinfo):
                self.launch_at.errors = list(self.launch_at.errors) + [_l("Choose a time in the future.")]
                return False
        return valid


class ChangesForm(FlaskForm):
    basics = TextAreaField(_l("Basics"), validators=[Length(max=2000)], render_kw={"rows": 2})
    story = TextAreaField(_l("Story"), validators=[Length(max=2000)], render_kw={"rows": 2})
    funding = TextAreaField(_l("Funding"), validators=[Length(max=2000)], render_kw={"rows": 2})
    rewards = TextAreaField(_l("Rewards"), validators=[Length(max=2000)], render_kw={"rows": 2})
    risk = TextAreaField(_l("Risks & verification"), validators=[Length(max=2000)], render_kw={"rows": 2})

    def reasons(self):
        return {name: getattr(self, name).data for name in ("basics", "story", "funding", "rewards", "risk")}

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        if not any((text or "").strip() for text in self.reasons().values()):
            self.basics.errors = list(self.basics.errors) + [_l("Say what needs to change in at least one step.")]
            return False
        return True


class RejectForm(FlaskForm):
    """Only rendered: the reason is checked on the confirm step (crowdfund.confirmation)."""

    reason = TextAreaField(_l("Reason for rejection (the creator reads it)"), render_kw={"rows": 3, "maxlength": 2000})


class VerificationDecisionForm(FlaskForm):
    reason = StringField(_l("Reason (needed to reject)"), validators=[Length(max=500)])


class GuaranteeForm(FlaskForm):
    """A third-party guarantee the moderator checked: who guarantees, and up to how much."""

    guarantor = StringField(_l("Guarantor (registered name)"), validators=[DataRequired(), Length(max=100)])
    credit_code = StringField(_l("Guarantor's unified social credit code"), validators=[DataRequired(), Length(max=18)])
    amount = YuanField(_l("Guaranteed amount (yuan)"), validators=[InputRequired()], minimum_fen=100)

    def validate_credit_code(self, field):
        from crowdfund import verification

        if not verification.valid_credit_code(field.data):
            raise ValidationError(_l("Enter a valid 18-character unified social credit code."))


class ResolveAlertForm(FlaskForm):
    """Settle a risk alert: what was found and done (kept in the audit log)."""

    note = TextAreaField(_l("Resolution note"), validators=[DataRequired(), Length(max=2000)],
                         render_kw={"rows": 3, "maxlength": 2000})
