"""Checkout with the store's terms: payment method, delivery, the cash fee, the minimum order,
a closed store, and the running total, all priced by pricing.price."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from dukaan import orders
from dukaan.extensions import db
from dukaan.models import Order, Vendor
from helpers import HX, AuthActions, field_error, make_product, make_vendor, product_state, set_store

CUSTOMER = {"name": "Meera Joshi", "phone": "9876543210", "address": "12 MG Road, Pune"}


@pytest.fixture
def shop(app):
    vid = make_vendor(app)
    set_store(app, vid, accept_upi=True, upi_id="ravi@okhdfcbank", delivery_fee="40.00",
              free_delivery_from="500.00", min_order="300.00", cod_fee="20.00")
    return {"vendor": vid, "pickle": make_product(app, vid, "Mango pickle", "100.00", 20)}


def checkout(client, qty, slug="ravi", **fields):
    data = {**CUSTOMER, **{f"qty-{pid}": str(n) for pid, n in qty.items()}, **fields}
    return client.post(f"/order/{slug}", data={k: v for k, v in data.items() if v is not None})


def placed(app) -> list[dict]:
    with app.app_context():
        return [
            {"subtotal": o.subtotal, "delivery": o.delivery_fee, "cod_fee": o.cod_fee, "total": o.total,
             "payment": o.payment_method, "state": o.payment_state}
            for o in db.session.scalars(select(Order).order_by(Order.id))
        ]


# --- what an order keeps --------------------------------------------------------------


@pytest.mark.parametrize("units, payment, expected", [
    (3, "cod", ("300.00", "40.00", "20.00", "360.00")),  # exactly at the minimum
    (3, "upi", ("300.00", "40.00", "0.00", "340.00")),
    (5, "upi", ("500.00", "0.00", "0.00", "500.00")),  # exactly at free delivery
    (5, "cod", ("500.00", "0.00", "20.00", "520.00")),
    (4, "cod", ("400.00", "40.00", "20.00", "460.00")),
])
def test_the_order_keeps_its_charges_and_payment_method(app, client, shop, units, payment, expected):
    response = checkout(client, {shop["pickle"]: units}, payment=payment)
    assert response.status_code == 303, response.get_data(as_text=True)
    subtotal, delivery, cod_fee, total = map(D, expected)
    assert placed(app) == [{"subtotal": subtotal, "delivery": delivery, "cod_fee": cod_fee, "total": total,
                            "payment": payment, "state": "pending"}]


def test_a_later_settings_change_never_rewrites_an_order(app, client, shop):
    assert checkout(client, {shop["pickle"]: 4}, payment="cod").status_code == 303
    set_store(app, shop["vendor"], delivery_fee="90.00", cod_fee="50.00", free_delivery_from="100.00")
    assert placed(app)[0]["total"] == D("460.00")


# --- refusals -----------------------------------------------------------------------------


def test_below_the_minimum_is_refused_with_the_shortfall_named(app, client, shop):
    response = checkout(client, {shop["pickle"]: 2}, payment="cod")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Add ₹100.00 more to order: the minimum is ₹300.00." in html
    assert 'value="2"' in html and 'value="Meera Joshi"' in html  # nothing typed is lost
    assert placed(app) == []
    assert product_state(app, shop["pickle"])["stock"] == 20


def test_the_minimum_ignores_delivery_and_fees(app, client, shop):
    """290 of items with 40 delivery and 20 cash fee is 350, yet below the minimum of 300."""
    set_store(app, shop["vendor"], min_order="300.00")
    pid = make_product(app, shop["vendor"], "Lime pickle", "290.00", 5)
    response = checkout(client, {pid: 1}, payment="cod")
    assert response.status_code == 422
    assert "Add ₹10.00 more" in response.get_data(as_text=True)


@pytest.mark.parametrize("payment", ["cash", "card", "COD", "upi "])
def test_a_payment_that_is_no_method_is_422_next_to_the_field(app, client, shop, payment):
    response = checkout(client, {shop["pickle"]: 3}, payment=payment)
    assert response.status_code == 422
    assert "Choose cash on delivery or UPI." in field_error(response.get_data(as_text=True), "payment")
    assert placed(app) == []


def test_a_method_the_store_does_not_take_is_refused(app, client, shop):
    set_store(app, shop["vendor"], accept_upi=False)
    response = checkout(client, {shop["pickle"]: 3}, payment="upi")
    assert response.status_code == 422
    assert "Ravi&#39;s Store does not take UPI payments: pay by cash on delivery." in response.get_data(as_text=True)
    assert placed(app) == []


def test_a_store_with_two_methods_needs_a_choice(app, client, shop):
    response = checkout(client, {shop["pickle"]: 3})
    assert response.status_code == 422
    assert "Choose how you will pay" in response.get_data(as_text=True)
    assert placed(app) == []


@pytest.mark.parametrize("cod, upi, method", [(True, False, "cod"), (False, True, "upi")])
def test_a_store_with_one_method_uses_it_when_none_is_chosen(app, client, shop, cod, upi, method):
    set_store(app, shop["vendor"], accept_cod=cod, accept_upi=upi)
    assert checkout(client, {shop["pickle"]: 3}).status_code == 303
    assert placed(app)[0]["payment"] == method


def test_a_closed_store_refuses_orders_and_keeps_its_link(app, client, shop):
    earlier = checkout(client, {shop["pickle"]: 3}, payment="upi").headers["Location"]
    set_store(app, shop["vendor"], open=False)
    response = checkout(client, {shop["pickle"]: 3}, payment="upi")
    assert response.status_code == 409
    assert "is closed right now and is not taking orders" in response.get_data(as_text=True)
    assert len(placed(app)) == 1
    assert product_state(app, shop["pickle"])["stock"] == 17
    page = client.get("/order/ravi")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "is closed right now" in html and "Mango pickle" in html
    assert '<button type="submit" disabled>' in html and "Place order" not in html
    assert client.get(earlier).status_code == 200


def test_a_store_that_closes_while_an_order_is_placed_refuses_it(app, shop, monkeypatch):
    """The terms are read again under the store's lock: a close that commits after the
    first check still stops the order, and nothing is taken."""
    real_check, closed = orders.check, []

    def check_then_close(*args, **kwargs):
        result = real_check(*args, **kwargs)
        if not closed:
            closed.append(True)
            set_store(app, shop["vendor"], open=False)
        return result

    monkeypatch.setattr(orders, "check", check_then_close)
    with app.app_context():
        vendor = db.session.get(Vendor, shop["vendor"])
        with pytest.raises(orders.StoreClosed):
            orders.place(vendor, {shop["pickle"]: 3}, orders.Customer("A", "9876543210", "X"), payment="cod")
    assert closed and placed(app) == []
    assert product_state(app, shop["pickle"])["stock"] == 20


def test_a_minimum_raised_while_an_order_is_placed_refuses_it(app, shop, monkeypatch):
    real_check, raised = orders.check, []

    def check_then_raise(*args, **kwargs):
        result = real_check(*args, **kwargs)
        if not raised:
            raised.append(True)
            set_store(app, shop["vendor"], min_order="1000.00")
        return result

    monkeypatch.setattr(orders, "check", check_then_raise)
    with app.app_context():
        vendor = db.session.get(Vendor, shop["vendor"])
        with pytest.raises(orders.Refused, match="Add ₹700.00 more"):
            orders.place(vendor, {shop["pickle"]: 3}, orders.Customer("A", "9876543210", "X"), payment="cod")
    assert placed(app) == []


def change_fee_during_check(app, shop, monkeypatch, fees):
    """Each of the first len(``fees``) checks of an order sets the store's delivery fee to the next of ``fees``."""
    real_check, left = orders.check, list(fees)

    def check_then_change(*args, **kwargs):
        result = real_check(*args, **kwargs)
        if left:
            set_store(app, shop["vendor"], delivery_fee=left.pop(0))
        return result

    monkeypatch.setattr(orders, "check", check_then_change)


