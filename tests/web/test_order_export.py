"""The vendor's order list filtered by state and payment, and the orders CSV by date range (streamed)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone

import pytest

from dukaan import orders, payments
from dukaan.extensions import db
from dukaan.models import Order
from helpers import HX, make_product, make_vendor, place, set_store


@pytest.fixture
def pickle(app, vendor):
    set_store(app, vendor, accept_upi=True, upi_id="ravi@okhdfcbank", delivery_fee="40.00", cod_fee="20.00")
    return make_product(app, vendor, name="Mango pickle", price="120.00", stock=100)


def placed_at(app, order_id, when: datetime) -> None:
    with app.app_context():
        db.session.get(Order, order_id).created_at = when
        db.session.commit()


def move(app, order_id, *statuses, utr=None, paid=False):
    with app.app_context():
        order = db.session.get(Order, order_id)
        for status in statuses:
            orders.change_status(order, status)
        if utr:
            payments.claim(order, utr)
        if paid:
            payments.vendor_sets(order, "paid")


def numbers_listed(client, **query) -> list[int]:
    response = client.get("/dashboard/orders", query_string=query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return [int(n) for n in re.findall(r'data-number="(\d+)"', html)]


@pytest.fixture
def four(app, vendor, pickle):
    """#1 cash placed; #2 UPI claimed; #3 cash delivered (so paid); #4 UPI cancelled."""
    ids = [place(app, vendor, {pickle: 1}, payment=p) for p in ("cod", "upi", "cod", "upi")]
    move(app, ids[1], utr="412345678901")
    move(app, ids[2], "confirmed", "shipped", "delivered")
    move(app, ids[3], "cancelled")
    return ids


@pytest.mark.parametrize("query, numbers", [
    ({}, [4, 3, 2, 1]),
    ({"status": "placed"}, [2, 1]),
    ({"status": "delivered"}, [3]),
    ({"payment": "claimed"}, [2]),
    ({"payment": "paid"}, [3]),
    ({"payment": "pending"}, [4, 1]),
    ({"status": "placed", "payment": "pending"}, [1]),
    ({"status": "shipped"}, []),
    ({"status": "", "payment": ""}, [4, 3, 2, 1]),
])
def test_the_list_filters_by_state_and_payment(client, four, query, numbers):
    assert numbers_listed(client, **query) == numbers


def test_a_filtered_list_keeps_its_filters_when_it_polls_and_pages(app, client, four):
    app.config["ORDERS_PER_PAGE"] = 1
    html = client.get("/dashboard/orders", query_string={"status": "placed"}).get_data(as_text=True)
    assert 'hx-get="/dashboard/orders?page=1&amp;status=placed"' in html
    assert 'href="/dashboard/orders?page=2&amp;status=placed">Older orders</a>' in html
    assert '<option selected value="placed">Placed</option>' in html
    response = client.get("/dashboard/orders", query_string={"status": "placed", "page": 2}, headers=HX)
    assert response.status_code == 200 and 'data-number="1"' in response.get_data(as_text=True)


def test_a_filter_matching_nothing_says_so(client, four):
    html = client.get("/dashboard/orders", query_string={"status": "shipped"}).get_data(as_text=True)
    assert "No orders match." in html and "No orders yet" not in html


@pytest.mark.parametrize("query", [{"status": "lost"}, {"payment": "refunded"}, {"status": "PLACED"},
                                   {"payment": "paid\x00"}])
def test_an_unknown_filter_is_422(client, four, query):
    response = client.get("/dashboard/orders", query_string=query)
    assert response.status_code == 422
    assert "Filter by a known status and payment state." in response.get_data(as_text=True)


# --- the CSV -------------------------------------------------------------------------------


