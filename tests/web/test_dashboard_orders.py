"""The orders dashboard: the vendor's orders, newest first, and moving them on."""

import re

import pytest
from sqlalchemy import select

from dukaan import orders
from dukaan.extensions import db
from dukaan.models import Order
from helpers import HX, make_product, make_vendor, place, product_state


@pytest.fixture
def pickle(app, vendor):
    """Ravi's mango pickle: ₹120, 10 in stock."""
    return make_product(app, vendor, name="Mango pickle", price="120.00", stock=10)


def set_status(app, order_id, *statuses):
    with app.app_context():
        order = db.session.get(Order, order_id)
        for status in statuses:
            orders.change_status(order, status)


def status_of(app, order_id):
    with app.app_context():
        return db.session.get(Order, order_id).status


def row_of(html, order_id):
    start = html.index(f'<tr id="order-{order_id}"')
    return html[start:html.index("</tr>", start) + len("</tr>")]


# --- the order list -----------------------------------------------------------


def test_orders_page_without_orders_says_so(client, vendor):
    response = client.get("/dashboard/orders")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Orders</h1>" in html
    assert "No orders yet." in html
    assert 'id="order-list"' in html


def test_orders_page_shows_each_order_in_full(app, client, vendor, pickle):
    """Number, customer, phone, address, lines, total and status, in the order's row."""
    papad = make_product(app, vendor, name="Papad", price="40.50", stock=10)
    order_id = place(app, vendor, {pickle: 2, papad: 1})
    html = client.get("/dashboard/orders").get_data(as_text=True)
    row = row_of(html, order_id)
    assert "#1" in row
    assert "Asha Rao" in row
    assert 'href="tel:9876543210"' in row
    assert "12 MG Road, Pune" in row
    assert "2 × Mango pickle" in row and "1 × Papad" in row
    assert "₹280.50" in row
    assert '<span class="status">Placed</span>' in row
    assert 'name="status" value="confirmed"' in row and 'name="status" value="cancelled"' in row


def test_orders_page_lists_newest_first(app, client, vendor, pickle):
    first = place(app, vendor, {pickle: 1}, name="First customer")
    second = place(app, vendor, {pickle: 1}, name="Second customer")
    html = client.get("/dashboard/orders").get_data(as_text=True)
    assert html.index(f'id="order-{second}"') < html.index(f'id="order-{first}"')
    assert "#2" in row_of(html, second) and "#1" in row_of(html, first)


def test_orders_page_shows_only_the_vendors_own_orders(app, client, vendor, pickle):
    """Another store's orders, and its customers' details, never appear."""
    meena = make_vendor(app, username="meena", store_name="Meena Sarees")
    saree = make_product(app, meena, name="Silk saree", price="2500")
    theirs = place(app, meena, {saree: 1}, name="Priya Shah", phone="9123456780")
    ours = place(app, vendor, {pickle: 1})
    html = client.get("/dashboard/orders").get_data(as_text=True)
    assert f'id="order-{ours}"' in html
    assert f'id="order-{theirs}"' not in html
    assert "Priya Shah" not in html and "9123456780" not in html and "Silk saree" not in html


def test_customer_details_are_escaped(app, client, vendor, pickle):
    """What a customer types is text on the vendor's screen, never markup."""
    place(app, vendor, {pickle: 1}, name="<b>Asha</b>", address='<img src=x onerror="alert(1)">')
    html = client.get("/dashboard/orders").get_data(as_text=True)
    assert "<b>Asha</b>" not in html and "<img src=x" not in html
    assert "&lt;b&gt;Asha&lt;/b&gt;" in html


def test_an_order_placed_in_the_store_appears_on_the_dashboard(app, client, vendor, pickle):
    """The whole path: a customer orders at /order/<slug>, the vendor sees it."""
    response = client.post("/order/ravi", data={
        "name": "Kiran", "phone": "98765 43210", "address": "4 Park Street", f"qty-{pickle}": "3",
    })
    assert response.status_code == 303
    html = client.get("/dashboard/orders").get_data(as_text=True)
    assert "Kiran" in html and "3 × Mango pickle" in html and "₹360.00" in html
    assert product_state(app, pickle)["stock"] == 7


