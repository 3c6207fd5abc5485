"""The XSS corpus through every text field of the demo site, then every page and fragment that shows it (issue 12).

Nothing here lists fields or pages: each account walks the site from every route of the URL map, following the
links and htmx fragment links the pages offer, reads the forms it finds, and sends the corpus (tests/xss.py)
into each free-text field in turn while the other fields keep plain values the form accepts. Then each role
walks again, plain and as htmx, and every answer is parsed like a browser would: no payload may come out active.
Also covered: query strings, path arguments and the Referer header echoed back, uploaded file names and CSV
cells, the answers to the posts themselves (422 re-renders, confirmations, the page a flash lands on), the
notification e-mails and the Atom feeds.
"""
import html as htmllib
import io
import itertools
import re
import xml.etree.ElementTree as ET
from collections import Counter, deque
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.routing.converters import NumberConverter

from crowdfund.extensions import db
from tests.conftest import PDF_BYTES, csrf_from, image_file
from tests.world import NOT_WALKED, argument_values, log_in, route_urls, walked_rules
from tests.world import world  # noqa: F401 - the seeded demo site, one per module
from tests.xss import (CORPUS, MARKER, TEXT_KINDS, Corpus, evaluated_templates, guarded, leaks, parse, read_forms,
                       shown)

# Accounts that post, in this order (those who make projects and pledges first, so later ones see their data),
# and the roles that then look at everything.
POSTERS = ["creator@demo.crowdfund.test", "backer1@demo.crowdfund.test", "backer@demo.crowdfund.test",
           "moderator@demo.crowdfund.test", "admin@demo.crowdfund.test", None]
VIEWERS = [None, "backer1@demo.crowdfund.test", "creator@demo.crowdfund.test", "moderator@demo.crowdfund.test",
           "finance@demo.crowdfund.test", "admin@demo.crowdfund.test"]
PER_ENDPOINT = 12  # pages of one endpoint a walk visits (e.g. a dozen projects), each string argument value 3
QUERY_NAMES = ["q", "next", "page", "sort", "status", "tab", "category", "sub", "more"]
DEFAULT_LIMIT = 1500  # characters per value where a field declares no maxlength
NUMERIC = re.compile(r"\b(decimal|numeric|tel)\b")  # fields a browser offers a number pad for: one pack shows refusal
HEADER_URLS = ("Location", "HX-Redirect", "HX-Location", "HX-Push-Url", "HX-Replace-Url")
INERT_TYPES = ("text/csv", "application/json", "application/zip", "text/plain", "application/atom+xml",
               "image/", "application/pdf", "video/")


def who(email):
    return (email or "anonymous").split("@")[0]


def client_as(world, email):
    client = world.test_client()
    if email:
        log_in(client, email)
    return client


