"""The XSS corpus and the check that no active markup from it survives in what the site sends (issue 12).

Each payload is a template whose `{m}` becomes a unique marker (`xss<number>q`), so a marker found on a page says
which payload, field and account it came from. `leaks(html)` parses an answer as a browser would (html5lib, the
HTML5 parsing algorithm, as vendored by bleach) and lists every active thing in it: elements that run or load
code, event handlers, script-bearing URLs, htmx attributes from a payload, scripts that are not our own files.
"""
import itertools
import re
from urllib.parse import urlsplit

from bleach._vendor import html5lib

MARKER = re.compile(r"xss\d+q")
# name, template, swallows: an unclosed or raw-text payload that may eat what follows it, so it travels alone.
CORPUS = [
    ("script", '<script>alert("{m}")</script>', False),
    ("img-onerror", '<img src=x onerror=alert("{m}")>', False),
    ("svg-onload", '<svg onload=alert("{m}")>', False),
    ("svg-script", '<svg><script>alert("{m}")</script></svg>', False),
    ("js-link", '<a href="javascript:alert(\'{m}\')">{m}</a>', False),
    ("js-link-case", '<a href="JaVaScRiPt:alert(\'{m}\')">{m}</a>', False),
    ("js-link-entity", '<a href="&#106;avascript:alert(\'{m}\')">{m}</a>', False),
    ("js-link-tab", '<a href="jav\tascript:alert(\'{m}\')">{m}</a>', False),
    ("js-link-space", '<a href=" javascript:alert(\'{m}\')">{m}</a>', False),
    ("data-link", '<a href="data:text/html,<script>alert(\'{m}\')</script>">{m}</a>', False),
    ("vbscript-link", '<a href="vbscript:msgbox(\'{m}\')">{m}</a>', False),
    ("iframe", '<iframe src="javascript:alert(\'{m}\')"></iframe>', False),
    ("iframe-srcdoc", '<iframe srcdoc="<script>alert(\'{m}\')</script>"></iframe>', False),
    ("object", '<object data="data:text/html,{m}"></object>', False),
    ("embed", '<embed src="javascript:alert(\'{m}\')">', False),
    ("base", '<base href="https://{m}.example/">', False),
    ("meta-refresh", '<meta http-equiv="refresh" content="0;url=javascript:alert(\'{m}\')">', False),
    ("form-action", '<form action="https://{m}.example/"><button>{m}</button></form>', False),
    ("formaction", '<button formaction="javascript:alert(\'{m}\')">{m}</button>', False),
    ("style-tag", '<style>@import "https://{m}.example/x.css";</style>', False),
    ("style-attr", '<p style="width:expression(alert(\'{m}\'))">{m}</p>', False),
    ("link-tag", '<link rel="stylesheet" href="https://{m}.example/x.css">', False),
    ("xlink", '<svg><a xlink:href="javascript:alert(\'{m}\')"><text>{m}</text></a></svg>', False),
    ("math", '<math href="javascript:alert(\'{m}\')">{m}</math>', False),
    ("srcset", '<img src="/media/x.jpg" srcset="javascript:alert(\'{m}\')">', False),
    ("break-double", '"><img src=x onerror=alert("{m}")>', False),
    ("break-single", "' onmouseover=alert(\"{m}\") x='", False),
    ("break-unquoted", 'x onfocus=alert("{m}") autofocus', False),
    ("break-textarea", '</textarea><script>alert("{m}")</script>', False),
    ("break-title", '</title><script>alert("{m}")</script>', False),
    ("double-lt", '<<script>>alert("{m}")<</script>', False),
    ("hx-get", '<div hx-get="/admin/users?{m}" hx-trigger="load">{m}</div>', False),
    ("hx-post", '<button hx-post="/logout?{m}" hx-trigger="load">{m}</button>', False),
    ("hx-on-click", '<p hx-on:click="alert(\'{m}\')">{m}</p>', False),
    ("hx-on-before", '<p hx-on::before-request="alert(\'{m}\')">{m}</p>', False),
    ("data-hx", '<div data-hx-get="/?{m}" data-hx-trigger="load">{m}</div>', False),
    ("hx-vals", '<b hx-post="/x" hx-vals=\'js:{{a:alert("{m}")}}\'>{m}</b>', False),
    ("template", "{{{{7*7}}}}{m}{{{{config}}}}", False),
    ("markdown-js", "[{m}](javascript:alert('{m}'))", False),
    ("markdown-img", "![{m}](/media/x\" onerror=\"alert('{m}'))", False),
    ("markdown-attrs", "[{m}](https://example.com/){{: onclick=\"alert('{m}')\" }}", False),
    ("entities", "&lt;script&gt;alert('{m}')&lt;/script&gt;", False),
    ("percent", "%3Cscript%3Ealert('{m}')%3C/script%3E", False),
    ("plain-js-url", "javascript:alert('{m}')", False),
    ("safe-link", '<a href="https://{m}.example/">{m}</a>', False),
    ("unclosed-img", '<img src=x onerror=alert("{m}")//', True),
    ("unclosed-svg", '<svg/onload=alert("{m}")', True),
    ("comment", '<!--<img src="--><img src=x onerror=alert("{m}")//-->', True),
    ("noscript", '<noscript><p title="</noscript><img src=x onerror=alert(\'{m}\')>">', True),
    ("mathml-mxss", "<math><mtext><table><mglyph><style><img src=x onerror=alert('{m}')>", True),
]
NAMES = [name for name, _, _ in CORPUS]
DANGEROUS_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "form",
                  "style", "svg", "math", "link", "portal", "template"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "data", "srcset", "background", "ping", "cite",
                  "longdesc", "xlink:href", "srcdoc"}