def test_a_delivery_fee_changed_while_an_order_is_placed_prices_it_anew(app, shop, monkeypatch):
    """The order is written only under the terms it was priced with: a fee that changes after the
    first check is read again, and the order costs what the store asks when it is written. The
    attempt that found the old terms took no number."""
    change_fee_during_check(app, shop, monkeypatch, ["55.00"])
    with app.app_context():
        vendor = db.session.get(Vendor, shop["vendor"])
        order, created = orders.place(vendor, {shop["pickle"]: 3}, orders.Customer("A", "9876543210", "X"),
                                      payment="upi")
        assert created and order.number == 1 and order.delivery_fee == D("55.00")
    assert placed(app) == [{"subtotal": D("300.00"), "delivery": D("55.00"), "cod_fee": D("0.00"),
                            "total": D("355.00"), "payment": "upi", "state": "pending"}]
    assert product_state(app, shop["pickle"])["stock"] == 17


def test_a_store_whose_terms_keep_changing_refuses_the_order_and_takes_nothing(app, shop, monkeypatch):
    monkeypatch.setattr(orders, "TERMS_TRIES", 1)
    change_fee_during_check(app, shop, monkeypatch, ["55.00"])
    with app.app_context():
        vendor = db.session.get(Vendor, shop["vendor"])
        with pytest.raises(orders.Refused, match="changing its terms right now"):
            orders.place(vendor, {shop["pickle"]: 3}, orders.Customer("A", "9876543210", "X"), payment="upi")
    assert placed(app) == []
    assert product_state(app, shop["pickle"])["stock"] == 20