class Site:
    """What one account can reach: pages by walking links, forms from those pages; every answer inspected."""

    def __init__(self, world, email, corpus, problems):
        self.world, self.email, self.corpus, self.problems = world, email, corpus, problems
        self.client = client_as(world, email)
        self.adapter = world.url_map.bind("localhost")
        self.shown = Counter()  # marker -> answers showing it

    def endpoint(self, url):
        try:
            endpoint, arguments = self.adapter.match(unquote(urlsplit(url).path), method="GET")
        except RequestRedirect:
            return None, {}
        except HTTPException:
            return None, {}
        return endpoint, arguments

    def walk(self):
        """Every page and fragment reachable from the URL map's routes by following links: [(url, htmx, answer)]."""
        with self.world.app_context():
            values = argument_values(self.email)
        queue = deque((url, False) for rule, _ in walked_rules(self.world, methods=("GET",))
                      for url in route_urls(rule, values))
        seen, per_endpoint, answers = set(), Counter(), []
        while queue:
            url, htmx = queue.popleft()
            endpoint, arguments = self.endpoint(url)
            if (url, htmx) in seen or endpoint is None or endpoint in NOT_WALKED:
                continue
            variant = (endpoint, tuple(sorted((k, v) for k, v in arguments.items()
                                              if isinstance(v, str) and k != "slug")))
            # a string argument (a wizard step, a document) is a page of its own: up to 3 of each
            if per_endpoint[variant] >= 3 or per_endpoint[endpoint] >= (30 if variant[1] else PER_ENDPOINT):
                continue
            seen.add((url, htmx))
            response = self.client.get(url, headers={"HX-Request": "true"} if htmx else {})
            answers.append((url, htmx, response))
            if response.status_code == 200:  # a redirect (a live project's wizard step, say) is no page of its own
                per_endpoint[endpoint] += 1
                per_endpoint[variant] += 1
            if "html" in response.content_type:
                body = response.get_data(as_text=True)
                for attribute, link in re.findall(r'\s(href|hx-get)="([^"]+)"', body):
                    link = htmllib.unescape(link).split("#")[0]
                    if link.startswith("/") and not link.startswith("//"):
                        queue.append((link, attribute == "hx-get"))
        return answers

    def inspect(self, response, where):
        """Record what an answer shows of the corpus, and every active thing in it."""
        for header in HEADER_URLS:
            value = re.sub(r"[\x00-\x20]", "", response.headers.get(header, ""))
            if re.match(r"(javascript|data|vbscript):", value, re.I):
                self.problems.append(f"{where}: {header} {value}")
        body = response.get_data(as_text=True)
        markers = shown(body)
        if not markers and "html" not in response.content_type:
            return
        for marker in markers:
            self.shown[marker] += 1
        kind = response.content_type.split(";")[0]
        if "atom+xml" in kind:
            self.inspect_feed(body, where)
        elif "html" in kind:
            tree = parse(body) if markers else None
            found = leaks(body, tree) + guarded(body, tree) + [f"{{{{7*7}}}} evaluated: {m}"
                                                               for m in evaluated_templates(body)]
            self.problems += [f"{where} [{response.status_code}]: {problem} (payload {self.source(problem)})"
                              for problem in found]
        elif markers and not kind.startswith(INERT_TYPES):
            self.problems.append(f"{where}: markers {sorted(markers)[:3]} in a {kind} answer")

    def inspect_feed(self, body, where):
        """Feed readers render the HTML inside an Atom feed's type="html" elements."""
        for element in ET.fromstring(body).iter():
            if element.attrib.get("type") == "html" and element.text:
                self.problems += [f"{where} (feed): {problem}" for problem in leaks(element.text)]

    def source(self, problem):
        markers = MARKER.findall(problem)
        return "; ".join(f"{name} via {where}" for name, where in map(self.corpus.whence, markers[:1])) or "none"

    def forms(self, answers):
        """The forms the walked pages offer, one per action endpoint and string argument (one reply form, not one
        per comment; one per wizard step)."""
        found = {}
        for url, htmx, response in answers:
            if response.status_code != 200 or "html" not in response.content_type:
                continue
            for form in read_forms(response.get_data(as_text=True)):
                action = htmllib.unescape(form["action"]) or url
                if not action.startswith("/") or action.startswith(("/logout", "//")):
                    continue
                method = "POST" if form["method"] == "post" else "GET"
                try:
                    endpoint, arguments = self.adapter.match(unquote(urlsplit(action).path), method=method)
                except (HTTPException, RequestRedirect):
                    continue
                form["action"] = action.split("#")[0]
                step = "/".join(v for k, v in sorted(arguments.items()) if isinstance(v, str) and k != "slug")
                found.setdefault((method, f"{endpoint} {step}".strip()), form)  # each wizard step is a form
        return found

    def send(self, form, data, where, htmx=False, files=None, follow=True, button=None):
        """Submit a form as a browser would (a submit button, its enctype, a file for each file input the form
        needs) and inspect the answer and, after a redirect, the page the flash message lands on."""
        data = dict(data)
        if self.email is None and form["method"] == "post":
            # a visitor who just signed up is signed in: each anonymous post comes from a new visitor
            self.client = self.world.test_client()
            token = csrf_from(self.client.get("/login"))
            data.update({key: token for key in data if key.endswith("csrf_token")})
        name, value = button or form["submit"]
        if name:
            data[name] = value
        files = {**{c["name"]: upload_for(c, "plain") for c in form["controls"] if c["name"] in form.get(
            "needs_file", ())}, **(files or {})}
        headers = {"HX-Request": "true"} if htmx else {}
        if form["method"] != "post":
            response = self.client.get(form["action"], query_string=data, headers=headers)
        else:
            response = self.client.post(form["action"], data={**data, **(files or {})}, headers=headers,
                                        content_type="multipart/form-data" if files or "multipart" in form[
                                            "enctype"] else None)
        self.inspect(response, where)
        location = response.headers.get("Location", "")
        if follow and response.status_code in (302, 303) and location.startswith("/"):
            self.inspect(self.client.get(location), f"{where} → {location}")
        return response


