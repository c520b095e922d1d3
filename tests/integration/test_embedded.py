"""The laptop default: SQLite and the in-process cache, no servers at all."""

from __future__ import annotations

import re

import pytest
from flask_migrate import upgrade
from sqlalchemy import event, select

from dukaan.cli.demo import DEMO_PRODUCTS
from dukaan.extensions import db
from dukaan.models import Order, Product
from helpers import HX, AuthActions, make_app

CUSTOMER = {"name": "Meera", "phone": "+91 98765 43210", "address": "12 MG Road, Pune"}


@pytest.fixture
def embedded(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'dukaan.sqlite'}", None)
    assert app.config["CACHE_TYPE"] == "SimpleCache"
    with app.app_context():
        assert db.engine.dialect.name == "sqlite"
        upgrade()
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def demo_product(app, name) -> dict:
    with app.app_context():
        product = db.session.scalar(select(Product).where(Product.name == name))
        return {"id": product.id, "stock": product.stock, "available": product.available}


def test_the_customer_and_vendor_journey(embedded):
    app = embedded
    customer = app.test_client()
    page = customer.get("/order/demo")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Asha&#39;s Kitchen &amp; Crafts" in html
    for name, _price, _mrp, _stock, available, _description in DEMO_PRODUCTS:
        assert (name.replace("&", "&amp;") in html) == available, name

    # The second visit comes from the in-process cache: no SQL.
    statements = []
    with app.app_context():
        engine = db.engine
    record = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert customer.get("/order/demo").data == page.data
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == []

    # Place an order.
    ghee = demo_product(app, "Ghee, A2 cow (500 ml)")
    chai = demo_product(app, "Masala chai mix (200 g)")
    data = dict(CUSTOMER, order_token="embedded-1",
                **{f"qty-{ghee['id']}": "2", f"qty-{chai['id']}": "1"})
    response = customer.post("/order/demo", data=data)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert customer.post("/order/demo", data=data).headers["Location"] == location
    confirmation = customer.get(location).get_data(as_text=True)
    assert "<h1>Order #1</h1>" in confirmation
    assert "<strong>₹1,510.00</strong>" in confirmation  # 2 × 650 + 210
    assert demo_product(app, "Ghee, A2 cow (500 ml)")["stock"] == ghee["stock"] - 2
    with app.app_context():
        assert len(db.session.scalars(select(Order)).all()) == 1

    # Short stock is refused with what is left.
    response = customer.post("/order/demo", data=dict(CUSTOMER, **{f"qty-{ghee['id']}": "999"}))
    assert response.status_code == 409
    assert f"only {ghee['stock'] - 2} left" in response.get_data(as_text=True)

    # The vendor hides a product; the storefront drops it at once.
    vendor = app.test_client()
    auth = AuthActions(vendor)
    auth.login("demo", "demo1234")
    response = auth.post(f"/dashboard/products/{chai['id']}/availability", htmx=True)
    assert response.status_code == 200
    assert f'id="product-{chai["id"]}"' in response.get_data(as_text=True)
    html = customer.get("/order/demo").get_data(as_text=True)
    assert "Masala chai mix" not in html
    assert f"qty-{chai['id']}" not in html
    assert "Ghee, A2 cow" in html

    # The new order is on the vendor's dashboard.
    orders_page = vendor.get("/dashboard/orders", headers=HX).get_data(as_text=True)
    assert "Meera" in orders_page and "2 × Ghee, A2 cow (500 ml)" in orders_page


def test_selling_out_and_cancelling_on_sqlite(embedded):
    app = embedded
    bell = demo_product(app, "Brass pooja bell")
    customer = app.test_client()
    customer.get("/order/demo")
    response = customer.post("/order/demo", data=dict(CUSTOMER, **{f"qty-{bell['id']}": str(bell["stock"])}))
    assert response.status_code == 303
    item = re.search(rf'id="item-{bell["id"]}">(.*?)</li>',
                     customer.get("/order/demo").get_data(as_text=True), re.S).group(1)
    assert "Sold out" in item

    auth = AuthActions(app.test_client())
    auth.login("demo", "demo1234")
    with app.app_context():
        order_id = db.session.scalar(select(Order.id))
    assert auth.post(f"/dashboard/orders/{order_id}/status", {"status": "cancelled"}).status_code == 303
    assert demo_product(app, "Brass pooja bell")["stock"] == bell["stock"]
    item = re.search(rf'id="item-{bell["id"]}">(.*?)</li>',
                     customer.get("/order/demo").get_data(as_text=True), re.S).group(1)
    assert "Sold out" not in item and f'name="qty-{bell["id"]}"' in item


def test_a_cart_checks_out_on_sqlite(embedded):
    """SQLite enforces no foreign keys here: the checkout deletes the cart's lines itself."""
    from dukaan.models import Cart, CartLine

    app = embedded
    ghee = demo_product(app, "Ghee, A2 cow (500 ml)")
    chai = demo_product(app, "Masala chai mix (200 g)")
    customer = app.test_client()
    for product, quantity in ((ghee, 2), (chai, 1)):
        added = customer.post("/order/demo/cart", data={"product_id": str(product["id"]), "quantity": str(quantity)})
        assert added.status_code == 200
    response = customer.post("/order/demo", data=CUSTOMER)
    assert response.status_code == 303
    assert demo_product(app, "Ghee, A2 cow (500 ml)")["stock"] == ghee["stock"] - 2
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert sorted(line.quantity for line in order.lines) == [1, 2]
        assert db.session.scalars(select(Cart)).all() == [] and db.session.scalars(select(CartLine)).all() == []


def test_an_order_emails_its_vendor_once_with_no_servers(embedded, caplog):
    """No broker, no mail server: the job runs in the process after the commit and the mail goes to the log."""
    from dukaan import jobs, orders
    from dukaan.models import SentMail, Vendor

    with embedded.app_context():
        vendor = db.session.scalar(select(Vendor).where(Vendor.username == "demo"))
        vendor.email = "asha@example.com"
        db.session.commit()
        product = demo_product(embedded, DEMO_PRODUCTS[0][0])
        with caplog.at_level("INFO", logger="dukaan.mail"):
            order, _ = orders.place(vendor, {product["id"]: 1}, orders.Customer(**CUSTOMER))
            assert jobs.backend(embedded).join(5)
            jobs.JOBS["mail.order_placed"](order_id=order.id)  # delivered twice: logged once
        sent = [r.getMessage() for r in caplog.records if "asha@example.com: New order #1" in r.getMessage()]
        assert len(sent) == 1 and "Customer: Meera" in sent[0]
        assert db.session.scalar(select(SentMail.sent_at).where(SentMail.order_id == order.id)) is not None
