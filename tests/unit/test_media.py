"""Uploads: images re-encoded without EXIF in several widths, PDFs and MP4s by magic bytes, video links."""
import io

import pytest
from PIL import Image

from crowdfund import media
from crowdfund.extensions import db
from crowdfund.models import User
from crowdfund.storage import get_storage
from tests.conftest import PDF_BYTES, image_file, upload


@pytest.fixture
def owner(app, make_user):
    user_id = make_user()
    with app.test_request_context("/"):
        yield db.session.get(User, user_id)


def test_images_are_reencoded_without_exif_in_several_widths(owner):
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model-With-Serial-123"
    row = media.save_image(owner, image_file("photo.jpg", size=(2000, 1500), fmt="JPEG", exif=exif))
    assert sorted(int(w) for w in row.variants) == [240, 480, 960, 1440]
    assert (row.width, row.height) == (2000, 1500)
    for width, key in row.variants.items():
        data = get_storage().open(key).read()
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.width == int(width)
        assert not image.getexif(), "EXIF (camera, GPS) must be stripped"
        assert b"SpyCam" not in data and b"Serial-123" not in data
        assert key.endswith(".jpg") and "photo" not in key
    assert media.srcset(row).count("w,") == 3


def test_small_images_keep_their_width_and_png_transparency_becomes_white(owner):
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 0, 0, 0)).save(buffer, "PNG")
    buffer.seek(0)
    row = media.save_image(owner, upload(buffer.getvalue(), "logo.png", "image/png"))
    assert list(row.variants) == ["240", "300"], "the thumbnail width, then its own width (never enlarged)"
    image = Image.open(get_storage().open(row.variants["300"]))
    assert image.getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.parametrize("data, name", [
    (b"GIF89a" + b"\0" * 100, "anim.gif"),
    (b"<?php system($_GET['c']); ?>", "shell.php.jpg"),
    (PDF_BYTES, "doc.png"),
    (b"", "empty.jpg"),
])
def test_non_images_are_refused(owner, data, name):
    with pytest.raises(media.UploadError):
        media.save_image(owner, upload(data, name, "image/jpeg"))


def test_oversized_files_are_refused(owner, monkeypatch):
    monkeypatch.setattr(media, "DOCUMENT_MAX", 100)
    with pytest.raises(media.UploadError):
        media.save_document(owner, upload(PDF_BYTES + b"x" * 200, "big.pdf"))


def test_pdf_by_magic_bytes_and_served_as_attachment(app, make_user):
    with app.test_request_context("/"):
        owner = db.session.get(User, make_user())
        row = media.save_document(owner, upload(PDF_BYTES, "规格书.pdf", "application/pdf"))
        db.session.commit()
        key = row.key
        with pytest.raises(media.UploadError):
            media.save_document(owner, upload(b"MZ\x90\x00 not a pdf", "fake.pdf", "application/pdf"))
    response = app.test_client().get(f"/media/{key}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_mp4_by_magic_bytes(owner):
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
    assert media.save_video(owner, upload(mp4, "clip.mp4", "video/mp4")).content_type == "video/mp4"
    with pytest.raises(media.UploadError):
        media.save_video(owner, upload(b"RIFF....AVI LIST", "clip.mp4", "video/mp4"))


@pytest.mark.parametrize("link, player", [
    ("https://www.bilibili.com/video/BV1xx411c7mD", "https://player.bilibili.com/player.html?bvid=BV1xx411c7mD"),
    ("https://v.youku.com/v_show/id_XNTk0MjY4MzY4MA==.html", "https://player.youku.com/embed/XNTk0MjY4MzY4MA=="),
    ("https://v.qq.com/x/page/a0012abcdef.html", "https://v.qq.com/txp/iframe/player.html?vid=a0012abcdef"),
])
def test_video_links_from_the_allowlist_become_players(link, player):
    assert media.video_embed_url(link).startswith(player)


@pytest.mark.parametrize("link", ["https://evil.example/video/BV1xx411c7mD", "javascript:alert(1)",
                                  "https://www.bilibili.com.evil.example/video/BV1xx411c7mD",
                                  "https://www.youtube.com/watch?v=abc", "https://www.bilibili.com/read/cv1"])
def test_other_video_links_are_refused(link):
    with pytest.raises(media.UploadError):
        media.video_embed_url(link)


def test_private_papers_are_only_for_owner_and_moderators(app, make_user, login_as, client):
    owner_id = make_user(email="owner@example.com")
    with app.test_request_context("/"):
        row = media.save_image(db.session.get(User, owner_id), image_file(), private=True)
        db.session.commit()
        key = media.largest(row)
    from tests.conftest import Browserless

    assert client.get(f"/media/{key}").status_code == 404
    login_as()
    assert client.get(f"/media/{key}").status_code == 404
    make_user(email="mod@example.com", roles=["moderator"])
    for email in ("mod@example.com", "owner@example.com"):
        other = app.test_client()
        Browserless(other).login(email=email)
        response = other.get(f"/media/{key}")
        assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]


def test_storage_keys_cannot_escape_the_upload_directory(app):
    with app.app_context(), pytest.raises(ValueError):
        get_storage().open("../secret_key")
