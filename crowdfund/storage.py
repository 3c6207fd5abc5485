"""Where uploaded bytes live. Local directory by default; an S3-compatible store can implement the same four methods."""
import os
from pathlib import Path

from flask import current_app


class Storage:
    """The interface uploads are written through."""

    def save(self, key, data, content_type):
        raise NotImplementedError

    def open(self, key):
        raise NotImplementedError

    def delete(self, key):
        raise NotImplementedError

    def exists(self, key):
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
        return self._path(key).open("rb")

    def delete(self, key):
        self._path(key).unlink(missing_ok=True)

    def exists(self, key):
        return self._path(key).exists()


def get_storage():
    """The app's storage (configured by UPLOAD_DIR)."""
    storage = current_app.extensions.get("crowdfund_storage")
    if storage is None:
        storage = LocalStorage(current_app.config["UPLOAD_DIR"])
        current_app.extensions["crowdfund_storage"] = storage
    return storage
