"""The storefront's catalogue cache: hits without SQL, invalidation after commit, Redis down."""

from __future__ import annotations

import logging
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from dukaan import jobs, orders, products
from dukaan.extensions import cache, db
from dukaan.models import Order, Product, Vendor
from dukaan.storefront_cache import entries
from helpers import (
    DEAD_REDIS_URL,
    AuthActions,
    join_all,
    make_app,
    make_product,
    make_vendor,
    product_state,
    rename_after_first_call,
)

CUSTOMER = {"name": "Meera", "phone": "9876543210", "address": "12 MG Road, Pune"}


def cached(app, slug="ravi"):
    """The cache entry of ``slug``'s catalogue, or None."""
    with app.app_context():
        return cache.get(entries.entry_key(slug))


def storefront(client, slug="ravi") -> str:
    response = client.get(f"/order/{slug}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def item(html: str, product_id: int) -> str | None:
    match = re.search(rf'<li class="item[^"]*" id="item-{product_id}">(.*?)</li>', html, re.S)
    return match.group(1) if match else None


def order(client, qty: dict[int, int], slug="ravi"):
    data = dict(CUSTOMER, **{f"qty-{pid}": str(n) for pid, n in qty.items()})
    return client.post(f"/order/{slug}", data=data)


def product_fields(app, product_id, **changes) -> dict:
    """The dashboard edit form for a product, with ``changes``."""
    state = product_state(app, product_id)
    fields = {
        "name": state["name"], "price": str(state["price"]),
        "mrp": "" if state["mrp"] is None else str(state["mrp"]),
        "stock": str(state["stock"]), "description": state["description"],
    }
    fields.update({k: str(v) for k, v in changes.items()})
    return fields


@pytest.fixture
def shop(app):
    vid = make_vendor(app)
    return {
        "vendor": vid,
        "pickle": make_product(app, vid, "Mango pickle", "120.00", 10, description="Sun-cured."),
        "chai": make_product(app, vid, "Masala chai", "95.00", 1),
        "hidden": make_product(app, vid, "Rose water", "130.00", 5, available=False),
    }


@pytest.fixture
def logged_in(client, shop):
    """Ravi logged in, with his storefront already cached."""
    auth = AuthActions(client)
    auth.login()
    storefront(client)
    return auth


def assert_hit(app, client, queries, slug="ravi") -> str:
    """The next storefront request is served from the cache: no SQL at all."""
    assert cached(app, slug) is not None
    queries.clear()
    html = storefront(client, slug)
    assert queries == []
    return html


# --- hits ----------------------------------------------------------------------------


def test_miss_queries_then_hit_runs_no_sql(app, client, shop, queries):
    assert cached(app) is None
    first = client.get("/order/ravi")
    assert first.status_code == 200
    assert any("FROM vendors" in q for q in queries)
    assert any("FROM products" in q for q in queries)
    entry = cached(app)
    assert entry is not None and "Mango pickle" in entry[2]
    queries.clear()
    second = client.get("/order/ravi")
    assert queries == []
    assert second.status_code == 200
    assert second.data == first.data  # a hit renders the same page, HTML not escaped twice
    assert ">Mango pickle</a></h2>" in second.get_data(as_text=True)


def test_hit_runs_no_sql_for_a_logged_in_vendor(app, shop, queries):
    make_vendor(app, "asha", "Asha's Crafts")
    anonymous = app.test_client()
    page = storefront(anonymous)
    for username in ("ravi", "asha"):
        visitor = app.test_client()
        AuthActions(visitor).login(username)
        queries.clear()
        response = visitor.get("/order/ravi")
        assert queries == [], f"{username}'s cookie made the storefront query"
        assert response.get_data(as_text=True) == page


def test_unknown_store_is_remembered_until_someone_signs_up_as_it(app, client, shop, queries):
    """A flood of requests for a made-up link reaches the database once; the
    name's sign-up makes the store appear at once all the same."""
    assert client.get("/order/nobody").status_code == 404
    queries.clear()
    assert client.get("/order/nobody").status_code == 404
    assert queries == []
    make_vendor(app, "nobody", "Late Store")
    assert "Late Store" in storefront(client, "nobody")


def test_entries_are_per_store(app, client, shop, queries):
    asha = make_vendor(app, "asha", "Asha's Crafts")
    bell = make_product(app, asha, "Brass bell", "549.00", 5)
    assert "Mango pickle" in storefront(client, "ravi")
    assert "Brass bell" in storefront(client, "asha")
    with app.app_context():
        db.session.get(Product, bell).name = "Bronze bell"
        db.session.commit()
    assert cached(app, "asha") is None
    assert_hit(app, client, queries, "ravi")
    assert "Bronze bell" in storefront(client, "asha")


@pytest.mark.redis
def test_entry_expires_after_fifteen_minutes(app, client, shop):
    storefront(client)
    assert entries.entry_key("ravi") == "storefront:ravi"
    with app.app_context():
        backend = cache.cache
        ttl = backend._read_client.ttl(backend.key_prefix + entries.entry_key("ravi"))
    assert app.config["STOREFRONT_CACHE_TIMEOUT"] == 15 * 60
    assert 14 * 60 < ttl <= 15 * 60


# --- invalidation through the dashboard -----------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_adding_an_available_product_shows_it(app, client, logged_in, shop, htmx):
    response = logged_in.post("/dashboard/products", {
        "name": "Lime pickle", "price": "160.00", "mrp": "", "stock": "7",
        "description": "Sweet and sour.", "available": "y",
    }, htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    assert cached(app) is None
    html = storefront(client)
    assert "Lime pickle" in html and "₹160.00" in html and "Sweet and sour." in html


def test_adding_a_hidden_product_keeps_the_cache(app, client, logged_in, shop, queries):
    response = logged_in.post("/dashboard/products", {
        "name": "Secret sauce", "price": "50.00", "mrp": "", "stock": "7", "description": "",
    })
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Product).where(Product.name == "Secret sauce")) is not None
    assert "Secret sauce" not in assert_hit(app, client, queries)


