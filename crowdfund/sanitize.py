"""The one place user HTML is made safe: Markdown in, allowlisted HTML out (STYLE rule 6)."""
import re

import bleach
import markdown as md

ALLOWED_TAGS = {"p", "br", "hr", "h2", "h3", "h4", "strong", "em", "b", "i", "u", "s", "blockquote", "ul", "ol",
                "li", "a", "img", "code", "pre", "table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_PROTOCOLS = {"http", "https", "mailto"}
IMAGE_WITHOUT_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")


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
    return clean_html(html)
