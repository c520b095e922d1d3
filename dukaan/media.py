"""Where photo files live: one small interface, local disk by default or an S3-compatible bucket.

Files are named by keys such as ``p/3f/3f9a…-320.webp``. Keys under ``p/`` are
public: pages link to them at ``MEDIA_URL`` + key, and they never change (a new
photo is a new hash), so they are cached for a year. Keys under ``incoming/``
are uploads waiting for the photo job; nothing serves them.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

EXTENSION = "dukaan.media"
PUBLIC = "p/"
INCOMING = "incoming/"


class Storage(Protocol):
    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Write ``data`` under ``key`` (replacing what was there)."""

    def load(self, key: str) -> bytes:
        """The bytes under ``key``; raises ``FileNotFoundError`` if there are none."""

    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is gone already."""

    def exists(self, key: str) -> bool: ...


class LocalStorage:
    """Files under ``root`` (``MEDIA_ROOT``): in Compose a volume the web containers and nginx share."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"not a media key: {key!r}")
        return path

    def save(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: nginx never serves half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".", delete=False) as out:
            out.write(data)
        os.chmod(out.name, 0o644)
        os.replace(out.name, path)

    def load(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()


class S3Storage:
    """An S3-compatible bucket through boto3, for web tiers on several machines."""

    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str | None = None,
                 prefix: str = "") -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3}),
        )

    def save(self, key: str, data: bytes, content_type: str) -> None:
        extra = {"CacheControl": "public, max-age=31536000, immutable"} if key.startswith(PUBLIC) else {}
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data,
                               ContentType=content_type, **extra)

    def load(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(key) from None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def storage() -> Storage:
    """The app's storage."""
    return current_app.extensions[EXTENSION]


def url(key: str) -> str:
    """Where a browser fetches the public file ``key``."""
    return current_app.config["MEDIA_URL"] + key


def init_app(app: Flask) -> None:
    config = app.config
    if config.get("MEDIA_S3_BUCKET"):
        app.extensions[EXTENSION] = S3Storage(config["MEDIA_S3_BUCKET"], config.get("MEDIA_S3_ENDPOINT_URL"),
                                              config.get("MEDIA_S3_REGION"), config.get("MEDIA_S3_PREFIX", ""))
    else:
        app.extensions[EXTENSION] = LocalStorage(config["MEDIA_ROOT"])
    if config.get("MEDIA_SERVE") and not config.get("MEDIA_S3_BUCKET") and config["MEDIA_URL"].startswith("/"):
        _serve(app)


def _serve(app: Flask) -> None:
    """Answer ``MEDIA_URL`` from local disk (outside production: nginx does it there)."""
    from flask import abort, send_from_directory

    def media(key: str):
        if not posixpath.normpath(key).startswith(PUBLIC) or ".." in key.split("/"):
            abort(404)
        response = send_from_directory(app.extensions[EXTENSION].root, key, max_age=31536000)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response

    app.add_url_rule(app.config["MEDIA_URL"].rstrip("/") + "/<path:key>", "media", media)
