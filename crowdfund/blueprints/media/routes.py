"""Uploaded files: images inline, documents as attachments, identity papers only to owner and moderators."""
from flask import abort, send_file
from flask_login import current_user

from crowdfund.blueprints.media import bp
from crowdfund.media import find
from crowdfund.models import MediaKind, Role
from crowdfund.storage import get_storage


@bp.route("/media/<path:key>")
def show(key):
    """One stored file (any of an image's widths)."""
    media = find(key)
    if media is None:
        abort(404)
    if media.private and not (current_user.is_authenticated and (
            current_user.id == media.owner_id or current_user.has_role(Role.MODERATOR))):
        abort(404)
    storage = get_storage()
    if not storage.exists(key):
        abort(404)
    response = send_file(storage.open(key), mimetype=media.content_type,
                         as_attachment=media.kind == MediaKind.DOCUMENT,
                         download_name=_download_name(media), max_age=0 if media.private else 86400 * 30,
                         conditional=True)
    if media.private:
        response.headers["Cache-Control"] = "private, no-store"
    return response


def _download_name(media):
    name = media.original_name or "document"
    if media.kind == MediaKind.DOCUMENT and not name.lower().endswith(".pdf"):
        name += ".pdf"
    return name
