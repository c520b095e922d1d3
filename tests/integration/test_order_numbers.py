"""Order numbers on PostgreSQL: each store's own sequence, made and dropped with the store."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from test_cart_races import CUSTOMER, race

from dukaan import orders
from dukaan.extensions import db
from dukaan.models import Order, Vendor
from helpers import make_product, make_vendor

pytestmark = pytest.mark.postgres


def test_orders_placed_at_once_on_one_store_take_each_number_once(app):
    product = make_product(app, make_vendor(app), "Kaju katli", "450.00", 100)
    clients = [app.test_client() for _ in range(30)]
    statuses = race(30, lambda i: clients[i].post("/order/ravi", data={**CUSTOMER, f"qty-{product}": "1"})
                    .status_code)
    assert statuses == [303] * 30
    with app.app_context():
        assert sorted(db.session.scalars(select(Order.number))) == list(range(1, 31))


def test_a_store_gets_its_sequence_when_made_and_loses_it_when_deleted(app):
    vendor_id = make_vendor(app)
    sequence = orders.numbers_sequence(vendor_id)
    with app.app_context():
        assert db.session.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": sequence})
        db.session.delete(db.session.get(Vendor, vendor_id))
        db.session.commit()
        assert db.session.scalar(text("SELECT to_regclass(:name) IS NULL"), {"name": sequence})
