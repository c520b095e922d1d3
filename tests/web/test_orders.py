"""Placing orders from the storefront: validation, stock, idempotency, states, concurrency."""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dukaan import orders
from dukaan.extensions import db
from dukaan.models import Order, OrderLine, Product
from helpers import join_all, make_product, make_vendor, product_state

GOOD = {"name": "Meera Joshi", "phone": "9876543210", "address": "12 MG Road, Pune 411001"}


def form(qty: dict[int, object] | None = None, token: str | None = None, **fields) -> dict:
    """Checkout form data: the good customer, ``qty`` by product id, overrides in ``fields``."""
    data = {**GOOD, **fields}
    data = {k: v for k, v in data.items() if v is not None}
    for product_id, value in (qty or {}).items():
        data[f"qty-{product_id}"] = str(value)
    if token is not None:
        data["order_token"] = token
    return data


def post(client, slug="ravi", qty=None, token=None, headers=None, **fields):
    return client.post(f"/order/{slug}", data=form(qty, token, **fields), headers=headers or {})


def all_orders(app) -> list[dict]:
    with app.app_context():
        found = db.session.scalars(select(Order).order_by(Order.id)).all()
        return [
            {
                "vendor_id": o.vendor_id, "number": o.number, "ref": o.ref, "token": o.token,
                "name": o.customer_name, "phone": o.phone, "address": o.address,
                "total": o.total, "status": o.status,
                "lines": [(line.product_id, line.name, line.unit_price, line.quantity)
                          for line in o.lines],
            }
            for o in found
        ]


def line_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(OrderLine.id)))


def stock(app, product_id) -> int:
    return product_state(app, product_id)["stock"]


def item_html(html: str, product_id: int) -> str:
    match = re.search(rf'<li class="item[^"]*" id="item-{product_id}">(.*?)</li>', html, re.S)
    assert match, f"product {product_id} is not in the catalogue"
    return match.group(1)


@pytest.fixture
def shop(app):
    vid = make_vendor(app)
    return {
        "vendor": vid,
        "pickle": make_product(app, vid, "Mango pickle", "120.00", 10),
        "chai": make_product(app, vid, "Masala chai", "95.50", 3),
    }


def assert_nothing_written(app, shop, before=None):
    assert all_orders(app) == (before or [])
    assert stock(app, shop["pickle"]) == 10
    assert stock(app, shop["chai"]) == 3


# --- a good order --------------------------------------------------------------------


def test_order_is_placed_and_redirects_to_its_page(app, client, shop):
    response = post(client, qty={shop["pickle"]: 2, shop["chai"]: 3})
    assert response.status_code == 303
    placed = all_orders(app)
    assert len(placed) == 1
    order = placed[0]
    assert response.headers["Location"] == f"/order/ravi/{order['ref']}"
    assert order["vendor_id"] == shop["vendor"]
    assert order["number"] == 1
    assert order["status"] == "placed"
    assert (order["name"], order["phone"], order["address"]) == (
        "Meera Joshi", "9876543210", "12 MG Road, Pune 411001")
    assert order["lines"] == [
        (shop["pickle"], "Mango pickle", Decimal("120.00"), 2),
        (shop["chai"], "Masala chai", Decimal("95.50"), 3),
    ]
    assert order["total"] == Decimal("526.50")
    assert stock(app, shop["pickle"]) == 8
    assert stock(app, shop["chai"]) == 0


def test_a_placed_order_hands_back_its_lines_with_the_ids_they_were_written_with(app, shop):
    """The order and its lines are written in one statement (PostgreSQL): each line the order
    hands back is the row written for its product."""
    from dukaan.models import Vendor

    with app.app_context():
        vendor = db.session.get(Vendor, shop["vendor"])
        customer = orders.Customer("Meera Joshi", "9876543210", "12 MG Road, Pune", None)
        order, created = orders.place(vendor, {shop["chai"]: 1, shop["pickle"]: 2}, customer)
        handed = {(line.id, line.order_id, line.product_id, line.quantity) for line in order.lines}
        db.session.expunge_all()
        stored = set(db.session.execute(
            select(OrderLine.id, OrderLine.order_id, OrderLine.product_id, OrderLine.quantity)
            .where(OrderLine.order_id == order.id)).all())
    assert created and len(stored) == 2 and handed == stored


