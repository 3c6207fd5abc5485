"""What goes over the wire (issue 11 point 4): compressed text, fingerprinted static files cached for a year."""
import gzip
import re

import brotli

from crowdfund import HTMX_VERSION


def same_page(one, other):
    """Two renderings of a page are the same apart from the CSRF token (signed with the second it was made in)."""
    token = re.compile(rb'"X-CSRFToken": "[^"]+"')
    return token.sub(b"", one) == token.sub(b"", other)


def asset_links(body):
    return re.findall(r'(?:href|src)="(/assets/[0-9a-f]{12}/[^"]+)"', body)


def test_text_responses_are_compressed_for_browsers_that_accept_it(client):
    plain = client.get("/")
    assert "Content-Encoding" not in plain.headers
    zipped = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    assert same_page(gzip.decompress(zipped.data), plain.data)
    squeezed = client.get("/", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert squeezed.headers["Content-Encoding"] == "br" and same_page(brotli.decompress(squeezed.data), plain.data)
    assert len(squeezed.data) < len(plain.data) / 2


def test_static_files_have_fingerprinted_names_and_are_cached_for_a_year(app, client):
    links = asset_links(client.get("/").get_data(as_text=True))
    assert {link.split("/", 3)[3] for link in links} == {
        "css/site.css", "img/favicon.svg", f"vendor/htmx-{HTMX_VERSION}.min.js"}
    for link in links:
        response = client.get(link)
        assert response.status_code == 200
        cache = response.headers["Cache-Control"]
        assert "public" in cache and "max-age=31536000" in cache and "immutable" in cache, (link, cache)
    css = next(link for link in links if link.endswith("site.css"))
    js = client.get(next(link for link in links if link.endswith(".js")), headers={"Accept-Encoding": "gzip"})
    assert js.headers["Content-Encoding"] == "gzip", "htmx is 52 KB; gzip makes it about 16 KB"
    stale = client.get(css.replace(css.split("/")[2], "0" * 12))
    assert stale.status_code == 200 and "immutable" not in stale.headers["Cache-Control"], \
        "an old fingerprint gets today's file, never cached for good"
    assert client.get("/assets/000000000000/../../config.py").status_code == 404
    assert client.get("/assets/000000000000/no-such-file.css").status_code == 404


def test_a_changed_file_gets_a_new_name(app, tmp_path):
    from crowdfund.assets import fingerprint

    app.static_folder = str(tmp_path)
    (tmp_path / "a.css").write_text("body { color: red }")
    with app.test_request_context():
        first = fingerprint("a.css")
        (tmp_path / "a.css").write_text("body { color: blue }")
        assert fingerprint("a.css") != first


def test_images_in_a_story_load_lazily_with_their_stored_widths(app, make_user):
    from crowdfund import media
    from crowdfund.extensions import db
    from crowdfund.models import User
    from crowdfund.sanitize import markdown_to_html
    from tests.conftest import image_file

    creator = make_user(roles=["creator"])
    with app.app_context():
        picture = media.save_image(db.session.get(User, creator), image_file(size=(1600, 900)))
        html = markdown_to_html(f"样机照片：\n\n![样机](/media/{picture.key})\n\n![外链](https://example.com/x.png)")
        widths = sorted(int(w) for w in picture.variants)
    assert len(widths) > 1
    image = re.search(r"<img [^>]*>", html).group()
    assert 'loading="lazy"' in image and 'decoding="async"' in image and 'sizes="' in image
    assert all(f"{w}w" in image for w in widths) and 'alt="样机"' in image
    assert html.count("<img") == 1, "a remote image is still refused"
