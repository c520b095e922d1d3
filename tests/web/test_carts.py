"""A cart that holds stock: the contract's endpoints, holds against other customers, checkout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dukaan.extensions import db
from dukaan.models import Cart, CartLine, Order
from helpers import AuthActions, make_product, make_vendor, product_state, recording

CUSTOMER = {"name": "Meera", "phone": "9876543210", "address": "12 MG Road, Pune"}


@pytest.fixture
def shop(app):
    vendor_id = make_vendor(app)
    return {
        "vendor": vendor_id,
        "pickle": make_product(app, vendor_id, "Mango pickle", "120.00", 10),
        "chai": make_product(app, vendor_id, "Masala chai", "95.00", 3),
    }


def add(client, product_id, quantity, slug="ravi"):
    return client.post(f"/order/{slug}/cart", data={"product_id": str(product_id), "quantity": str(quantity)})


def held(app, product_id) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.coalesce(func.sum(CartLine.quantity), 0)).where(CartLine.product_id == product_id)
        )


def test_adding_holds_units_and_answers_the_cart(app, client, shop):
    response = add(client, shop["pickle"], 2)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="cart-line-%d"' % shop["pickle"] in html and "Mango pickle" in html and "₹240.00" in html
    assert "Held for you for 15 more minutes." in html
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("cart=") and "Path=/order/ravi" in cookie and "HttpOnly" in cookie
    assert response.headers["Cache-Control"] == "no-store" and "Cookie" in response.headers["Vary"]
    assert held(app, shop["pickle"]) == 2
    assert product_state(app, shop["pickle"])["stock"] == 10  # stock on hand moves only at checkout
    again = client.get("/order/ravi/cart")
    assert again.status_code == 200 and "₹240.00" in again.get_data(as_text=True)


def test_a_first_add_writes_the_cart_with_its_line_and_nothing_at_the_commit(app, client, shop):
    """A new cart and its first line are written together (one statement on PostgreSQL), not by
    the session's flush, and read back as written: no statement after the write but the commit's."""
    from sqlalchemy import event

    seen: list[str] = []
    listen = recording(seen)
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", listen)
    try:
        response = add(client, shop["pickle"], 2)
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", listen)
    assert response.status_code == 200 and "Mango pickle" in response.get_data(as_text=True)
    writes = [s for s in seen if "INSERT INTO" in s]
    assert writes[-1] is seen[-1], "nothing is read or written after the cart"
    assert "INSERT INTO carts" in writes[0] and "INSERT INTO cart_lines" in writes[-1]
    assert len(writes) == (1 if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else 2)
    with app.app_context():
        cart = db.session.scalars(select(Cart)).one()
        assert [(line.product_id, line.quantity) for line in cart.lines] == [(shop["pickle"], 2)]
        assert cart.created_at is not None and cart.customer_id is None
    assert add(client, shop["chai"], 1).status_code == 200
    assert held(app, shop["pickle"]) == 2 and held(app, shop["chai"]) == 1


def test_the_fragment_after_a_change_reads_only_the_products_the_change_did_not_lock(app, client, shop):
    """What the cart shows after a change: the product the change locked as it saw it, the
    cart's other products and what other carts hold of each in one read. Every such read of
    a sale day's "Add" is the primary's."""
    from sqlalchemy import event

    seen: list[str] = []
    listen = recording(seen)

    def after_the_write(response) -> list[str]:
        assert response.status_code == 200
        return seen[next(i for i, s in enumerate(seen) if "INSERT INTO cart_lines" in s) + 1:]

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", listen)
    try:
        first = add(client, shop["pickle"], 2)
        assert after_the_write(first) == [], "a new cart of one line shows what its change saw"
        assert "Mango pickle" in first.get_data(as_text=True) and "₹240.00" in first.get_data(as_text=True)
        seen.clear()
        second = add(client, shop["chai"], 3)
        after = after_the_write(second)
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", listen)
    assert len(after) == 1 and "FROM products" in after[0] and "cart_lines" in after[0], after
    html = second.get_data(as_text=True)
    assert "Masala chai" in html and "Mango pickle" in html and "₹525.00" in html


def test_changing_and_removing_a_line_changes_the_hold(app, client, shop):
    add(client, shop["pickle"], 2)
    assert add(client, shop["pickle"], 5).status_code == 200
    assert held(app, shop["pickle"]) == 5
    assert add(client, shop["pickle"], 0).status_code == 200
    assert held(app, shop["pickle"]) == 0
    assert "Your cart is empty." in client.get("/order/ravi/cart").get_data(as_text=True)


def test_more_than_is_free_is_a_409_that_holds_nothing_more(app, client, shop):
    add(client, shop["chai"], 1)
    response = add(client, shop["chai"], 4)
    assert response.status_code == 409
    assert "Only 3 available." in response.get_data(as_text=True)
    assert held(app, shop["chai"]) == 1


def test_other_carts_holds_count(app, shop):
    first, second = app.test_client(), app.test_client()
    assert add(first, shop["chai"], 2).status_code == 200
    response = add(second, shop["chai"], 2)
    assert response.status_code == 409
    assert "Only 1 available." in response.get_data(as_text=True)
    # Without a cart (no JavaScript) the held units cannot be bought either.
    plain = second.post("/order/ravi", data=dict(CUSTOMER, **{f"qty-{shop['chai']}": "2"}))
    assert plain.status_code == 409
    assert "Masala chai: only 1 left." in plain.get_data(as_text=True)


def test_the_running_total_counts_the_visitors_own_holds_as_theirs(app, shop):
    """Holding all 3 units of chai, the visitor's total has no shortage; anyone else's does."""
    holder, other = app.test_client(), app.test_client()
    assert add(holder, shop["chai"], 3).status_code == 200
    query = f"/order/ravi/total?qty-{shop['chai']}=3"
    mine = holder.get(query)
    assert mine.status_code == 200 and "₹285.00" in mine.get_data(as_text=True)
    assert "left" not in mine.get_data(as_text=True)
    assert "Cookie" in mine.headers["Vary"]
    theirs = other.get(query).get_data(as_text=True)
    assert "₹285.00" in theirs and "Masala chai: sold out, 0 left." in theirs


@pytest.mark.parametrize("data", [{"product_id": "x", "quantity": "1"}, {"product_id": "1", "quantity": "²"},
                                  {"product_id": "1"}, {"product_id": "1", "quantity": "1000"}])
def test_bad_input_is_a_422(client, shop, data):
    response = client.post("/order/ravi/cart", data=data)
    assert response.status_code == 422
    assert "from 0 to 999" in response.get_data(as_text=True)


def test_a_product_the_store_does_not_show_cannot_be_held(app, client, shop):
    hidden = make_product(app, shop["vendor"], "Rose water", "130.00", 5, available=False)
    other = make_product(app, make_vendor(app, "asha", "Asha's"), "Bell", "10.00", 5)
    for product_id in (hidden, other, 999999):
        response = add(client, product_id, 1)
        assert response.status_code == 409
        assert "0 available right now." in response.get_data(as_text=True)


def test_a_cart_cookie_means_nothing_at_another_store(app, client, shop):
    make_product(app, make_vendor(app, "asha", "Asha's"), "Bell", "10.00", 5)
    token = add(client, shop["pickle"], 2).headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    stranger = app.test_client()
    stranger.set_cookie("cart", token, path="/order/asha")
    html = stranger.get("/order/asha/cart").get_data(as_text=True)
    assert "Your cart is empty." in html and "Mango pickle" not in html


def test_a_per_order_limit_bounds_the_hold(app, client, shop):
    with app.app_context():
        from dukaan.models import Product

        db.session.get(Product, shop["pickle"]).max_per_order = 2
        db.session.commit()
    response = add(client, shop["pickle"], 3)
    assert response.status_code == 422
    assert "at most 2 per order" in response.get_data(as_text=True)


def test_checkout_turns_the_holds_into_the_order(app, client, shop):
    add(client, shop["pickle"], 2)
    add(client, shop["chai"], 3)
    response = client.post("/order/ravi", data=CUSTOMER, headers={"Origin": "http://localhost"})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "cart=;" in response.headers["Set-Cookie"]  # the cookie goes with the cart
    assert product_state(app, shop["pickle"])["stock"] == 8
    assert product_state(app, shop["chai"])["stock"] == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(Cart.id))) == 0
        assert db.session.scalar(select(func.count(CartLine.id))) == 0
        order = db.session.scalars(select(Order)).one()
        assert sorted((line.name, line.quantity) for line in order.lines) == [("Mango pickle", 2), ("Masala chai", 3)]


def test_checkout_takes_the_cart_with_its_lines_in_one_statement(app, client, shop):
    """The cart's row is deleted under the products' locks (its lines go with it by the
    foreign key's cascade): no lock of its own, no delete a line."""
    from sqlalchemy import event

    add(client, shop["pickle"], 2)
    add(client, shop["chai"], 1)
    seen: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", recording(seen))
    response = client.post("/order/ravi", data={**CUSTOMER, "order_token": "c" * 32},
                           headers={"Origin": "http://localhost"})
    assert response.status_code == 303
    deletes = [statement for statement in seen if statement.lstrip().startswith("DELETE")]
    assert len(deletes) == 1 and deletes[0].lstrip().startswith("DELETE FROM carts")
    assert not any("FROM carts" in statement and "FOR UPDATE" in statement for statement in seen)
    assert not any(statement.lstrip().startswith("SELECT") and "FROM orders" in statement for statement in seen), \
        "a cart's order has no twin to look for while the cart is there"
    with app.app_context():
        assert db.session.scalar(select(func.count(Cart.id))) == 0
        assert db.session.scalar(select(func.count(CartLine.id))) == 0


def test_an_order_of_one_product_takes_its_stock_and_counts_the_holds_in_two_statements(app, shop):
    """The UPDATE that takes the stock locks the product's row, and the order's INSERT counts the
    other carts' holds after it: no lock of its own, no statement of its own for the holds."""
    from sqlalchemy import event

    other, buyer = app.test_client(), app.test_client()
    add(other, shop["chai"], 1)
    seen: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", recording(seen))
    response = buyer.post("/order/ravi", data=dict(CUSTOMER, **{f"qty-{shop['chai']}": "2"}))
    assert response.status_code == 303
    assert [s.lstrip().split()[0] for s in seen if "products" in s] == ["UPDATE", "WITH"]
    assert not any("FOR UPDATE" in statement for statement in seen)
    assert product_state(app, shop["chai"])["stock"] == 1 and held(app, shop["chai"]) == 1


def test_an_order_the_holds_refuse_takes_no_number(app, shop):
    holder, buyer = app.test_client(), app.test_client()
    add(holder, shop["chai"], 3)
    order = dict(CUSTOMER, **{f"qty-{shop['chai']}": "1"})
    refused = buyer.post("/order/ravi", data=order)
    assert refused.status_code == 409 and "Masala chai: sold out, 0 left." in refused.get_data(as_text=True)
    assert product_state(app, shop["chai"])["stock"] == 3
    add(holder, shop["chai"], 0)
    placed = buyer.post("/order/ravi", data=order)
    assert placed.status_code == 303
    assert "<h1>Order #1</h1>" in buyer.get(placed.headers["Location"]).get_data(as_text=True)


def test_a_retried_checkout_of_a_cart_lands_on_the_order_it_placed(app, client, shop):
    """The answer to a checkout was lost: the browser sends it again, with the same token and
    the cart's cookie (the cart is gone with its order). One order, and the same page."""
    add(client, shop["pickle"], 2)
    cookie = client.get_cookie("cart", path="/order/ravi").value
    form = {**CUSTOMER, "order_token": "retry-" + "a" * 26}
    first = client.post("/order/ravi", data=form, headers={"Origin": "http://localhost"})
    assert first.status_code == 303
    client.set_cookie("cart", cookie, path="/order/ravi")
    again = client.post("/order/ravi", data=form, headers={"Origin": "http://localhost"})
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert "cart=;" in again.headers["Set-Cookie"]
    other = client.post("/order/ravi", data={**CUSTOMER, "order_token": "b" * 32}, headers={"Origin": "http://localhost"})
    assert other.status_code == 422, "another token with nothing chosen is still nothing chosen"
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 1
    assert product_state(app, shop["pickle"])["stock"] == 8


def expire_holds(app):
    with app.app_context():
        db.session.execute(update(Cart).values(expires_at=Cart.expires_at - timedelta(hours=1)))
        db.session.commit()


def test_a_lapsed_hold_frees_its_units_with_no_job(app, shop):
    first, second = app.test_client(), app.test_client()
    add(first, shop["chai"], 3)
    assert add(second, shop["chai"], 1).status_code == 409
    expire_holds(app)
    assert add(second, shop["chai"], 2).status_code == 200
    html = first.get("/order/ravi/cart").get_data(as_text=True)
    assert "Your hold has lapsed" in html
    assert "Only 1 left." in html  # the line stays, and says how many are left
    refused = first.post("/order/ravi", data=CUSTOMER)
    assert refused.status_code == 409
    assert "Masala chai: only 1 left." in refused.get_data(as_text=True)


def test_a_lapsed_hold_still_checks_out_while_the_stock_is_there(app, client, shop):
    add(client, shop["pickle"], 4)
    expire_holds(app)
    assert client.post("/order/ravi", data=CUSTOMER).status_code == 303
    assert product_state(app, shop["pickle"])["stock"] == 6


def test_lowering_stock_below_the_holds_cuts_the_newest_first(app, shop):
    older, newer = app.test_client(), app.test_client()
    add(older, shop["pickle"], 4)
    add(newer, shop["pickle"], 4)
    vendor = AuthActions(app.test_client())
    vendor.login()
    response = vendor.post(f"/dashboard/products/{shop['pickle']}", {
        "name": "Mango pickle", "price": "120.00", "stock": "5", "stock_seen": "10"}, htmx=True)
    assert response.status_code == 200
    assert held(app, shop["pickle"]) == 5
    assert "Held for you" in older.get("/order/ravi/cart").get_data(as_text=True)
    newer_html = newer.get("/order/ravi/cart").get_data(as_text=True)
    assert "The store has fewer now: 1 of the 4 you chose are held." in newer_html


# --- the store page: "held" is its own state, and it follows holds within the cache's rules ----


def item(client, product_id) -> str:
    html = client.get("/order/ravi").get_data(as_text=True)
    start = html.index(f'id="item-{product_id}"')
    return html[start:html.index("</li>", start)]


def test_a_product_whose_every_unit_is_held_shows_as_held_not_sold_out(app, shop):
    customer, other = app.test_client(), app.test_client()
    assert 'name="qty-' in item(other, shop["chai"])
    add(customer, shop["chai"], 3)
    held_item = item(other, shop["chai"])
    assert "In other carts now" in held_item and "Sold out" not in held_item
    assert 'name="qty-' not in held_item
    add(customer, shop["chai"], 2)  # one unit free again: the page follows at once
    assert 'name="qty-' in item(other, shop["chai"])


def test_the_held_state_ends_when_the_hold_lapses(app, shop):
    from dukaan import jobs

    customer, other = app.test_client(), app.test_client()
    add(customer, shop["chai"], 3)
    assert "In other carts now" in item(other, shop["chai"])
    # The page is fetched anew when the hold lapses: a job waits for that moment.
    waiting = jobs.backend(app).pending()
    assert [name for name, _ in waiting] == ["storefront.forget"]
    expire_holds(app)
    with app.app_context():
        jobs.JOBS["storefront.forget"](**waiting[0][1])
    assert 'name="qty-' in item(other, shop["chai"])


def test_a_plain_order_of_the_last_free_units_shows_the_rest_as_held(app, shop):
    customer, other = app.test_client(), app.test_client()
    add(customer, shop["chai"], 2)
    assert 'name="qty-' in item(other, shop["chai"])
    assert other.post("/order/ravi", data=dict(CUSTOMER, **{f"qty-{shop['chai']}": "1"})).status_code == 303
    assert "In other carts now" in item(app.test_client(), shop["chai"])


def test_the_vendor_sees_how_many_units_carts_hold(app, client, shop):
    add(client, shop["pickle"], 4)
    vendor = AuthActions(app.test_client())
    vendor.login()
    html = vendor._client.get("/dashboard/products").get_data(as_text=True)
    row = html[html.index(f'id="product-{shop["pickle"]}"'):]
    assert "4 in carts" in row[:row.index("</tr>")]


def test_lapsed_carts_are_deleted_a_day_after_their_holds_end(app, shop):
    from dukaan.jobs import JOBS

    kept, gone = app.test_client(), app.test_client()
    add(kept, shop["pickle"], 1)
    add(gone, shop["chai"], 1)
    with app.app_context():
        carts = db.session.scalars(select(Cart).order_by(Cart.id)).all()
        carts[0].expires_at -= timedelta(hours=2)  # lapsed, but not for long
        carts[1].expires_at -= timedelta(hours=25)
        db.session.commit()
        assert JOBS["carts.delete_lapsed"]() == 1
        assert [line.product_id for line in db.session.scalars(select(CartLine))] == [shop["pickle"]]
    assert "Mango pickle" in kept.get("/order/ravi/cart").get_data(as_text=True)
    assert "Your cart is empty." in gone.get("/order/ravi/cart").get_data(as_text=True)


def test_beat_runs_the_cart_clean_up(app):
    from dukaan.jobs.celery import settings

    schedule = settings(app.config)["beat_schedule"]["carts-delete-lapsed"]
    assert schedule["task"] == "carts.delete_lapsed" and schedule["schedule"] == 15 * 60