FILLERS = ["文本 filler text", "100", "13800138000", "11010519491231002X", "91350100M000100Y43", "2031-06",
           "2031-06-01", "https://www.bilibili.com/video/BV1GJ411x7h7"]
emails = itertools.count(1)


def fillers(control):
    """Plain values to try, most likely first, for a field the form refused (by its type and input hints)."""
    hint, kind = control["hint"], control["kind"]
    first = []
    if kind == "email" or "email" in hint:
        first.append(f"filler{next(emails)}@example.com")
    if "tel" in hint or "phone" in hint:
        first.append("13800138000")
    if kind == "number" or "decimal" in hint or "numeric" in hint:
        first.append("100")
    for word, value in (("month", "2031-06"), ("date", "2031-06-01"), ("url", FILLERS[-1]), ("link", FILLERS[-1]),
                        ("credit", "91350100M000100Y43"), ("id_number", "11010519491231002X")):
        if word in hint:
            first.append(value)
    return [control["value"]] * bool(control["value"]) + first + FILLERS + [f"filler{next(emails)}@example.com"]


def plain_values(site, form, where):
    """Values the form accepts for every control, learnt like a person would: fill, read the errors, fix them."""
    data, tries = {}, {}
    for control in form["controls"]:
        kind, name = control["kind"], control["name"]
        if kind in ("checkbox",):
            data[name] = control["value"] or "y"
        elif kind == "radio":
            if control["checked"] or name not in data:
                data[name] = control["value"]
        elif kind == "file":
            continue
        elif kind in TEXT_KINDS or kind == "password" or kind in ("number", "date", "month"):
            tries[name] = fillers(control)
            data[name] = tries[name][0]
        else:
            data[name] = control["value"]
    buttons = list(form["buttons"])
    for _ in range(8):
        response = site.send(form, data, f"{where} (plain values)")
        if response.status_code == 200 and len(buttons) > 1:
            buttons.pop(0)  # e.g. "Preview": the page again; the next button saves
            form["submit"] = buttons[0]
            continue
        if response.status_code != 422:
            break
        answer = next((f for f in read_forms(response.get_data(as_text=True)) if f["action"] == form["action"]),
                      None)
        if answer is None:
            break
        changed = False
        for control in answer["controls"]:
            name = control["name"]
            if control["kind"] == "select" and control["value"] and (not data.get(name) or data[name] not in
                                                                      control["options"]):
                data[name], changed = control["value"], True  # e.g. the cities of the province just chosen
            elif control["kind"] == "file" and control["invalid"] and name not in form.setdefault("needs_file", []):
                form["needs_file"].append(name)
                changed = True
            elif control["invalid"] and name in tries and len(tries[name]) > 1:
                tries[name].pop(0)
                data[name], changed = tries[name][0], True
        if not changed:
            break
    return data, response