# --- the running total --------------------------------------------------------------------


def total(client, qty, htmx=True, **params):
    query = {**{f"qty-{pid}": str(n) for pid, n in qty.items()}, **params}
    response = client.get("/order/ravi/total", query_string=query, headers=HX if htmx else {})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_the_running_total_shows_delivery_and_the_cash_fee(client, shop, htmx):
    html = total(client, {shop["pickle"]: 4}, htmx, payment="cod")
    assert '<span class="subtotal">₹400.00</span>' in html
    assert '<span class="delivery">₹40.00</span>' in html
    assert '<span class="cod-fee">₹20.00</span>' in html
    assert '<strong class="amount">₹460.00</strong>' in html
    assert "Add ₹100.00 more for free delivery." in html


def test_the_running_total_follows_the_payment_choice(client, shop):
    html = total(client, {shop["pickle"]: 4}, payment="upi")
    assert "cod-fee" not in html and '<strong class="amount">₹440.00</strong>' in html


def test_the_running_total_at_the_free_delivery_value(client, shop):
    html = total(client, {shop["pickle"]: 5}, payment="upi")
    assert '<span class="delivery">Free</span>' in html and "more for free delivery" not in html
    assert '<strong class="amount">₹500.00</strong>' in html


@pytest.mark.parametrize("payment", [None, "card", ""])
def test_an_unknown_payment_prices_no_cash_fee_when_the_store_takes_two(client, shop, payment):
    params = {} if payment is None else {"payment": payment}
    assert '<strong class="amount">₹440.00</strong>' in total(client, {shop["pickle"]: 4}, **params)


def test_the_running_total_of_a_cash_only_store_includes_the_fee(app, client, shop):
    set_store(app, shop["vendor"], accept_upi=False)
    assert '<strong class="amount">₹460.00</strong>' in total(client, {shop["pickle"]: 4})


def test_the_running_total_names_the_minimum(client, shop):
    html = total(client, {shop["pickle"]: 2}, payment="upi")
    assert "Add ₹100.00 more to order: the minimum is ₹300.00." in html
    assert "the minimum" not in total(client, {shop["pickle"]: 3}, payment="upi")


def test_the_running_total_of_a_closed_store_says_so(app, client, shop):
    set_store(app, shop["vendor"], open=False)
    assert "is closed right now" in total(client, {shop["pickle"]: 3}, payment="upi")


# --- the store page ------------------------------------------------------------------------


