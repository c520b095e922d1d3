"""Reads that may be a moment old go to the replica, unless it is down, too far behind, or has
not replayed the reader's own last write. Here the test database stands in for the replica
(a second engine on it, which reports itself as a primary: never behind); where the replica
stands is replaced to make it lag."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select

from config import database_url
from dukaan import replica
from dukaan.extensions import db
from helpers import AuthActions, csrf_token, make_app, make_product, make_vendor, place, recording

pytestmark = pytest.mark.postgres

DEAD_REPLICA = "postgresql://postgres@127.0.0.1:5439/nothing"


def replica_app(schema: str, url: str | None = None, **overrides):
    binds = {"replica": {"url": database_url(url or schema), "connect_args": {"connect_timeout": 1}}}
    return make_app(schema, None, SQLALCHEMY_BINDS=binds, **{"REPLICA_CHECK_SECONDS": 0, **overrides})


@pytest.fixture
def shop(app):
    vendor_id = make_vendor(app)
    product_id = make_product(app, vendor_id, "Mango pickle", "120.00", 10)
    return {"vendor": vendor_id, "product": product_id, "order": place(app, vendor_id, {product_id: 1})}


def on_replica(app) -> list[str]:
    """The statements the replica's engine runs from now on."""
    seen: list[str] = []
    with app.app_context():
        event.listen(db.engines["replica"], "before_cursor_execute", recording(seen))
    return seen


def test_without_a_replica_every_read_is_the_primarys(app):
    with app.test_request_context():
        assert replica.session() is db.session


def test_the_orders_list_is_read_from_a_current_replica(_schema, shop):
    app = replica_app(_schema)
    seen = on_replica(app)
    client = app.test_client()
    AuthActions(client).login()
    response = client.get("/dashboard/orders")
    assert response.status_code == 200 and "#1" in response.get_data(as_text=True)
    assert any("FROM orders" in statement for statement in seen)


def test_a_write_hands_the_writer_its_wal_position_and_a_read_does_not(_schema, shop):
    app = replica_app(_schema)
    client = app.test_client()
    AuthActions(client).login()  # a login writes (its session row)
    cookie = client.get_cookie("wal")
    assert cookie is not None and replica.lsn(cookie.value) is not None
    assert cookie.http_only
    anonymous = app.test_client()
    assert anonymous.get("/order/ravi").status_code == 200
    assert anonymous.get_cookie("wal") is None, "the store page is the same for everyone"


def test_the_writer_reads_the_primary_until_the_replica_replays_their_write(_schema, shop, monkeypatch):
    app = replica_app(_schema)
    seen = on_replica(app)
    writer, other = app.test_client(), app.test_client()
    auth = AuthActions(writer)
    auth.login()
    response = auth.post(f"/dashboard/orders/{shop['order']}/status", {"status": "confirmed"}, htmx=True)
    assert response.status_code == 200
    written = replica.lsn(writer.get_cookie("wal").value)
    # The replica has replayed everything up to just before the vendor's change.
    replayed_up_to(monkeypatch, written - 1)
    seen.clear()
    page = writer.get("/dashboard/orders").get_data(as_text=True)
    assert 'class="status-confirmed' in page
    assert not seen, "the writer's read went to a replica that has not replayed the write"
    AuthActions(other).login()
    other.delete_cookie("wal")  # another device of the vendor's, whose last write is older
    other.get("/dashboard/orders")
    assert any("FROM orders" in statement for statement in seen), "others may read the replica"
    replayed_up_to(monkeypatch, written)
    seen.clear()
    writer.get("/dashboard/orders")
    assert seen, "once replayed, the writer reads the replica again"


def test_a_read_that_needs_a_newer_position_than_measured_asks_the_replica_again(_schema, shop, monkeypatch):
    """Where the replica stands is measured twice a second; a visitor's own write, or a
    change behind a fill, is usually replayed long before that. The read asks the replica's
    replay position once more (one query on the replica) instead of going to the primary."""
    app = replica_app(_schema, REPLICA_CHECK_SECONDS=3600)
    seen = on_replica(app)
    client = app.test_client()
    auth = AuthActions(client)
    auth.login()
    assert client.get("/dashboard/orders").status_code == 200  # measured now, not again for an hour
    assert auth.post(f"/dashboard/orders/{shop['order']}/status", {"status": "confirmed"}).status_code == 303
    written = written_by(client)
    seen.clear()
    assert 'class="status-confirmed' in client.get("/dashboard/orders").get_data(as_text=True)
    assert replica.REPLAYED.text in seen and read(seen, "orders"), "asked again, and read the replica"

    monkeypatch.setattr(replica, "replayed", lambda: written - 1)
    assert auth.post(f"/dashboard/orders/{shop['order']}/status", {"status": "shipped"}).status_code == 303
    seen.clear()
    assert 'class="status-shipped' in client.get("/dashboard/orders").get_data(as_text=True)
    assert not read(seen, "orders"), "the replica has not replayed the write: the primary's read"


