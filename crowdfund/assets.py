"""Static files under fingerprinted URLs (/assets/<digest>/<file>): a changed file gets a new URL, so
browsers may keep every version for a year without asking again."""
import hashlib
import os
from functools import lru_cache

from flask import current_app, url_for
from werkzeug.security import safe_join

YEAR = 365 * 24 * 3600


@lru_cache(maxsize=256)
def _digest(path, mtime_ns, size):
    with open(path, "rb") as source:
        return hashlib.sha256(source.read()).hexdigest()[:12]


def fingerprint(filename):
    """The first 12 hex digits of the file's SHA-256 (recomputed only when the file changes)."""
    path = safe_join(current_app.static_folder, filename)
    if path is None:
        raise FileNotFoundError(filename)
    stat = os.stat(path)
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def asset_url(filename):
    """The fingerprinted URL of a file under crowdfund/static/."""
    return url_for("assets.show", digest=fingerprint(filename), filename=filename)
