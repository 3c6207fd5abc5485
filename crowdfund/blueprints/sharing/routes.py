"""Views that share a project: the share page and the QR code of a share link."""
from flask import abort, make_response, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from crowdfund import growth, lifecycle
from crowdfund.blueprints.sharing import bp
from crowdfund.extensions import db
from crowdfund.htmx import render
from crowdfund.models import Project
from crowdfund.visits import REF


def _public_project(slug):
    project = db.session.scalar(select(Project).where(Project.slug == slug))
    if project is None or not lifecycle.is_public(project):
        abort(404)
    return project


@bp.route("/projects/<slug>/share")
def show(slug):
    """分享: the link to copy, Weibo's share link and the WeChat QR code, on a page of their own (for phones)."""
    project = _public_project(slug)
    share = growth.share_context(project, current_user)
    return render("sharing/show.html", "share_panel", project=project, share=share,
                  qr_svg_html=growth.qr_svg(share["link"], _("QR code of the link to %(title)s", title=project.title)))


@bp.route("/projects/<slug>/share/qr.svg")
def qr(slug):
    """The QR code of a project's share link (with `ref`, if given) as an SVG image; the same for everyone."""
    project = _public_project(slug)
    ref = request.args.get("ref", "")
    if ref and not REF.fullmatch(ref):
        abort(404)
    link = growth.share_url(project) + (f"?ref={ref}" if ref else "")
    response = make_response(growth.qr_svg(link, project.title))  # the same in every language: one cached image
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