def test_orders_over_htmx_is_just_the_order_list(app, client, vendor, pickle):
    """The poll asks with htmx and gets only the <section id="order-list"> to swap."""
    order_id = place(app, vendor, {pickle: 1})
    response = client.get("/dashboard/orders?page=1", headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith('<section id="order-list"') and html.endswith("</section>")
    assert 'hx-trigger="every 5s"' in html
    assert f'id="order-{order_id}"' in html
    assert "<h1>" not in html and "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_orders_page_polls_for_new_orders(client, vendor):
    """The full page carries the polling section too, so new orders appear by themselves."""
    response = client.get("/dashboard/orders")
    html = response.get_data(as_text=True)
    assert 'hx-get="/dashboard/orders?page=1"' in html
    assert 'hx-trigger="every 5s"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_a_new_order_shows_up_on_the_next_poll(app, client, vendor, pickle):
    assert "No orders yet." in client.get("/dashboard/orders", headers=HX).get_data(as_text=True)
    order_id = place(app, vendor, {pickle: 1})
    assert f'id="order-{order_id}"' in client.get("/dashboard/orders", headers=HX).get_data(as_text=True)


# --- pages of orders ----------------------------------------------------------


@pytest.fixture
def five_orders(app, vendor, pickle):
    """Five orders, numbered 1 to 5, two to a page: their ids by number."""
    app.config["ORDERS_PER_PAGE"] = 2
    return {n: place(app, vendor, {pickle: 1}, name=f"Customer {n}") for n in range(1, 6)}


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize(("page", "numbers"), [(1, [5, 4]), (2, [3, 2]), (3, [1])])
def test_orders_are_paginated(client, five_orders, htmx, page, numbers):
    """ORDERS_PER_PAGE orders to a page, newest first."""
    response = client.get(f"/dashboard/orders?page={page}", headers=HX if htmx else {})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    shown = [n for n, order_id in five_orders.items() if f'id="order-{order_id}"' in html]
    assert sorted(shown, reverse=True) == numbers
    assert [html.index(f'id="order-{five_orders[n]}"') for n in numbers] == sorted(
        html.index(f'id="order-{five_orders[n]}"') for n in numbers)


def test_pages_link_to_newer_and_older_orders(client, five_orders):
    first = client.get("/dashboard/orders").get_data(as_text=True)
    assert 'href="/dashboard/orders?page=2">Older orders' in first
    assert "Newer orders" not in first
    middle = client.get("/dashboard/orders?page=2").get_data(as_text=True)
    assert 'href="/dashboard/orders?page=1">Newer orders' in middle
    assert 'href="/dashboard/orders?page=3">Older orders' in middle
    last = client.get("/dashboard/orders?page=3").get_data(as_text=True)
    assert "Older orders" not in last
    assert 'hx-get="/dashboard/orders?page=3"' in last  # the poll stays on its page


@pytest.mark.parametrize("page", ["4", "0", "-1", "1000000", "99999999999999999999"])
def test_a_page_beyond_the_orders_is_not_found(client, five_orders, page):
    """No such page is a 404, however large the number (never a database error)."""
    assert client.get(f"/dashboard/orders?page={page}").status_code == 404
    assert client.get(f"/dashboard/orders?page={page}", headers=HX).status_code == 404


def test_orders_come_fifty_to_a_page_by_default(app, client, vendor):
    """Without ORDERS_PER_PAGE set, a page holds 50 orders."""
    papad = make_product(app, vendor, name="Papad", price="40", stock=100)
    ids = [place(app, vendor, {papad: 1}) for _ in range(51)]
    first = client.get("/dashboard/orders").get_data(as_text=True)
    assert first.count('<tr id="order-') == 50
    assert f'id="order-{ids[0]}"' not in first
    second = client.get("/dashboard/orders?page=2").get_data(as_text=True)
    assert second.count('<tr id="order-') == 1 and f'id="order-{ids[0]}"' in second


def test_orders_page_queries_do_not_grow_with_the_orders(app, client, vendor, pickle, queries):
    """The lines of all orders on a page are loaded together, not one query per order."""
    place(app, vendor, {pickle: 1})
    queries.clear()
    client.get("/dashboard/orders")
    one = len(queries)
    for _ in range(5):
        place(app, vendor, {pickle: 1})
    queries.clear()
    client.get("/dashboard/orders")
    assert len(queries) == one


# --- moving an order on -------------------------------------------------------


def test_status_change_over_htmx_returns_the_order_row(app, auth, vendor, pickle):
    """htmx: 200 with the order's row, showing the new state and the next step."""
    order_id = place(app, vendor, {pickle: 1})
    response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": "confirmed"}, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="order-{order_id}" class="status-confirmed"')
    assert html.endswith("</tr>")
    assert '<span class="status">Confirmed</span>' in html
    assert 'value="shipped"' in html and 'value="cancelled"' in html and 'value="confirmed"' not in html
    assert status_of(app, order_id) == "confirmed"
    assert "HX-Request" in response.headers["Vary"]


def test_status_change_as_a_page_redirects_to_the_orders(app, client, auth, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1})
    response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": "confirmed"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/orders"
    assert status_of(app, order_id) == "confirmed"
    assert "Order #1 is confirmed." in client.get("/dashboard/orders").get_data(as_text=True)


