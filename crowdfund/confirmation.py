"""The confirm step every destructive action shares: the first POST asks, only a POST with confirm=1 acts.

It works without JS (a page of its own) and, with htmx, swaps in place of the form that asked
(the `confirmation` block of `confirmation.html`). A reason that others will read is required.
"""
from flask import request
from flask_babel import gettext as _

from crowdfund.forms import ConfirmForm
from crowdfund.htmx import render


class Confirmation:
    """What a destructive action will do, said plainly before it is done."""

    def __init__(self, action, *, subject, title, consequences, button, back, reason_label=None,
                 reason_missing=None, reason_max=500, hidden=None):
        self.action, self.subject, self.title, self.button, self.back = action, subject, title, button, back
        self.consequences = [line for line in consequences if line]
        self.hidden = hidden or {}
        self.form = ConfirmForm()
        self.asks_reason = reason_label is not None
        self.reason_missing = reason_missing or _("Give a reason.")
        self.reason_max = reason_max
        if self.asks_reason:
            self.form.reason.label.text = reason_label
            self.form.reason.render_kw = {"rows": 3, "maxlength": reason_max}

    @property
    def reason(self):
        """The reason as typed, trimmed ("" when none is asked)."""
        return (self.form.reason.data or "").strip() if self.asks_reason else ""

    def ask(self):
        """The response to send instead of acting: the confirmation (200) or the reason refused (422); None to act."""
        if self.asks_reason and not self.reason:
            return self.refuse(self.reason_missing)
        if self.asks_reason and len(self.reason) > self.reason_max:
            return self.refuse(_("At most %(num)d characters.", num=self.reason_max))
        if request.form.get("confirm") == "1":
            return None
        return self._render(200)

    def refuse(self, message):
        """Nothing was done: show the confirmation again with `message` beside the reason."""
        self.form.reason.errors = [message]
        return self._render(422)

    def _render(self, status):
        return render("confirmation.html", "confirmation", status=status, step=self)
