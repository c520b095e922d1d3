"""Sale-day rules for the storefront's caches, in the app: a stampede renders
once, a browser revalidates with an ETag, the page kept in each process
is never older than the store's version in the cache, and a change to the
page's categories reaches another process within a second."""

import gzip
import re
import threading
import time

import pytest

from dukaan import jobs
from dukaan.extensions import cache, db
from dukaan.models import Product
from dukaan.storefront import catalogue
from dukaan.storefront_cache import Page, entries, pages
from helpers import join_all, make_product, make_vendor, rename_after_first_call


@pytest.fixture
def shop(app):
    vendor = make_vendor(app)
    return {
        "vendor": vendor,
        "pickle": make_product(app, vendor, "Mango pickle", "120.00", 10),
        "chutney": make_product(app, vendor, "Garlic chutney", "90.00", 4),
    }


def _count_calls(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.postgres
@pytest.mark.redis
def test_a_stampede_on_a_missing_catalogue_renders_it_once(app, shop, queries, monkeypatch):
    """100 requests at once for a store whose catalogue is not cached: one of
    them renders it, the others wait for it and never touch the database."""
    renders = _count_calls(monkeypatch, catalogue, "render")
    # 99 waiting threads slow the one rendering: give it time even on a loaded machine.
    app.config["STOREFRONT_FILL_WAIT_SECONDS"] = 10
    with app.test_client() as warm:
        warm.get("/order/ravi")  # the store's version exists, as on any live store
    with app.app_context():
        cache.delete(entries.entry_key("ravi"))
        pages.memo().clear()
    renders.clear()
    queries.clear()
    barrier = threading.Barrier(100)
    statuses, bodies = [], []

    def customer():
        client = app.test_client()
        barrier.wait()
        response = client.get("/order/ravi")
        statuses.append(response.status_code)
        bodies.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=customer, daemon=True) for _ in range(100)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert statuses == [200] * 100
    assert all("Garlic chutney" in body for body in bodies)
    assert len(renders) == 1, f"the catalogue was rendered {len(renders)} times"
    sql = [q for q in queries if q.lstrip().upper().startswith("SELECT")]
    assert len(sql) == 2, sql  # the one renderer: the vendor, then the products


def test_a_renderer_that_never_finishes_does_not_block_the_store(app, client, shop, monkeypatch):
    """If the request holding the fill lock died, the others render after a short wait."""
    app.config["STOREFRONT_FILL_WAIT_SECONDS"] = 0.2
    client.get("/order/ravi")
    with app.app_context():
        cache.delete(entries.entry_key("ravi"))
        pages.memo().clear()
        cache.set(entries.fill_lock_key("ravi"), "1", timeout=60)  # held by a dead request
    response = client.get("/order/ravi")
    assert response.status_code == 200
    assert "Mango pickle" in response.get_data(as_text=True)