@pytest.mark.parametrize("htmx", [True, False])
def test_an_order_goes_from_placed_to_delivered(app, auth, vendor, pickle, htmx):
    """placed → confirmed → shipped → delivered, and delivered is final."""
    order_id = place(app, vendor, {pickle: 1})
    for status in ("confirmed", "shipped", "delivered"):
        response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": status}, htmx=htmx)
        assert response.status_code == (200 if htmx else 303)
        assert status_of(app, order_id) == status
    if htmx:
        assert 'name="status"' not in response.get_data(as_text=True)  # no buttons left


ILLEGAL = [
    ([], "shipped"),
    ([], "delivered"),
    ([], "placed"),
    (["confirmed"], "confirmed"),
    (["confirmed"], "delivered"),
    (["confirmed", "shipped"], "cancelled"),
    (["confirmed", "shipped"], "confirmed"),
    (["confirmed", "shipped", "delivered"], "cancelled"),
    (["confirmed", "shipped", "delivered"], "shipped"),
    (["cancelled"], "confirmed"),
    (["cancelled"], "cancelled"),
]


@pytest.mark.parametrize(("path", "wanted"), ILLEGAL)
def test_an_illegal_move_over_htmx_is_a_conflict(app, auth, vendor, pickle, path, wanted):
    """htmx: 409 with the row unchanged and the reason in it; the order stays as it was."""
    order_id = place(app, vendor, {pickle: 1})
    set_status(app, order_id, *path)
    before = status_of(app, order_id)
    stock = product_state(app, pickle)["stock"]
    response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": wanted}, htmx=True)
    assert response.status_code == 409
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="order-{order_id}" class="status-{before}"')
    assert f"cannot become {wanted}" in html
    assert status_of(app, order_id) == before
    assert product_state(app, pickle)["stock"] == stock


@pytest.mark.parametrize(("path", "wanted"), ILLEGAL)
def test_an_illegal_move_as_a_page_is_a_conflict_page(app, auth, vendor, pickle, path, wanted):
    order_id = place(app, vendor, {pickle: 1})
    set_status(app, order_id, *path)
    before = status_of(app, order_id)
    response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": wanted})
    assert response.status_code == 409
    assert f"cannot become {wanted}" in response.get_data(as_text=True)
    assert status_of(app, order_id) == before


