"""Uploads on S3-compatible storage, against a real S3 server (moto in server mode) over HTTP: the wizard's cover and
its widths, pages linking the app or a CDN, private papers kept from everyone but their owner and moderators,
deletion, and a store that is down or refuses."""
import io
import re
import socket
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from PIL import Image

from crowdfund.extensions import db
from crowdfund.models import CreatorVerification, DataExport, Media, User
from crowdfund.storage import PRIVATE_CACHE_CONTROL, PUBLIC_CACHE_CONTROL, MissingObject, get_storage
from tests.conftest import PDF_BYTES, Browserless, csrf_from, image_file, unavailable, upload

CDN = "https://cdn.example.com"
COVER = re.compile(r'<img class="cover" src="([^"]+)" srcset="([^"]+)"')


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server on a free port, for the whole run."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        unavailable("moto", "pip install 'moto[server]'")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def raw_client(endpoint):
    """Our own view of the bucket, to check what the app wrote (not the app's client)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test-key",
                        aws_secret_access_key="test-secret", config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def bucket(s3_endpoint):
    """A fresh bucket for each test."""
    name = f"crowdfund-{uuid.uuid4().hex[:12]}"
    client = raw_client(s3_endpoint)
    client.create_bucket(Bucket=name)
    return SimpleNamespace(name=name, client=client, endpoint=s3_endpoint)


@pytest.fixture
def app(make_app, bucket):
    """The app on the bucket (every fixture built on `app`, e.g. make_project and login_as, uses it too)."""
    return make_app(STORAGE_BACKEND="s3", S3_BUCKET=bucket.name, S3_ENDPOINT_URL=bucket.endpoint,
                    S3_REGION="us-east-1", S3_ACCESS_KEY_ID="test-key", S3_SECRET_ACCESS_KEY="test-secret",
                    S3_ADDRESSING_STYLE="path", S3_TIMEOUT=2)


def use_store(app, **settings):
    """Point the running app at another store (the storage is built once per app, so build it again)."""
    app.config.update(settings)
    app.extensions.pop("crowdfund_storage", None)


def closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def anonymous_get(url):
    """A plain GET with no credentials, straight to the store; its status."""
    try:
        return urllib.request.urlopen(url, timeout=5).status
    except urllib.error.HTTPError as error:
        return error.code


def head(bucket, key):
    return bucket.client.head_object(Bucket=bucket.name, Key=key)


@pytest.fixture
def draft(client, login_as, app):
    """A creator, logged in, with a new draft made through the wizard's button; returns its slug."""
    from crowdfund.catalog import ensure_categories

    login_as("creator")
    with app.app_context():
        ensure_categories()
    response = client.post("/me/projects/new", data={"csrf_token": csrf_from(client.get("/me/projects"))})
    assert response.status_code == 303
    return re.match(r"/me/projects/(\w+)/edit/basics", response.location).group(1)


def post_basics(client, app, slug, cover):
    from crowdfund.models import Category

    with app.app_context():
        category = db.session.scalar(db.select(Category.id).filter_by(slug="smart-hardware"))
    url = f"/me/projects/{slug}/edit/basics"
    return client.post(url, content_type="multipart/form-data", data={
        "csrf_token": csrf_from(client.get(url)), "title": "智能台灯 Smart lamp", "summary": "一盏会学习的台灯",
        "category": str(category), "kind": "reward", "nav": "next", "cover": cover})


def cover_of(page):
    """The cover image's src and its srcset as [(url, width)]."""
    match = COVER.search(page)
    assert match, "the page shows the cover"
    return match.group(1), [(url, int(width[:-1])) for url, width in
                            (item.split() for item in match.group(2).split(", "))]


def test_objects_keep_their_type_no_acl_and_can_be_read_in_part_and_deleted(app, bucket):
    data = bytes(range(256)) * 40
    with app.app_context():
        storage = get_storage()
        storage.save("public/ab/clip.mp4", data, "video/mp4")
        assert storage.exists("public/ab/clip.mp4") and storage.stat("public/ab/clip.mp4").size == len(data)
        with storage.open("public/ab/clip.mp4") as stored:
            assert stored.read(10) == data[:10]
            stored.seek(5000)
            assert stored.read(100) == data[5000:5100], "a seek reads from there on (a ranged GET)"
            stored.seek(-6, io.SEEK_END)
            assert stored.read() == data[-6:]
        storage.delete("public/ab/clip.mp4")
        storage.delete("public/ab/clip.mp4")  # deleting what is gone is not an error
        assert not storage.exists("public/ab/clip.mp4") and storage.stat("public/ab/clip.mp4") is None
        with pytest.raises(MissingObject):
            storage.open("public/ab/clip.mp4")
        storage.save("private/cd/paper.pdf", PDF_BYTES, "application/pdf")
    assert head(bucket, "private/cd/paper.pdf")["ContentType"] == "application/pdf"
    assert head(bucket, "private/cd/paper.pdf")["CacheControl"] == PRIVATE_CACHE_CONTROL
    grants = bucket.client.get_object_acl(Bucket=bucket.name, Key="private/cd/paper.pdf")["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"] and \
        all(grant["Grantee"]["Type"] == "CanonicalUser" for grant in grants), "no public-read grant"
    assert anonymous_get(f"{bucket.endpoint}/{bucket.name}/private/cd/paper.pdf") == 403


