"""Orders through the API: placed under an Idempotency-Key (one order however often it is sent,
also from 20 threads at once), from lines or a cart, refusals as 409 and 422; the customer's
history and one order by ref; only the customer's own."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dukaan.api import claims
from dukaan.extensions import db
from dukaan.models import Cart, Customer, Order, OrderClaim, Product, utcnow
from helpers import api_token, bearer, join_all, make_product, make_vendor, place, product_state

ADDRESS = "12 MG Road, Pune 411001"


@pytest.fixture
def shop(app):
    vendor = make_vendor(app)
    return {"vendor": vendor,
            "pickle": make_product(app, vendor, "Mango pickle", "120.00", 10),
            "chai": make_product(app, vendor, "Masala chai", "95.50", 3),
            "hidden": make_product(app, vendor, "Secret masala", "99.00", 5, available=False),
            "elsewhere": make_product(app, make_vendor(app, "meera", "Meera's"), "Papad", "10.00", 5)}


@pytest.fixture
def asha(client):
    return bearer(api_token(client))


def body(*lines, **fields) -> dict:
    """An order at Ravi's of ``lines`` ((product id, quantity) pairs), delivered to ADDRESS."""
    return {"store": "ravi", "lines": [{"product_id": p, "quantity": q} for p, q in lines], "address": ADDRESS,
            **fields}


def order(client, headers, json, key="key-1"):
    return client.post("/api/v1/orders", json=json, headers={**headers, "Idempotency-Key": key})


def stock(app, product_id) -> int:
    return product_state(app, product_id)["stock"]


def order_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


# --- placing ---------------------------------------------------------------------------


def test_an_order_from_lines_takes_the_stock_with_the_accounts_details(app, client, shop, asha):
    response = order(client, asha, body((shop["pickle"], 2), (shop["chai"], 1), payment="cod"))
    assert response.status_code == 201, response.json
    placed = response.json
    assert (placed["status"], placed["total"], placed["store"], placed["number"]) == ("placed", "335.50", "ravi", 1)
    assert (placed["name"], placed["phone"], placed["address"]) == ("Asha Rao", "9876543210", ADDRESS)
    assert placed["lines"] == [
        {"product_id": shop["pickle"], "name": "Mango pickle", "price": "120.00", "quantity": 2, "subtotal": "240.00"},
        {"product_id": shop["chai"], "name": "Masala chai", "price": "95.50", "quantity": 1, "subtotal": "95.50"},
    ]
    assert placed["ref"] and placed["created_at"].endswith("+00:00")
    assert "Idempotent-Replayed" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert (stock(app, shop["pickle"]), stock(app, shop["chai"])) == (8, 2)


def test_the_body_names_someone_else_to_deliver_to(client, shop, asha):
    response = order(client, asha, body((shop["pickle"], 1), name="  Meera Joshi ", phone="+919812345678"))
    assert response.status_code == 201
    assert (response.json["name"], response.json["phone"]) == ("Meera Joshi", "+919812345678")


def test_the_same_key_and_body_is_the_same_order_again_marked_as_a_replay(app, client, shop, asha):
    first = order(client, asha, body((shop["pickle"], 2)))
    # The same body, its keys in another order.
    again = order(client, asha, {"address": ADDRESS, "lines": [{"quantity": 2, "product_id": shop["pickle"]}],
                                 "store": "ravi"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert order_count(app) == 1
    assert stock(app, shop["pickle"]) == 8


def test_the_same_key_with_another_body_is_422_and_places_nothing(app, client, shop, asha):
    first = order(client, asha, body((shop["pickle"], 2)))
    for other in (body((shop["pickle"], 3)), body((shop["pickle"], 2), name="Meera"), body((shop["chai"], 2))):
        response = order(client, asha, other)
        assert response.status_code == 422
        assert "Idempotency-Key" in response.json["detail"]["headers"]
    assert order_count(app) == 1
    assert stock(app, shop["pickle"]) == 8
    # The first body still replays.
    assert order(client, asha, body((shop["pickle"], 2))).json["ref"] == first.json["ref"]


def test_new_keys_place_new_orders_and_keys_belong_to_one_customer(app, client, shop, asha):
    meera = bearer(api_token(client, username="meera"))
    refs = {order(client, asha, body((shop["pickle"], 1)), key="k").json["ref"],
            order(client, asha, body((shop["pickle"], 1)), key="k2").json["ref"],
            order(client, meera, body((shop["pickle"], 1)), key="k").json["ref"]}
    assert len(refs) == 3
    assert stock(app, shop["pickle"]) == 7


def test_the_order_token_never_looks_like_a_store_pages():
    token = claims.order_token(7, "key-1")
    assert len(token) == 64 and "_" in token
    assert token != claims.order_token(8, "key-1") and token != claims.order_token(7, "key-2")


def claim_row(app) -> OrderClaim:
    with app.app_context():
        row = db.session.scalars(select(OrderClaim)).one()
        db.session.expunge(row)
        return row


def asha_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Customer.id).where(Customer.username == "asha"))