@pytest.mark.parametrize("status", ["", "bogus", "CONFIRMED", "confirmed "])
def test_a_status_that_is_not_a_state_is_rejected(app, auth, vendor, pickle, status):
    """A missing or unknown status is bad input: 422, and the order is unchanged."""
    order_id = place(app, vendor, {pickle: 1})
    response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": status}, htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="order-{order_id}"')
    assert 'role="alert"' in html
    page = auth.post(f"/dashboard/orders/{order_id}/status", {"status": status})
    assert page.status_code == 422
    assert status_of(app, order_id) == "placed"


def test_status_without_a_status_field_is_rejected(app, auth, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1})
    assert auth.post(f"/dashboard/orders/{order_id}/status", {}, htmx=True).status_code == 422
    assert auth.post(f"/dashboard/orders/{order_id}/status", {}).status_code == 422
    assert status_of(app, order_id) == "placed"


# --- cancelling returns the stock ---------------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize("path", [[], ["confirmed"]])
def test_cancelling_returns_the_stock(app, auth, vendor, pickle, htmx, path):
    """A placed or confirmed order can be cancelled, and its units go back on sale."""
    papad = make_product(app, vendor, name="Papad", price="40", stock=5)
    order_id = place(app, vendor, {pickle: 3, papad: 5})
    set_status(app, order_id, *path)
    assert product_state(app, pickle)["stock"] == 7 and product_state(app, papad)["stock"] == 0
    response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": "cancelled"}, htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    assert status_of(app, order_id) == "cancelled"
    assert product_state(app, pickle)["stock"] == 10
    assert product_state(app, papad)["stock"] == 5


def test_cancelling_twice_returns_the_stock_once(app, auth, vendor, pickle):
    order_id = place(app, vendor, {pickle: 4})
    assert auth.post(f"/dashboard/orders/{order_id}/status", {"status": "cancelled"}, htmx=True).status_code == 200
    assert auth.post(f"/dashboard/orders/{order_id}/status", {"status": "cancelled"}, htmx=True).status_code == 409
    assert product_state(app, pickle)["stock"] == 10


def test_cancelling_after_the_product_was_deleted(app, client, auth, vendor, pickle):
    """The order can still be cancelled; the lost product's units have nowhere to go."""
    papad = make_product(app, vendor, name="Papad", price="40", stock=5)
    order_id = place(app, vendor, {pickle: 2, papad: 1})
    assert auth.post(f"/dashboard/products/{pickle}/delete", htmx=True).status_code == 200
    response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": "cancelled"}, htmx=True)
    assert response.status_code == 200
    assert "2 × Mango pickle" in response.get_data(as_text=True)
    assert status_of(app, order_id) == "cancelled"
    assert product_state(app, papad)["stock"] == 5


# --- protection ---------------------------------------------------------------


def test_status_change_needs_the_csrf_token(app, client, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1})
    path = f"/dashboard/orders/{order_id}/status"
    assert client.post(path, data={"status": "cancelled"}).status_code == 400
    assert client.post(path, data={"status": "cancelled"}, headers=HX).status_code == 400
    forged = dict(HX, **{"X-CSRFToken": "forged"})
    assert client.post(path, data={"status": "cancelled"}, headers=forged).status_code == 400
    assert status_of(app, order_id) == "placed"
    assert product_state(app, pickle)["stock"] == 9


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize("status", ["confirmed", "cancelled"])
def test_another_vendors_order_cannot_be_changed(app, auth, vendor, htmx, status):
    """Moving someone else's order is a 404; it and its stock stay as they were."""
    meena = make_vendor(app, username="meena", store_name="Meena Sarees")
    saree = make_product(app, meena, name="Silk saree", price="2500", stock=3)
    order_id = place(app, meena, {saree: 1})
    response = auth.post(f"/dashboard/orders/{order_id}/status", {"status": status}, htmx=htmx)
    assert response.status_code == 404
    assert "Silk saree" not in response.get_data(as_text=True)
    assert status_of(app, order_id) == "placed"
    assert product_state(app, saree)["stock"] == 2


