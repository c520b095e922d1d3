"""Photos in an S3-compatible bucket (dukaan.media.S3Storage), against moto's standalone S3
server started here on a free loopback port: no real S3 is reachable from this machine.

Outside CI the tests are skipped when moto's server is not installed; with CI=true they fail.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from dukaan import jobs, media
from dukaan.extensions import db
from dukaan.models import PhotoState, ProductPhoto
from dukaan.sample_photos import phone_jpeg
from helpers import IN_CI, AuthActions, make_app, make_product, make_vendor, upload_photos

pytestmark = pytest.mark.postgres
BUCKET = "dukaan-photos"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def moto_server():
    """moto's S3 server as a subprocess on 127.0.0.1:<free port>; its endpoint URL."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("moto[server] is not installed (requirements-dev.txt pins it)")
        pytest.skip("moto[server] is not installed")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("moto's S3 server did not start")
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def s3_app(_schema, moto_server, monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    app = make_app(_schema, None, MEDIA_S3_BUCKET=BUCKET, MEDIA_S3_ENDPOINT_URL=moto_server,
                   MEDIA_S3_REGION="us-east-1", MEDIA_URL=f"{moto_server}/{BUCKET}/")
    with app.app_context():
        from conftest import _empty

        _empty(db.engine)
        storage = media.storage()
        assert isinstance(storage, media.S3Storage)
        existing = [b["Name"] for b in storage.client.list_buckets()["Buckets"]]
        if BUCKET not in existing:
            storage.client.create_bucket(Bucket=BUCKET)
    yield app
    jobs.backend(app).shutdown()
    with app.app_context():
        db.engine.dispose()


def keys(app) -> list[str]:
    with app.app_context():
        listed = media.storage().client.list_objects_v2(Bucket=BUCKET)
        return sorted(item["Key"] for item in listed.get("Contents", []))


def test_the_storage_round_trip(s3_app):
    with s3_app.app_context():
        storage = media.storage()
        storage.save("p/ab/abc-320.webp", b"webp bytes", "image/webp")
        assert storage.exists("p/ab/abc-320.webp")
        assert storage.load("p/ab/abc-320.webp") == b"webp bytes"
        head = storage.client.head_object(Bucket=BUCKET, Key="p/ab/abc-320.webp")
        assert head["ContentType"] == "image/webp"
        assert head["CacheControl"] == "public, max-age=31536000, immutable"
        storage.delete("p/ab/abc-320.webp")
        storage.delete("p/ab/abc-320.webp")  # gone already: no error
        assert not storage.exists("p/ab/abc-320.webp")
        with pytest.raises(FileNotFoundError):
            storage.load("p/ab/abc-320.webp")


def test_a_photo_goes_through_the_bucket_and_leaves_with_its_product(s3_app, moto_server):
    vendor_id = make_vendor(s3_app)
    product_id = make_product(s3_app, vendor_id, "Mango pickle")
    client = s3_app.test_client()
    auth = AuthActions(client)
    auth.login()
    response = upload_photos(auth, product_id, ("a.jpg", phone_jpeg(800, 600, orientation=None)))
    assert response.status_code == 303
    assert jobs.backend(s3_app).join(30)
    with s3_app.app_context():
        photo = db.session.scalars(db.select(ProductPhoto)).one()
        key, state = photo.key, photo.state
    assert state == PhotoState.READY
    assert keys(s3_app) == [f"p/{key[:2]}/{key}-{w}.webp" for w in (320, 640, 800)]  # the upload is gone
    html = client.get("/order/ravi").get_data(as_text=True)
    assert f'src="{moto_server}/{BUCKET}/p/{key[:2]}/{key}-640.webp"' in html
    # The page lets images come from the bucket, and from nowhere else new.
    policy = client.get("/order/ravi").headers["Content-Security-Policy"]
    assert f"img-src 'self' data: {moto_server};" in policy
    # The app does not serve media when a bucket holds them.
    assert client.get(f"/media/p/{key[:2]}/{key}-640.webp").status_code == 404
    assert auth.post(f"/dashboard/products/{product_id}/delete").status_code == 303
    assert jobs.backend(s3_app).join(30)
    assert keys(s3_app) == []