def test_a_replica_too_far_behind_is_left_alone(_schema, shop, monkeypatch):
    app = replica_app(_schema)
    seen = on_replica(app)
    client = app.test_client()
    AuthActions(client).login()
    monkeypatch.setattr(replica, "measure", lambda max_lag: replica.Standing(False, 2**40, 30.0))
    seen.clear()
    assert client.get("/dashboard/orders").status_code == 200
    assert not seen


def test_behind_by_time_only_when_it_has_not_replayed_all(_schema, shop):
    app = replica_app(_schema)
    with app.app_context():
        standing = replica.measure(max_lag=2.0)
    assert standing.usable and standing.lag == 0.0 and standing.replayed > 0


def test_a_replica_down_fails_no_request(_schema, shop):
    app = replica_app(_schema, DEAD_REPLICA)
    client = app.test_client()
    AuthActions(client).login()
    for _ in range(3):
        response = client.get("/dashboard/orders")
        assert response.status_code == 200 and "#1" in response.get_data(as_text=True)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "dukaan_replica_up 0.0" in metrics and "dukaan_replica_lag_seconds" not in metrics


def test_replica_lag_is_a_metric(_schema, shop):
    metrics = replica_app(_schema).test_client().get("/metrics").get_data(as_text=True)
    assert "dukaan_replica_up 1.0" in metrics and "dukaan_replica_lag_seconds 0.0" in metrics


@pytest.mark.parametrize("text, number", [("0/3000148", 0x3000148), ("16/B374D848", (0x16 << 32) | 0xB374D848),
                                          ("", None), ("nonsense", None), ("1/2/3", None), (None, None)])
def test_wal_positions_are_read_as_numbers(text, number):
    assert replica.lsn(text) == number


def test_an_api_list_is_filled_from_the_replica_only_once_it_has_replayed_the_change(_schema, shop, monkeypatch):
    """A change gives the store a version that carries the primary's WAL position: while the
    replica has not replayed that far, a fill reads the primary (nothing older is kept under
    the new version); once it has, the replica serves again."""
    from dukaan.models import Product
    from dukaan.storefront_cache import entries

    app = replica_app(_schema, API_PRODUCTS_TRUST_SECONDS=0.5)
    seen = on_replica(app)
    client = app.test_client()
    path = "/api/v1/stores/ravi/products"
    assert client.get(path).get_json()["items"][0]["name"] == "Mango pickle"
    assert any("FROM products" in statement for statement in seen), "a current replica serves the list"
    assert any("FROM vendors" in statement for statement in seen), "and the store's row"
    with app.app_context():
        db.session.get(Product, shop["product"]).name = "Lime pickle"
        db.session.commit()
        changed = entries.replayed_by(entries.current_version("ravi"))
    assert changed is not None
    replayed_up_to(monkeypatch, changed - 1)
    seen.clear()
    assert client.get(path).get_json()["items"][0]["name"] == "Lime pickle"
    assert not seen, "filled from a replica that has not replayed the change"
    replayed_up_to(monkeypatch, changed)
    seen.clear()
    assert client.get(f"{path}?per_page=5").get_json()["items"][0]["name"] == "Lime pickle"
    assert any("FROM products" in statement for statement in seen)
    seen.clear()
    assert client.get("/api/v1/stores/ravi").get_json()["slug"] == "ravi"
    assert any("FROM vendors" in statement for statement in seen), "a store's own page from the replica"


def test_without_a_replica_versions_carry_no_position(app):
    from dukaan.storefront_cache import entries

    make_vendor(app)
    with app.app_context():
        assert entries.new_version("ravi")
        assert entries.replayed_by(entries.current_version("ravi")) is None


