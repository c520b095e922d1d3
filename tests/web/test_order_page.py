"""The customer's order page: timeline with times, totals, how to pay (UPI link and QR, the UTR),
the store's WhatsApp, cancelling while new, and polling that answers 204 when nothing changed."""

from __future__ import annotations

import re
from decimal import Decimal as D
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import select

from dukaan import payments
from dukaan.extensions import db
from dukaan.models import Order, Vendor
from helpers import HX, AuthActions, field_error, make_product, make_vendor, product_state, set_store

CUSTOMER = {"name": "Meera Joshi", "phone": "9876543210", "address": "12 MG Road, Pune"}


@pytest.fixture
def shop(app):
    vid = make_vendor(app)
    set_store(app, vid, accept_upi=True, upi_id="ravi@okhdfcbank", whatsapp="+919812345678",
              delivery_fee="40.00", free_delivery_from="500.00", cod_fee="20.00")
    return {"vendor": vid, "pickle": make_product(app, vid, "Mango pickle", "120.50", 10)}


def order_at(client, shop, payment="upi", units=2, slug="ravi") -> str:
    """Place an order; its page's path."""
    data = {**CUSTOMER, f"qty-{shop['pickle']}": str(units), "payment": payment}
    response = client.post(f"/order/{slug}", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def stored(app) -> Order:
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        db.session.expunge(order)
        return order


def upi_href(html: str) -> str:
    match = re.search(r'href="(upi://pay\?[^"]*)"', html)
    assert match, "no upi:// link on the page"
    return unescape(match.group(1))


def vendor_moves(app, client, order_id, *statuses):
    auth = AuthActions(client)
    auth.login()
    for status in statuses:
        assert auth.post(f"/dashboard/orders/{order_id}/status", {"status": status}, htmx=True).status_code == 200
    client.post("/logout", data={"csrf_token": auth.token})


# --- what the page shows ---------------------------------------------------------------


def test_the_page_shows_items_and_the_totals_as_at_checkout(app, client, shop):
    page = order_at(client, shop, payment="cod")
    set_store(app, shop["vendor"], delivery_fee="99.00", cod_fee="0")  # later: changes nothing here
    html = client.get(page).get_data(as_text=True)
    assert "<td>Mango pickle</td><td>2</td><td>₹120.50</td><td>₹241.00</td>" in html
    assert '<td class="subtotal">₹241.00</td>' in html
    assert '<td class="delivery">₹40.00</td>' in html
    assert '<td class="cod-fee">₹20.00</td>' in html
    assert '<strong class="total">₹301.00</strong>' in html


def test_the_timeline_shows_when_each_state_was_reached(app, client, shop):
    page = order_at(client, shop)
    html = client.get(page).get_data(as_text=True)
    assert re.search(r'<li class="done" aria-current="step">Placed <time datetime="[^"]+">', html)
    assert "<li>Confirmed</li>" in html and "<li>Delivered</li>" in html
    vendor_moves(app, client, stored(app).id, "confirmed", "shipped")
    html = client.get(page).get_data(as_text=True)
    for step in ("Placed", "Confirmed"):
        assert re.search(rf'<li class="done">{step} <time datetime="[^"]+">', html), step
    assert re.search(r'<li class="done" aria-current="step">Shipped <time', html)
    assert "<li>Delivered</li>" in html
    order = stored(app)
    assert order.created_at <= order.confirmed_at <= order.shipped_at and order.delivered_at is None


def test_a_cancelled_order_shows_what_it_reached_then_its_cancellation(app, client, shop):
    page = order_at(client, shop)
    vendor_moves(app, client, stored(app).id, "confirmed", "cancelled")
    html = client.get(page).get_data(as_text=True)
    assert re.search(r'<li class="done">Confirmed <time', html)
    assert re.search(r'<li class="done" aria-current="step">Cancelled <time', html)
    assert "Shipped" not in html and "upi://" not in html and "Cancel this order" not in html


def test_a_upi_order_has_a_pay_link_with_every_value_encoded(app, client, shop):
    set_store(app, shop["vendor"], store_name="Ravi & Sons #1 Café+")
    page = order_at(client, shop, payment="upi")
    html = client.get(page).get_data(as_text=True)
    link = upi_href(html)
    order = stored(app)
    assert link.startswith("upi://pay?")
    query = urlsplit(link).query
    assert " " not in query and "+" not in query and "#" not in query
    assert query.count("&") == 5  # six parameters, no stray separators
    assert parse_qs(query) == {
        "pa": ["ravi@okhdfcbank"], "pn": ["Ravi & Sons #1 Café+"], "am": ["281.00"], "cu": ["INR"],
        "tn": ["Order #1 at Ravi & Sons #1 Café+"], "tr": [order.ref],
    }
    assert "pn=Ravi%20%26%20Sons%20%231%20Caf%C3%A9%2B" in query
    assert ">Pay with a UPI app</a>" in html


def test_the_amount_always_has_two_decimals(app, shop):
    with app.app_context():
        vendor = db.session.get(Vendor, shop["vendor"])
        link = payments.upi_link(vendor, Order(number=7, ref="abc", total=D("500")))
    assert parse_qs(urlsplit(link).query)["am"] == ["500.00"]


def test_a_upi_order_shows_a_qr_code_of_the_same_link(app, client, shop):
    html = client.get(order_at(client, shop, payment="upi")).get_data(as_text=True)
    assert re.search(r'<div class="qr"><svg [^>]*class="upi-qr"', html)
    assert "style=" not in html.split('<div class="qr">')[1].split("</svg>")[0]


def test_a_cash_order_has_no_upi_link_and_says_to_pay_at_the_door(app, client, shop):
    html = client.get(order_at(client, shop, payment="cod")).get_data(as_text=True)
    assert "upi://" not in html and '<div class="qr">' not in html
    assert "Pay <strong>₹301.00</strong> in cash when your order arrives." in html
    assert "Cash on delivery:\n      <strong>Not paid yet</strong>" in html


def test_the_customer_can_send_the_order_to_the_stores_whatsapp(app, client, shop):
    page = order_at(client, shop)
    html = client.get(page).get_data(as_text=True)
    match = re.search(r'<a class="whatsapp" href="([^"]+)"[^>]*>Send this order to the store on WhatsApp</a>', html)
    assert match
    link = urlsplit(unescape(match.group(1)))
    assert (link.scheme, link.netloc, link.path) == ("https", "wa.me", "/919812345678")
    text = unquote(link.query.removeprefix("text="))
    assert "Meera Joshi" in text and "Order #1, ₹281.00 (UPI)" in text and "- 2 × Mango pickle" in text
    assert text.endswith(f"http://localhost{page}")


def test_a_store_without_whatsapp_offers_no_link(app, client, shop):
    set_store(app, shop["vendor"], whatsapp=None)
    assert "wa.me" not in client.get(order_at(client, shop)).get_data(as_text=True)


# --- the UPI reference ----------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_utr_claims_the_payment(app, client, shop, htmx):
    page = order_at(client, shop)
    response = client.post(f"{page}/utr", data={"utr": " 412345678901 "}, headers=HX if htmx else {})
    if htmx:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert html.lstrip().startswith('<section id="order-live"')
    else:
        assert response.status_code == 303 and response.headers["Location"] == page
        html = client.get(page).get_data(as_text=True)
    assert "<strong>Payment claimed</strong> (UPI reference 412345678901)" in html
    assert "upi://" not in html and 'name="utr"' not in html
    order = stored(app)
    assert (order.payment_state, order.utr, order.status) == ("claimed", "412345678901", "placed")
    assert order.claimed_at is not None and order.paid_at is None


@pytest.mark.parametrize("utr", ["", "   ", "41234567890", "4123456789012", "41234567890a", "4123 4567 8901",
                                 "१२३४५६७८९०१२", "-12345678901", "12345678901²"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_malformed_utr_is_422_next_to_the_field(app, client, shop, utr, htmx):
    page = order_at(client, shop)
    response = client.post(f"{page}/utr", data={"utr": utr}, headers=HX if htmx else {})
    assert response.status_code == 422
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "12-digit" in field_error(html, "utr")
    assert ("<html" in html) is not htmx
    if utr.strip():
        assert f'value="{utr.strip()}"' in html  # what was typed stays
    assert stored(app).payment_state == "pending"


def test_a_utr_field_missing_is_422(app, client, shop):
    page = order_at(client, shop)
    assert client.post(f"{page}/utr", data={}).status_code == 422


def test_a_cash_order_takes_no_utr(app, client, shop):
    page = order_at(client, shop, payment="cod")
    response = client.post(f"{page}/utr", data={"utr": "412345678901"})
    assert response.status_code == 409
    assert "cash on delivery" in response.get_data(as_text=True)
    assert stored(app).payment_state == "pending" and stored(app).utr is None


def test_a_second_utr_is_409(app, client, shop):
    page = order_at(client, shop)
    assert client.post(f"{page}/utr", data={"utr": "412345678901"}).status_code == 303
    response = client.post(f"{page}/utr", data={"utr": "999999999999"}, headers=HX)
    assert response.status_code == 409
    assert "payment claimed" in response.get_data(as_text=True)
    assert stored(app).utr == "412345678901"


def test_a_cancelled_order_takes_no_utr(app, client, shop):
    page = order_at(client, shop)
    assert client.post(f"{page}/cancel").status_code == 303
    assert client.post(f"{page}/utr", data={"utr": "412345678901"}).status_code == 409
    assert stored(app).payment_state == "pending"


def test_a_payment_not_received_may_be_claimed_again(app, client, shop):
    page = order_at(client, shop)
    client.post(f"{page}/utr", data={"utr": "412345678901"})
    auth = AuthActions(client)
    auth.login()
    order_id = stored(app).id
    assert auth.post(f"/dashboard/orders/{order_id}/payment", {"payment": "not_received"}).status_code == 303
    html = client.get(page).get_data(as_text=True)
    assert "has not received a payment with that reference" in html and "upi://pay?" in html
    assert client.post(f"{page}/utr", data={"utr": "512345678901"}).status_code == 303
    assert (stored(app).payment_state, stored(app).utr) == ("claimed", "512345678901")


# --- cancelling -------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_the_customer_cancels_a_placed_order_and_the_stock_returns(app, client, shop, htmx):
    page = order_at(client, shop, units=3)
    assert product_state(app, shop["pickle"])["stock"] == 7
    response = client.post(f"{page}/cancel", headers=HX if htmx else {})
    assert response.status_code == (200 if htmx else 303)
    if htmx:
        assert '<strong class="status-cancelled">Cancelled</strong>' in response.get_data(as_text=True)
    assert stored(app).status == "cancelled" and stored(app).cancelled_at is not None
    assert product_state(app, shop["pickle"])["stock"] == 10


@pytest.mark.parametrize("moves", [("confirmed",), ("confirmed", "shipped"), ("confirmed", "shipped", "delivered")])
def test_a_confirmed_order_cannot_be_cancelled_by_the_customer(app, client, shop, moves):
    page = order_at(client, shop, units=3)
    vendor_moves(app, client, stored(app).id, *moves)
    response = client.post(f"{page}/cancel", headers=HX)
    assert response.status_code == 409
    assert "can no longer be cancelled here" in response.get_data(as_text=True)
    assert stored(app).status == moves[-1]
    assert product_state(app, shop["pickle"])["stock"] == 7


def test_cancelling_twice_returns_the_stock_once(app, client, shop):
    page = order_at(client, shop, units=3)
    assert client.post(f"{page}/cancel").status_code == 303
    assert client.post(f"{page}/cancel").status_code == 409
    assert product_state(app, shop["pickle"])["stock"] == 10


def test_the_page_offers_cancel_only_while_placed(app, client, shop):
    page = order_at(client, shop)
    assert f'action="{page}/cancel"' in client.get(page).get_data(as_text=True)
    vendor_moves(app, client, stored(app).id, "confirmed")
    assert "/cancel" not in client.get(page).get_data(as_text=True)


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("action, data", [("utr", {"utr": "412345678901"}), ("cancel", {})])
@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}])
def test_posts_from_another_site_are_refused(app, client, shop, action, data, headers):
    page = order_at(client, shop)
    assert client.post(f"{page}/{action}", data=data, headers=headers).status_code == 403
    order = stored(app)
    assert (order.status, order.payment_state) == ("placed", "pending")


