"""Forms for private messages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from crowdfund.messaging import MAX_BODY, MAX_REASON


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class MessageForm(FlaskForm):
    body = TextAreaField(_l("Message"), filters=[_strip],
                         validators=[DataRequired(_l("Write a message first.")),
                                     Length(max=MAX_BODY, message=_l("A message can be at most %(max)d characters."))],
                         render_kw={"rows": 4, "maxlength": MAX_BODY})


class ReportForm(FlaskForm):
    reason = StringField(_l("Reason (optional)"), filters=[_strip],
                         validators=[Length(max=MAX_REASON, message=_l("Keep the reason under %(max)d characters."))],
                         render_kw={"maxlength": MAX_REASON})