def test_storefront_answers_a_matching_etag_with_304(client, shop):
    first = client.get("/order/ravi")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.get("/order/ravi", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert client.get("/order/ravi", headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_a_browser_gets_the_page_gzipped_under_its_own_etag(client, shop):
    plain = client.get("/order/ravi")
    zipped = client.get("/order/ravi", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert int(zipped.headers["Content-Length"]) * 2 < int(plain.headers["Content-Length"])
    for response in (plain, zipped):
        assert "Accept-Encoding" in response.headers["Vary"]
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = client.get("/order/ravi", headers={"Accept-Encoding": "gzip",
                                               "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304
    assert "Content-Encoding" not in again.headers


@pytest.mark.parametrize("accept", ["identity", "br", "gzip;q=0", ""])
def test_a_client_that_refuses_gzip_gets_the_plain_page(client, shop, accept):
    response = client.get("/order/ravi", headers={"Accept-Encoding": accept})
    assert "Content-Encoding" not in response.headers
    assert "Mango pickle" in response.get_data(as_text=True)


def test_a_change_gives_the_page_a_new_etag(app, client, auth, shop):
    etag = client.get("/order/ravi").headers["ETag"]
    auth.login()
    auth.post(f"/dashboard/products/{shop['chutney']}/availability", {"available": "no"}, htmx=True)
    response = client.get("/order/ravi", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert "Garlic chutney" not in response.get_data(as_text=True)


def test_a_repeat_visit_reuses_the_rendered_page(app, client, shop, monkeypatch, queries):
    """While the version is unchanged, the process sends the page it rendered: no SQL, no render."""
    client.get("/order/ravi")
    renders = _count_calls(monkeypatch, catalogue, "render")
    made = _count_calls(monkeypatch, Page, "from_html")
    queries.clear()
    for _ in range(3):
        assert client.get("/order/ravi").status_code == 200
    assert (renders, made, queries) == ([], [], [])


def test_a_page_rendered_across_a_change_is_not_reused(app, client, shop, monkeypatch):
    """Pause a render between its read and its store, commit a change there:
    the page it rendered is sent once, and never again."""
    rename_after_first_call(monkeypatch, app, entries, "storefront", shop["pickle"])
    assert "Mango pickle" in client.get("/order/ravi").get_data(as_text=True)
    after = client.get("/order/ravi").get_data(as_text=True)
    assert "Lime pickle" in after and "Mango pickle" not in after


def test_with_the_cache_off_every_visit_reads_the_database(app, shop, queries):
    app.config["STOREFRONT_CACHE"] = False
    client = app.test_client()
    client.get("/order/ravi")
    queries.clear()
    assert "Mango pickle" in client.get("/order/ravi").get_data(as_text=True)
    assert len(queries) == 2


def test_within_the_trust_window_a_process_skips_the_cache_read(app, client, shop, monkeypatch):
    """With a trust window, a repeat visit reads nothing at all; a change made by
    another process shows here once the window has passed."""
    import time

    from sqlalchemy import update

    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = 1.0
    client.get("/order/ravi")
    reads = _count_calls(monkeypatch, entries, "call")
    assert "Garlic chutney" in client.get("/order/ravi").get_data(as_text=True)
    assert reads == []
    monkeypatch.undo()
    with app.app_context():  # another process: its own commit, its own version bump
        with db.engine.begin() as conn:
            products = Product.__table__
            conn.execute(update(products).where(products.c.id == shop["chutney"]).values(available=False))
        cache.set(entries.version_key("ravi"), "changed elsewhere", timeout=0)
        cache.delete(entries.entry_key("ravi"))
    assert "Garlic chutney" in client.get("/order/ravi").get_data(as_text=True)  # still trusted
    time.sleep(1.05)
    assert "Garlic chutney" not in client.get("/order/ravi").get_data(as_text=True)


def test_the_process_that_commits_a_change_shows_it_at_once(app, client, auth, shop):
    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = 0.2
    assert "Garlic chutney" in client.get("/order/ravi").get_data(as_text=True)
    auth.login()
    auth.post(f"/dashboard/products/{shop['chutney']}/availability", {"available": "no"}, htmx=True)
    assert "Garlic chutney" not in client.get("/order/ravi").get_data(as_text=True)


@pytest.mark.postgres
def test_a_photo_made_ready_by_its_job_shows_within_a_second(app, auth, shop, monkeypatch, tmp_path):
    """The photo job commits on a job thread, not in a request: the store page, trusted for
    production's window, shows the cover within a second of that commit."""
    from dukaan import media, photos
    from dukaan.sample_photos import phone_jpeg
    from helpers import upload_photos

    app.extensions[media.EXTENSION] = media.LocalStorage(str(tmp_path))
    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = 0.25  # the most production allows
    ready_at = []
    real = photos.process

    def timed(photo_id):
        real(photo_id)
        ready_at.append(time.monotonic())

    monkeypatch.setattr(photos, "process", timed)
    customer = app.test_client()
    assert 'alt="Mango pickle"' not in customer.get("/order/ravi").get_data(as_text=True)
    auth.login()
    assert upload_photos(auth, shop["pickle"], ("a.jpg", phone_jpeg(800, 600, orientation=None))).status_code == 303
    deadline = time.monotonic() + 30
    while 'alt="Mango pickle"' not in customer.get("/order/ravi").get_data(as_text=True):
        assert time.monotonic() < deadline, "the photo never showed"
        time.sleep(0.02)
    seen = time.monotonic()
    while not ready_at:  # the job commits inside process(): the page can show it before timed() returns
        assert time.monotonic() < deadline, "the photo job never returned"
        time.sleep(0.01)
    assert seen - ready_at[0] <= 1.0


def test_the_trust_window_is_capped_below_the_second_shared_cache_refresh(monkeypatch):
    from config import DevelopmentConfig

    monkeypatch.setenv("STOREFRONT_PAGE_TRUST_SECONDS", "5")
    config = DevelopmentConfig()
    assert config.STOREFRONT_PAGE_TRUST_SECONDS < config.SHARED_CACHE_REFRESH_AGAIN_SECONDS


def test_a_version_the_cache_would_not_take_is_written_once_it_can_be(app, client, auth, shop,
                                                                     monkeypatch):
    """The cache refuses the new version at the commit (unreachable for a moment) and takes
    everything else: the old catalogue is served until a background retry writes it."""
    assert "Garlic chutney" in client.get("/order/ravi").get_data(as_text=True)
    key = entries.version_key("ravi")
    with app.app_context():
        old_version = cache.get(key)
        real_set = cache.set
    reachable = threading.Event()

    def set_unless_unreachable(name, *args, **kwargs):
        if name == key and not reachable.is_set():
            raise ConnectionError("Redis is unreachable")
        return real_set(name, *args, **kwargs)

    monkeypatch.setattr(cache, "set", set_unless_unreachable)
    app.config["STOREFRONT_VERSION_RETRY_SECONDS"] = 0.05
    auth.login()
    auth.post(f"/dashboard/products/{shop['chutney']}/availability", {"available": "no"}, htmx=True)
    time.sleep(0.2)  # a few failed retries
    with app.app_context():
        assert cache.get(key) == old_version
    assert "Garlic chutney" in client.get("/order/ravi").get_data(as_text=True)  # the stale copy

    assert jobs.backend(app).pending() == [("storefront.write_version", {"slug": "ravi"})]
    reachable.set()
    assert jobs.backend(app).join(5), "the retry never wrote the version"
    with app.app_context():
        assert cache.get(key) != old_version
    assert "Garlic chutney" not in client.get("/order/ravi").get_data(as_text=True)


# --- categories: every change to the page's sections reaches another process within 1 s ---


# The section headings the page shows after each change (before: Pickles, Sweets).
CATEGORY_CHANGES = {"create": ["Sweets", "Festive"], "rename": ["Achaar", "Sweets"],
                    "reorder": ["Sweets", "Pickles"], "delete": ["Sweets", "More"], "assign": ["Sweets"]}


def _change_categories(change, ravi, pickle):
    """Make ``change`` as the vendor would, through the rules (the product's category as its
    form saves it)."""
    from dukaan import categories

    shelves = {c.name: c for c in categories.listing(ravi)}
    if change == "create":
        _assign(pickle, categories.create(ravi, "Festive").id)
    elif change == "rename":
        categories.rename(shelves["Pickles"], ravi, "Achaar")
    elif change == "reorder":
        categories.move(shelves["Sweets"], ravi, -1)
    elif change == "delete":
        categories.delete(shelves["Pickles"])
    else:
        _assign(pickle, shelves["Sweets"].id)


def _assign(product_id, category_id):
    db.session.get(Product, product_id).category_id = category_id
    db.session.commit()


def _headings(html):
    return re.findall(r'<h2 id="section-[^"]+-title" class="shelf-title">([^<]*)</h2>', html)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("change", sorted(CATEGORY_CHANGES))
def test_a_category_change_reaches_another_process_within_a_second(app, shop, change):
    """Two processes on one database and cache: the one that serves customers trusts its
    page for the production window; the vendor's change, committed by the other, shows there
    within 1 s (as product changes do)."""
    from dukaan import categories
    from dukaan.models import Vendor
    from helpers import make_app

    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = 0.25  # production's ceiling (config.py)
    vendor_app = make_app(app.config["SQLALCHEMY_DATABASE_URI"], app.config["CACHE_REDIS_URL"],
                          CACHE_KEY_PREFIX=app.config["CACHE_KEY_PREFIX"])
    with vendor_app.app_context():
        ravi = db.session.get(Vendor, shop["vendor"])
        shelves = {name: categories.create(ravi, name) for name in ("Pickles", "Sweets")}
        _assign(shop["pickle"], shelves["Pickles"].id)
        _assign(shop["chutney"], shelves["Sweets"].id)
    customer = app.test_client()
    assert _headings(customer.get("/order/ravi").get_data(as_text=True)) == ["Pickles", "Sweets"]
    expected = CATEGORY_CHANGES[change]
    with vendor_app.app_context():
        ravi = db.session.get(Vendor, shop["vendor"])
        committed = time.monotonic()
        _change_categories(change, ravi, shop["pickle"])
        db.engine.dispose()
    while True:
        shown = _headings(customer.get("/order/ravi").get_data(as_text=True))
        if shown == expected:
            break
        assert time.monotonic() - committed < 1.0, f"still {shown} after 1 s"
        time.sleep(0.02)
    jobs.backend(vendor_app).drop_waiting()
    jobs.backend(vendor_app).shutdown()
