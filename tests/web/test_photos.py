"""Product photos: uploads and what is refused, the renditions, moving, deleting, retrying,
who may touch them, and how the store page and the API show them."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from dukaan import jobs, media, photos
from dukaan.extensions import db
from dukaan.models import PhotoState, ProductPhoto
from dukaan.sample_photos import GPS_IFD, phone_jpeg, product_picture
from helpers import HX, AuthActions, make_product, make_vendor, upload_photos

pytestmark = pytest.mark.postgres


@pytest.fixture
def media_root(app, tmp_path):
    """The app's photos on a folder of this test's own."""
    app.config["MEDIA_ROOT"] = str(tmp_path)
    app.extensions[media.EXTENSION] = media.LocalStorage(str(tmp_path))
    return tmp_path


@pytest.fixture
def product_id(app, vendor, media_root):
    return make_product(app, vendor, "Mango pickle")


def settle(app) -> None:
    """Wait for the jobs a commit asked for (the relay, then the photo jobs)."""
    assert jobs.backend(app).join(30), "jobs still running after 30 s"


def files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def stored(app) -> list[ProductPhoto]:
    with app.app_context():
        found = db.session.scalars(db.select(ProductPhoto).order_by(ProductPhoto.position)).all()
        db.session.expunge_all()
        return found


upload = upload_photos


def small_jpeg(seed=0, width=800, height=600, orientation=None, **kwargs) -> bytes:
    return phone_jpeg(width, height, seed=seed, orientation=orientation, **kwargs)


# --- refusals --------------------------------------------------------------------------


def png(width, height, mode="1") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


REFUSED = {
    "an SVG": ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
               "logo.svg is not a JPEG, PNG or WebP"),
    "a PDF": ("menu.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "menu.pdf is not a JPEG, PNG or WebP"),
    "a renamed text file": ("notes.jpg", b"just some text, not a photo\n" * 20, "notes.jpg is not a JPEG, PNG or WebP"),
    "a GIF": ("anim.gif", None, "anim.gif is not a JPEG, PNG or WebP"),
    "a truncated JPEG": ("cut.jpg", None, "cut.jpg is not a JPEG, PNG or WebP"),
    "over 15 MB": ("huge.jpg", b"\xff" * (15 * 1024 * 1024 + 1), "huge.jpg is larger than 15 MB"),
    "over 40 megapixels": ("wide.png", None, "wide.png has more than 40 megapixels"),
    "a decompression bomb": ("bomb.png", None, "bomb.png has more than 40 megapixels"),
}


def refused_content(case: str) -> tuple[str, bytes]:
    name, content, _ = REFUSED[case]
    if case == "a GIF":
        out = io.BytesIO()
        Image.new("RGB", (10, 10)).save(out, "GIF")
        content = out.getvalue()
    elif case == "a truncated JPEG":
        content = small_jpeg()[:-4000]
    elif case == "over 40 megapixels":
        content = png(8000, 5001)
    elif case == "a decompression bomb":
        content = png(12000, 12000)  # 144 MP: Pillow itself refuses above twice its limit
    return name, content


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_a_file_that_is_not_a_photo_we_take_is_refused_and_named(app, auth, product_id, media_root, case, htmx):
    name, content = refused_content(case)
    response = upload(auth, product_id, ("good.jpg", small_jpeg()), (name, content), htmx=htmx)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert REFUSED[case][2] in html
    # One bad file refuses the whole upload: nothing of it stays.
    assert stored(app) == []
    assert files(media_root) == []
    if htmx:
        assert html.lstrip().startswith('<section id="photos-')
    else:
        assert "<html" in html and 'name="photos"' in html


def test_a_file_name_is_kept_without_folders_or_control_characters(app, auth, product_id):
    response = upload(auth, product_id, ("C:\\Users\\asha\\आम\x00.svg", b"<svg/>"), htmx=True)
    assert response.status_code == 422 and "आम.svg is not a JPEG" in response.get_data(as_text=True)
    upload(auth, product_id, ("../../आम\x01.jpg", small_jpeg()))
    assert [p.filename for p in stored(app)] == ["आम.jpg"]


def test_an_upload_with_no_file_is_refused(auth, product_id):
    response = upload(auth, product_id, htmx=True)
    assert response.status_code == 422
    assert "Choose one or more photos" in response.get_data(as_text=True)


def test_a_ninth_photo_is_refused(app, auth, product_id, media_root):
    first = [(f"p{i}.jpg", small_jpeg(seed=i, width=200, height=150)) for i in range(6)]
    assert upload(auth, product_id, *first, htmx=True).status_code == 200
    settle(app)
    before = files(media_root)
    response = upload(auth, product_id, *[(f"q{i}.jpg", small_jpeg(seed=10 + i, width=200, height=150))
                                          for i in range(3)], htmx=True)
    assert response.status_code == 422
    assert "at most 8 photos: it has 6, so q2.jpg cannot be added" in response.get_data(as_text=True)
    assert len(stored(app)) == 6 and files(media_root) == before
    assert upload(auth, product_id, ("q0.jpg", small_jpeg(seed=10, width=200, height=150)),
                  ("q1.jpg", small_jpeg(seed=11, width=200, height=150))).status_code == 303
    html = upload(auth, product_id, ("q2.jpg", small_jpeg(seed=12, width=200, height=150)),
                  htmx=True).get_data(as_text=True)
    assert "it has 8, so q2.jpg cannot be added" in html


def test_an_upload_needs_the_csrf_token(app, client, vendor, product_id):
    response = client.post(f"/dashboard/products/{product_id}/photos", content_type="multipart/form-data",
                           data={"photos": [(io.BytesIO(small_jpeg()), "a.jpg")]})
    assert response.status_code == 400
    assert stored(app) == []


def test_a_large_phone_photo_is_taken_though_other_bodies_stay_small(app, auth, product_id):
    big = phone_jpeg(3000, 2000, quality=97)
    assert len(big) > 1024 * 1024
    assert upload(auth, product_id, ("IMG_0001.jpg", big), htmx=True).status_code == 200
    response = auth.post(f"/dashboard/products/{product_id}", data={"name": "x" * 2 * 1024 * 1024})
    assert response.status_code == 413


# --- processing ------------------------------------------------------------------------


def test_a_phone_photo_is_turned_upright_stripped_and_rendered_at_three_widths(app, auth, product_id, media_root):
    # Stored sideways (orientation 6: turn 90° clockwise), with a GPS position.
    content = phone_jpeg(1600, 1200, orientation=6, gps=True)
    assert Image.open(io.BytesIO(content)).getexif().get_ifd(GPS_IFD)
    response = upload(auth, product_id, ("IMG_2041.jpg", content), htmx=True)
    assert response.status_code == 200
    assert "Processing…" in response.get_data(as_text=True)
    settle(app)
    (photo,) = stored(app)
    assert photo.state == PhotoState.READY and photo.error is None
    assert photo.rendition_widths == [320, 640, 1200]  # never wider than the photo
    assert (photo.width, photo.height) == (1200, 1600)  # upright: portrait
    key = photo.key
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert files(media_root) == [f"p/{key[:2]}/{key}-{w}.webp" for w in (1200, 320, 640)]  # no original kept
    for width in (320, 640, 1200):
        with Image.open(media_root / f"p/{key[:2]}/{key}-{width}.webp") as image:
            assert image.format == "WEBP" and image.width == width
            assert image.height == round(1600 * width / 1200)
            assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info
            assert "icc_profile" not in image.info
    # The app serves them outside production, for a year.
    served = auth._client.get(f"/media/p/{key[:2]}/{key}-320.webp")
    assert served.status_code == 200 and served.mimetype == "image/webp"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    served.close()


def test_the_320_rendition_of_a_phone_photo_is_small():
    made = photos.render(phone_jpeg(4000, 3000, orientation=6))
    assert sorted(made.files) == [320, 640, 1280]
    assert len(made.files[320]) <= 25 * 1024


def test_pngs_and_webps_are_taken(app, auth, product_id):
    assert upload(auth, product_id, ("a.png", product_picture("A b", fmt="PNG")),
                  ("b.webp", product_picture("C d", fmt="WEBP"))).status_code == 303
    settle(app)
    assert [p.state for p in stored(app)] == [PhotoState.READY, PhotoState.READY]


def test_nothing_but_public_renditions_is_served(app, client, media_root):
    (media_root / "incoming").mkdir()
    (media_root / "incoming" / "abc").write_bytes(b"an upload waiting")
    assert client.get("/media/incoming/abc").status_code == 404
    assert client.get("/media/p/../incoming/abc").status_code == 404


def test_a_failed_photo_says_so_and_can_be_retried(app, auth, product_id, monkeypatch, media_root):
    real = photos.render

    def broken(data):
        raise OSError("disk full")

    monkeypatch.setattr(photos, "render", broken)
    upload(auth, product_id, ("IMG_7.jpg", small_jpeg()), htmx=True)
    settle(app)
    (photo,) = stored(app)
    assert photo.state == PhotoState.FAILED
    assert "IMG_7.jpg could not be processed" in photo.error
    html = auth._client.get(f"/dashboard/products/{product_id}/edit").get_data(as_text=True)
    assert "IMG_7.jpg could not be processed" in html and "Retry" in html
    assert "<img class=\"cover\"" not in auth._client.get("/order/ravi").get_data(as_text=True)
    monkeypatch.setattr(photos, "render", real)
    response = auth.post(f"/dashboard/photos/{photo.id}/retry", htmx=True)
    assert response.status_code == 200 and "Processing…" in response.get_data(as_text=True)
    settle(app)
    assert stored(app)[0].state == PhotoState.READY
    assert 'alt="Mango pickle"' in auth._client.get("/order/ravi").get_data(as_text=True)


def test_retry_without_javascript_redirects_back(app, auth, product_id, monkeypatch):
    monkeypatch.setattr(photos, "render", lambda data: 1 / 0)
    upload(auth, product_id, ("IMG_7.jpg", small_jpeg()))
    settle(app)
    monkeypatch.undo()
    (photo,) = stored(app)
    response = auth.post(f"/dashboard/photos/{photo.id}/retry")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/dashboard/products/{product_id}/edit#photos")
    settle(app)
    assert stored(app)[0].state == PhotoState.READY


# --- the dashboard's routes, with htmx and without ------------------------------------------


def three_photos(app, auth, product_id) -> list[int]:
    upload(auth, product_id, *[(f"{n}.jpg", small_jpeg(seed=i, width=400, height=300))
                               for i, n in enumerate("abc")])
    settle(app)
    return [p.id for p in stored(app)]


def order_of(app) -> list[str]:
    return [p.filename for p in stored(app)]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_upload_several_at_once(app, auth, product_id, htmx):
    response = upload(auth, product_id, ("a.jpg", small_jpeg(1)), ("b.jpg", small_jpeg(2)), htmx=htmx)
    if htmx:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert html.lstrip().startswith(f'<section id="photos-{product_id}"')
        assert 'hx-trigger="every 1s"' in html  # asks again while processing
        assert "HX-Request" in response.headers["Vary"]
    else:
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"/dashboard/products/{product_id}/edit#photos")
    settle(app)
    assert order_of(app) == ["a.jpg", "b.jpg"]
    assert [p.position for p in stored(app)] == [0, 1]
    html = auth._client.get(f"/dashboard/products/{product_id}/photos", headers=HX).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' not in html and html.count("<img") == 2


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_upload_from_the_product_row(app, auth, product_id, htmx):
    response = upload(auth, product_id, ("a.jpg", small_jpeg(1)), htmx=htmx, from_row=True)
    if htmx:
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and html.lstrip().startswith(f'<tr id="product-{product_id}"')
        assert "1 processing" in html
    else:
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"/dashboard/products#product-{product_id}")
    settle(app)
    row = auth._client.get(f"/dashboard/products/{product_id}", headers=HX).get_data(as_text=True)
    assert '<img class="thumb"' in row and "1 photo<" in row and "processing" not in row


def test_a_refused_upload_from_the_row_comes_back_in_the_row(auth, product_id):
    response = upload(auth, product_id, ("x.pdf", b"%PDF-1.4"), htmx=True, from_row=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and html.lstrip().startswith(f'<tr id="product-{product_id}"')
    assert "x.pdf is not a JPEG, PNG or WebP" in html


def test_the_products_page_and_edit_page_offer_uploads(auth, product_id):
    for path in ("/dashboard/products", f"/dashboard/products/{product_id}/edit"):
        html = auth._client.get(path).get_data(as_text=True)
        assert 'type="file"' in html and 'name="photos" multiple accept="image/*"' in html
        assert 'enctype="multipart/form-data"' in html and 'hx-encoding="multipart/form-data"' in html
        assert 'name="csrf_token"' in html


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_move_a_photo_earlier_and_later(app, auth, product_id, htmx):
    a, b, c = three_photos(app, auth, product_id)
    response = auth.post(f"/dashboard/photos/{c}/move", data={"direction": "earlier"}, htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    assert order_of(app) == ["a.jpg", "c.jpg", "b.jpg"]
    auth.post(f"/dashboard/photos/{a}/move", data={"direction": "later"}, htmx=htmx)
    assert order_of(app) == ["c.jpg", "a.jpg", "b.jpg"]
    auth.post(f"/dashboard/photos/{c}/move", data={"direction": "earlier"}, htmx=htmx)  # first already
    assert order_of(app) == ["c.jpg", "a.jpg", "b.jpg"]
    if htmx:
        html = auth.post(f"/dashboard/photos/{a}/move", data={"direction": "sideways"}, htmx=True)
        assert html.status_code == 422
    else:
        assert auth.post(f"/dashboard/photos/{a}/move", data={"direction": "sideways"}).status_code == 422


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_delete_a_photo_removes_its_files(app, auth, product_id, media_root, htmx):
    a, b, c = three_photos(app, auth, product_id)
    key_b = stored(app)[1].key
    assert any(key_b in f for f in files(media_root))
    response = auth.post(f"/dashboard/photos/{b}/delete", htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    settle(app)
    assert order_of(app) == ["a.jpg", "c.jpg"] and [p.position for p in stored(app)] == [0, 1]
    assert not any(key_b in f for f in files(media_root))
    assert len(files(media_root)) == 4  # a and c: 320 and 400 each


def test_deleting_a_product_removes_its_photos_files(app, auth, product_id, media_root):
    three_photos(app, auth, product_id)
    assert len(files(media_root)) == 6
    assert auth.post(f"/dashboard/products/{product_id}/delete").status_code == 303
    settle(app)
    assert stored(app) == [] and files(media_root) == []


def test_the_same_picture_on_two_products_keeps_its_files_until_both_go(app, auth, vendor, product_id, media_root):
    other = make_product(app, vendor, "Lime pickle")
    same = small_jpeg(5)
    upload(auth, product_id, ("a.jpg", same))
    upload(auth, other, ("a.jpg", same))
    settle(app)
    first, second = stored(app)
    auth.post(f"/dashboard/photos/{first.id}/delete")
    settle(app)
    assert len(files(media_root)) == 3  # 320, 640 and 800, still the second product's
    auth.post(f"/dashboard/photos/{second.id}/delete")
    settle(app)
    assert files(media_root) == []


def test_the_photos_fragment_without_htmx_is_the_edit_page(auth, product_id):
    response = auth._client.get(f"/dashboard/products/{product_id}/photos")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/dashboard/products/{product_id}/edit#photos")


# --- whose photos ------------------------------------------------------------------------


def test_a_vendor_touches_only_their_own_photos(app, auth, client, product_id, media_root):
    (photo_id,) = three_photos(app, auth, product_id)[:1]
    make_vendor(app, "meera", "Meera's", "other-pass-1")
    client.post("/logout", headers={"X-CSRFToken": auth.token})
    other = AuthActions(client)
    other.login("meera", "other-pass-1")
    for htmx in (True, False):
        assert upload(other, product_id, ("a.jpg", small_jpeg()), htmx=htmx).status_code == 404
        assert client.get(f"/dashboard/products/{product_id}/photos", headers=HX if htmx else {}).status_code == 404
        for action, data in (("move", {"direction": "later"}), ("delete", {}), ("retry", {})):
            assert other.post(f"/dashboard/photos/{photo_id}/{action}", data=data, htmx=htmx).status_code == 404
    assert len(stored(app)) == 3


def test_photo_routes_need_a_login(app, product_id):
    assert app.test_client().get(f"/dashboard/products/{product_id}/photos", headers=HX).status_code == 401
    response = app.test_client().get(f"/dashboard/products/{product_id}/photos")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_production_leaves_media_to_nginx(app, product_id, media_root):
    """gunicorn never serves a photo in production (MEDIA_SERVE off): nginx does."""
    from config import Config
    from helpers import make_app

    config = Config()
    assert config.MEDIA_SERVE is True
    production = make_app(app.config["SQLALCHEMY_DATABASE_URI"], None, MEDIA_SERVE=False, MEDIA_ROOT=str(media_root))
    (media_root / "p").mkdir()
    (media_root / "p" / "x.webp").write_bytes(b"webp")
    assert production.test_client().get("/media/p/x.webp").status_code == 404
    served = app.test_client().get("/media/p/x.webp")
    assert served.status_code == 200
    served.close()


# --- the store page and the API ------------------------------------------------------------


def test_the_store_card_shows_the_cover_as_the_contract_says(app, auth, vendor, product_id, queries):
    for i in range(4):
        pid = make_product(app, vendor, f"Product {i}")
        upload(auth, pid, ("x.jpg", small_jpeg(seed=20 + i)))
    upload(auth, product_id, ("a.jpg", small_jpeg(1)), ("b.jpg", small_jpeg(2)))
    settle(app)
    a, b = [p for p in stored(app) if p.product_id == product_id]
    queries.clear()
    html = auth._client.get("/order/ravi").get_data(as_text=True)
    covers = re.findall(r"<img class=\"cover\"[^>]*>", html)
    assert len(covers) == 5
    # One query for all the covers: no query per product.
    assert sum("product_photos" in q for q in queries) == 1
    first = covers[0]
    assert 'alt="Mango pickle"' in first
    assert f"/media/p/{a.key[:2]}/{a.key}-320.webp 320w" in first and f"{a.key}-640.webp 640w" in first
    assert 'width="800" height="600"' in first and "sizes=" in first
    assert f'src="/media/p/{a.key[:2]}/{a.key}-640.webp"' in first
    assert 'loading="lazy"' not in first and 'loading="lazy"' in covers[-1]
    assert b.key not in html  # only the cover on the card
    # The cover moves when the vendor moves another photo first.
    auth.post(f"/dashboard/photos/{b.id}/move", data={"direction": "earlier"}, htmx=True)
    html = auth._client.get("/order/ravi").get_data(as_text=True)
    assert b.key in html and a.key not in html


def test_the_store_page_shows_a_photo_once_it_is_ready_and_not_before(app, auth, product_id, monkeypatch):
    html = auth._client.get("/order/ravi").get_data(as_text=True)
    assert "<img class=\"cover\"" not in html
    held = []
    real = photos.process
    monkeypatch.setattr(photos, "process", lambda photo_id: held.append(photo_id))
    upload(auth, product_id, ("a.jpg", small_jpeg()))
    settle(app)
    assert held and stored(app)[0].state == PhotoState.PROCESSING
    assert "<img class=\"cover\"" not in auth._client.get("/order/ravi").get_data(as_text=True)
    with app.app_context():
        real(held[0])
    assert 'alt="Mango pickle"' in auth._client.get("/order/ravi").get_data(as_text=True)
    # Deleted: gone from the page at once.
    auth.post(f"/dashboard/photos/{stored(app)[0].id}/delete", htmx=True)
    assert "<img class=\"cover\"" not in auth._client.get("/order/ravi").get_data(as_text=True)


def test_the_api_lists_ready_photos_with_absolute_urls(app, auth, product_id):
    upload(auth, product_id, ("a.jpg", small_jpeg(1)), ("b.jpg", small_jpeg(2, width=300, height=200)))
    settle(app)
    a, b = stored(app)
    item = auth._client.get("/api/v1/stores/ravi/products").json["items"][0]
    assert item["photos"] == [
        {"width": 800, "height": 600, "urls": {
            str(w): f"http://localhost/media/p/{a.key[:2]}/{a.key}-{w}.webp" for w in (320, 640, 800)}},
        {"width": 300, "height": 200, "urls": {"300": f"http://localhost/media/p/{b.key[:2]}/{b.key}-300.webp"}},
    ]


def test_two_uploads_at_once_never_pass_eight_photos(app, auth, product_id):
    """Six photos, and two vendor tabs each add two more at the same moment: one upload is
    taken, the other refused (the product's row is locked while the places are counted)."""
    import threading

    from helpers import join_all

    upload(auth, product_id, *[(f"p{i}.jpg", small_jpeg(seed=i, width=100, height=80)) for i in range(6)])
    tabs = []
    for _ in range(2):
        tab = AuthActions(app.test_client())
        tab.login()
        tabs.append(tab)
    barrier = threading.Barrier(2)
    statuses = []

    def add(tab, seed):
        two = [(f"q{seed}-{n}.jpg", small_jpeg(seed=10 * seed + n, width=100, height=80)) for n in (1, 2)]
        barrier.wait()
        statuses.append(upload(tab, product_id, *two, htmx=True).status_code)

    threads = [threading.Thread(target=add, args=(tab, seed)) for seed, tab in enumerate(tabs, 1)]
    for thread in threads:
        thread.start()
    join_all(threads)
    settle(app)
    assert sorted(statuses) == [200, 422]
    assert len(stored(app)) == 8