def test_a_wizard_cover_goes_to_the_bucket_in_every_width_and_the_page_serves_it(app, client, draft, bucket):
    assert post_basics(client, app, draft, image_file(size=(1600, 900))).status_code == 303
    src, widths = cover_of(client.get(f"/me/projects/{draft}/edit/basics").get_data(as_text=True))
    assert src.startswith("/media/public/") and [w for _, w in widths] == [240, 480, 960, 1440]
    for url, width in widths:
        stored = head(bucket, url.removeprefix("/media/"))
        assert stored["ContentType"] == "image/jpeg" and stored["CacheControl"] == PUBLIC_CACHE_CONTROL
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert Image.open(io.BytesIO(response.data)).width == width
        assert int(response.headers["Content-Length"]) == stored["ContentLength"]
    again = client.get(src, headers={"If-None-Match": client.get(src).headers["ETag"]})
    assert again.status_code == 304 and not again.data, "a cached copy is confirmed without sending the bytes"
    assert "img-src" not in client.get(src).headers["Content-Security-Policy"], "no CDN: our own origin only"


def test_with_a_cdn_pages_link_public_images_there_and_the_app_redirects_old_links(app, client, make_project, bucket):
    app.config["S3_PUBLIC_BASE_URL"] = CDN
    slug = make_project(status="live")
    page = client.get(f"/projects/{slug}")
    src, widths = cover_of(page.get_data(as_text=True))
    assert src.startswith(f"{CDN}/public/") and all(url.startswith(f"{CDN}/public/") for url, _ in widths)
    for url, _ in widths:  # the CDN's origin is the bucket: each address names an object there
        assert head(bucket, url.removeprefix(f"{CDN}/"))["ContentType"] == "image/jpeg"
    policy = page.headers["Content-Security-Policy"]
    assert f"img-src 'self' {CDN}" in policy and f"media-src 'self' {CDN}" in policy
    key = src.removeprefix(f"{CDN}/")
    redirected = client.get(f"/media/{key}")  # story and update HTML keep /media/ links
    assert redirected.status_code == 302 and redirected.location == src


def test_private_papers_reach_only_their_owner_and_moderators_from_the_app(app, client, forms, make_user, bucket):
    app.config["S3_PUBLIC_BASE_URL"] = CDN  # a CDN never serves papers
    make_user(email="papers@example.com")
    forms.login(email="papers@example.com")
    response = client.post("/me/verification", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(client.get("/me/verification")), "kind": "individual", "real_name": "张三",
        "id_number": "11010519491231002X", "document": upload(PDF_BYTES, "身份证.pdf", "application/pdf")})
    assert response.status_code == 303
    with app.app_context():
        key = db.session.scalar(db.select(Media.key).join(CreatorVerification, CreatorVerification.document_id
                                                                == Media.id))
    assert key.startswith("private/")
    stored = head(bucket, key)
    assert stored["ContentType"] == "application/pdf" and stored["CacheControl"] == PRIVATE_CACHE_CONTROL
    assert anonymous_get(f"{bucket.endpoint}/{bucket.name}/{key}") == 403, "the object itself is not public"

    own = client.get(f"/media/{key}")
    assert own.status_code == 200 and own.data == PDF_BYTES
    assert own.headers["Cache-Control"] == "private, no-store" and own.headers["Content-Disposition"].startswith(
        "attachment")
    assert app.test_client().get(f"/media/{key}").status_code == 404, "anonymous"
    other, moderator = app.test_client(), app.test_client()
    make_user(email="other@example.com")
    make_user(email="mod@example.com", roles=["moderator"])
    assert Browserless(other).login(email="other@example.com").status_code == 303
    assert Browserless(moderator).login(email="mod@example.com").status_code == 303
    assert other.get(f"/media/{key}").status_code == 404, "another user"
    listing = moderator.get("/moderation/verifications").get_data(as_text=True)
    assert f'href="/media/{key}"' in listing
    assert moderator.get(f"/media/{key}").data == PDF_BYTES