@pytest.mark.parametrize("change, shown", [
    ({"name": "Lime pickle"}, ">Lime pickle</a></h2>"),
    ({"price": "110.00"}, "<strong>₹110.00</strong>"),
    ({"mrp": "150.00"}, '<s aria-label="MRP">₹150.00</s>'),
    ({"description": "Now with garlic."}, "Now with garlic."),
])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_editing_what_the_store_shows_invalidates(app, client, logged_in, shop, change, shown, htmx):
    assert shown not in storefront(client)
    response = logged_in.post(f"/dashboard/products/{shop['pickle']}",
                           product_fields(app, shop["pickle"], **change), htmx=htmx)
    assert response.status_code == (200 if htmx else 303), response.get_data(as_text=True)
    assert cached(app) is None
    assert shown in item(storefront(client), shop["pickle"])


def test_editing_stock_that_stays_above_zero_keeps_the_cache(app, client, logged_in, shop, queries):
    response = logged_in.post(f"/dashboard/products/{shop['pickle']}",
                           product_fields(app, shop["pickle"], stock=4))
    assert response.status_code == 303
    assert product_state(app, shop["pickle"])["stock"] == 4
    assert_hit(app, client, queries)


def test_saving_unchanged_product_keeps_the_cache(app, client, logged_in, shop, queries):
    response = logged_in.post(f"/dashboard/products/{shop['pickle']}", product_fields(app, shop["pickle"]))
    assert response.status_code == 303
    assert_hit(app, client, queries)