def export(client, **query):
    response = client.get("/dashboard/orders.csv", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_export_is_a_streamed_csv_of_every_order(app, client, four):
    response = client.get("/dashboard/orders.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="ravi-orders-start-to-now.csv"'
    assert response.headers["Cache-Control"] == "private, no-store"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["order", "placed_at", "status", "customer", "phone", "address", "items", "subtotal",
                       "delivery_fee", "cod_fee", "total", "payment_method", "payment_state", "utr"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4"]
    first, second = rows[1], rows[2]
    assert first[2:] == ["placed", "Asha Rao", "9876543210", "12 MG Road, Pune", "1 x Mango pickle",
                         "120.00", "40.00", "20.00", "180.00", "cod", "pending", ""]
    assert second[10:] == ["160.00", "upi", "claimed", "412345678901"]
    assert first[1].endswith("+05:30")  # the merchant's time


def test_the_export_takes_the_lists_filters(client, four):
    assert [row[0] for row in export(client, payment="pending")[1:]] == ["1", "4"]
    assert [row[0] for row in export(client, status="delivered")[1:]] == ["3"]


def test_the_export_takes_a_range_of_the_merchants_days_both_ends_included(app, client, vendor, pickle):
    ids = [place(app, vendor, {pickle: 1}, payment="cod") for _ in range(4)]
    # In India (UTC+5:30): 31 Mar 23:59, 1 Apr 00:00, 30 Apr 23:59, 1 May 00:00.
    for order_id, moment in zip(ids, [datetime(2026, 3, 31, 18, 29), datetime(2026, 3, 31, 18, 30),
                                      datetime(2026, 4, 30, 18, 29), datetime(2026, 4, 30, 18, 30)], strict=True):
        placed_at(app, order_id, moment.replace(tzinfo=timezone.utc))
    rows = export(client, from_date="2026-04-01", to_date="2026-04-30")
    assert [row[0] for row in rows[1:]] == ["2", "3"]
    assert [row[0] for row in export(client, from_date="2026-04-01")[1:]] == ["2", "3", "4"]
    assert [row[0] for row in export(client, to_date="2026-03-31")[1:]] == ["1"]
    response = client.get("/dashboard/orders.csv", query_string={"from_date": "2026-04-01", "to_date": "2026-04-30"})
    assert response.headers["Content-Disposition"] == 'attachment; filename="ravi-orders-2026-04-01-to-2026-04-30.csv"'


def test_the_export_shows_only_the_vendors_own_orders(app, client, vendor, pickle):
    meena = make_vendor(app, username="meena", store_name="Meena Sarees")
    saree = make_product(app, meena, name="Silk saree", price="2500", stock=3)
    place(app, meena, {saree: 1}, name="Someone Else")
    place(app, vendor, {pickle: 1}, payment="cod")
    body = client.get("/dashboard/orders.csv").get_data(as_text=True)
    assert "Silk saree" not in body and "Someone Else" not in body and "Mango pickle" in body


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://evil\")", "+91 call", "-1", "@SUM(A1)"])
def test_text_that_a_spreadsheet_would_run_is_exported_as_text(app, client, vendor, pickle, name):
    place(app, vendor, {pickle: 1}, name=name, payment="cod")
    assert export(client)[1][3] == "'" + name


def test_the_export_reads_in_batches(app, client, vendor, pickle, monkeypatch):
    """A year of orders is read a batch at a time, each batch's lines with it."""
    for _ in range(5):
        place(app, vendor, {pickle: 1}, payment="cod")
    real, batches = orders.export, []

    def small_batches(*args, **kwargs):
        batches.append(kwargs.setdefault("batch", 2))
        return real(*args, **kwargs)

    monkeypatch.setattr(orders, "export", small_batches)
    rows = export(client)
    assert batches == [2] and [row[0] for row in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert all(row[6] == "1 x Mango pickle" for row in rows[1:])


@pytest.mark.parametrize("query, problem", [
    ({"from_date": "2026-02-30"}, "That day does not exist."),
    ({"to_date": "yesterday"}, "Use a date like"),
    ({"from_date": "٢٠٢٦-٠١-٠١"}, "Use a date like"),
    ({"from_date": "2026-05-01", "to_date": "2026-04-01"}, "The range ends before it starts."),
    ({"status": "lost"}, "Not a valid choice"),
])
def test_a_bad_range_or_filter_is_422(client, vendor, pickle, query, problem):
    response = client.get("/dashboard/orders.csv", query_string=query)
    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)


def test_the_export_needs_a_login(app, pickle):
    response = app.test_client().get("/dashboard/orders.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_orders_page_offers_the_export(client, vendor, pickle):
    html = client.get("/dashboard/orders", query_string={"payment": "claimed"}).get_data(as_text=True)
    assert 'action="/dashboard/orders.csv"' in html
    assert '<input type="hidden" name="payment" value="claimed">' in html
    assert 'name="from_date" type="date"' in html