@pytest.mark.parametrize("action, data", [("", None), ("/utr", {"utr": "412345678901"}), ("/cancel", {})])
def test_another_stores_slug_or_a_wrong_ref_is_404(app, client, shop, action, data):
    page = order_at(client, shop)
    make_vendor(app, "meena", "Meena's Store")
    ref = page.rsplit("/", 1)[1]
    for path in (f"/order/meena/{ref}{action}", f"/order/ravi/{ref[:-1]}x{action}", f"/order/nobody/{ref}{action}"):
        response = client.get(path) if data is None else client.post(path, data=data)
        assert response.status_code == 404, path
    order = stored(app)
    assert (order.status, order.payment_state) == ("placed", "pending")


def test_the_customer_cannot_mark_a_payment_paid(app, client, shop):
    page = order_at(client, shop)
    order_id = stored(app).id
    response = client.post(f"/dashboard/orders/{order_id}/payment", data={"payment": "paid"})
    assert response.status_code in (302, 400)  # to the login, or refused for its missing token
    assert client.post(f"{page}/paid", data={}).status_code in (404, 405)
    assert stored(app).payment_state == "pending"


# --- polling -----------------------------------------------------------------------------------


def state_of(html: str) -> str:
    match = re.search(r"hx-vals='\{\"state\": \"([0-9a-f]+)\"\}'", unescape(html))
    assert match, "the page does not poll with its state"
    return match.group(1)


