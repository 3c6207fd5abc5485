"""The one place user HTML is made safe: Markdown in, allowlisted HTML out (STYLE rule 6)."""
import re

import bleach
import markdown as md

ALLOWED_TAGS = {"p", "br", "hr", "h2", "h3", "h4", "strong", "em", "b", "i", "u", "s", "blockquote", "ul", "ol",
                "li", "a", "img", "code", "pre", "table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_PROTOCOLS = {"http", "https", "mailto"}
IMAGE_WITHOUT_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
OWN_IMAGE = re.compile(r'<img ([^>]*?)src="/media/([^"]+)"([^>]*?)/?>')
VARIANT_SUFFIX = re.compile(r"-\d+\.jpg$")
OWN_IMAGE_KEYS = re.compile(r'<img [^>]*?src="/media/([^"]+)"')
# A story column is at most 720 px wide; on a phone an image spans the screen.
IMAGE_SIZES = "(max-width: 760px) 100vw, 720px"


def _allowed_attribute(tag, name, value):
    if tag == "a" and name in ("href", "title"):
        return True
    if tag == "img" and name == "alt":
        return True
    if tag == "img" and name == "src":
        # Only our own uploads: CSP would block anything else, and remote images track readers.
        return value.startswith("/media/")
    return False


def clean_html(html):
    """Strip everything outside the allowlist: scripts, on* and hx-* attributes, javascript: URLs, styles."""
    cleaned = bleach.clean(html, tags=ALLOWED_TAGS, attributes=_allowed_attribute,
                           protocols=ALLOWED_PROTOCOLS, strip=True, strip_comments=True)
    cleaned = IMAGE_WITHOUT_SOURCE.sub("", cleaned)  # an image whose address was refused would show as broken
    return bleach.linkify(cleaned, callbacks=[_external_links], skip_tags={"pre", "code"})


def _external_links(attrs, new=False):
    href = attrs.get((None, "href"), "")
    if href.startswith(("http://", "https://")):
        attrs[(None, "rel")] = "nofollow noopener ugc"
    return attrs


def markdown_to_html(source):
    """Render the creator's Markdown story to clean HTML."""
    html = md.markdown(source or "", extensions=["extra", "sane_lists"], output_format="html")
    return responsive_images(clean_html(html))


def responsive_images(html):
    """Images from our uploads load lazily and offer their stored widths (srcset/sizes) to the browser.

    Runs on HTML that is already clean: it only adds attributes whose values come from our own media rows.
    """
    from flask import has_app_context
    from markupsafe import escape

    from sqlalchemy import select

    from crowdfund.extensions import db
    from crowdfund.models import Media

    keys = set(OWN_IMAGE_KEYS.findall(html))
    if not keys:
        return html
    bases = {key: VARIANT_SUFFIX.sub("", key) for key in keys}  # an image is usually linked by one of its widths
    found = {m.key: m for m in db.session.scalars(select(Media).where(Media.key.in_(keys | set(bases.values()))))} \
        if has_app_context() else {}

    def add(match):
        before, key, after = match.groups()
        extra = ' loading="lazy" decoding="async"'
        media = found.get(key) or found.get(bases[key])
        if media is not None and media.variants:
            widths = sorted(media.variants.items(), key=lambda kv: int(kv[0]))
            extra += f' srcset="{escape(", ".join(f"/media/{k} {w}w" for w, k in widths))}" sizes="{IMAGE_SIZES}"'
        return f'<img {before}src="/media/{key}"{after.rstrip()}{extra}>'

    return OWN_IMAGE.sub(add, html)