def test_a_store_page_is_filled_from_the_replica_only_once_it_has_replayed_the_change(_schema, shop, monkeypatch):
    """The store page's fill follows the same rule as the lists: never kept from a replica
    that has not replayed the change behind the version it is kept under."""
    from dukaan.models import Product
    from dukaan.storefront_cache import entries

    app = replica_app(_schema)
    seen = on_replica(app)
    client = app.test_client()
    assert "Mango pickle" in client.get("/order/ravi").get_data(as_text=True)
    assert any("FROM products" in statement for statement in seen), "a current replica fills the page"
    with app.app_context():
        db.session.get(Product, shop["product"]).name = "Lime pickle"
        db.session.commit()
        changed = entries.replayed_by(entries.current_version("ravi"))
    replayed_up_to(monkeypatch, changed - 1)
    seen.clear()
    assert "Lime pickle" in client.get("/order/ravi").get_data(as_text=True)
    assert not seen, "filled from a replica that has not replayed the change"


# --- which reads move, and read-your-writes for each ----------------------------------------


def on_primary(app) -> list[str]:
    """The statements the primary's engine runs from now on."""
    seen: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", recording(seen))
    return seen


def replayed_up_to(monkeypatch, position: int) -> None:
    """The replica answers, is not behind in time, and has replayed up to ``position``: when
    measured, and when asked again by a read that needs a newer position."""
    monkeypatch.setattr(replica, "measure", lambda max_lag: replica.Standing(True, position, 0.0))
    monkeypatch.setattr(replica, "replayed", lambda: position)


def written_by(client) -> int:
    """The WAL position of the client's last write (its ``wal`` cookie)."""
    return replica.lsn(client.get_cookie("wal").value)


def read(seen: list[str], table: str) -> bool:
    """Whether any of the ``seen`` statements reads ``table`` (from it, or joined to it)."""
    return any(re.search(rf"\b(FROM|JOIN) {table}\b", statement) for statement in seen)


def test_a_request_that_writes_reads_the_primary(_schema, shop):
    """A POST reads the primary even through a helper a page shares with it (the categories
    list shown after moving one): what it reads may decide what it writes."""
    app = replica_app(_schema)
    with app.test_request_context("/dashboard/categories", method="POST"):
        assert replica.session() is db.session
    with app.test_request_context("/dashboard/categories"):
        assert replica.session() is not db.session
    seen = on_replica(app)
    client = app.test_client()
    auth = AuthActions(client)
    auth.login()
    for name in ("Pickles", "Snacks"):
        assert auth.post("/dashboard/categories", {"name": name}).status_code == 303
    assert read(seen, "categories"), "the page read its list on the replica"
    with app.app_context():
        from dukaan.models import Category

        snacks = db.session.scalar(select(Category.id).where(Category.name == "Snacks"))
    seen.clear()
    response = auth.post(f"/dashboard/categories/{snacks}/move", {"direction": "up"}, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.index("Snacks") < html.index("Pickles")
    assert not read(seen, "categories"), "a request that wrote read on the replica"


def _review(app, order_id: int) -> int:
    from dukaan.models import OrderLine, Review

    with app.app_context():
        line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order_id))
        review = Review(vendor_id=line.order.vendor_id, order_line_id=line.id, product_id=line.product_id,
                        rating=4, text="Tangy")
        db.session.add(review)
        db.session.commit()
        return review.id


def _add_product(auth, shop):
    return auth.post("/dashboard/products", {"name": "Lime pickle", "price": "85.50", "stock": "12"})


def _add_category(auth, shop):
    return auth.post("/dashboard/categories", {"name": "Pickles"})


def _hide_review(auth, shop):
    return auth.post(f"/dashboard/reviews/{shop['review']}/visibility", {"hidden": "yes"})


def _confirm(auth, shop):
    return auth.post(f"/dashboard/orders/{shop['order']}/status", {"status": "confirmed"})


HX_POLL = {"headers": {"HX-Request": "true"}, "query_string": {"state": "0" * 16, "seen": "1"}}

DASHBOARD_LISTS = {
    "products": ("/dashboard/products", {}, _add_product, "Lime pickle", "products"),
    "categories": ("/dashboard/categories", {}, _add_category, "Pickles", "categories"),
    "reviews": ("/dashboard/reviews", {}, _hide_review, 'class="hidden-review"', "reviews"),
    "orders filtered": ("/dashboard/orders?status=confirmed", {}, _confirm, 'class="status-confirmed', "orders"),
    "orders poll": ("/dashboard/orders", HX_POLL, _confirm, 'class="status-confirmed', "orders"),
    "orders export": ("/dashboard/orders.csv", {}, _confirm, ",confirmed,", "orders"),
}


