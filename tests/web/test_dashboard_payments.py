"""The vendor's side of payments: the order list shows each order's payment state and UTR,
the vendor marks payments paid or not received (only the vendor, only their own orders),
and messages the customer on WhatsApp with a text for the order's state."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import unquote, urlsplit

import pytest

from dukaan import orders, payments
from dukaan.extensions import db
from dukaan.models import Order
from helpers import HX, make_product, make_vendor, place, set_store


@pytest.fixture
def pickle(app, vendor):
    set_store(app, vendor, accept_upi=True, upi_id="ravi@okhdfcbank")
    return make_product(app, vendor, name="Mango pickle", price="120.00", stock=10)


def order_state(app, order_id) -> tuple[str, str, str | None]:
    with app.app_context():
        order = db.session.get(Order, order_id)
        return order.status, order.payment_state, order.utr


def claim(app, order_id, utr="412345678901"):
    with app.app_context():
        payments.claim(db.session.get(Order, order_id), utr)


def row_of(html, order_id):
    start = html.index(f'<tr id="order-{order_id}"')
    return html[start:html.index("</tr>", start) + len("</tr>")]


def test_the_list_shows_payment_method_state_and_utr(app, client, vendor, pickle):
    upi = place(app, vendor, {pickle: 1}, payment="upi")
    cod = place(app, vendor, {pickle: 1}, payment="cod")
    claim(app, upi)
    html = client.get("/dashboard/orders").get_data(as_text=True)
    assert '<th scope="col">Payment</th>' in html
    row = row_of(html, upi)
    assert "UPI: <strong>Payment claimed</strong>" in row and '<span class="utr">412345678901</span>' in row
    assert ">Mark paid</button>" in row and ">Not received</button>" in row
    row = row_of(html, cod)
    assert "Cash: <strong>Not paid yet</strong>" in row and "UTR" not in row
    assert ">Mark paid</button>" in row and ">Not received</button>" not in row


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_the_vendor_marks_a_claimed_payment_paid(app, auth, vendor, pickle, htmx):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    claim(app, order_id)
    response = auth.post(f"/dashboard/orders/{order_id}/payment", {"payment": "paid"}, htmx=htmx)
    if htmx:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert html.startswith(f'<tr id="order-{order_id}"') and "UPI: <strong>Paid</strong>" in html
        assert "Mark paid" not in html
    else:
        assert response.status_code == 303 and response.headers["Location"] == "/dashboard/orders"
    assert order_state(app, order_id) == ("placed", "paid", "412345678901")


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_the_vendor_marks_a_claimed_payment_not_received(app, client, auth, vendor, pickle, htmx):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    claim(app, order_id)
    response = auth.post(f"/dashboard/orders/{order_id}/payment", {"payment": "not_received"}, htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    assert order_state(app, order_id)[1] == "not_received"
    html = row_of(client.get("/dashboard/orders").get_data(as_text=True), order_id)
    assert "<strong>Payment not received</strong>" in html and ">Mark paid</button>" in html


def test_a_payment_may_be_marked_paid_without_a_claim(app, auth, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    assert auth.post(f"/dashboard/orders/{order_id}/payment", {"payment": "paid"}, htmx=True).status_code == 200
    assert order_state(app, order_id)[1] == "paid"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
@pytest.mark.parametrize("setup, wanted, now", [
    ("pending", "not_received", "pending"),  # nothing was claimed
    ("paid", "paid", "paid"),
    ("paid", "not_received", "paid"),
    ("cancelled", "paid", "pending"),
])
def test_a_payment_move_the_state_does_not_allow_is_409(app, auth, vendor, pickle, htmx, setup, wanted, now):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    with app.app_context():
        order = db.session.get(Order, order_id)
        if setup == "paid":
            payments.vendor_sets(order, "paid")
        elif setup == "cancelled":
            orders.change_status(order, "cancelled")
    response = auth.post(f"/dashboard/orders/{order_id}/payment", {"payment": wanted}, htmx=htmx)
    assert response.status_code == 409
    assert "cannot become" in response.get_data(as_text=True)
    assert order_state(app, order_id)[1] == now


@pytest.mark.parametrize("value", ["claimed", "pending", "PAID", "", "paid "])
def test_a_payment_state_the_vendor_may_not_set_is_422(app, auth, vendor, pickle, value):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    claim(app, order_id)
    response = auth.post(f"/dashboard/orders/{order_id}/payment", {"payment": value}, htmx=True)
    assert response.status_code == 422
    assert order_state(app, order_id)[1] == "claimed"


def test_marking_a_payment_needs_the_csrf_token(app, client, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    path = f"/dashboard/orders/{order_id}/payment"
    assert client.post(path, data={"payment": "paid"}).status_code == 400
    assert client.post(path, data={"payment": "paid"}, headers=HX).status_code == 400
    assert order_state(app, order_id)[1] == "pending"


def test_marking_a_payment_needs_a_login(app, client, pickle):
    order_id = place(app, 1, {pickle: 1}, payment="upi")
    fresh = app.test_client()  # nobody logged in
    response = fresh.post(f"/dashboard/orders/{order_id}/payment", data={"payment": "paid"})
    assert response.status_code in (302, 400)
    assert order_state(app, order_id)[1] == "pending"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_another_vendors_payment_cannot_be_marked(app, auth, vendor, htmx):
    meena = make_vendor(app, username="meena", store_name="Meena Sarees")
    set_store(app, meena, accept_upi=True, upi_id="meena@oksbi")
    saree = make_product(app, meena, name="Silk saree", price="2500", stock=3)
    order_id = place(app, meena, {saree: 1}, payment="upi")
    claim(app, order_id)
    response = auth.post(f"/dashboard/orders/{order_id}/payment", {"payment": "paid"}, htmx=htmx)
    assert response.status_code == 404
    assert "Silk saree" not in response.get_data(as_text=True)
    assert order_state(app, order_id)[1] == "claimed"


def test_a_cash_order_is_paid_when_delivered(app, auth, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1}, payment="cod")
    for status in ("confirmed", "shipped"):
        auth.post(f"/dashboard/orders/{order_id}/status", {"status": status}, htmx=True)
        assert order_state(app, order_id)[1] == "pending"
    auth.post(f"/dashboard/orders/{order_id}/status", {"status": "delivered"}, htmx=True)
    assert order_state(app, order_id) == ("delivered", "paid", None)
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.paid_at == order.delivered_at


def test_a_upi_order_is_not_paid_by_being_delivered(app, auth, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    for status in ("confirmed", "shipped", "delivered"):
        auth.post(f"/dashboard/orders/{order_id}/status", {"status": status}, htmx=True)
    assert order_state(app, order_id) == ("delivered", "pending", None)


def test_a_claim_changes_the_polled_list(app, client, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    html = client.get("/dashboard/orders").get_data(as_text=True)
    state = re.search(r'&#34;state&#34;: &#34;([0-9a-f]+)&#34;|"state": "([0-9a-f]+)"', html)
    state = state.group(1) or state.group(2)
    poll = {"seen": "1", "state": state}
    assert client.get("/dashboard/orders", query_string=poll, headers=HX).status_code == 204
    claim(app, order_id)
    response = client.get("/dashboard/orders", query_string=poll, headers=HX)
    assert response.status_code == 200 and "Payment claimed" in response.get_data(as_text=True)


# --- WhatsApp -------------------------------------------------------------------------------


def message_link(html: str, order_id: int) -> tuple[str, str]:
    row = row_of(html, order_id)
    match = re.search(r'<a class="whatsapp" href="([^"]+)"[^>]*>Message the customer</a>', row)
    assert match, "no Message the customer link"
    link = urlsplit(unescape(match.group(1)))
    assert (link.scheme, link.netloc) == ("https", "wa.me")
    return link.path.lstrip("/"), unquote(link.query.removeprefix("text="))


@pytest.mark.parametrize("statuses, says", [
    ((), "We have your order #1 from Ravi's Store and will confirm it soon."),
    (("confirmed",), "Your order #1 from Ravi's Store is confirmed."),
    (("confirmed", "shipped"), "Your order #1 from Ravi's Store has shipped."),
    (("confirmed", "shipped", "delivered"), "Your order #1 from Ravi's Store has been delivered. Thank you!"),
    (("cancelled",), "Your order #1 from Ravi's Store has been cancelled."),
])
def test_message_the_customer_says_where_the_order_is(app, client, vendor, pickle, statuses, says):
    order_id = place(app, vendor, {pickle: 1}, phone="09812345678", payment="cod")
    with app.app_context():
        order = db.session.get(Order, order_id)
        for status in statuses:
            orders.change_status(order, status)
        ref = order.ref
    number, text = message_link(client.get("/dashboard/orders").get_data(as_text=True), order_id)
    assert number == "919812345678"
    assert text.startswith("Hello Asha Rao. " + says)
    assert text.endswith(f"http://localhost/order/ravi/{ref}")


def test_message_the_customer_asks_for_a_upi_payment_while_it_is_due(app, client, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1}, payment="upi")
    _, text = message_link(client.get("/dashboard/orders").get_data(as_text=True), order_id)
    assert "Please pay ₹120.00 by UPI to ravi@okhdfcbank." in text
    claim(app, order_id)
    _, text = message_link(client.get("/dashboard/orders").get_data(as_text=True), order_id)
    assert "Please pay" not in text


@pytest.mark.parametrize("phone, number", [
    ("9876543210", "919876543210"), ("+919876543210", "919876543210"), ("09876543210", "919876543210"),
    ("+447911123456", "447911123456"), ("12345", None),
])
def test_whatsapp_numbers(phone, number):
    assert payments.wa_number(phone) == number
