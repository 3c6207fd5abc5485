"""Untrusted input, decided once for every route (issue 12).

- URL arguments: `<int:…>` only matches ids the database can hold, and no string argument may carry NUL or
  other control characters, so `/projects/%00` and `/me/pledges/99999999999999999999` are a plain 404.
- Query strings and form fields: a NUL byte (which PostgreSQL refuses in text) is a 400 before any view runs;
  numbers read from a query or form go through `db_int`, which refuses what no integer column can hold.
- Bodies: each route gets a small body limit; only the views marked with `body_limit` (uploads) take more.
"""
from contextlib import contextmanager

from flask import Request, current_app, request
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, PathConverter, UnicodeConverter

DB_INT_MAX = 2**31 - 1  # PostgreSQL's and MariaDB's INTEGER
KB = 1024
MB = 1024 * KB
CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # tab, newline and carriage return are text; the rest are not
NUL_MESSAGE = _l("What you sent contains a character that is not allowed (a NUL byte). Please remove it and try again.")


class IdConverter(IntegerConverter):
    """`<int:…>` that matches only 0 … 2³¹−1: bigger ids cannot exist, so they are not found."""

    def __init__(self, map, fixed_digits=0, min=0, max=DB_INT_MAX, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class TextConverter(UnicodeConverter):
    """A path segment without control characters."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map, minlength=minlength, maxlength=maxlength, length=length)
        self.regex = self.regex.replace("[^/]", f"[^/{CONTROL}]")


class SafePathConverter(PathConverter):
    """`<path:…>` without control characters."""

    regex = f"[^/{CONTROL}][^{CONTROL}]*?"


def db_int(value):
    """`type=` for request.args/request.form: an integer any INTEGER column can hold, else ValueError."""
    number = int(value)
    if not -DB_INT_MAX <= number <= DB_INT_MAX:
        raise ValueError("out of range")
    return number


def body_limit(size):
    """Let this view accept bodies up to `size` bytes, or `size(view_args)` (the default limit is small)."""

    def decorator(view):
        view.body_limit = size
        return view

    return decorator


class BoundedRequest(Request):
    """The body limit is the view's own (`body_limit`) or the small default, BODY_LIMIT."""

    @property
    def max_content_length(self):
        limit = None
        if self.url_rule is not None:
            view = current_app.view_functions.get(self.url_rule.endpoint)
            limit = getattr(view, "body_limit", None)
            if callable(limit):
                limit = limit(self.view_args or {})
        return limit or current_app.config["BODY_LIMIT"]

    def _load_form_data(self):
        with self._empty_form_when_too_large():
            super()._load_form_data()

    def get_data(self, *args, **kwargs):
        with self._empty_form_when_too_large():
            return super().get_data(*args, **kwargs)

    @contextmanager
    def _empty_form_when_too_large(self):
        try:
            yield
        except RequestEntityTooLarge:
            # The error page builds forms (the language switch, CSRF) that read request.form: let them find it
            # empty instead of raising again, which turned a friendly 413 into a 500.
            self.__dict__.update(form=ImmutableMultiDict(), files=ImmutableMultiDict())
            raise


def refuse_control_characters():
    """Before every view: a NUL byte in a query or form value (or name) is a 400 with a clear message."""
    from crowdfund.errors import error_response

    if request.mimetype == "application/x-www-form-urlencoded":
        request.get_data(cache=True)  # small (BODY_LIMIT): keep the raw body for views that verify it (notify)
    sources = (request.args, request.form) if request.method == "POST" else (request.args,)
    for multidict in sources:
        for key, values in multidict.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return error_response(400, NUL_MESSAGE)
    return None


def init_app(app):
    """Install the converters (before any blueprint adds a rule) and the input filter (before CSRF runs)."""
    app.request_class = BoundedRequest
    app.url_map.converters.update(int=IdConverter, default=TextConverter, string=TextConverter,
                                  path=SafePathConverter)
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_control_characters)