def held_by_a_request_in_flight(app, json, key="key-1", began_ago=timedelta(0)):
    """The claim Asha's request with ``json`` and ``key`` would hold while placing its order,
    begun ``began_ago``."""
    with app.app_context():
        claim = claims.claim(asha_id(app), key, claims.request_hash(json))
        db.session.execute(update(OrderClaim).values(claimed_at=utcnow() - began_ago))
        db.session.commit()
        return claim


def test_while_the_first_request_is_placing_the_order_409_with_retry_after(app, client, shop, asha):
    json = body((shop["pickle"], 2))
    held_by_a_request_in_flight(app, json)
    response = order(client, asha, json)
    assert response.status_code == 409
    assert 1 <= int(response.headers["Retry-After"]) <= 5
    assert "being placed" in response.json["message"]
    # A different body is still refused for what it is.
    assert order(client, asha, body((shop["pickle"], 1))).status_code == 422
    assert order_count(app) == 0 and stock(app, shop["pickle"]) == 10


def test_a_request_presumed_dead_is_taken_over_after_the_lease(app, client, shop, asha):
    json = body((shop["pickle"], 2))
    held_by_a_request_in_flight(app, json, began_ago=timedelta(seconds=31))
    response = order(client, asha, json)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert claim_row(app).order_id is not None
    assert order(client, asha, json).headers["Idempotent-Replayed"] == "true"
    assert order_count(app) == 1 and stock(app, shop["pickle"]) == 8


def test_an_order_placed_by_a_request_that_died_before_it_answered_is_replayed(app, client, shop, asha):
    """It placed the order and died before binding the key to it: the retry finds the order
    by its token and places no second one, even when the order's cart is gone with it."""
    cart = client.post("/api/v1/carts", json={"store": "ravi"}, headers=asha).json["id"]
    client.put(f"/api/v1/carts/{cart}/lines/{shop['pickle']}", json={"quantity": 3}, headers=asha)
    json = {"store": "ravi", "cart": cart, "address": ADDRESS}
    held_by_a_request_in_flight(app, json, began_ago=timedelta(minutes=5))
    with app.app_context():
        from dukaan import orders
        from dukaan.models import Vendor

        vendor = db.session.get(Vendor, shop["vendor"])
        orders.place(vendor, {}, orders.Customer("Asha Rao", "9876543210", ADDRESS),
                     claims.order_token(asha_id(app), "key-1"), db.session.get(Cart, cart))
    response = order(client, asha, json)
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"
    assert response.json["lines"][0]["quantity"] == 3
    assert order_count(app) == 1 and stock(app, shop["pickle"]) == 7
    assert client.get("/api/v1/orders", headers=asha).json["total"] == 1


def test_an_order_from_a_cart_takes_what_it_holds_and_the_cart_is_gone(app, client, shop, asha):
    cart = client.post("/api/v1/carts", json={"store": "ravi"}, headers=asha).json["id"]
    for product, quantity in ((shop["pickle"], 2), (shop["chai"], 3)):
        assert client.put(f"/api/v1/carts/{cart}/lines/{product}", json={"quantity": quantity},
                          headers=asha).status_code == 200
    json = {"store": "ravi", "cart": cart, "address": ADDRESS, "payment": "cod"}
    response = order(client, asha, json)
    assert response.status_code == 201, response.json
    assert response.json["total"] == "526.50"
    assert [(line["product_id"], line["quantity"]) for line in response.json["lines"]] == [
        (shop["pickle"], 2), (shop["chai"], 3)]
    assert (stock(app, shop["pickle"]), stock(app, shop["chai"])) == (8, 0)
    assert client.get(f"/api/v1/carts/{cart}", headers=asha).status_code == 404
    # A retry finds the order, though the cart is gone.
    again = order(client, asha, json)
    assert (again.status_code, again.json["ref"]) == (201, response.json["ref"])
    assert order_count(app) == 1