def upload_for(control, name, csv_template="pledge,carrier,tracking_number\n"):
    """A file the input accepts, named `name` (a payload, or plain)."""
    accept = control["accept"]
    if "csv" in accept:
        return io.BytesIO(csv_template.encode()), name + ".csv"
    if "pdf" in accept and "image" not in accept:
        return io.BytesIO(PDF_BYTES), name + ".pdf"
    image = image_file(size=(320, 180))
    return image.stream, name + ".png"


def filled_csv(site, answers, corpus, where):
    """The CSV a page offers for download (e.g. the shipping list), its empty cells filled with payloads."""
    for url, htmx, response in answers:
        if response.content_type.startswith("text/csv"):
            rows = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
            names = itertools.cycle(name for name, _, swallows in CORPUS if not swallows)
            filled = [rows[0]] + [",".join(cell or '"' + corpus.payload(next(names), where).replace('"', '""') + '"'
                                           for cell in row.split(",")) for row in rows[1:4]]
            return "\n".join(filled)
    return "pledge,carrier,tracking_number\n"


def inject(site, answers, done):
    """Every free-text field of every form, in turn, given the whole corpus (one pack of it if an account before
    this one had the field already: `done`); files named by payloads."""
    forms = site.forms(answers)
    todo, fields = sorted(forms), 0
    while todo:
        method, endpoint = todo.pop(0)
        form = forms[(method, endpoint)]
        texts = [c for c in form["controls"] if c["kind"] in TEXT_KINDS]
        files = [c for c in form["controls"] if c["kind"] == "file"]
        if not texts and not files:
            continue
        where = f"{who(site.email)} {method} {form['action']}"
        data, response = plain_values(site, form, where)
        location = response.headers.get("Location", "")
        if response.status_code == 303 and location.startswith("/"):
            # the page a form leads to may hold forms no link reaches (the wizard's next step, say)
            page = site.client.get(location)
            for key, found in site.forms([(location, False, page)]).items():
                if key not in forms:
                    forms[key] = found
                    todo.append(key)
        taken = set()  # fields that stored a payload (an edit form keeps only its last post: all of these at once)
        for control in texts:
            limit = control["maxlength"] or DEFAULT_LIMIT
            packs = site.corpus.packs(f"{where} {control['name']}", limit)
            field = (method, endpoint, control["name"])
            if field in done or NUMERIC.search(control["hint"]):
                packs = packs[:1]
            done.add(field)
            for n, value in enumerate(packs):
                response = site.send(form, {**data, control["name"]: value}, f"{where} {control['name']}",
                                     htmx=n == 0, follow=n == 0)
                if response.status_code in (200, 302, 303) and not any(
                        c["invalid"] for f in read_forms(response.get_data(as_text=True)) for c in f["controls"]):
                    taken.add(control["name"])
            for button in form["buttons"] if packs else []:
                if button != form["submit"]:  # e.g. "Preview" renders the value (cleaned) without saving it
                    site.send(form, {**data, control["name"]: packs[0]}, f"{where} {control['name']} {button}",
                              button=button)
            fields += 1
        for control in files:
            name = site.corpus.payload("break-double", f"{where} {control['name']} (file name)")
            stream, filename = upload_for(control, name, filled_csv(site, answers, site.corpus, where))
            site.send(form, data, f"{where} {control['name']} (file)", files={control["name"]: (stream, filename)})
            fields += 1
        if len(taken) > 1:
            site.send(form, {**data, **{c["name"]: site.corpus.packs(f"{where} {c['name']}", c["maxlength"] or
                                                                     DEFAULT_LIMIT)[0]
                                        for c in texts if c["name"] in taken}}, f"{where} (every field)")
    return fields


