"""Carts under concurrency, on PostgreSQL with real threads: holds and checkouts never
sell or hold a unit twice."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from dukaan.extensions import db
from dukaan.models import Cart, CartLine, Order, OrderLine
from helpers import join_all, make_product, make_vendor, product_state

pytestmark = pytest.mark.postgres

CUSTOMER = {"name": "Meera", "phone": "9876543210", "address": "12 MG Road, Pune"}


def race(count: int, work) -> list:
    """Run ``work(i)`` on ``count`` threads released together; their results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as error:  # reported below, not lost in the thread
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    join_all(threads, 120)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[0]
    return results


def add(client, product_id, quantity):
    return client.post("/order/ravi/cart", data={"product_id": str(product_id), "quantity": str(quantity)})


def held(app, product_id) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.coalesce(func.sum(CartLine.quantity), 0)).where(CartLine.product_id == product_id))


def test_200_carts_after_the_last_10_units(app):
    product = make_product(app, make_vendor(app), "Kaju katli", "450.00", 10)
    clients = [app.test_client() for _ in range(200)]
    responses = race(200, lambda i: add(clients[i], product, 1))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [409] * 190
    refused = [r.get_data(as_text=True) for r in responses if r.status_code == 409]
    assert all("0 available right now." in html for html in refused)
    assert held(app, product) == 10
    assert product_state(app, product)["stock"] == 10


def test_checkouts_race_other_carts_for_the_same_units(app):
    product = make_product(app, make_vendor(app), "Kaju katli", "450.00", 50)
    buyers = [app.test_client() for _ in range(50)]
    for client in buyers:
        assert add(client, product, 1).status_code == 200
    latecomers = [app.test_client() for _ in range(50)]

    def work(i):
        if i % 2 == 0:
            return buyers[i // 2].post("/order/ravi", data=CUSTOMER).status_code
        return add(latecomers[i // 2], product, 1).status_code

    # 100 threads: 50 checkouts and 50 adds, interleaved.
    statuses = race(100, work)
    checkouts, adds = statuses[0::2], statuses[1::2]
    assert checkouts == [303] * 50
    assert adds == [409] * 50
    assert product_state(app, product)["stock"] == 0
    with app.app_context():
        sold = db.session.scalar(select(func.sum(OrderLine.quantity)))
        assert sold == 50 and db.session.scalar(select(func.count(Order.id))) == 50
        assert db.session.scalar(select(func.count(Cart.id))) == 0  # no hold left behind
    assert held(app, product) == 0


def test_one_cart_changed_from_two_tabs_at_once(app):
    product = make_product(app, make_vendor(app), "Kaju katli", "450.00", 10)
    first = app.test_client()
    token = add(first, make_product(app, 1, "Chai", "10.00", 5), 1).headers["Set-Cookie"].split(";")[0].split("=")[1]
    tabs = [app.test_client() for _ in range(2)]
    for tab in tabs:
        tab.set_cookie("cart", token, path="/order/ravi")
    for _ in range(5):
        statuses = race(2, lambda i: add(tabs[i], product, (2, 5)[i]).status_code)
        assert statuses == [200, 200]
        with app.app_context():
            lines = db.session.scalars(select(CartLine).where(CartLine.product_id == product)).all()
            assert len(lines) == 1 and lines[0].quantity in (2, 5)
        assert held(app, product) == lines[0].quantity
        add(first, product, 0)


def test_one_cart_checked_out_from_two_tabs_at_once_makes_one_order(app):
    """Both tabs send the same cart cookie with their own order tokens: one order takes the
    cart's units, the other is told the cart was just ordered, and nothing is taken twice."""
    product = make_product(app, make_vendor(app), "Soan papdi", "150.00", 10)
    first = app.test_client()
    assert add(first, product, 3).status_code == 200
    cookie = first.get_cookie("cart", path="/order/ravi").value
    tabs = [app.test_client() for _ in range(2)]
    for tab in tabs:
        tab.set_cookie("cart", cookie, path="/order/ravi")
    responses = race(2, lambda i: tabs[i].post("/order/ravi", data=dict(CUSTOMER, order_token=f"tab-{i}")))
    assert sorted(r.status_code for r in responses) == [303, 409]
    refused = next(r for r in responses if r.status_code == 409).get_data(as_text=True)
    assert "This cart has just been ordered" in refused
    assert product_state(app, product)["stock"] == 7
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1
        assert db.session.scalar(select(func.sum(OrderLine.quantity))) == 3
        assert db.session.scalar(select(func.count()).select_from(Cart)) == 0