def test_deleting_a_product_removes_it(app, client, logged_in, shop):
    assert "Mango pickle" in storefront(client)
    response = logged_in.post(f"/dashboard/products/{shop['pickle']}/delete", htmx=True)
    assert response.status_code == 200
    assert product_state(app, shop["pickle"]) is None
    assert cached(app) is None
    html = storefront(client)
    assert "Mango pickle" not in html and "Masala chai" in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_toggling_availability_shows_and_hides(app, client, logged_in, shop, htmx):
    response = logged_in.post(f"/dashboard/products/{shop['pickle']}/availability", htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    assert product_state(app, shop["pickle"])["available"] is False
    assert "Mango pickle" not in storefront(client)
    response = logged_in.post(f"/dashboard/products/{shop['hidden']}/availability", htmx=htmx)
    assert product_state(app, shop["hidden"])["available"] is True
    html = storefront(client)
    assert "Rose water" in html and "Mango pickle" not in html
    logged_in.post(f"/dashboard/products/{shop['pickle']}/availability", {"available": "yes"}, htmx=htmx)
    assert "Mango pickle" in storefront(client)


def test_restocking_from_zero_shows_the_quantity_input(app, client, logged_in, shop):
    with app.app_context():
        db.session.get(Product, shop["chai"]).stock = 0
        db.session.commit()
    assert "Sold out" in item(storefront(client), shop["chai"])
    response = logged_in.post(f"/dashboard/products/{shop['chai']}",
                           product_fields(app, shop["chai"], stock=6), htmx=True)
    assert response.status_code == 200
    assert cached(app) is None
    chai = item(storefront(client), shop["chai"])
    assert "Sold out" not in chai and f'name="qty-{shop["chai"]}"' in chai


def test_setting_stock_to_zero_shows_sold_out(app, client, logged_in, shop):
    logged_in.post(f"/dashboard/products/{shop['pickle']}", product_fields(app, shop["pickle"], stock=0))
    pickle = item(storefront(client), shop["pickle"])
    assert "Sold out" in pickle and "<input" not in pickle


def test_renaming_the_store_invalidates(app, client, shop):
    storefront(client)
    with app.app_context():
        db.session.get(Vendor, shop["vendor"]).store_name = "Ravi & Sons"
        db.session.commit()
    assert cached(app) is None
    assert "Ravi &amp; Sons" in storefront(client)


# --- invalidation by orders -----------------------------------------------------------------


def test_ordinary_order_keeps_the_cache(app, client, shop, queries):
    storefront(client)
    assert order(client, {shop["pickle"]: 3}).status_code == 303
    assert product_state(app, shop["pickle"])["stock"] == 7
    assert_hit(app, client, queries)


def test_rejected_order_keeps_the_cache(app, client, shop, queries):
    storefront(client)
    assert order(client, {shop["chai"]: 2}).status_code == 409
    assert order(client, {shop["chai"]: "x"}).status_code == 422
    assert_hit(app, client, queries)


def test_selling_out_shows_sold_out_at_once(app, client, shop):
    assert "Sold out" not in item(storefront(client), shop["chai"])
    assert order(client, {shop["chai"]: 1, shop["pickle"]: 1}).status_code == 303
    assert cached(app) is None
    html = storefront(client)
    assert "Sold out" in item(html, shop["chai"])
    assert f'name="qty-{shop["chai"]}"' not in html
    assert "Sold out" not in item(html, shop["pickle"])


def test_cancelling_an_order_for_a_sold_out_product_puts_it_back(app, client, logged_in, shop):
    assert order(client, {shop["chai"]: 1}).status_code == 303
    assert "Sold out" in item(storefront(client), shop["chai"])
    with app.app_context():
        order_id = db.session.scalar(select(Order.id))
    response = logged_in.post(f"/dashboard/orders/{order_id}/status", {"status": "cancelled"}, htmx=True)
    assert response.status_code == 200
    assert product_state(app, shop["chai"])["stock"] == 1
    assert cached(app) is None
    chai = item(storefront(client), shop["chai"])
    assert "Sold out" not in chai and f'name="qty-{shop["chai"]}"' in chai


def test_cancelling_when_stock_stays_above_zero_keeps_the_cache(app, client, shop, queries):
    assert order(client, {shop["pickle"]: 2}).status_code == 303
    storefront(client)
    with app.app_context():
        orders.change_status(db.session.scalars(select(Order)).one(), "cancelled")
    assert product_state(app, shop["pickle"])["stock"] == 10
    assert_hit(app, client, queries)


def test_cancelling_an_order_for_a_hidden_product_keeps_the_cache(app, client, shop, queries):
    assert order(client, {shop["chai"]: 1}).status_code == 303
    with app.app_context():
        db.session.get(Product, shop["chai"]).available = False
        db.session.commit()
    storefront(client)
    with app.app_context():
        orders.change_status(db.session.scalars(select(Order)).one(), "cancelled")
    assert product_state(app, shop["chai"])["stock"] == 1
    assert "Masala chai" not in assert_hit(app, client, queries)


# --- only after the commit --------------------------------------------------------------------


def test_rollback_does_not_invalidate(app, client, shop, queries):
    storefront(client)
    with app.app_context():
        product = db.session.get(Product, shop["pickle"])
        product.name = "Never saved"
        db.session.flush()
        db.session.rollback()
        # A later commit of something the store does not show must not delete it either.
        db.session.get(Product, shop["pickle"]).stock = 9
        db.session.commit()
    assert product_state(app, shop["pickle"])["name"] == "Mango pickle"
    html = assert_hit(app, client, queries)
    assert "Never saved" not in html and "Mango pickle" in html


def test_flush_alone_does_not_invalidate(app, client, shop):
    storefront(client)
    with app.app_context():
        db.session.get(Product, shop["pickle"]).name = "Lime pickle"
        db.session.flush()
        assert cached(app) is not None  # the change is not committed: others still see the old
        db.session.commit()
    assert cached(app) is None
    assert "Lime pickle" in storefront(client)


def test_a_change_committed_while_a_miss_renders_is_not_kept(app, client, shop, monkeypatch):
    """A request that read the products just before a commit must not cache what it read."""
    raced = rename_after_first_call(monkeypatch, app, products, "on_sale", shop["pickle"])
    first = storefront(client)
    assert raced and "Mango pickle" in first  # it read before the commit
    second = storefront(client)
    assert "Lime pickle" in second and "Mango pickle" not in second
    assert "Lime pickle" in storefront(client)


@pytest.mark.postgres
def test_no_stale_page_survives_a_sell_out_under_load(app, shop):
    """Readers fill the cache while buyers take the last units: the end state shows sold out."""
    import threading

    with app.app_context():
        db.session.get(Product, shop["pickle"]).stock = 6
        db.session.commit()
    done = threading.Event()
    failures: list[BaseException] = []
    statuses: list[int] = []

    def read():
        client = app.test_client()
        try:
            while not done.is_set():
                assert client.get("/order/ravi").status_code == 200
        except BaseException as error:
            failures.append(error)

    def buy():
        try:
            statuses.append(order(app.test_client(), {shop["pickle"]: 1}).status_code)
        except BaseException as error:
            failures.append(error)

    readers = [threading.Thread(target=read, daemon=True) for _ in range(6)]
    buyers = [threading.Thread(target=buy, daemon=True) for _ in range(12)]
    for thread in readers + buyers:
        thread.start()
    join_all(buyers)
    done.set()
    join_all(readers)
    assert not failures, failures[0]
    assert sorted(statuses) == [303] * 6 + [409] * 6
    assert product_state(app, shop["pickle"])["stock"] == 0
    html = storefront(app.test_client())
    assert "Sold out" in item(html, shop["pickle"])
    assert f'name="qty-{shop["pickle"]}"' not in html


def test_cache_clear_command_forgets_a_store(app, client, shop, runner):
    storefront(client)
    result = runner.invoke(args=["cache", "clear", "ravi"])
    assert result.exit_code == 0
    assert cached(app) is None


# --- Redis down ---------------------------------------------------------------------------------


@pytest.fixture
def catalog_log(caplog):
    """caplog for the storefront cache's warnings."""
    with caplog.at_level(logging.WARNING, logger="dukaan.storefront_cache"):
        yield caplog


@pytest.fixture
def dead_cache_app(app):
    """The same database as ``app``, with a Redis nobody listens on."""
    broken = make_app(app.config["SQLALCHEMY_DATABASE_URI"], DEAD_REDIS_URL)
    yield broken
    # Its versions can never be written: stop retrying them.
    jobs.backend(broken).drop_waiting()
    with broken.app_context():
        db.engine.dispose()


def test_storefront_sells_without_redis(app, dead_cache_app, shop, catalog_log):
    client = dead_cache_app.test_client()
    first = client.get("/order/ravi")
    second = client.get("/order/ravi")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    html = first.get_data(as_text=True)
    assert ">Mango pickle</a></h2>" in html and "Rose water" not in html
    assert any("storefront cache get_many failed" in r.getMessage() for r in catalog_log.records)
    response = order(client, {shop["chai"]: 1})
    assert response.status_code == 303
    assert product_state(app, shop["chai"])["stock"] == 0
    assert "Sold out" in item(client.get("/order/ravi").get_data(as_text=True), shop["chai"])


def test_product_edit_commits_without_redis_and_logs_the_failed_invalidation(
        dead_cache_app, shop, catalog_log):
    client = dead_cache_app.test_client()
    auth = AuthActions(client)
    auth.login()
    catalog_log.clear()
    response = auth.post(f"/dashboard/products/{shop['pickle']}",
                         product_fields(dead_cache_app, shop["pickle"], price="99.50"), htmx=True)
    assert response.status_code == 200
    assert product_state(dead_cache_app, shop["pickle"])["price"] == Decimal("99.50")
    failures = [r.getMessage() for r in catalog_log.records
                if r.name.startswith("dukaan.storefront_cache") and r.levelno == logging.WARNING]
    assert "storefront cache set failed for storefront-version:ravi" in failures
    assert "storefront cache: ravi keeps its old version for now; retrying every 1.0 s" in failures
    assert jobs.backend(dead_cache_app).pending() == [("storefront.write_version", {"slug": "ravi"})]
    assert "₹99.50" in client.get("/order/ravi").get_data(as_text=True)


def test_healthz_reports_cache_unreachable_but_200(dead_cache_app):
    response = dead_cache_app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["database"] == "ok"
    assert response.json["cache"] == "unreachable"
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_all_ok(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"] == "ok"
    assert response.json["cache"] == "ok"
    assert response.json["cache_backend"] == app.config["CACHE_TYPE"]


def test_healthz_503_without_a_database():
    dead = make_app("postgresql://postgres@127.0.0.1:5499/nothing", None)
    response = dead.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
    assert response.json["cache"] == "ok"
    with dead.app_context():
        db.engine.dispose()
