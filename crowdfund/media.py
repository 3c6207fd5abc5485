"""Accepting uploads: images re-encoded by Pillow, PDFs and MP4s checked by their magic bytes, video links allowlisted."""
import io
import logging
import re
import secrets
from urllib.parse import parse_qs, quote, urlsplit

from PIL import Image, ImageOps, UnidentifiedImageError

from crowdfund.extensions import db
from crowdfund.models import Media, MediaKind
from crowdfund.storage import PRIVATE_PREFIX, PUBLIC_PREFIX, StorageError, get_storage

log = logging.getLogger(__name__)
MB = 1024 * 1024
IMAGE_MAX = 10 * MB
DOCUMENT_MAX = 20 * MB
VIDEO_MAX = 100 * MB
CSV_MAX = 2 * MB
FORM_MARGIN = 1 * MB  # the other fields of a form that carries a file
IMAGE_MAX_PIXELS = 36_000_000  # e.g. 8000×4500; checked from the header, before a pixel is decoded
IMAGE_WIDTHS = (240, 480, 960, 1440)
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}
Image.MAX_IMAGE_PIXELS = IMAGE_MAX_PIXELS  # Pillow errors only above twice this; save_image stops at once


class UploadError(ValueError):
    """The file is not acceptable; the message says why in the user's words (a lazy string)."""


def _messages():
    from flask_babel import lazy_gettext as _l

    return {
        "too_big": _l("The file is too large (at most %(mb)d MB)."),
        "not_image": _l("Upload a JPEG, PNG or WebP image."),
        "not_pdf": _l("Upload a PDF document."),
        "not_mp4": _l("Upload an MP4 video."),
        "empty": _l("The file is empty."),
        "too_many_pixels": _l("The image is too large (at most %(mp)d megapixels). Please make it smaller."),
        "video_link": _l("Use a link to a video on bilibili, Youku or Tencent Video (v.qq.com)."),
        "store_down": _l("The file could not be stored just now. Please try again in a few minutes."),
    }


def upload_body_limit(*largest_files):
    """The body limit for a form carrying these files (crowdfund.inputs.body_limit)."""
    return sum(largest_files) + FORM_MARGIN