def test_a_cart_must_be_the_customers_own_at_the_store_and_hold_something(app, client, shop, asha):
    meera = bearer(api_token(client, username="meera"))
    theirs = client.post("/api/v1/carts", json={"store": "ravi"}, headers=meera).json["id"]
    client.put(f"/api/v1/carts/{theirs}/lines/{shop['pickle']}", json={"quantity": 1}, headers=meera)
    elsewhere = client.post("/api/v1/carts", json={"store": "meera"}, headers=asha).json["id"]
    client.put(f"/api/v1/carts/{elsewhere}/lines/{shop['elsewhere']}", json={"quantity": 1}, headers=asha)
    empty = client.post("/api/v1/carts", json={"store": "ravi"}, headers=asha).json["id"]
    for cart in (theirs, elsewhere, empty, 999999, 2**31 - 1):
        response = order(client, asha, {"store": "ravi", "cart": cart, "address": ADDRESS}, key=f"k{cart}")
        assert response.status_code == 422, cart
        assert "cart" in response.json["detail"]["json"]
    assert order_count(app) == 0
    # Refused, so the keys are free again.
    assert claims_left(app) == 0


def claims_left(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(OrderClaim.id)))


def test_short_stock_is_409_with_what_is_available_and_frees_the_key(app, client, shop, asha):
    response = order(client, asha, body((shop["pickle"], 2), (shop["chai"], 5)))
    assert response.status_code == 409
    assert response.json["detail"]["shortages"] == [{"product_id": shop["chai"], "name": "Masala chai",
                                                     "available": 3}]
    assert response.json["message"] == "Masala chai: only 3 left."
    # A product the store has hidden: none available, and nothing more said.
    hidden = order(client, asha, body((shop["pickle"], 2), (shop["hidden"], 1)))
    assert hidden.status_code == 409
    assert hidden.json["detail"]["shortages"] == [{"product_id": shop["hidden"], "name": None, "available": 0}]
    assert (stock(app, shop["pickle"]), stock(app, shop["chai"])) == (10, 3)
    assert claims_left(app) == 0
    # Nothing was placed: the same key may carry the order the customer settles for.
    fewer = order(client, asha, body((shop["pickle"], 2), (shop["chai"], 3)))
    assert fewer.status_code == 201 and "Idempotent-Replayed" not in fewer.headers
    assert (stock(app, shop["pickle"]), stock(app, shop["chai"])) == (8, 0)


def test_units_held_in_another_customers_cart_are_not_available(app, client, shop, asha):
    meera = bearer(api_token(client, username="meera"))
    cart = client.post("/api/v1/carts", json={"store": "ravi"}, headers=meera).json["id"]
    client.put(f"/api/v1/carts/{cart}/lines/{shop['chai']}", json={"quantity": 2}, headers=meera)
    response = order(client, asha, body((shop["chai"], 2)))
    assert response.status_code == 409
    assert response.json["detail"]["shortages"][0]["available"] == 1


def test_a_product_the_store_does_not_have_is_422(app, client, shop, asha):
    for product in (shop["elsewhere"], 999999):
        response = order(client, asha, body((shop["pickle"], 1), (product, 1)), key=f"k{product}")
        assert response.status_code == 422
        assert str(product) in response.json["detail"]["json"]["lines"][0]
    assert order_count(app) == 0 and stock(app, shop["pickle"]) == 10


def test_a_rule_of_the_order_refuses_it_with_422(app, client, shop, asha):
    with app.app_context():
        db.session.get(Product, shop["pickle"]).max_per_order = 2
        db.session.commit()
    response = order(client, asha, body((shop["pickle"], 3)))
    assert response.status_code == 422
    assert response.json["detail"]["json"]["lines"] == ["Mango pickle: at most 2 per order."]
    assert claims_left(app) == 0 and stock(app, shop["pickle"]) == 10


def test_any_other_refusal_of_the_store_is_409_and_frees_the_key(app, client, shop, asha, monkeypatch):
    from dukaan import orders

    class Closed(orders.OrderError):
        pass

    def closed(*args, **kwargs):
        raise Closed("Ravi's Store is closed for now.")

    monkeypatch.setattr(orders, "place", closed)
    response = order(client, asha, body((shop["pickle"], 1)))
    assert response.status_code == 409
    assert response.json["message"] == "Ravi's Store is closed for now."
    assert claims_left(app) == 0 and stock(app, shop["pickle"]) == 10