def test_zero_and_blank_quantities_are_ignored(app, client, shop):
    response = post(client, qty={shop["pickle"]: 1, shop["chai"]: 0})
    assert response.status_code == 303
    response = post(client, qty={shop["pickle"]: 1, shop["chai"]: ""})
    assert response.status_code == 303
    assert [o["lines"] for o in all_orders(app)] == [
        [(shop["pickle"], "Mango pickle", Decimal("120.00"), 1)]] * 2
    assert stock(app, shop["chai"]) == 3


def test_customer_details_are_trimmed_and_phone_normalised(app, client, shop):
    response = post(client, qty={shop["pickle"]: 1}, name="  Meera  ",
                    phone=" +91 98765-43210 ", address="  Flat 4\nPune  ")
    assert response.status_code == 303
    order = all_orders(app)[0]
    assert (order["name"], order["phone"], order["address"]) == ("Meera", "+919876543210", "Flat 4\nPune")


@pytest.mark.parametrize("phone", ["9876543210", "+919876543210", "98765 43210", "98765-43210",
                                   "(022) 2345-6789", "123456789012345", "+123456789012345"])
def test_good_phone_numbers(app, client, shop, phone):
    assert post(client, qty={shop["pickle"]: 1}, phone=phone).status_code == 303
    assert all_orders(app)[0]["phone"] == re.sub(r"[\s\-()]", "", phone)


def test_phone_in_another_script_is_stored_in_ascii_digits(app, client, shop):
    assert post(client, qty={shop["pickle"]: 1}, phone="+९१ ९८७६५-४३२१०").status_code == 303
    assert all_orders(app)[0]["phone"] == "+919876543210"


def test_money_is_exact_decimal(app, client):
    vid = make_vendor(app)
    penny = make_product(app, vid, "Toffee", "0.10", 100)
    assert post(client, qty={penny: 3}).status_code == 303
    order = all_orders(app)[0]
    assert isinstance(order["total"], Decimal)
    assert order["total"] == Decimal("0.30")
    assert isinstance(order["lines"][0][2], Decimal)
    html = client.get(f"/order/ravi/{order['ref']}").get_data(as_text=True)
    assert "<strong>₹0.30</strong>" in html


def test_max_quantity_is_accepted(app, client):
    vid = make_vendor(app)
    bulk = make_product(app, vid, "Rice", "1.00", 2000)
    assert post(client, qty={bulk: 999}).status_code == 303
    assert stock(app, bulk) == 1001


def test_order_with_uppercase_slug_in_action(app, client, shop):
    response = post(client, slug="RAVI", qty={shop["pickle"]: 1})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/order/ravi/")


def test_unknown_store_post_is_404(app, client, shop):
    assert post(client, slug="nobody", qty={shop["pickle"]: 1}).status_code == 404
    assert_nothing_written(app, shop)


# --- invalid input: 422, nothing written ------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-1", "1000", "1.5", "²", "٣", "1e2", "0x1", "+1",
                                   "9" * 5000])
def test_bad_quantity_is_422_next_to_the_product(app, client, shop, value):
    response = post(client, qty={shop["pickle"]: value, shop["chai"]: 1})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a number from 0 to 999." in item_html(html, shop["pickle"])
    assert "Enter a number from 0 to 999." not in item_html(html, shop["chai"])
    assert_nothing_written(app, shop)


def test_malformed_quantity_field_is_422(app, client, shop):
    data = form({shop["pickle"]: 1})
    data["qty-abc"] = "1"
    response = client.post("/order/ravi", data=data)
    assert response.status_code == 422
    assert "This is not a product of this store." in response.get_data(as_text=True)
    assert_nothing_written(app, shop)


@pytest.mark.parametrize("product_id", ["other", 99999999999, 2**40, 424242])
def test_quantity_for_a_product_not_in_this_store_is_422(app, client, shop, product_id):
    if product_id == "other":
        asha = make_vendor(app, "asha", "Asha's Crafts")
        product_id = make_product(app, asha, "Brass bell", "549.00", 5)
    response = post(client, qty={product_id: 1, shop["pickle"]: 1})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "A product you chose is not available." in html or \
        "This is not a product of this store." in html
    assert_nothing_written(app, shop)
    if product_id not in (99999999999, 2**40, 424242):
        assert stock(app, product_id) == 5


