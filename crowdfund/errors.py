"""Friendly error pages: a full page, or a fragment swapped into the message area for htmx."""
import logging

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from crowdfund.htmx import is_htmx, render
from crowdfund.storage import MissingObject, StorageError

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Please go back and try again.")),
    403: (_l("Not allowed"), _l("Your account does not have permission to do that.")),
    404: (_l("Page not found"), _l("We could not find that page. It may have been moved or removed.")),
    405: (_l("Not allowed"), _l("That action is not available here.")),
    413: (_l("Too large"), _l("What you sent is too large.")),
    422: (_l("Please check your input"), _l("Some of the information you entered needs fixing.")),
    429: (_l("Too many attempts"), _l("You have tried that too often. Please wait a little and try again.")),
    503: (_l("Temporarily unavailable"), _l("This is unavailable for a moment. Please try again in a few minutes.")),
    500: (_l("Something went wrong"), _l("Something went wrong on our side. It has been logged; please try again shortly.")),
}
STORAGE_MESSAGE = _l("Uploaded files cannot be reached just now. Please try again in a few minutes.")
CSRF_MESSAGE = _l("This form has expired or did not come from this site. Please reload the page and try again.")


def error_response(code, detail=None, retry_after=None):
    """Render the error page (or fragment) for an HTTP status code."""
    title, message = MESSAGES.get(code, MESSAGES[500] if code >= 500 else MESSAGES[400])
    response = render("errors/error.html", "error", status=code, code=code, title=title,
                      message=detail or message)
    if is_htmx() and code != 422:
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def register_error_handlers(app):
    """Install handlers so no status ever shows a stack trace."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(StorageError)
    def storage_error(error):
        """The object store is down or refused (a missing object is a plain 404): a page, not a stack trace."""
        from crowdfund.extensions import db

        db.session.rollback()
        if isinstance(error, MissingObject):
            return error_response(404)
        log.warning("storage unavailable on %s %s: %s", request.method, request.path, error)
        return error_response(503, STORAGE_MESSAGE, retry_after=60)

    @app.errorhandler(HTTPException)
    def http_error(error):
        retry_after = None
        if error.code == 429 and error.response is not None:
            return error.response  # a limit's own on_breach page (e.g. the data-export limit's clear message)
        if error.code == 429:
            limit = getattr(error, "limit", None)
            retry_after = limit.limit.get_expiry() if limit is not None else 60
        if error.code in (301, 302, 303, 307, 308):
            return error
        return error_response(error.code or 500, retry_after=retry_after)

    @app.errorhandler(Exception)
    def unexpected_error(error):
        log.exception("unhandled error on %s %s", request.method, request.path)
        from crowdfund.extensions import db

        db.session.rollback()
        return error_response(InternalServerError.code)