def test_the_store_page_offers_the_stores_methods_and_terms(app, client, shop):
    html = client.get("/order/ravi").get_data(as_text=True)
    assert '<input checked id="payment-0" name="payment" type="radio" value="cod">' in html
    assert 'name="payment" type="radio" value="upi"' in html
    assert "Cash on delivery (+₹20.00)" in html
    assert "Delivery: ₹40.00, free on orders of ₹500.00 or more." in html
    assert "Minimum order: ₹300.00 of items." in html
    set_store(app, shop["vendor"], accept_cod=False, delivery_fee=None, min_order=None)
    html = client.get("/order/ravi").get_data(as_text=True)
    assert 'value="cod"' not in html
    assert '<input checked id="payment-0" name="payment" type="radio" value="upi">' in html
    assert "Delivery: free." in html and "Minimum order" not in html


def test_a_rejected_order_keeps_the_payment_chosen(app, client, shop):
    html = checkout(client, {shop["pickle"]: 3}, payment="upi", name="").get_data(as_text=True)
    assert '<input checked id="payment-1" name="payment" type="radio" value="upi">' in html


SETTINGS = {"store_name": "Ravi's Store", "accept_cod": "y", "accept_upi": "y", "upi_id": "ravi@okhdfcbank",
            "delivery_fee": "40", "free_delivery_from": "500", "min_order": "300", "cod_fee": "20", "open": "y"}


@pytest.mark.parametrize("change, shown, gone", [
    ({"open": None}, "is closed right now", "Place order"),
    ({"delivery_fee": "55"}, "Delivery: ₹55.00, free", "Delivery: ₹40.00"),
    ({"free_delivery_from": ""}, "Delivery: ₹40.00.", "free on orders"),
    ({"min_order": "250"}, "Minimum order: ₹250.00", "Minimum order: ₹300.00"),
    ({"cod_fee": ""}, '<label for="payment-0">Cash on delivery</label>', "(+₹20.00)"),
    ({"accept_cod": None}, 'value="upi"', 'value="cod"'),
])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_saving_settings_shows_on_the_cached_store_page_at_once(app, client, shop, change, shown, gone, htmx):
    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = 0.2  # as in production: the committing process sees it at once
    auth = AuthActions(client)
    auth.login()
    before = client.get("/order/ravi").get_data(as_text=True)
    assert gone in before
    data = {k: v for k, v in {**SETTINGS, **change}.items() if v is not None}
    assert auth.post("/dashboard/settings", data, htmx=htmx).status_code == (200 if htmx else 303)
    after = client.get("/order/ravi").get_data(as_text=True)
    assert shown in after and gone not in after


def test_a_setting_saved_elsewhere_shows_within_a_second(app, client, shop):
    """Another thread commits the change while customers keep loading the page (each process
    trusts its copy for STOREFRONT_PAGE_TRUST_SECONDS): the page shows it within a second."""
    import time

    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = 0.5
    assert "is closed right now" not in client.get("/order/ravi").get_data(as_text=True)
    done = threading.Event()

    def other_process():
        set_store(app, shop["vendor"], open=False)  # commits through the app's session: hooks run
        done.set()

    started = time.monotonic()
    threading.Thread(target=other_process).start()
    assert done.wait(5)
    while "is closed right now" not in client.get("/order/ravi").get_data(as_text=True):
        assert time.monotonic() - started < 1.0, "the closed store was not shown within a second"
        time.sleep(0.05)


def test_a_closed_store_holds_nothing_in_carts_but_lets_go(app, client, shop):
    def hold(quantity):
        return client.post("/order/ravi/cart", data={"product_id": str(shop["pickle"]), "quantity": str(quantity)})

    assert hold(2).status_code == 200
    set_store(app, shop["vendor"], open=False)
    response = hold(3)
    assert response.status_code == 422
    assert "is closed right now" in response.get_data(as_text=True)
    from dukaan import inventory

    with app.app_context():
        assert inventory.held([shop["pickle"]]) == {shop["pickle"]: 2}
    assert hold(0).status_code == 200
    with app.app_context():
        assert inventory.held([shop["pickle"]]) == {}
