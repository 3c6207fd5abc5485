"""Where uploaded bytes live: a local directory by default, or an S3-compatible object store (STORAGE_BACKEND=s3)
so that several web hosts share one set of uploads and need nothing from each other.

Keys are chosen by the caller (crowdfund/media.py, crowdfund/privacy.py), random and never reused, so an object
never changes once written. Keys under PUBLIC_PREFIX may be served by a CDN (S3_PUBLIC_BASE_URL); everything else
(private papers, data exports) is only ever read by the app, after its own access check.
"""
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app

PUBLIC_PREFIX = "public/"
PRIVATE_PREFIX = "private/"
# Public objects never change (a new upload gets a new key), so caches may keep them; the rest must not be cached.
PUBLIC_CACHE_CONTROL = "public, max-age=31536000, immutable"
PRIVATE_CACHE_CONTROL = "private, no-store"


class StorageError(RuntimeError):
    """The store could not be reached or refused the request; the message is for the log, not for people."""


class MissingObject(StorageError, FileNotFoundError):
    """No object under that key (shown as a 404)."""


@dataclass(frozen=True)
class StoredObject:
    """What the store knows about an object: enough for Content-Length, ETag and Last-Modified."""

    size: int
    modified: datetime
    etag: str


def cache_control(key):
    """The Cache-Control an object is stored with (a CDN in front of the bucket follows it)."""
    return PUBLIC_CACHE_CONTROL if key.startswith(PUBLIC_PREFIX) else PRIVATE_CACHE_CONTROL


class Storage:
    """The interface uploads are written through."""

    def save(self, key, data, content_type):
        raise NotImplementedError

    def open(self, key):
        """A readable, seekable binary file; MissingObject if there is none."""
        raise NotImplementedError

    def stat(self, key):
        """The object's StoredObject, or None when there is none."""
        raise NotImplementedError

    def delete(self, key):
        """Remove the object; removing one that is not there is not an error."""
        raise NotImplementedError

    def open_object(self, key):
        """The open file and its StoredObject together (what serving it needs); MissingObject if there is none."""
        info = self.stat(key)
        if info is None:
            raise MissingObject(key)
        return self.open(key), info

    def exists(self, key):
        return self.stat(key) is not None

    def check(self):
        """Raise StorageError when the store cannot be used (for /healthz)."""
        raise NotImplementedError


class LocalStorage(Storage):
    """Files under a directory (instance/uploads by default), never executable."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key):
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the upload directory")
        return path

    def save(self, key, data, content_type):
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        tmp.replace(path)

    def open(self, key):
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise MissingObject(key) from None

    def stat(self, key):
        try:
            result = self._path(key).stat()
        except FileNotFoundError:
            return None
        return StoredObject(size=result.st_size, modified=datetime.fromtimestamp(result.st_mtime, timezone.utc),
                            etag=f"{result.st_mtime_ns:x}-{result.st_size:x}")

    def delete(self, key):
        self._path(key).unlink(missing_ok=True)

    def check(self):
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not writable")


def build_storage(config):
    """The storage STORAGE_BACKEND names, built from the app's config (checked in Config.finish)."""
    if config.get("STORAGE_BACKEND", "local") == "s3":
        from crowdfund.s3storage import S3Storage

        return S3Storage.from_config(config)
    return LocalStorage(config["UPLOAD_DIR"])


def get_storage():
    """The app's storage, built once per app (a boto3 client is safe to share between threads)."""
    storage = current_app.extensions.get("crowdfund_storage")
    if storage is None:
        storage = build_storage(current_app.config)
        current_app.extensions["crowdfund_storage"] = storage
    return storage