@pytest.mark.parametrize("name", DASHBOARD_LISTS)
def test_dashboard_lists_read_the_replica_and_the_vendor_sees_their_own_change(_schema, shop, monkeypatch, name):
    path, asked, write, shows, table = DASHBOARD_LISTS[name]
    app = replica_app(_schema)
    shop["review"] = _review(app, shop["order"])
    seen, primary = on_replica(app), on_primary(app)
    writer, other = app.test_client(), app.test_client()
    auth = AuthActions(writer)
    auth.login()
    AuthActions(other).login()
    other.delete_cookie("wal")  # another device of the vendor's, whose last write is older
    assert other.get(path, **asked).status_code == 200
    assert read(seen, table), f"{path} was not read on a current replica"
    assert write(auth, shop).status_code == 303
    replayed_up_to(monkeypatch, written_by(writer) - 1)
    seen.clear(), primary.clear()
    response = writer.get(path, **asked)
    assert response.status_code == 200 and shows in response.get_data(as_text=True)
    assert not seen, "the writer read a replica that has not replayed their write"
    assert read(primary, table), "the writer's read went to the primary"
    assert other.get(path, **asked).status_code == 200
    assert read(seen, table), "others still read the replica"


def test_a_product_page_is_filled_from_the_replica_only_once_it_has_replayed_the_change(_schema, shop, monkeypatch):
    """The product page's fill follows the store page's rule: never kept from a replica that
    has not replayed the change behind the version it is kept under."""
    from dukaan.models import Product
    from dukaan.storefront_cache import entries

    app = replica_app(_schema)
    seen = on_replica(app)
    client = app.test_client()
    path = f"/order/ravi/p/{shop['product']}"
    assert "Mango pickle" in client.get(path).get_data(as_text=True)
    assert read(seen, "products") and read(seen, "reviews"), "a current replica fills the page"

    def rename(name: str) -> int:
        with app.app_context():
            db.session.get(Product, shop["product"]).name = name
            db.session.commit()
            return entries.replayed_by(entries.current_version("ravi"))

    changed = rename("Lime pickle")
    replayed_up_to(monkeypatch, changed - 1)
    seen.clear()
    assert "Lime pickle" in client.get(path).get_data(as_text=True)
    assert not seen, "filled from a replica that has not replayed the change"
    changed = rename("Lemon pickle")
    replayed_up_to(monkeypatch, changed)
    seen.clear()
    assert "Lemon pickle" in client.get(path).get_data(as_text=True)
    assert read(seen, "products"), "once replayed, the replica fills it again"


def test_a_search_of_the_store_reads_the_replica(_schema, shop):
    """A search is never cached: each one would otherwise be a read on the primary."""
    app = replica_app(_schema)
    seen, primary = on_replica(app), on_primary(app)
    client = app.test_client()
    page = client.get("/order/ravi", query_string={"q": "mango"})
    assert page.status_code == 200 and "Mango pickle" in page.get_data(as_text=True)
    typed = client.get("/order/ravi/search", query_string={"q": "mango"}, headers={"HX-Request": "true"})
    assert typed.status_code == 200 and "Mango pickle" in typed.get_data(as_text=True)
    assert read(seen, "products") and read(seen, "vendors")
    assert not read(primary, "products") and not read(primary, "vendors")


ORDER_FORM = {"name": "Meera Joshi", "phone": "9876543210", "address": "12 MG Road, Pune"}


def test_the_order_page_and_its_poll_read_the_replica_but_the_customer_sees_their_own_change(
        _schema, shop, monkeypatch):
    app = replica_app(_schema)
    seen, primary = on_replica(app), on_primary(app)
    customer, other = app.test_client(), app.test_client()
    placed = customer.post("/order/ravi", data={**ORDER_FORM, f"qty-{shop['product']}": "2"})
    assert placed.status_code == 303
    page = placed.headers["Location"]
    replayed_up_to(monkeypatch, written_by(customer) - 1)
    seen.clear(), primary.clear()
    html = customer.get(page).get_data(as_text=True)
    assert "Meera Joshi" in html and 'class="status-placed"' in html
    assert not seen and read(primary, "orders"), "the customer's own order is read on the primary"
    assert other.get(page).status_code == 200
    assert read(seen, "orders") and read(seen, "reviews"), "another reader's page is read on the replica"
    seen.clear()
    poll = other.get(page, query_string={"state": "0" * 16}, headers={"HX-Request": "true"})
    assert poll.status_code == 200 and read(seen, "orders"), "the poll is read on the replica"

    assert customer.post(f"{page}/cancel").status_code == 303
    replayed_up_to(monkeypatch, written_by(customer) - 1)
    seen.clear()
    poll = customer.get(page, query_string={"state": "0" * 16}, headers={"HX-Request": "true"})
    assert 'class="status-cancelled"' in poll.get_data(as_text=True)
    assert not seen, "the customer's poll read a replica that has not replayed their cancellation"