@pytest.fixture(scope="module")
def injected(world):
    """The corpus sent through every field each account can reach; the problems found in the answers."""
    corpus, problems, fields, forms_seen, done = Corpus(), [], {}, {}, set()
    for email in POSTERS:
        site = Site(world, email, corpus, problems)
        answers = site.walk()
        forms_seen[who(email)] = len(site.forms(answers))
        fields[who(email)] = inject(site, answers, done)
    return corpus, problems, fields, forms_seen


@pytest.fixture(scope="module")
def rendered(world, injected):
    """Each role walks the site after the corpus went in, every page plain and as htmx; {role: (site, answers)}."""
    corpus, _, _, _ = injected
    result = {}
    for email in VIEWERS:
        site = Site(world, email, corpus, [])
        answers = site.walk()
        for url, htmx, response in answers:
            site.inspect(response, f"{who(email)} GET {url}{' (htmx)' if htmx else ''}")
            if not htmx and "html" in response.content_type:
                site.inspect(site.client.get(url, headers={"HX-Request": "true"}), f"{who(email)} GET {url} (htmx)")
        result[who(email)] = (site, answers)
    return result


def test_every_answer_to_the_corpus_is_inert(injected):
    """422 re-renders, confirmation pages, htmx blocks and the pages after each redirect, for every field."""
    corpus, problems, fields, forms_seen = injected
    assert not problems, "\n".join(problems[:30])
    assert sum(fields.values()) > 40, fields
    assert forms_seen["creator"] > 20 and forms_seen["anonymous"] >= 2, forms_seen


@pytest.mark.parametrize("role", [who(e) for e in VIEWERS])
def test_every_page_and_fragment_shows_the_stored_corpus_inert(rendered, role):
    site, answers = rendered[role]
    assert not site.problems, "\n".join(site.problems[:30])
    assert len(answers) > 60
    # The payloads were stored and shown (escaped or cleaned), not refused everywhere.
    assert len(site.shown) > (20 if role == "anonymous" else 100), len(site.shown)


def test_the_payloads_reached_pages_through_many_fields(rendered, injected):
    """Not just one lucky field: markers from many fields, and every payload of the corpus, came back somewhere."""
    corpus = injected[0]
    markers = set().union(*(set(site.shown) for site, _ in rendered.values()))
    fields = {corpus.whence(m)[1] for m in markers}
    payloads = {corpus.whence(m)[0] for m in markers}
    assert len(fields) > 25, sorted(fields)
    missing = {name for name, _, _ in CORPUS} - payloads
    assert not missing, missing
    never = sorted({where for _, where in corpus.sent.values()} - fields)
    for expected in ("body", "title", "display_name", "summary", "detail", "name", "description", "story"):
        assert any(re.search(rf"[ -]{expected}$", f) for f in fields), \
            f"no {expected} field showed a payload; never shown: {never}"


@pytest.mark.parametrize("email", [None, "admin@demo.crowdfund.test"], ids=who)
def test_query_strings_path_arguments_and_referer_are_echoed_inert(world, email, injected):
    corpus = injected[0]
    site = Site(world, email, corpus, [])
    with world.app_context():
        values = argument_values(email)
    names = [name for name, _, _ in CORPUS]
    rotation = itertools.count()
    checked = 0
    for rule, _ in walked_rules(world, methods=("GET",)):
        for url in route_urls(rule, values, limit=1):
            for _ in range(2):
                query = "&".join(f"{key}={quote(corpus.payload(names[next(rotation) % len(names)], f'?{key}'))}"
                                 for key in QUERY_NAMES)
                referer = corpus.payload(names[next(rotation) % len(names)], "Referer")
                for headers in ({"Referer": referer}, {"Referer": referer, "HX-Request": "true"}):
                    site.inspect(site.client.get(f"{url}?{query}", headers=headers), f"GET {url}?…")
                    checked += 1
        for name in (n for n in rule.arguments if not isinstance(rule._converters[n], NumberConverter)):
            arguments = {n: (values.get(n) or ["1"])[0] for n in rule.arguments}
            arguments[name] = corpus.payload(names[next(rotation) % len(names)], f"path <{name}>")
            path = rule.rule
            for key, value in arguments.items():
                path = re.sub(r"<(?:[^:<>]+:)?%s>" % key, quote(str(value), safe=""), path)
            site.inspect(site.client.get(path), f"GET {rule.rule} with <{name}> a payload")
            checked += 1
    assert not site.problems, "\n".join(site.problems[:30])
    assert checked > 150
    assert len(site.shown) > 50  # query values do come back (in links, the search box, next=...)


