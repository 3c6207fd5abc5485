"""A static file under its fingerprint: immutable for a year when the fingerprint is the file's own."""
from flask import abort, current_app, send_from_directory

from crowdfund.assets import YEAR, fingerprint
from crowdfund.blueprints.assets import bp


@bp.route("/assets/<digest>/<path:filename>")
def show(digest, filename):
    """Serve the file; an old or unknown fingerprint still gets today's file, but never cached as immutable."""
    try:
        current = fingerprint(filename)
    except (OSError, ValueError):
        abort(404)
    if digest != current:
        response = send_from_directory(current_app.static_folder, filename, max_age=0)
        response.cache_control.no_cache = True
        return response
    response = send_from_directory(current_app.static_folder, filename, max_age=YEAR)
    if response.status_code == 200:  # read it into memory so Flask-Compress can gzip it too (it streams no gzip):
        response.direct_passthrough = False  # the files are small, and each version is fetched once
        response.set_data(response.get_data())
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response