def test_the_cart_and_the_running_total_read_the_replica_unless_the_visitor_just_changed_the_cart(
        _schema, shop, monkeypatch):
    app = replica_app(_schema)
    seen, primary = on_replica(app), on_primary(app)
    shopper, other = app.test_client(), app.test_client()
    total = f"/order/ravi/total?qty-{shop['product']}=3"
    assert other.post("/order/ravi/cart", data={"product_id": str(shop["product"]), "quantity": "1"}).status_code == 200
    other.delete_cookie("wal")  # their change was long ago
    seen.clear()
    assert "Mango pickle" in other.get("/order/ravi/cart").get_data(as_text=True)
    assert read(seen, "carts") and read(seen, "products"), "the cart is read on the replica"
    seen.clear()
    assert "₹360.00" in other.get(total).get_data(as_text=True)
    assert read(seen, "products") and read(seen, "cart_lines"), "the total is read on the replica"

    added = shopper.post("/order/ravi/cart", data={"product_id": str(shop["product"]), "quantity": "2"})
    assert added.status_code == 200
    replayed_up_to(monkeypatch, written_by(shopper) - 1)
    seen.clear(), primary.clear()
    cart = shopper.get("/order/ravi/cart").get_data(as_text=True)
    assert f'data-product="{shop["product"]}" data-quantity="2"' in cart
    assert "₹360.00" in shopper.get(total).get_data(as_text=True)
    assert not seen, "the shopper read a replica that has not replayed their cart change"
    assert read(primary, "carts") and read(primary, "cart_lines")


def test_a_cart_change_reads_its_cart_once_on_the_primary_and_its_other_products_on_the_replica(_schema, shop):
    """An "Add" reads the store, the cart and its lines in one statement, and after its commit
    shows the cart's other products (none of them its write) from the replica."""
    app = replica_app(_schema)
    lime = make_product(app, shop["vendor"], "Lime pickle", "80.00", 10)
    seen, primary = on_replica(app), on_primary(app)
    shopper = app.test_client()
    first = shopper.post("/order/ravi/cart", data={"product_id": str(shop["product"]), "quantity": "1"})
    assert first.status_code == 200
    seen.clear(), primary.clear()
    added = shopper.post("/order/ravi/cart", data={"product_id": str(lime), "quantity": "2"})
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and "Mango pickle" in html and "Lime pickle" in html
    reads = [statement for statement in primary if statement.lstrip().startswith("SELECT")]
    store = [statement for statement in reads if read([statement], "vendors")]
    assert len(store) == 1 and read(store, "carts") and read(store, "cart_lines")
    assert not any(statement.lstrip().startswith(("SELECT carts.", "SELECT cart_lines.")) for statement in reads)
    assert read(seen, "products"), "the cart's other product is shown from the replica"


def test_each_servers_reads_and_writes_are_counted(_schema, shop):
    from prometheus_client import REGISTRY

    def counted() -> dict[tuple[str, str], float]:
        return {(server, kind): REGISTRY.get_sample_value("dukaan_db_statements_total",
                                                          {"server": server, "kind": kind}) or 0.0
                for server in ("primary", "replica") for kind in ("read", "write")}

    app = replica_app(_schema)
    client = app.test_client()
    AuthActions(client).login()
    before = counted()
    assert client.get("/dashboard/orders").status_code == 200
    after = counted()
    assert after[("replica", "read")] > before[("replica", "read")]
    assert after[("replica", "write")] == before[("replica", "write")]
    before = counted()
    token = csrf_token(client, "/dashboard/orders")
    assert client.post("/logout", data={"csrf_token": token}).status_code in (302, 303)
    after = counted()
    assert after[("primary", "write")] > before[("primary", "write")]
