"""Uploaded files: images inline, documents as attachments, identity papers only to owner and moderators.

Private papers are always streamed from here, after the access check, never handed out as a presigned store URL:
such a URL works for anyone it reaches (browser history, a forwarded link, a proxy log) until it expires and
outlives a moderator's role, and it would need the store reachable from browsers. Papers are small and rarely
opened, so carrying their bytes costs the app little.
"""
from flask import abort, redirect, request, send_file
from flask_login import current_user
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wsgi import FileWrapper

from crowdfund.blueprints.media import bp
from crowdfund.media import cdn_url, find
from crowdfund.models import MediaKind, Role
from crowdfund.storage import MissingObject, get_storage

PUBLIC_MAX_AGE = 86400 * 30


@bp.route("/media/<path:key>")
def show(key):
    """One stored file (any of an image's widths); a public image or video on a CDN is a redirect there."""
    media = find(key)
    if media is None:
        abort(404)
    if media.private and not (current_user.is_authenticated and (
            current_user.id == media.owner_id or current_user.has_role(Role.MODERATOR))):
        abort(404)
    cdn = cdn_url(media, key)
    if cdn:  # links in stored story and update HTML name /media/...; pages link the CDN directly
        response = redirect(cdn, 302)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response
    try:
        stored, info = get_storage().open_object(key)
    except MissingObject:
        abort(404)
    response = send_file(stored, mimetype=media.content_type, as_attachment=media.kind == MediaKind.DOCUMENT,
                         download_name=_download_name(media), max_age=0 if media.private else PUBLIC_MAX_AGE,
                         etag=info.etag, last_modified=info.modified, conditional=False)
    response.content_length = info.size
    if not _has_fileno(stored):  # an S3 object: Werkzeug's wrapper seeks, so a video's range is a ranged GET
        response.response = FileWrapper(stored)  # (gunicorn's would read it from byte 0 and drop what comes before)
    try:  # 304 for a cached copy, 206 for a range of a video
        response.make_conditional(request, accept_ranges=True, complete_length=info.size)
    except RequestedRangeNotSatisfiable:
        stored.close()
        raise
    if media.private:
        response.headers["Cache-Control"] = "private, no-store"
    return response


def _has_fileno(stored):
    try:
        stored.fileno()
    except (AttributeError, OSError):
        return False
    return True


def _download_name(media):
    name = media.original_name or "document"
    if media.kind == MediaKind.DOCUMENT and not name.lower().endswith(".pdf"):
        name += ".pdf"
    return name
