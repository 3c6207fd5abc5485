"""The creator's update form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from crowdfund.updates import MAX_BODY, MAX_TITLE


class UpdateForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=MAX_TITLE)])
    body = TextAreaField(_l("What's new"), validators=[InputRequired(), Length(max=MAX_BODY)],
                         description=_l("Markdown: ## heading, **bold**, *italic*, - lists, [link](https://…)."),
                         render_kw={"rows": 12})
    image = FileField(_l("Add an image"),
                      description=_l("Optional. JPEG, PNG or WebP, at most 10 MB; it appears at the end of the text."))
    backers_only = BooleanField(_l("Only backers can read it"),
                                description=_l("Everyone else sees the title and that it is for backers only."))
