"""Form fields shared by several blueprints."""
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import ValidationError

from crowdfund.i18n import fen_to_yuan


class YuanField(StringField):
    """An amount typed in yuan ("88" or "88.50"), held as integer fen in `.data`."""

    def __init__(self, label=None, validators=None, minimum_fen=1, maximum_fen=10**11, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)
        self.minimum_fen, self.maximum_fen = minimum_fen, maximum_fen

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(fen_to_yuan(self.data))

    def process_formdata(self, valuelist):
        self.data = None
        text = (valuelist[0] if valuelist else "").strip().replace(",", "").replace("，", "").lstrip("¥￥")
        if not text:
            return
        try:
            amount = Decimal(text)
            if not amount.is_finite() or abs(amount) > Decimal(self.maximum_fen) / 100:
                raise ValueError(_l("Enter an amount between %(low)s and %(high)s yuan.",
                                    low=fen_to_yuan(self.minimum_fen), high=fen_to_yuan(self.maximum_fen)))
            if amount != amount.quantize(Decimal("0.01")):
                raise ValueError(_l("Use at most two decimal places."))
        except InvalidOperation:
            raise ValueError(_l("Enter an amount in yuan, like 88 or 88.50.")) from None
        self.data = int(amount * 100)

    def pre_validate(self, form):
        if self.data is not None and not (self.minimum_fen <= self.data <= self.maximum_fen):
            raise ValidationError(_l("Enter an amount between %(low)s and %(high)s yuan.",
                                     low=fen_to_yuan(self.minimum_fen), high=fen_to_yuan(self.maximum_fen)))
