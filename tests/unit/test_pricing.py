"""pricing.price: the one rule for what an order costs (no request, no database)."""

from decimal import Decimal as D

import pytest

from dukaan.pricing import COD, UPI, Terms, price

SHOP = Terms(delivery_fee=D("40.00"), free_delivery_from=D("500.00"), min_order=D("300.00"),
             cod_fee=D("20.00"), accept_cod=True, accept_upi=True)


@pytest.mark.parametrize("subtotal, payment, delivery, cod_fee, total", [
    ("499.99", UPI, "40.00", "0.00", "539.99"),  # just below free delivery
    ("500.00", UPI, "0.00", "0.00", "500.00"),  # exactly at the free-delivery value: free
    ("500.01", UPI, "0.00", "0.00", "500.01"),
    ("499.99", COD, "40.00", "20.00", "559.99"),  # cash adds its fee on top of delivery
    ("500.00", COD, "0.00", "20.00", "520.00"),  # free delivery does not waive the cash fee
    ("300.00", None, "40.00", "0.00", "340.00"),  # no method chosen yet: no cash fee
])
def test_delivery_and_the_cash_fee(subtotal, payment, delivery, cod_fee, total):
    priced = price(SHOP, D(subtotal), payment)
    assert (priced.subtotal, priced.delivery, priced.cod_fee, priced.total) == (
        D(subtotal), D(delivery), D(cod_fee), D(total))
    assert priced.payment == payment


@pytest.mark.parametrize("subtotal, shortfall", [
    ("299.99", "0.01"), ("260.00", "40.00"), ("300.00", "0"), ("300.01", "0"), ("0.01", "299.99"),
])
def test_the_minimum_order_applies_to_the_subtotal(subtotal, shortfall):
    priced = price(SHOP, D(subtotal), COD)
    assert priced.shortfall == D(shortfall)
    # Delivery and the cash fee would lift the total above 300: they do not count.
    assert (priced.below_minimum is None) is (priced.shortfall == 0)


def test_the_shortfall_is_named():
    assert price(SHOP, D("260.00"), UPI).below_minimum == "Add ₹40.00 more to order: the minimum is ₹300.00."
    big = Terms(min_order=D("1500.00"))
    assert price(big, D("250.50")).below_minimum == "Add ₹1,249.50 more to order: the minimum is ₹1,500.00."


def test_a_store_without_charges_charges_nothing():
    priced = price(Terms(), D("120.00"), COD)
    assert (priced.delivery, priced.cod_fee, priced.total, priced.shortfall) == (
        D("0"), D("0"), D("120.00"), D("0"))
    assert priced.to_free_delivery is None


def test_a_delivery_fee_without_a_free_delivery_value_always_applies():
    terms = Terms(delivery_fee=D("30.00"))
    assert price(terms, D("100000.00")).delivery == D("30.00")
    assert price(terms, D("1.00")).to_free_delivery is None


def test_what_is_left_for_free_delivery():
    assert price(SHOP, D("460.00"), UPI).to_free_delivery == D("40.00")
    assert price(SHOP, D("500.00"), UPI).to_free_delivery is None


def test_free_delivery_from_zero_is_always_free():
    assert price(Terms(delivery_fee=D("40"), free_delivery_from=D("0")), D("10")).delivery == 0


def test_an_empty_order_costs_nothing():
    priced = price(SHOP, D("0"), COD)
    assert (priced.delivery, priced.cod_fee, priced.total) == (0, 0, 0)


def test_money_stays_decimal():
    priced = price(SHOP, D("100.10"), COD)
    for amount in (priced.subtotal, priced.delivery, priced.cod_fee, priced.total, priced.shortfall):
        assert isinstance(amount, D)
    assert priced.total == D("160.10")


@pytest.mark.parametrize("terms, methods, default", [
    (Terms(accept_cod=True, accept_upi=False), ("cod",), "cod"),
    (Terms(accept_cod=False, accept_upi=True), ("upi",), "upi"),
    (Terms(accept_cod=True, accept_upi=True), ("cod", "upi"), None),
])
def test_methods_and_the_default(terms, methods, default):
    assert (terms.methods, terms.default_payment) == (methods, default)


def test_terms_survive_a_cache_round_trip():
    assert Terms(*SHOP.as_tuple()) == SHOP