@pytest.mark.parametrize("json, field", [
    ({"store": "ravi", "address": ADDRESS}, "lines"),
    ({"store": "ravi", "address": ADDRESS, "cart": 1, "lines": [{"product_id": 1, "quantity": 1}]}, "cart"),
    ({"store": "ravi", "address": ADDRESS, "lines": []}, "lines"),
    ({"store": "ravi", "address": ADDRESS, "lines": [{"product_id": 1, "quantity": 1}] * 2}, "lines"),
    ({"store": "ravi", "address": ADDRESS, "lines": [{"product_id": 1, "quantity": 0}]}, "lines"),
    ({"store": "ravi", "address": ADDRESS, "lines": [{"product_id": 1, "quantity": 1000}]}, "lines"),
    ({"store": "ravi", "address": ADDRESS, "lines": [{"product_id": "1", "quantity": 1}]}, "lines"),
    ({"store": "ravi", "address": ADDRESS, "lines": [{"product_id": 2**31, "quantity": 1}]}, "lines"),
    ({"store": "ravi", "address": ADDRESS, "cart": "1"}, "cart"),
    ({"store": "ravi", "lines": [{"product_id": 1, "quantity": 1}]}, "address"),
    ({"store": "ravi", "address": "   ", "lines": [{"product_id": 1, "quantity": 1}]}, "address"),
    ({"store": "ravi", "address": "a\x00b", "lines": [{"product_id": 1, "quantity": 1}]}, "address"),
    ({"store": "ravi", "address": ADDRESS, "phone": "12345", "lines": [{"product_id": 1, "quantity": 1}]}, "phone"),
    ({"store": "ravi", "address": ADDRESS, "payment": "card", "lines": [{"product_id": 1, "quantity": 1}]},
     "payment"),
    ({"store": "nobody", "address": ADDRESS, "lines": [{"product_id": 1, "quantity": 1}]}, "store"),
    ({"store": "ravi", "address": ADDRESS, "lines": [{"product_id": 1, "quantity": 1}], "extra": 1}, "extra"),
])
def test_invalid_orders_are_422_naming_the_field(app, client, shop, asha, json, field):
    response = order(client, asha, json)
    assert response.status_code == 422
    assert field in response.json["detail"]["json"], response.json
    assert order_count(app) == 0 and claims_left(app) == 0