def test_notification_emails_render_the_corpus_inert(world, rendered):
    """The HTML part of every notification e-mail the posts caused (replies, reasons, titles in sentences)."""
    from crowdfund import mailer
    from crowdfund.models import Notification, User

    corpus = next(iter(rendered.values()))[0].corpus
    problems, markers, checked = [], set(), 0
    with world.test_request_context():
        for notification, user in db.session.execute(db.select(Notification, User).join(
                User, User.id == Notification.user_id)).all():
            message = mailer.notification_message(notification, user)
            html = message.get_body(("html",)).get_content()
            tree = parse(html)
            problems += [f"e-mail {notification.kind} to {user.email}: {p}"
                         for p in leaks(html, tree) + guarded(html, tree)]
            markers |= shown(html) | shown(str(message["Subject"]))
            checked += 1
    assert not problems, "\n".join(problems[:30])
    assert checked > 10
    assert markers, "no notification e-mail carried a payload"
    assert {corpus.whence(m)[0] for m in markers}


def test_htmx_is_configured_not_to_run_what_it_swaps(world):
    """htmx evaluates nothing (no hx-on / js: values, no <script> in swapped content), talks to this site only,
    keeps no history snapshots; CSP allows no inline script or eval; user HTML sits under hx-disable."""
    import json

    client = world.test_client()
    response = client.get("/")
    page = parse(response.get_data(as_text=True))
    meta = next(m for m in page.iter("meta") if m.attrib.get("name") == "htmx-config")
    config = json.loads(meta.attrib["content"])
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert config["selfRequestsOnly"] is True and config["historyCacheSize"] == 0
    policy = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", policy).group(1)
    assert script_src.strip() == "'self'", policy
    assert "unsafe" not in policy
    for template in Path(world.jinja_loader.searchpath[0]).rglob("*.html"):
        for line in template.read_text().splitlines():
            if "|safe" in line and "qr_svg_html" not in line:
                assert "hx-disable" in line, f"{template.name}: user HTML outside hx-disable: {line.strip()}"


def test_the_check_finds_what_a_careless_template_would_let_through():
    """The checker itself: each payload, pasted raw into a page, is reported (else a leak would go unseen)."""
    corpus = Corpus()
    inert_in_text = {"break-single", "break-unquoted", "template", "markdown-js", "markdown-img", "markdown-attrs",
                     "entities", "percent", "plain-js-url", "safe-link"}
    for name, _, _ in CORPUS:
        if name in inert_in_text:
            continue
        value = corpus.payload(name, "raw")
        assert leaks(f"<!doctype html><html><head></head><body><p>{value}</p></body></html>"), name
    attribute = corpus.payload("break-single", "raw")
    assert leaks(f"<input value='{attribute}'>")
    unquoted = corpus.payload("break-unquoted", "raw")
    assert leaks(f"<input value={unquoted}>")
    assert guarded(f'<p>{corpus.payload("safe-link", "raw")}</p>')
    assert not guarded(f'<div hx-disable><p>{corpus.payload("safe-link", "raw")}</p></div>')
    assert evaluated_templates("49xss1q")
    escaped = htmllib.escape(" ".join(corpus.payload(name, "escaped") for name, _, _ in CORPUS))
    assert not leaks(f"<p>{escaped}</p><textarea>{escaped}</textarea><input value=\"{escaped}\">")
