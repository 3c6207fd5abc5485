"""The pledge form and the address form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, Regexp

from crowdfund.fields import YuanField
from crowdfund.i18n import CHANNEL_NAMES, REGION_NAMES
from crowdfund.inputs import db_int

CHANNEL_CHOICES = [SelectChoice(key, label) for key, label in CHANNEL_NAMES.items()]


def region_choices():
    return [SelectChoice(key, label) for key, label in REGION_NAMES.items()]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class AddressFields:
    """Mixin: the fields of a shipping address (province, city and district are picked from a list in China)."""

    name = StringField(_l("Recipient"), validators=[Optional(), Length(max=50)], filters=[_strip],
                       render_kw={"autocomplete": "name"})
    phone = StringField(_l("Mobile number"), validators=[Optional(), Regexp(
                            r"^\+?[0-9 \-]{6,20}$", message=_l("Enter a valid mobile number, such as 13800000000."))],
                        filters=[_strip], render_kw={"autocomplete": "tel", "inputmode": "tel"})
    province = StringField(_l("Province"), validators=[Optional(), Length(max=30)], filters=[_strip])
    city = StringField(_l("City"), validators=[Optional(), Length(max=30)], filters=[_strip])
    district = StringField(_l("District"), validators=[Optional(), Length(max=30)], filters=[_strip])
    detail = StringField(_l("Street address"), validators=[Optional(), Length(max=200)], filters=[_strip],
                         render_kw={"autocomplete": "street-address"})


class PledgeForm(AddressFields, FlaskForm):
    tier = RadioField(_l("Reward"), coerce=int)
    amount = YuanField(_l("Amount (yuan)"), validators=[Optional()],
                       description=_l("At least the reward's price; more is welcome."))
    region = SelectField(_l("Ship to"), choices=region_choices(), default="mainland")
    address_id = SelectField(_l("Address"), coerce=int, default=0)
    save_address = BooleanField(_l("Save this address to my address book"), default=True)
    anonymous = BooleanField(_l("Hide my name on the public backer list"))
    accept_risk = BooleanField(_l("I have read the risk disclosure and understand that backing is not buying"))
    provider = RadioField(_l("Pay with"), default="alipay")  # choices: the enabled providers (pledge_form)
    channel = SelectField(_l("How to pay"), choices=CHANNEL_CHOICES)
    # The backer's coupons usable on this amount are offered beside the total; the domain re-checks the choice.
    coupon = RadioField(_l("Coupon"), coerce=db_int, default=0, validate_choice=False)
    idempotency_key = HiddenField()


class AddressForm(AddressFields, FlaskForm):
    region = SelectField(_l("Region"), choices=region_choices(), default="mainland")