BAD_SCHEME = re.compile(r"^(javascript|data|vbscript):", re.I)
OUR_SCRIPTS = ("/assets/", "/static/")


class Corpus:
    """Hands out payloads with fresh markers and remembers where each marker went."""

    def __init__(self):
        self.counter = itertools.count(1)
        self.sent = {}  # marker -> (payload name, where)

    def payload(self, name, where):
        marker = f"xss{next(self.counter)}q"
        template = next(t for n, t, _ in CORPUS if n == name)
        self.sent[marker] = (name, where)
        return template.replace("{m}", marker).replace("{{", "{").replace("}}", "}")

    def fits(self, name, limit):
        template = next(t for n, t, _ in CORPUS if n == name)
        return len(template.replace("{m}", "xss00000q").replace("{{", "{").replace("}}", "}")) <= limit

    def packs(self, where, limit):
        """The corpus as few values as fit in `limit` characters: the self-contained payloads packed together
        (blank lines between, so Markdown keeps them apart), each swallowing payload on its own."""
        values, current = [], ""
        for name, _, swallows in CORPUS:
            if not self.fits(name, limit):
                continue  # longer than the field takes: refused before anything is stored
            value = self.payload(name, where)
            if swallows:
                values.append(value)
            elif current and len(current) + 2 + len(value) > limit:
                values.append(current)
                current = value
            else:
                current = f"{current}\n\n{value}" if current else value
        return ([current] if current else []) + values

    def whence(self, marker):
        return self.sent.get(marker, ("?", "?"))


def _local(name):
    """`{namespace}tag` -> tag; html5lib names foreign attributes like xlink:href by namespace too."""
    if name.startswith("{http://www.w3.org/1999/xlink}"):
        return "xlink:" + name.split("}")[1]
    return name.split("}")[-1].lower()


def parse(html):
    """A full page as a document; a fragment (an htmx answer) in the context htmx would put it in."""
    if re.match(r"\s*(<!doctype|<html)", html, re.I):
        return html5lib.parse(html, namespaceHTMLElements=False)
    start = re.match(r"\s*<(\w+)", html)
    container = {"tr": "tbody", "td": "tr", "th": "tr", "option": "select", "li": "ul"}.get(
        start.group(1).lower() if start else "", "div")
    return html5lib.parseFragment(html, container=container, namespaceHTMLElements=False)


def _text(element):
    return "".join(element.itertext())


def _everything(element):
    """Text, attribute names and values of an element and all inside it."""
    return " ".join([_text(element)] + [f"{k}={v}" for e in element.iter() for k, v in e.attrib.items()])


OUR_FRAMES = ("https://player.bilibili.com/", "https://player.youku.com/", "https://v.qq.com/")


# What an answer without any marker must contain for a closer look (our own pages have none of it).
SUSPECT = re.compile(r'<script(?![^>]*\ssrc="/(?:assets|static)/)|\son[a-z]+\s*=|(?:java|vb)script:|data:text|'
                     r'<(?:iframe|object|embed|base|frame|applet|portal)\b|http-equiv', re.I)
RAW_NOSCRIPT = re.compile(r"<noscript\b.*?</noscript.{0,100}", re.I | re.S)