@pytest.mark.parametrize("qty", [{}, "zeros", "blanks"])
def test_order_without_units_is_422(app, client, shop, qty):
    if qty == "zeros":
        qty = {shop["pickle"]: 0, shop["chai"]: "0"}
    elif qty == "blanks":
        qty = {shop["pickle"]: "", shop["chai"]: " "}
    response = post(client, qty=qty)
    assert response.status_code == 422
    assert "Choose how many you want of at least one product." in response.get_data(as_text=True)
    assert_nothing_written(app, shop)


@pytest.mark.parametrize("field", ["name", "phone", "address"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_customer_field_is_422_next_to_it(app, client, shop, field, value):
    response = post(client, qty={shop["pickle"]: 1}, **{field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(rf'<small class="error" id="{field}-error">[^<]+</small>', html)
    assert f'id="{field}" name="{field}"' in html or f'name="{field}"' in html
    assert_nothing_written(app, shop)


@pytest.mark.parametrize("phone", ["12", "123456789", "1234567890123456", "abcdefghij",
                                   "++919876543210", "98765x43210", "+", "९८७६५४३२१", "²" * 10,
                                   "9876543210\x00", "9" * 10000])
def test_bad_phone_is_422(app, client, shop, phone):
    response = post(client, qty={shop["pickle"]: 1}, phone=phone)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert '<small class="error" id="phone-error">Enter a phone number of 10 to 15 digits.</small>' in html
    assert_nothing_written(app, shop)


@pytest.mark.parametrize("field, value", [
    ("name", "N" * 101),
    ("name", "N" * 100_000),
    ("address", "A" * 501),
    ("address", "A" * 200_000),
    ("order_token", "t" * 65),
    ("order_token", "not a token!"),
    ("name", "Meera\x00Joshi"),
    ("address", "12 MG Road\x00"),
])
def test_bad_or_huge_text_is_422(app, client, shop, field, value):
    response = post(client, qty={shop["pickle"]: 1}, **{field: value})
    assert response.status_code == 422
    assert 'class="error"' in response.get_data(as_text=True)
    assert_nothing_written(app, shop)


def test_huge_quantity_field_name_is_422(app, client, shop):
    data = form({shop["pickle"]: 1})
    data["qty-" + "9" * 5000] = "1"
    response = client.post("/order/ravi", data=data)
    assert response.status_code == 422
    assert_nothing_written(app, shop)


def test_rejected_form_keeps_what_the_customer_typed(app, client, shop):
    response = post(client, qty={shop["pickle"]: 4, shop["chai"]: "x"}, name="Meera")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="Meera"' in html
    assert 'value="4"' in item_html(html, shop["pickle"])
    assert 'value="x"' in item_html(html, shop["chai"])
    assert "12 MG Road, Pune 411001" in html


# --- the same-origin check ---------------------------------------------------------------


@pytest.mark.parametrize("headers, allowed", [
    ({}, True),
    ({"Sec-Fetch-Site": "same-origin"}, True),
    ({"Sec-Fetch-Site": "none"}, True),
    ({"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, True),
    ({"Sec-Fetch-Site": "cross-site"}, False),
    ({"Sec-Fetch-Site": "same-site"}, False),
    ({"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"}, False),
    ({"Origin": "http://localhost"}, True),
    ({"Origin": "https://evil.example"}, False),
    ({"Origin": "http://localhost:8080"}, False),
    ({"Origin": "https://localhost"}, False),
    ({"Origin": "null"}, False),
])
def test_same_origin_check(app, client, shop, headers, allowed):
    response = post(client, qty={shop["pickle"]: 1}, headers=headers)
    if allowed:
        assert response.status_code == 303
        assert len(all_orders(app)) == 1
    else:
        assert response.status_code == 403
        assert "store&#39;s own page" in response.get_data(as_text=True)
        assert_nothing_written(app, shop)


def test_order_needs_no_csrf_token_but_vendor_forms_do(app, client, shop):
    """The storefront POST is exempt; the dashboard is not (CSRF stays on in tests)."""
    assert post(client, qty={shop["pickle"]: 1}).status_code == 303
    response = client.post("/login", data={"username": "ravi", "password": "secret-pass"})
    assert response.status_code == 400


# --- short stock: 409, nothing taken --------------------------------------------------


def test_short_stock_is_409_naming_the_product_and_what_is_left(app, client, shop):
    response = post(client, qty={shop["pickle"]: 1, shop["chai"]: 4})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Masala chai: only 3 left." in html
    assert "Only 3 left." in item_html(html, shop["chai"])
    assert "Mango pickle:" not in html
    assert 'value="4"' in item_html(html, shop["chai"])
    assert_nothing_written(app, shop)


def test_every_short_product_is_named(app, client, shop):
    response = post(client, qty={shop["pickle"]: 11, shop["chai"]: 4})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Mango pickle: only 10 left." in html
    assert "Masala chai: only 3 left." in html
    assert_nothing_written(app, shop)


def test_sold_out_product_is_409_with_zero_left(app, client, shop):
    assert post(client, qty={shop["chai"]: 3}).status_code == 303
    before = all_orders(app)
    response = post(client, qty={shop["pickle"]: 1, shop["chai"]: 1})
    assert response.status_code == 409
    assert "Masala chai: sold out, 0 left." in response.get_data(as_text=True)
    assert all_orders(app) == before
    assert stock(app, shop["pickle"]) == 10


def test_a_hidden_product_is_not_available_and_nothing_more(app, client, shop):
    """Its name and stock stay unknown to whoever walks the product ids (issue 16, finding 6)."""
    with app.app_context():
        db.session.get(Product, shop["chai"]).available = False
        db.session.commit()
    response = post(client, qty={shop["pickle"]: 1, shop["chai"]: 1})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "A product you chose is not available." in html
    assert "Masala chai" not in html and "left" not in html
    total = client.get(f"/order/ravi/total?qty-{shop['chai']}=1").get_data(as_text=True)
    assert "A product you chose is not available." in total and "Masala chai" not in total
    assert_nothing_written(app, shop)


def test_rejected_order_does_not_use_up_an_order_number(app, client, shop):
    assert post(client, qty={shop["chai"]: 4}).status_code == 409
    assert post(client, qty={shop["chai"]: 1}).status_code == 303
    assert [o["number"] for o in all_orders(app)] == [1]


def test_place_refuses_orders_without_units_or_too_many(app, shop):
    with app.app_context():
        vendor = db.session.get(Product, shop["pickle"]).vendor
        customer = orders.Customer("Meera", "9876543210", "Pune")
        with pytest.raises(ValueError):
            orders.place(vendor, {shop["pickle"]: 0}, customer)
        with pytest.raises(ValueError):
            orders.place(vendor, {shop["pickle"]: 1000}, customer)
    assert_nothing_written(app, shop)


def test_place_takes_all_lines_or_none(app, shop):
    with app.app_context():
        vendor = db.session.get(Product, shop["pickle"]).vendor
        customer = orders.Customer("Meera", "9876543210", "Pune")
        with pytest.raises(orders.OutOfStock) as raised:
            orders.place(vendor, {shop["pickle"]: 5, shop["chai"]: 9}, customer)
        assert raised.value.shortages == [orders.Shortage(shop["chai"], "Masala chai", 3)]
    assert_nothing_written(app, shop)


# --- idempotency ---------------------------------------------------------------------------


def test_same_token_twice_makes_one_order(app, client, shop):
    token = "0b6f3c8e-5a1d-4c2e-9f7a-2d4b6e8a0c1f"
    first = post(client, qty={shop["pickle"]: 2}, token=token)
    second = post(client, qty={shop["pickle"]: 2}, token=token)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    placed = all_orders(app)
    assert len(placed) == 1
    assert placed[0]["token"] == token
    assert stock(app, shop["pickle"]) == 8
    assert client.get(second.headers["Location"]).status_code == 200


def test_token_retry_after_a_rejection_places_the_order(app, client, shop):
    token = "retry-token-1"
    assert post(client, qty={shop["chai"]: 5}, token=token).status_code == 409
    response = post(client, qty={shop["chai"]: 2}, token=token)
    assert response.status_code == 303
    assert [o["lines"][0][3] for o in all_orders(app)] == [2]


def test_different_tokens_make_different_orders(app, client, shop):
    post(client, qty={shop["pickle"]: 1}, token="token-a")
    post(client, qty={shop["pickle"]: 1}, token="token-b")
    post(client, qty={shop["pickle"]: 1})
    post(client, qty={shop["pickle"]: 1})
    assert [o["number"] for o in all_orders(app)] == [1, 2, 3, 4]
    assert stock(app, shop["pickle"]) == 6


def test_stores_reuse_a_token_independently(app, client, shop):
    asha = make_vendor(app, "asha", "Asha's Crafts")
    bell = make_product(app, asha, "Brass bell", "549.00", 5)
    token = "shared-token"
    ravi_order = post(client, qty={shop["pickle"]: 1}, token=token)
    asha_order = post(client, slug="asha", qty={bell: 1}, token=token)
    assert ravi_order.status_code == asha_order.status_code == 303
    assert ravi_order.headers["Location"].startswith("/order/ravi/")
    assert asha_order.headers["Location"].startswith("/order/asha/")
    placed = all_orders(app)
    assert [(o["vendor_id"], o["token"]) for o in placed] == [(shop["vendor"], token), (asha, token)]
    assert stock(app, bell) == 4 and stock(app, shop["pickle"]) == 9


# --- order lines are a snapshot ------------------------------------------------------------


def test_lines_keep_name_and_price_when_the_product_changes(app, client, shop):
    response = post(client, qty={shop["pickle"]: 2})
    location = response.headers["Location"]
    with app.app_context():
        product = db.session.get(Product, shop["pickle"])
        product.name, product.price = "Lime pickle", Decimal("300.00")
        db.session.commit()
    order = all_orders(app)[0]
    assert order["lines"] == [(shop["pickle"], "Mango pickle", Decimal("120.00"), 2)]
    assert order["total"] == Decimal("240.00")
    html = client.get(location).get_data(as_text=True)
    assert "Mango pickle" in html and "₹240.00" in html
    assert "Lime pickle" not in html and "₹300.00" not in html


def test_lines_survive_the_product_being_deleted(app, client, shop):
    location = post(client, qty={shop["pickle"]: 2}).headers["Location"]
    with app.app_context():
        db.session.delete(db.session.get(Product, shop["pickle"]))
        db.session.commit()
    assert all_orders(app)[0]["lines"] == [(None, "Mango pickle", Decimal("120.00"), 2)]
    html = client.get(location).get_data(as_text=True)
    assert "<td>Mango pickle</td><td>2</td>" in html


def test_order_for_a_deleted_product_is_rejected(app, client, shop):
    with app.app_context():
        db.session.delete(db.session.get(Product, shop["chai"]))
        db.session.commit()
    response = post(client, qty={shop["pickle"]: 1, shop["chai"]: 1})
    assert response.status_code == 422
    assert "is not available" in response.get_data(as_text=True)
    assert all_orders(app) == []
    assert stock(app, shop["pickle"]) == 10


# --- order states and cancelling ----------------------------------------------------------


def _the_order(app):
    return db.session.scalars(select(Order)).one()


def test_status_moves_forward_only(app, client, shop):
    post(client, qty={shop["pickle"]: 1})
    with app.app_context():
        order = _the_order(app)
        assert orders.next_statuses(order) == ("confirmed", "cancelled")
        with pytest.raises(orders.IllegalTransition):
            orders.change_status(order, "delivered")
        for status in ("confirmed", "shipped", "delivered"):
            orders.change_status(order, status)
            assert order.status == status
        for status in ("cancelled", "placed", "shipped"):
            with pytest.raises(orders.IllegalTransition):
                orders.change_status(order, status)
    assert all_orders(app)[0]["status"] == "delivered"
    assert stock(app, shop["pickle"]) == 9


def test_shipped_order_cannot_be_cancelled(app, client, shop):
    post(client, qty={shop["pickle"]: 4})
    with app.app_context():
        order = _the_order(app)
        orders.change_status(order, "confirmed")
        orders.change_status(order, "shipped")
        with pytest.raises(orders.IllegalTransition):
            orders.change_status(order, "cancelled")
    assert stock(app, shop["pickle"]) == 6


@pytest.mark.parametrize("via", ["placed", "confirmed"])
def test_cancel_returns_stock_once(app, client, shop, via):
    post(client, qty={shop["pickle"]: 4, shop["chai"]: 3})
    assert (stock(app, shop["pickle"]), stock(app, shop["chai"])) == (6, 0)
    with app.app_context():
        order = _the_order(app)
        if via == "confirmed":
            orders.change_status(order, "confirmed")
        orders.change_status(order, "cancelled")
        assert order.status == "cancelled"
        with pytest.raises(orders.IllegalTransition):
            orders.change_status(order, "cancelled")
    assert (stock(app, shop["pickle"]), stock(app, shop["chai"])) == (10, 3)
    assert all_orders(app)[0]["status"] == "cancelled"


def test_stale_copy_cannot_cancel_twice(app, client, shop):
    """Two requests that both loaded the placed order: only one cancel returns stock."""
    post(client, qty={shop["pickle"]: 4})
    with app.app_context():
        stale = _the_order(app)
        assert stale.status == "placed"
        with app.app_context():  # another request, another session
            orders.change_status(_the_order(app), "cancelled")
        assert stale.status == "placed"  # this session has not seen the cancel
        with pytest.raises(orders.IllegalTransition, match="already cancelled"):
            orders.change_status(stale, "cancelled")
        assert stale.status == "cancelled"
    assert stock(app, shop["pickle"]) == 10


def test_cancel_after_the_product_was_deleted(app, client, shop):
    post(client, qty={shop["pickle"]: 1, shop["chai"]: 1})
    with app.app_context():
        db.session.delete(db.session.get(Product, shop["pickle"]))
        db.session.commit()
        orders.change_status(_the_order(app), "cancelled")
    assert stock(app, shop["chai"]) == 3
    assert all_orders(app)[0]["status"] == "cancelled"


# --- concurrency on PostgreSQL --------------------------------------------------------------


def run_threads(count, work, timeout=60):
    """Run ``work(i)`` in ``count`` threads released together; return their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=timeout)
            results[i] = work(i)
        except BaseException as error:  # reported by the test, not by the thread
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    join_all(threads, timeout)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[0]
    return results


@pytest.mark.postgres
def test_last_units_are_sold_once_under_concurrency(app, shop):
    with app.app_context():
        db.session.get(Product, shop["pickle"]).stock = 5
        db.session.commit()
    clients = [app.test_client() for _ in range(50)]
    statuses = run_threads(50, lambda i: post(clients[i], qty={shop["pickle"]: 1}).status_code)
    assert statuses.count(303) == 5
    assert statuses.count(409) == 45
    assert stock(app, shop["pickle"]) == 0
    placed = all_orders(app)
    assert len(placed) == 5
    assert sorted(o["number"] for o in placed) == [1, 2, 3, 4, 5]
    assert line_count(app) == 5


@pytest.mark.postgres
def test_multi_line_orders_in_opposite_orders_neither_deadlock_nor_oversell(app):
    vid = make_vendor(app)
    a = make_product(app, vid, "Product A", "10.00", 12)
    b = make_product(app, vid, "Product B", "20.00", 12)
    clients = [app.test_client() for _ in range(40)]

    def work(i):
        # Half list A first, half B first, with different quantities.
        lines = {a: 1 + i % 3, b: 1 + (i + 1) % 2} if i % 2 else {b: 1 + i % 2, a: 1 + i % 3}
        return lines, post(clients[i], qty=lines).status_code

    results = run_threads(40, work)
    assert {status for _, status in results} <= {303, 409}
    sold_a = sum(lines[a] for lines, status in results if status == 303)
    sold_b = sum(lines[b] for lines, status in results if status == 303)
    assert stock(app, a) == 12 - sold_a >= 0
    assert stock(app, b) == 12 - sold_b >= 0
    placed = all_orders(app)
    assert len(placed) == sum(1 for _, status in results if status == 303) > 0
    for order in placed:
        assert len(order["lines"]) == 2  # all lines or none
    assert sum(q for o in placed for pid, _, _, q in o["lines"] if pid == a) == sold_a
    assert sum(q for o in placed for pid, _, _, q in o["lines"] if pid == b) == sold_b


@pytest.mark.postgres
def test_concurrent_duplicate_token_makes_one_order(app, shop):
    clients = [app.test_client() for _ in range(20)]
    token = "double-tap-token"
    responses = run_threads(20, lambda i: post(clients[i], qty={shop["pickle"]: 2}, token=token))
    assert {r.status_code for r in responses} == {303}
    assert len({r.headers["Location"] for r in responses}) == 1
    placed = all_orders(app)
    assert len(placed) == 1
    assert responses[0].headers["Location"] == f"/order/ravi/{placed[0]['ref']}"
    assert stock(app, shop["pickle"]) == 8


@pytest.mark.postgres
def test_concurrent_cancels_return_stock_once(app, client, shop):
    post(client, qty={shop["pickle"]: 4})

    def cancel(_):
        with app.app_context():
            order = db.session.scalars(select(Order)).one()
            try:
                orders.change_status(order, "cancelled")
                return "cancelled"
            except orders.IllegalTransition:
                return "refused"

    results = run_threads(10, cancel)
    assert results.count("cancelled") == 1
    assert results.count("refused") == 9
    assert stock(app, shop["pickle"]) == 10
