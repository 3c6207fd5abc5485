"""Forms for comments, questions, replies and edits."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from crowdfund.comments import BODY_MAX

BODY_RULES = [DataRequired(message=_l("Write something first.")),
              Length(max=BODY_MAX, message=_l("Please keep it under %(max)d characters."))]


class CommentForm(FlaskForm):
    """A new top-level comment, or a question for the creator."""

    body = TextAreaField(_l("Your comment or question"), validators=BODY_RULES)
    is_question = BooleanField(_l("This is a question for the creator"))


class BodyForm(FlaskForm):
    """A reply, or the corrected text of one's own comment."""

    body = TextAreaField(_l("Your reply"), validators=BODY_RULES)