def test_the_page_polls_itself_and_an_unchanged_order_answers_204(app, client, shop, queries):
    page = order_at(client, shop)
    html = client.get(page).get_data(as_text=True)
    assert f'hx-get="{page}" hx-trigger="every 5s"' in html
    state = state_of(html)
    queries.clear()
    response = client.get(page, query_string={"state": state}, headers=HX)
    assert response.status_code == 204 and response.get_data() == b""
    assert response.headers["Cache-Control"] == "no-store"
    assert len(queries) <= 3, queries  # the store, the order, its lines: nothing rendered


def test_a_poll_after_a_change_gets_the_live_part(app, client, shop):
    page = order_at(client, shop)
    state = state_of(client.get(page).get_data(as_text=True))
    vendor_moves(app, client, stored(app).id, "confirmed")
    response = client.get(page, query_string={"state": state}, headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="order-live"') and "<html" not in html
    assert '<strong class="status-confirmed">Confirmed</strong>' in html
    assert state_of(html) != state


def test_a_poll_without_htmx_gets_the_whole_page(app, client, shop):
    page = order_at(client, shop)
    state = state_of(client.get(page).get_data(as_text=True))
    response = client.get(page, query_string={"state": state})
    assert response.status_code == 200 and "<html" in response.get_data(as_text=True)


def test_every_answer_of_the_order_page_is_private(app, client, shop):
    page = order_at(client, shop)
    for response in (client.get(page), client.get(page, headers=HX),
                     client.post(f"{page}/utr", data={"utr": "x"}, headers=HX),
                     client.post(f"{page}/cancel", headers=HX), client.post(f"{page}/cancel", headers=HX)):
        assert response.headers["Cache-Control"] == "no-store", response.status_code


# --- races ---------------------------------------------------------------------------------


def _race(app, count, work):
    from test_orders import run_threads

    def one(i):
        with app.app_context():
            order = db.session.scalars(select(Order)).one()
            return work(order, i)

    return run_threads(count, one)


@pytest.mark.postgres
def test_concurrent_utrs_claim_the_payment_once(app, client, shop):
    order_at(client, shop)

    def claim(order, i):
        try:
            payments.claim(order, f"{412345678900 + i}")
            return "claimed"
        except payments.PaymentError:
            return "refused"

    results = _race(app, 8, claim)
    assert results.count("claimed") == 1 and results.count("refused") == 7
    winner = results.index("claimed")
    assert (stored(app).payment_state, stored(app).utr) == ("claimed", f"{412345678900 + winner}")


@pytest.mark.postgres
def test_a_customer_cancel_racing_the_vendors_confirm_leaves_one_outcome(app, client, shop):
    from dukaan import orders

    order_at(client, shop, units=3)

    def act(order, i):
        try:
            if i % 2:
                orders.cancel_by_customer(order)
                return "cancelled"
            orders.change_status(order, "confirmed")
            return "confirmed"
        except orders.IllegalTransition:
            return "refused"

    results = _race(app, 6, act)
    assert results.count("refused") == 5
    final = stored(app).status
    assert final in results
    assert product_state(app, shop["pickle"])["stock"] == (10 if final == "cancelled" else 7)
