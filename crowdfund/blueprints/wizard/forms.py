"""Forms of the launch wizard's steps."""
import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from crowdfund.fields import YuanField
from crowdfund.models.base import utcnow
from crowdfund.models import FundingMode, ProjectKind

KIND_CHOICES = [SelectChoice(ProjectKind.REWARD.value, _l("Reward crowdfunding: backers get rewards")),
                SelectChoice(ProjectKind.CHARITY.value, _l("Charity: together with a registered charity"))]
MODE_CHOICES = [SelectChoice(FundingMode.ALL_OR_NOTHING.value,
                             _l("All or nothing: money is collected only if the goal is reached")),
                SelectChoice(FundingMode.FLEXIBLE.value, _l("Flexible: keep whatever is raised"))]


class BasicsForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=60)])
    summary = TextAreaField(_l("One-sentence summary"), validators=[InputRequired(), Length(max=200)],
                            description=_l("Shown on project cards and in search results."))
    category = SelectField(_l("Category"), coerce=int,
                           validators=[NumberRange(min=1, message=_l("Choose a category."))])
    kind = RadioField(_l("Kind of project"), choices=KIND_CHOICES, default=ProjectKind.REWARD.value)
    cover = FileField(_l("Cover image"), description=_l("JPEG, PNG or WebP, at most 10 MB; 16:9 looks best."))


class StoryForm(FlaskForm):
    story = TextAreaField(_l("Story"), validators=[Length(max=50_000)],
                          description=_l("Markdown: ## heading, **bold**, *italic*, - lists, [link](https://…)."),
                          render_kw={"rows": 14})
    video_url = StringField(_l("Video link"), validators=[Optional(), URL(), Length(max=300)],
                            description=_l("A bilibili, Youku or Tencent Video page."))
    video_file = FileField(_l("Or upload a video"), description=_l("MP4, at most 100 MB."))
    remove_video = BooleanField(_l("Remove the current video"))
    document_title = StringField(_l("Document title"), validators=[Optional(), Length(max=100)])
    document_file = FileField(_l("Attach a PDF document"), description=_l("At most 20 MB."))


class FundingForm(FlaskForm):
    goal = YuanField(_l("Funding goal (yuan)"), validators=[InputRequired()], minimum_fen=100_00)
    duration = IntegerField(_l("Duration (days)"), validators=[InputRequired(), NumberRange(min=1, max=60)],
                            description=_l("Between 1 and 60 days."))
    funding_mode = RadioField(_l("Funding mode"), choices=MODE_CHOICES, default=FundingMode.ALL_OR_NOTHING.value)


def _month(form, field):
    if field.data and not re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", field.data):
        raise ValidationError(_l("Use a month like 2027-03."))
    if field.data and field.data < utcnow().strftime("%Y-%m"):
        raise ValidationError(_l("The delivery month cannot be in the past."))


class TierForm(FlaskForm):
    title = StringField(_l("Reward title"), validators=[InputRequired(), Length(max=60)])
    description = TextAreaField(_l("What backers get"), validators=[Length(max=2000)], render_kw={"rows": 3})
    price = YuanField(_l("Price (yuan)"), validators=[InputRequired()])
    quantity_limit = IntegerField(_l("Limited to (leave empty for unlimited)"),
                                  validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    delivery_month = StringField(_l("Estimated delivery"), validators=[InputRequired(), _month],
                                 render_kw={"type": "month", "placeholder": "2027-03"})
    physical = BooleanField(_l("Physical reward that needs shipping"), default=True)
    unit_cost = YuanField(_l("Unit cost estimate (yuan)"), validators=[Optional()], minimum_fen=0,
                          description=_l("What one reward costs you to make; only reviewers see it."))
    ship_mainland = YuanField(_l("Shipping to mainland China"), validators=[Optional()], minimum_fen=0,
                              description=_l("Leave empty where you do not ship; 0 for free shipping."))
    ship_hk_mo_tw = YuanField(_l("Shipping to Hong Kong, Macao and Taiwan"), validators=[Optional()], minimum_fen=0)
    ship_overseas = YuanField(_l("Shipping overseas"), validators=[Optional()], minimum_fen=0)

    def tier_fields(self):
        """The form's data as keyword arguments for projects.add_tier / update_tier."""
        return dict(title=self.title.data, description=self.description.data, price_fen=self.price.data,
                    quantity_limit=self.quantity_limit.data, delivery_month=self.delivery_month.data,
                    physical=self.physical.data, unit_cost_fen=self.unit_cost.data,
                    shipping={"mainland": self.ship_mainland.data, "hk_mo_tw": self.ship_hk_mo_tw.data,
                              "overseas": self.ship_overseas.data})

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        regions = (self.ship_mainland, self.ship_hk_mo_tw, self.ship_overseas)
        if self.physical.data and all(f.data is None and not f.errors for f in regions):
            self.ship_mainland.errors = list(self.ship_mainland.errors) + [
                _l("A physical reward needs at least one region it ships to.")]
            return False
        return valid


class RiskForm(FlaskForm):
    risk_disclosure = TextAreaField(_l("Risks and challenges (风险提示)"), validators=[InputRequired(), Length(max=5000)],
                                    description=_l("What could delay or stop the project, and what you will do then."),
                                    render_kw={"rows": 6})
    partner_charity = StringField(_l("Partner charity"), validators=[Length(max=100)],
                                  description=_l("A registered charity with public-fundraising qualification (公募资格)."))
    certificate = FileField(_l("Its registration certificate"), description=_l("Image or PDF."))
    fund_use_plan = TextAreaField(_l("Fund-use plan"), validators=[Length(max=5000)], render_kw={"rows": 4})


class SubmitForm(FlaskForm):
    """Send the project to review, accepting the current project rules (项目发起规范)."""

    accept_rules = BooleanField(_l("I have read and accept the project rules, including the list of prohibited "
                                   "projects"),
                                validators=[DataRequired(message=_l("Please accept the project rules to submit."))])