def leaks(html, tree=None):
    """Every active thing in an answer that a payload could have put there, as readable strings."""
    if tree is None and not MARKER.search(html) and not SUSPECT.search(html):
        return []
    # Parsed as with scripting off; with it on a <noscript>'s content is text up to the first </noscript>, and
    # whatever a payload put after that would be markup (mutation XSS), so no payload may open or fill one.
    found = [f"a noscript element holding a payload: {m.group(0)[:200]!r}"
             for m in RAW_NOSCRIPT.finditer(html) if MARKER.search(m.group(0))]
    tree = parse(html) if tree is None else tree
    parents = {child: parent for parent in tree.iter() for child in parent}
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue  # comments
        tag = _local(element.tag)
        attributes = {_local(k): v for k, v in element.attrib.items()}
        own = " ".join(f"{k}={v}" for k, v in attributes.items())
        describe = f"<{tag} {own[:200]}>"
        if tag == "script" and (not attributes.get("src", "").startswith(OUR_SCRIPTS) or _text(element).strip()):
            found.append(f"a script that is not one of our files: {describe} {_text(element)[:100]!r}")
        elif tag in ("svg", "math", "style", "template", "noscript") and MARKER.search(_everything(element)):
            found.append(f"{tag} from a payload: {describe} {_text(element)[:100]!r}")
        elif tag == "iframe" and not attributes.get("src", "").startswith(OUR_FRAMES):
            found.append(f"a frame that is not an allowlisted video player: {describe}")
        elif tag in ("object", "embed", "applet", "frame", "frameset", "portal", "base"):
            found.append(f"{tag}: {describe}")
        elif tag == "meta" and ("http-equiv" in attributes or _local(getattr(parents.get(element), "tag", "")) != "head"):
            found.append(f"a meta element outside the head, or with http-equiv: {describe}")
        elif tag in DANGEROUS_TAGS and MARKER.search(own):
            found.append(f"{tag} from a payload: {describe}")
        for name, value in attributes.items():
            if name.startswith("on"):
                found.append(f"an event handler ({name}): {describe}")
            elif name in URL_ATTRIBUTES and BAD_SCHEME.match(re.sub(r"[\x00-\x20]", "", value)):
                found.append(f"a script-bearing URL in {name}: {describe}")
            elif name.startswith(("hx-", "data-hx-")) and MARKER.search(name + value):
                found.append(f"an htmx attribute from a payload ({name}): {describe}")
            elif name == "style" and MARKER.search(value):
                found.append(f"a style attribute from a payload: {describe}")
    return found


def evaluated_templates(html):
    """Markers right after `49` show that Jinja evaluated a payload's {{7*7}}."""
    return re.findall(r"49(xss\d+q)", html)


def shown(html):
    """The markers an answer shows (as text or in attribute values)."""
    return set(MARKER.findall(html))


def guarded(html, tree=None):
    """Links a payload made (an <a href="https://xss…q.example/">) that sit outside an hx-disable region: user
    HTML must be inert to htmx as well, whatever the sanitizer lets through."""
    if not MARKER.search(html):
        return []
    tree = parse(html) if tree is None else tree
    parents = {child: parent for parent in tree.iter() for child in parent}
    unguarded = []
    for element in tree.iter("a"):
        href = element.attrib.get("href", "")
        if not (href.startswith(("http://", "https://")) and MARKER.search(urlsplit(href).netloc)):
            continue
        node = element
        while node is not None and "hx-disable" not in node.attrib:
            node = parents.get(node)
        if node is None:
            unguarded.append(f'<a href="{href}">')
    return unguarded


TEXT_KINDS = {"text", "search", "email", "url", "tel", "textarea"}


def read_forms(html):
    """The forms of a page as a browser would submit them: each control's name, kind, value and limits, and the
    submit button pressed by default (buttons inside <noscript> or with their own formaction are not it)."""
    tree = parse(html)
    found = []
    for form in tree.iter("form"):
        noscript = {e for n in form.iter("noscript") for e in n.iter()}
        controls, buttons = [], []
        for element in form.iter():
            tag, attrs = _local(element.tag) if isinstance(element.tag, str) else "", element.attrib
            name = attrs.get("name")
            kind = attrs.get("type", "text").lower() if tag == "input" else tag
            if tag == "button" or kind in ("submit", "image"):
                if element not in noscript and "formaction" not in attrs and attrs.get("type", "submit") in (
                        "submit", "image"):
                    buttons.append((name, attrs.get("value", "")) if name else ("", ""))
                continue
            if tag not in ("input", "textarea", "select") or not name or "disabled" in attrs:
                continue
            if tag == "select":
                options = [o.attrib.get("value", _text(o)) for o in element.iter("option")]
                chosen = [o.attrib.get("value", _text(o)) for o in element.iter("option") if "selected" in o.attrib]
                value = (chosen or [o for o in options if o] or [""])[0]
            else:
                options, value = [], _text(element) if tag == "textarea" else attrs.get("value", "")
            controls.append({"name": name, "kind": kind, "value": value, "options": options,
                             "checked": "checked" in attrs, "maxlength": int(attrs["maxlength"])
                             if attrs.get("maxlength", "").isdigit() else None,
                             "hint": " ".join(filter(None, (attrs.get("inputmode"), attrs.get("autocomplete"), name))),
                             "accept": attrs.get("accept", ""), "invalid": attrs.get("aria-invalid") == "true",
                             "required": "required" in attrs})
        found.append({"method": attrs_of(form).get("method", "get").lower(), "action": attrs_of(form).get("action", ""),
                      "enctype": attrs_of(form).get("enctype", ""), "controls": controls,
                      "buttons": buttons or [("", "")], "submit": (buttons or [("", "")])[0]})
    return found


def attrs_of(element):
    return element.attrib