def test_videos_are_served_in_ranges_and_exports_are_deleted_from_the_bucket(app, make_user, bucket):
    from crowdfund import media, privacy

    video = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 8
    user_id = make_user()
    with app.test_request_context("/"):
        key = media.save_video(db.session.get(User, user_id), upload(video, "clip.mp4", "video/mp4")).key
        db.session.commit()
    from gunicorn.http.wsgi import FileWrapper as GunicornFileWrapper

    for server in ({}, {"wsgi.file_wrapper": GunicornFileWrapper}):  # the test client's, and production's
        part = app.test_client().get(f"/media/{key}", headers={"Range": "bytes=100-199"}, environ_base=server)
        assert part.status_code == 206 and part.data == video[100:200]
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(video)}"

    now = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    with app.app_context():
        export = DataExport(user_id=user_id, status="pending", pending=True, requested_at=now)
        db.session.add(export)
        db.session.commit()
        assert privacy.build_export(export.id, now=now) == "ready"
        export_key = db.session.get(DataExport, export.id).storage_key
        assert head(bucket, export_key)["CacheControl"] == PRIVATE_CACHE_CONTROL
        assert privacy.expire_exports(now=now + timedelta(hours=25)) == 1
    with pytest.raises(bucket.client.exceptions.ClientError):
        head(bucket, export_key)


def test_a_store_that_is_down_or_refuses_is_a_field_error_on_upload(app, client, draft, bucket):
    for settings in ({"S3_ENDPOINT_URL": closed_port_url()}, {"S3_BUCKET": "no-such-bucket-here"}):
        use_store(app, **settings)
        response = post_basics(client, app, draft, image_file(size=(640, 360)))
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and 'id="cover-error"' in body and "Traceback" not in body
        assert "文件暂时无法保存，请过几分钟再试。" in body  # "The file could not be stored just now. ..."
        with app.app_context():
            assert db.session.scalar(db.select(db.func.count()).select_from(Media)) == 0
        use_store(app, S3_ENDPOINT_URL=bucket.endpoint, S3_BUCKET=bucket.name)
    assert bucket.client.list_objects_v2(Bucket=bucket.name)["KeyCount"] == 0


def test_serving_from_a_store_that_is_down_is_a_friendly_503_and_a_missing_object_a_404(app, client, draft,
                                                                                          bucket):
    assert post_basics(client, app, draft, image_file(size=(640, 360))).status_code == 303
    src, _ = cover_of(client.get(f"/me/projects/{draft}/edit/basics").get_data(as_text=True))
    use_store(app, S3_ENDPOINT_URL=closed_port_url())
    down = client.get(src)
    body = down.get_data(as_text=True)
    assert down.status_code == 503 and down.headers["Retry-After"] == "60" and "Traceback" not in body
    assert "<html" in body and "上传的文件暂时无法读取" in body  # "Uploaded files cannot be reached just now."
    health = client.get("/healthz")
    assert health.json["storage"] == "unavailable" and health.status_code == 200
    use_store(app, S3_ENDPOINT_URL=bucket.endpoint)
    assert client.get("/healthz").json["storage"] == "ok"
    bucket.client.delete_object(Bucket=bucket.name, Key=src.removeprefix("/media/"))
    assert client.get(src).status_code == 404


def test_s3_settings_are_checked_at_start(make_app, bucket):
    from crowdfund.config import ConfigError

    complete = dict(STORAGE_BACKEND="s3", S3_BUCKET=bucket.name, S3_ACCESS_KEY_ID="k", S3_SECRET_ACCESS_KEY="s")
    for missing in ("S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        with pytest.raises(ConfigError, match=missing):
            make_app(**{**complete, missing: ""})
    with pytest.raises(ConfigError, match="S3_ADDRESSING_STYLE"):
        make_app(**complete, S3_ADDRESSING_STYLE="dns")
    with pytest.raises(ConfigError, match="STORAGE_BACKEND"):
        make_app(STORAGE_BACKEND="ftp")
    with pytest.raises(ConfigError, match="S3_PUBLIC_BASE_URL"):
        make_app(S3_PUBLIC_BASE_URL="cdn.example.com")


def test_virtual_hosted_addressing_puts_the_bucket_in_the_host_for_oss_and_cos():
    from crowdfund.s3storage import S3Storage

    storage = S3Storage.from_config(dict(
        S3_BUCKET="crowdfund-uploads", S3_ENDPOINT_URL="https://oss-cn-hangzhou.aliyuncs.com",
        S3_REGION="oss-cn-hangzhou", S3_ACCESS_KEY_ID="k", S3_SECRET_ACCESS_KEY="s", S3_ADDRESSING_STYLE="virtual",
        S3_TIMEOUT=2))
    url = storage.client.generate_presigned_url("get_object", Params={"Bucket": "crowdfund-uploads", "Key": "a/b"})
    assert url.startswith("https://crowdfund-uploads.oss-cn-hangzhou.aliyuncs.com/a/b?")
