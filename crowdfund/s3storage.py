"""Uploads in an S3-compatible object store through boto3: AWS S3, Aliyun OSS and Tencent COS in S3 mode, MinIO.

Objects are written with their Content-Type and Cache-Control and no ACL, so they stay as private as the bucket
(a CDN reads public/ with its own origin credentials). Every boto error becomes StorageError, and a missing key
MissingObject, so callers never see botocore's exceptions.
"""
import io

from crowdfund.storage import MissingObject, Storage, StorageError, StoredObject, cache_control

MISSING_CODES = {"NoSuchKey", "NotFound", "404"}


def _translated(error, key):
    """Our exception for a boto error."""
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in MISSING_CODES:
            return MissingObject(key)
        return StorageError(f"object store refused {key!r}: {code} {error}")
    return StorageError(f"object store unreachable for {key!r}: {error}")


class S3Storage(Storage):
    """One bucket of an S3-compatible store; keys are the object names."""

    def __init__(self, client, bucket):
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_config(cls, config):
        """A client for S3_ENDPOINT_URL (empty: AWS) with short timeouts, so a store that is down costs a request
        seconds rather than a worker."""
        import boto3
        from botocore.config import Config as BotoConfig

        timeout = config["S3_TIMEOUT"]
        client = boto3.session.Session().client(
            "s3", endpoint_url=config["S3_ENDPOINT_URL"] or None, region_name=config["S3_REGION"],
            aws_access_key_id=config["S3_ACCESS_KEY_ID"], aws_secret_access_key=config["S3_SECRET_ACCESS_KEY"],
            config=BotoConfig(
                signature_version="s3v4", s3={"addressing_style": config["S3_ADDRESSING_STYLE"]},
                connect_timeout=timeout, read_timeout=timeout, retries={"mode": "standard", "max_attempts": 3},
                # OSS, COS and MinIO do not all know the CRC checksums newer boto3 adds to every upload.
                request_checksum_calculation="when_required", response_checksum_validation="when_required"))
        return cls(client, config["S3_BUCKET"])

    def _call(self, operation, key, **params):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **params)
        except (BotoCoreError, ClientError) as error:
            raise _translated(error, key) from error

    def save(self, key, data, content_type):
        self._call("put_object", key, Key=key, Body=data, ContentType=content_type, CacheControl=cache_control(key))

    def stat(self, key):
        try:
            head = self._call("head_object", key, Key=key)
        except MissingObject:
            return None
        return StoredObject(size=head["ContentLength"], modified=head["LastModified"],
                            etag=head.get("ETag", "").strip('"'))

    def open(self, key):
        return self.open_object(key)[0]

    def open_object(self, key):
        """Ask for the object's size at once (a missing key fails here, before any byte is sent), read lazily."""
        info = self.stat(key)
        if info is None:
            raise MissingObject(key)
        return S3Reader(self, key, info.size), info

    def get(self, key, start):
        """The object's body from byte `start` on (a ranged GET, so seeking in a video costs no skipped bytes)."""
        params = {"Range": f"bytes={start}-"} if start else {}
        return self._call("get_object", key, Key=key, **params)["Body"]

    def delete(self, key):
        self._call("delete_object", key, Key=key)

    def check(self):
        self._call("head_bucket", "")


class S3Reader(io.RawIOBase):
    """A seekable file over an object: the GET is sent on the first read after opening or seeking."""

    def __init__(self, storage, key, size):
        super().__init__()
        self.storage, self.key, self.size = storage, key, size
        self._position = 0
        self._body = None

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._position + offset, io.SEEK_END: self.size + offset}[whence]
        if target < 0:
            raise ValueError("negative seek position")
        if target != self._position:
            self._drop()
            self._position = target
        return target

    def readinto(self, buffer):
        from botocore.exceptions import BotoCoreError

        if self._position >= self.size:
            return 0
        if self._body is None:
            self._body = self.storage.get(self.key, self._position)
        try:
            data = self._body.read(len(buffer))
        except (BotoCoreError, OSError) as error:
            self._drop()
            raise StorageError(f"reading {self.key!r} from the object store failed: {error}") from error
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)

    def _drop(self):
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self):
        self._drop()
        super().close()
