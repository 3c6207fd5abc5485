"""Views of the legal documents (public) and of accepting their new versions (signed in)."""
from flask import abort, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import legal
from crowdfund.blueprints.legal import bp
from crowdfund.blueprints.legal.forms import AcceptForm
from crowdfund.htmx import redirect_after_post, render
from crowdfund.i18n import select_locale
from crowdfund.security import login_required, safe_next


def require_consent(keys, back_to):
    """None when the signed-in user has accepted the current versions of `keys`; otherwise the response that
    sends them to accept the new versions first, then back to `back_to` (a path of this site)."""
    if not legal.needs_consent(current_user, keys):
        return None
    target = url_for("legal.accept", next=back_to)
    if request.method == "GET":
        return redirect(target, code=303)
    return redirect_after_post(target, _("Some documents have a new version: please read and accept them first."),
                               "info")


def _show(document, doc):
    if doc is None:
        abort(404)
    versions = legal.history(document)
    return render("legal/document.html", doc=doc, versions=versions, latest=versions[0], locale=select_locale(),
                  name=legal.DOCUMENTS[document])


@bp.route("/<document>")
def document(document):
    """The current version of a legal document, in the reader's language, with its version history."""
    if document not in legal.DOCUMENTS:
        abort(404)
    return _show(document, legal.current(document))


@bp.route("/<document>/<version>")
def version(document, version):
    """One version of a legal document (older versions stay readable)."""
    if document not in legal.DOCUMENTS:
        abort(404)
    return _show(document, legal.version(document, version))


@bp.route("/accept", methods=["GET", "POST"])
@login_required
def accept():
    """What changed since the user last accepted (links to the new versions); accepting returns to `next`."""
    form = AcceptForm(next=request.args.get("next", ""))
    due = legal.needs_consent(current_user, list(legal.DOCUMENTS))
    if not due:
        if request.method == "POST":
            return redirect_after_post(safe_next(form.next.data))
        return redirect(safe_next(form.next.data), code=303)
    if form.validate_on_submit():
        legal.accept(current_user, [doc.key for doc in due])
        return redirect_after_post(safe_next(form.next.data), _("Thank you: the new versions are accepted."))
    previous = {doc.key: legal.last_accepted(current_user, doc.key) for doc in due}
    return render("legal/accept.html", "accept_form", status=422 if form.is_submitted() else 200, form=form,
                  due=due, previous=previous, locale=select_locale())