def test_a_missing_order_is_not_found(auth, vendor):
    assert auth.post("/dashboard/orders/999/status", {"status": "confirmed"}, htmx=True).status_code == 404
    assert auth.post("/dashboard/orders/999/status", {"status": "confirmed"}).status_code == 404


def test_status_is_not_a_get(app, client, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1})
    assert client.get(f"/dashboard/orders/{order_id}/status").status_code == 405


def test_orders_are_stored_with_their_vendor(app, vendor, pickle):
    """The helper places real orders: a guard for the tests above."""
    order_id = place(app, vendor, {pickle: 2})
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert (order.id, order.vendor_id, order.number, order.status) == (order_id, vendor, 1, "placed")


# --- polling: new arrivals and unchanged lists ------------------------------------


def poll_values(html):
    """The seen/state values the order list sends with its next poll."""
    import html as html_module
    import json

    match = re.search(r"hx-vals='([^']*)'", html)
    return json.loads(html_module.unescape(match.group(1)))


def test_an_unchanged_list_polls_as_204(app, client, vendor, pickle):
    place(app, vendor, {pickle: 1})
    values = poll_values(client.get("/dashboard/orders").get_data(as_text=True))
    assert values["seen"] == 1
    response = client.get("/dashboard/orders", query_string=values, headers=HX)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("change", ["new order", "status"])
def test_a_changed_list_is_sent_again(app, client, vendor, pickle, change):
    order_id = place(app, vendor, {pickle: 1})
    values = poll_values(client.get("/dashboard/orders").get_data(as_text=True))
    if change == "new order":
        place(app, vendor, {pickle: 1})
    else:
        set_status(app, order_id, "confirmed")
    response = client.get("/dashboard/orders", query_string=values, headers=HX)
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith('<section id="order-list"')


def test_orders_newer_than_the_last_poll_are_marked_new(app, client, vendor, pickle):
    first = place(app, vendor, {pickle: 1})
    values = poll_values(client.get("/dashboard/orders").get_data(as_text=True))
    second = place(app, vendor, {pickle: 1})
    html = client.get("/dashboard/orders", query_string=values, headers=HX).get_data(as_text=True)
    assert 'class="status-placed arrived"' in row_of(html, second) and "New</mark>" in row_of(html, second)
    assert "arrived" not in row_of(html, first)
    assert 'data-arrived="1"' in html
    assert poll_values(html)["seen"] == 2


def test_the_first_order_on_an_empty_list_is_marked_new(app, client, vendor, pickle):
    values = poll_values(client.get("/dashboard/orders").get_data(as_text=True))
    assert values["seen"] == 0
    order_id = place(app, vendor, {pickle: 1})
    html = client.get("/dashboard/orders", query_string=values, headers=HX).get_data(as_text=True)
    assert "arrived" in row_of(html, order_id)


def test_a_full_page_marks_nothing_new(app, client, vendor, pickle):
    order_id = place(app, vendor, {pickle: 1})
    html = client.get("/dashboard/orders?seen=0").get_data(as_text=True)
    assert "arrived" not in row_of(html, order_id)


@pytest.mark.parametrize("seen", ["abc", "-5", "99999999999999999999", ""])
def test_junk_poll_values_are_ignored(app, client, vendor, pickle, seen):
    place(app, vendor, {pickle: 1})
    response = client.get("/dashboard/orders", query_string={"seen": seen, "state": "x" * 500}, headers=HX)
    assert response.status_code == 200


def test_order_times_are_shown_in_the_merchants_time_zone(app, client, vendor, pickle):
    """Stored in UTC, shown in DISPLAY_TIMEZONE (India by default: UTC+5:30)."""
    from datetime import datetime, timezone

    order_id = place(app, vendor, {pickle: 1})
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.created_at = datetime(2026, 11, 21, 20, 45, tzinfo=timezone.utc)
        db.session.commit()
    assert "22 Nov, 02:15" in client.get("/dashboard/orders").get_data(as_text=True)