def _read(file_storage, limit):
    data = file_storage.read(limit + 1)
    if len(data) > limit:
        raise UploadError(_messages()["too_big"] % {"mb": limit // MB})
    if not data:
        raise UploadError(_messages()["empty"])
    return data


def _new_key(suffix, private=False):
    """A fresh random key; private ones under their own prefix, which no CDN is given access to."""
    return f"{PRIVATE_PREFIX if private else PUBLIC_PREFIX}{secrets.token_hex(2)}/{secrets.token_urlsafe(18)}{suffix}"


def _store(items):
    """Write (key, bytes, content type) items; if the store fails, remove what was written and say so kindly."""
    storage = get_storage()
    written = []
    try:
        for key, data, content_type in items:
            storage.save(key, data, content_type)
            written.append(key)
    except StorageError as error:
        log.warning("upload not stored: %s", error)
        for key in written:
            try:
                storage.delete(key)
            except StorageError:
                log.warning("could not remove %s after a failed upload", key)
        raise UploadError(_messages()["store_down"]) from error


def _original_name(file_storage):
    return (file_storage.filename or "")[-200:]


def save_image(owner, file_storage, private=False):
    """Open, re-encode (dropping EXIF and anything hidden) and store an image in a few widths."""
    data = _read(file_storage, IMAGE_MAX)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in IMAGE_FORMATS:
                raise UploadError(_messages()["not_image"])
            if probe.width * probe.height > IMAGE_MAX_PIXELS:  # a few KB of PNG can unpack to gigabytes
                raise UploadError(_messages()["too_many_pixels"] % {"mp": IMAGE_MAX_PIXELS // 1_000_000})
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
    except Image.DecompressionBombError:  # over twice the budget: Pillow refuses at open
        raise UploadError(_messages()["too_many_pixels"] % {"mp": IMAGE_MAX_PIXELS // 1_000_000}) from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise UploadError(_messages()["not_image"]) from None
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[-1])
        image = background
    image = image.convert("RGB")
    base = _new_key("", private)
    variants, encoded = {}, []
    widths = [w for w in IMAGE_WIDTHS if w < image.width] + [min(image.width, IMAGE_WIDTHS[-1])]
    for width in sorted(set(widths)):
        resized = image if width == image.width else image.resize(
            (width, max(1, round(image.height * width / image.width))), Image.LANCZOS)
        buffer = io.BytesIO()
        resized.save(buffer, "JPEG", quality=82, optimize=True, progressive=True)
        key = f"{base}-{width}.jpg"
        encoded.append((key, buffer.getvalue(), "image/jpeg"))
        variants[str(width)] = key
    _store(encoded)
    media = Media(owner_id=owner.id, kind=MediaKind.IMAGE, key=base, content_type="image/jpeg",
                  original_name=_original_name(file_storage), size=len(data), width=image.width,
                  height=image.height, variants=variants, private=private)
    db.session.add(media)
    db.session.flush()
    return media


def save_document(owner, file_storage, private=False):
    """Store a PDF, recognised by its magic bytes rather than its name."""
    data = _read(file_storage, DOCUMENT_MAX)
    if not data.startswith(b"%PDF-"):
        raise UploadError(_messages()["not_pdf"])
    key = _new_key(".pdf", private)
    _store([(key, data, "application/pdf")])
    media = Media(owner_id=owner.id, kind=MediaKind.DOCUMENT, key=key, content_type="application/pdf",
                  original_name=_original_name(file_storage), size=len(data), variants={}, private=private)
    db.session.add(media)
    db.session.flush()
    return media


def save_image_or_document(owner, file_storage, private=False):
    """Papers may be a photo or a PDF."""
    head = file_storage.stream.read(5)
    file_storage.stream.seek(0)
    if head.startswith(b"%PDF-"):
        return save_document(owner, file_storage, private=private)
    return save_image(owner, file_storage, private=private)


def save_video(owner, file_storage):
    """Store an MP4 (an ISO media file whose brand box says so)."""
    data = _read(file_storage, VIDEO_MAX)
    if data[4:8] != b"ftyp" or data[8:12] not in {b"isom", b"mp41", b"mp42", b"avc1", b"iso2", b"M4V ", b"dash"}:
        raise UploadError(_messages()["not_mp4"])
    key = _new_key(".mp4")
    _store([(key, data, "video/mp4")])
    media = Media(owner_id=owner.id, kind=MediaKind.VIDEO, key=key, content_type="video/mp4",
                  original_name=_original_name(file_storage), size=len(data), variants={})
    db.session.add(media)
    db.session.flush()
    return media


VIDEO_HOSTS = {
    "bilibili": (re.compile(r"^(www\.|m\.)?bilibili\.com$"), re.compile(r"^/video/(BV[0-9A-Za-z]{10})/?$"),
                 "https://player.bilibili.com/player.html?bvid={}&autoplay=0"),
    "youku": (re.compile(r"^v\.youku\.com$"), re.compile(r"^/v_show/id_([0-9A-Za-z=]{6,40})\.html$"),
              "https://player.youku.com/embed/{}"),
    "tencent": (re.compile(r"^v\.qq\.com$"), re.compile(r"^/x/(?:cover/[0-9a-z]+/|page/)([0-9a-z]{11})\.html$"),
                "https://v.qq.com/txp/iframe/player.html?vid={}"),
}
EMBED_ORIGINS = ("https://player.bilibili.com", "https://player.youku.com", "https://v.qq.com")


def video_embed_url(link):
    """The player URL for an allowlisted video page link, or UploadError."""
    parts = urlsplit((link or "").strip())
    if parts.scheme not in ("http", "https"):
        raise UploadError(_messages()["video_link"])
    for host_re, path_re, player in VIDEO_HOSTS.values():
        if host_re.match(parts.hostname or ""):
            match = path_re.match(parts.path)
            if match:
                return player.format(match.group(1))
            if "vid" in parse_qs(parts.query) and "qq.com" in (parts.hostname or ""):
                vid = parse_qs(parts.query)["vid"][0]
                if re.fullmatch(r"[0-9a-z]{11}", vid):
                    return player.format(vid)
    raise UploadError(_messages()["video_link"])


def safe_embed_url(link):
    """The player URL for a stored video link, or None if it is no longer allowlisted."""
    try:
        return video_embed_url(link)
    except UploadError:
        return None


def find(key):
    """The Media a storage key belongs to (an image's width variants share its base key)."""
    from sqlalchemy import select

    match = re.fullmatch(r"(.+)-\d+\.jpg", key)
    candidates = [key] + ([match.group(1)] if match else [])
    media = db.session.scalar(select(Media).where(Media.key.in_(candidates)))
    if media is None or key not in {media.key, *media.variants.values()} - ({media.key} if media.variants else set()):
        return None
    return media


def largest(media):
    """The storage key of an image's widest variant (or the file itself)."""
    if not media.variants:
        return media.key
    return media.variants[str(max(int(w) for w in media.variants))]


def cdn_url(media, key):
    """The CDN address of a public image or video (S3_PUBLIC_BASE_URL), else None.

    Only keys under public/ (a CDN is given that prefix and nothing else) and never documents: they are downloads
    named after the creator's file, which only our own Content-Disposition gives them.
    """
    from flask import current_app

    base = current_app.config.get("S3_PUBLIC_BASE_URL", "").rstrip("/")
    if not base or media.private or media.kind == MediaKind.DOCUMENT or not key.startswith(PUBLIC_PREFIX):
        return None
    return f"{base}/{quote(key)}"


def media_url(media, key=None):
    """Where a page links one of the media's files: the CDN when it serves it, else our /media/ route."""
    from flask import url_for

    key = key or media.key
    return cdn_url(media, key) or url_for("media.show", key=key)


def srcset(media):
    """The srcset attribute value for an image's stored widths."""
    return ", ".join(f"{media_url(media, key)} {width}w"
                     for width, key in sorted(media.variants.items(), key=lambda kv: int(kv[0])))
