"""One template, two renderings: the full page, or a named block for htmx (STYLE rule 2)."""
from flask import flash, make_response, redirect, render_template, request
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block
from werkzeug.urls import iri_to_uri


def is_htmx():
    """An htmx request that wants a fragment (not a boosted navigation or history restore)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(template, block=None, *, status=200, retitle=False, **context):
    """Render the named block for a fragment request, the whole page otherwise.

    With `retitle`, a fragment that stands for a new page (a wizard step) carries the page's
    <title> too, which htmx moves into document.title.
    """
    if block and is_htmx():
        body = render_block(template, block, **context)
        if retitle:
            body += f"\n<title>{render_block(template, 'title', **context).strip()} · {_('Crowdfund')}</title>"
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def redirect_after_post(location, message=None, category="success"):
    """Success after a POST: 303 for a plain form, an HX-Redirect for an htmx one."""
    if message:
        flash(message, category)
    location = iri_to_uri(location)  # headers carry ASCII only: a slug or `next` with 台灯 is percent-encoded
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = location
    else:
        response = redirect(location, code=303)
    response.vary.add("HX-Request")
    return response