@pytest.mark.parametrize("key", [None, "", "has space", "é", "x" * 256])
def test_the_idempotency_key_is_required_and_plain(app, client, shop, asha, key):
    headers = asha if key is None else {**asha, "Idempotency-Key": key}
    response = client.post("/api/v1/orders", json=body((shop["pickle"], 1)), headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["detail"]["headers"]
    assert order_count(app) == 0


def test_orders_need_a_token(client, shop):
    assert order(client, {}, body((shop["pickle"], 1))).status_code == 401
    assert client.get("/api/v1/orders").status_code == 401
    assert client.get("/api/v1/orders/abc").status_code == 401


def test_a_body_that_is_not_json_is_400(client, shop, asha):
    response = client.post("/api/v1/orders", data="{", content_type="application/json",
                           headers={**asha, "Idempotency-Key": "k"})
    assert response.status_code == 400 and response.json["message"]


# --- history ---------------------------------------------------------------------------


def test_history_is_the_customers_own_orders_newest_first_by_page(app, client, shop, asha):
    refs = [order(client, asha, body((shop["pickle"], 1)), key=f"k{i}").json["ref"] for i in range(3)]
    meera = bearer(api_token(client, username="meera"))
    theirs = order(client, meera, body((shop["pickle"], 1))).json["ref"]
    place(app, shop["vendor"], {shop["pickle"]: 1})  # the store page's: nobody's account
    first = client.get("/api/v1/orders?per_page=2", headers=asha)
    assert first.status_code == 200
    assert first.json["total"] == 3 and first.headers["X-Total-Count"] == "3"
    assert (first.json["page"], first.json["per_page"]) == (1, 2)
    assert [item["ref"] for item in first.json["items"]] == refs[:0:-1]
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    assert first.headers["Cache-Control"] == "no-store"
    second = client.get("/api/v1/orders?per_page=2&page=2", headers=asha).json
    assert [item["ref"] for item in second["items"]] == refs[:1]
    assert client.get("/api/v1/orders?page=9", headers=asha).json["items"] == []
    assert [item["ref"] for item in client.get("/api/v1/orders", headers=meera).json["items"]] == [theirs]


@pytest.mark.parametrize("query", ["page=0", "per_page=101", "page=x", "per_page=-1"])
def test_history_pages_are_checked(client, asha, query):
    response = client.get(f"/api/v1/orders?{query}", headers=asha)
    assert response.status_code == 422
    assert "query" in response.json["detail"]


def test_one_order_by_ref_is_the_customers_own_only(app, client, shop, asha):
    placed = order(client, asha, body((shop["pickle"], 2))).json
    response = client.get(f"/api/v1/orders/{placed['ref']}", headers=asha)
    assert response.status_code == 200 and response.json == placed
    meera = bearer(api_token(client, username="meera"))
    assert client.get(f"/api/v1/orders/{placed['ref']}", headers=meera).status_code == 404
    with app.app_context():
        web_ref = db.session.get(Order, place(app, shop["vendor"], {shop["pickle"]: 1})).ref
    for ref in (web_ref, "nope", "x" * 40, "a%00b", "%E2%82%B9"):
        response = client.get(f"/api/v1/orders/{ref}", headers=asha)
        assert response.status_code == 404 and response.json["message"]


def test_history_shows_the_status_the_vendor_moved_the_order_to(app, client, shop, asha):
    placed = order(client, asha, body((shop["pickle"], 2))).json
    with app.app_context():
        from dukaan import orders

        orders.change_status(db.session.scalars(select(Order)).one(), "cancelled")
    assert client.get(f"/api/v1/orders/{placed['ref']}", headers=asha).json["status"] == "cancelled"
    assert stock(app, shop["pickle"]) == 10


# --- concurrency on PostgreSQL ----------------------------------------------------------


@pytest.mark.postgres
def test_twenty_concurrent_requests_with_one_key_make_one_order(app, shop, asha):
    clients = [app.test_client() for _ in range(20)]
    barrier = threading.Barrier(20)
    results: list = [None] * 20

    def run(i):
        try:
            barrier.wait(timeout=30)
            response = order(clients[i], asha, body((shop["pickle"], 2), (shop["chai"], 1)))
            results[i] = (response.status_code, response.headers.get("Idempotent-Replayed"),
                          (response.json or {}).get("ref"))
        except BaseException as error:  # reported by the test, not by the thread
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(20)]
    for thread in threads:
        thread.start()
    join_all(threads, 60)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[0]
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {201, 409}, statuses
    placed_now = [ref for status, replayed, ref in results if status == 201 and replayed is None]
    assert len(placed_now) == 1
    assert {ref for status, _, ref in results if status == 201} == set(placed_now)
    assert order_count(app) == 1
    assert (stock(app, shop["pickle"]), stock(app, shop["chai"])) == (8, 2)
    assert claim_row(app).order_id is not None
    # Those told to wait get the order when they retry.
    again = order(clients[0], asha, body((shop["pickle"], 2), (shop["chai"], 1)))
    assert (again.status_code, again.headers["Idempotent-Replayed"], again.json["ref"]) == (201, "true", placed_now[0])


@pytest.mark.postgres
def test_two_keys_ordering_one_cart_at_once_make_one_order(app, shop, asha):
    """Two orders from the same cart under different keys (two devices, say): the cart's
    units are ordered once; the other request finds the cart gone."""
    setup = app.test_client()
    cart = setup.post("/api/v1/carts", json={"store": "ravi"}, headers=asha).json["id"]
    setup.put(f"/api/v1/carts/{cart}/lines/{shop['pickle']}", json={"quantity": 4}, headers=asha)
    clients = [app.test_client() for _ in range(6)]
    barrier = threading.Barrier(6)
    results: list = [None] * 6

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = order(clients[i], asha, {"store": "ravi", "cart": cart, "address": ADDRESS},
                               key=f"device-{i}").status_code
        except BaseException as error:  # reported by the test, not by the thread
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(6)]
    for thread in threads:
        thread.start()
    join_all(threads, 60)
    assert sorted(map(str, results)) == ["201"] + ["422"] * 5, results
    assert order_count(app) == 1
    assert stock(app, shop["pickle"]) == 6
