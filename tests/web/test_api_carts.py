"""A customer's carts through the API: made for a store, lines that hold stock (or 409 with
what is free), read, deleted; only the customer's own."""

import pytest

from dukaan.extensions import db
from dukaan.models import Cart, Product
from helpers import api_token, bearer, make_product, make_vendor, place


@pytest.fixture
def shop(app):
    vendor = make_vendor(app)
    return {"vendor": vendor,
            "pickle": make_product(app, vendor, "Mango pickle", "120.00", 5),
            "hidden": make_product(app, vendor, "Secret masala", "99.00", 5, available=False),
            "elsewhere": make_product(app, make_vendor(app, "meera", "Meera's"), "Papad", "10.00", 5)}


@pytest.fixture
def asha(client):
    return bearer(api_token(client))


def new_cart(client, headers, store="ravi"):
    return client.post("/api/v1/carts", json={"store": store}, headers=headers)


def set_line(client, headers, cart_id, product_id, quantity):
    return client.put(f"/api/v1/carts/{cart_id}/lines/{product_id}", json={"quantity": quantity},
                      headers=headers)


def stock_free(client):
    return {item["id"]: item["stock"] for item in client.get("/api/v1/stores/ravi/products").json["items"]}


def test_a_cart_holds_stock_until_it_is_deleted(app, client, shop, asha):
    response = new_cart(client, asha, store="Ravi")
    assert response.status_code == 201
    cart = response.json
    assert (cart["store"], cart["lines"], cart["total"], cart["lapsed"]) == ("ravi", [], "0.00", False)
    assert cart["expires_at"]
    response = set_line(client, asha, cart["id"], shop["pickle"], 3)
    assert response.status_code == 200
    assert response.json["lines"] == [{"product_id": shop["pickle"], "name": "Mango pickle", "price": "120.00",
                                       "quantity": 3, "subtotal": "360.00", "problem": None}]
    assert response.json["total"] == "360.00"
    assert stock_free(client)[shop["pickle"]] == 2
    assert client.get(f"/api/v1/carts/{cart['id']}", headers=asha).json == response.json
    # Fewer: the rest is let go.
    assert set_line(client, asha, cart["id"], shop["pickle"], 1).json["total"] == "120.00"
    assert stock_free(client)[shop["pickle"]] == 4
    deleted = client.delete(f"/api/v1/carts/{cart['id']}", headers=asha)
    assert deleted.status_code == 204 and deleted.data == b""
    assert stock_free(client)[shop["pickle"]] == 5
    assert client.get(f"/api/v1/carts/{cart['id']}", headers=asha).status_code == 404
    with app.app_context():
        assert db.session.get(Product, shop["pickle"]).stock == 5


def test_more_than_is_free_is_409_with_what_is_available(app, client, shop, asha):
    other = bearer(api_token(client, username="ravi-k"))
    theirs = new_cart(client, other).json["id"]
    assert set_line(client, other, theirs, shop["pickle"], 4).status_code == 200
    mine = new_cart(client, asha).json["id"]
    response = set_line(client, asha, mine, shop["pickle"], 2)
    assert response.status_code == 409
    assert response.json["detail"] == {"product_id": shop["pickle"], "available": 1}
    assert response.json["message"] == "Only 1 available."
    assert client.get(f"/api/v1/carts/{mine}", headers=asha).json["lines"] == []
    assert set_line(client, asha, mine, shop["pickle"], 1).status_code == 200
    sold_out = set_line(client, asha, mine, shop["pickle"], 2)
    assert sold_out.status_code == 409 and sold_out.json["detail"]["available"] == 1


def test_a_hidden_product_is_409_none_available_and_another_stores_is_404(client, shop, asha):
    cart = new_cart(client, asha).json["id"]
    hidden = set_line(client, asha, cart, shop["hidden"], 1)
    assert hidden.status_code == 409 and hidden.json["detail"]["available"] == 0
    for product_id in (shop["elsewhere"], 999999, 2**31, 10**20):
        assert set_line(client, asha, cart, product_id, 1).status_code == 404


def test_a_line_past_the_per_order_limit_is_422(app, client, shop, asha):
    with app.app_context():
        db.session.get(Product, shop["pickle"]).max_per_order = 2
        db.session.commit()
    cart = new_cart(client, asha).json["id"]
    response = set_line(client, asha, cart, shop["pickle"], 3)
    assert response.status_code == 422
    assert "quantity" in response.json["detail"]["json"]


@pytest.mark.parametrize("quantity", [-1, 1000, 1.5, "2", True, None])
def test_invalid_quantities_are_422(client, shop, asha, quantity):
    cart = new_cart(client, asha).json["id"]
    response = set_line(client, asha, cart, shop["pickle"], quantity)
    assert response.status_code == 422
    assert "quantity" in response.json["detail"]["json"]


@pytest.mark.parametrize("body", [{}, {"store": "nobody"}, {"store": ""}, {"store": "ra\x00vi"}, {"store": 7},
                                  {"store": "ravi", "extra": 1}])
def test_a_cart_needs_a_real_store(client, shop, asha, body):
    response = client.post("/api/v1/carts", json=body, headers=asha)
    assert response.status_code == 422
    assert "detail" in response.json


def test_another_customers_cart_is_404_whatever_the_verb(app, client, shop, asha):
    cart = new_cart(client, asha).json["id"]
    set_line(client, asha, cart, shop["pickle"], 2)
    other = bearer(api_token(client, username="ravi-k"))
    assert client.get(f"/api/v1/carts/{cart}", headers=other).status_code == 404
    assert set_line(client, other, cart, shop["pickle"], 0).status_code == 404
    assert client.delete(f"/api/v1/carts/{cart}", headers=other).status_code == 404
    assert client.get(f"/api/v1/carts/{cart}", headers=asha).json["lines"][0]["quantity"] == 2
    for missing in (cart + 1, 2**31, 10**20):
        assert client.get(f"/api/v1/carts/{missing}", headers=asha).status_code == 404


def test_a_store_page_cart_is_no_customers(app, client, shop, asha):
    from dukaan import carts
    from dukaan.models import Vendor

    with app.app_context():
        cookie_cart = carts.set_quantity(db.session.get(Vendor, shop["vendor"]), None, shop["pickle"], 1).id
    assert client.get(f"/api/v1/carts/{cookie_cart}", headers=asha).status_code == 404


@pytest.mark.parametrize("method, path", [
    ("post", "/api/v1/carts"), ("get", "/api/v1/carts/1"), ("put", "/api/v1/carts/1/lines/1"),
    ("delete", "/api/v1/carts/1"),
])
def test_carts_need_a_token(client, shop, method, path):
    response = getattr(client, method)(path, json={"store": "ravi", "quantity": 1})
    assert response.status_code == 401
    assert response.json["status"] == 401


def test_a_sale_elsewhere_shows_in_the_cart(app, client, shop, asha):
    cart = new_cart(client, asha).json["id"]
    set_line(client, asha, cart, shop["pickle"], 2)
    with app.app_context():
        cart_row = db.session.get(Cart, cart)
        from datetime import timedelta

        from dukaan.models import utcnow
        cart_row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    place(app, shop["vendor"], {shop["pickle"]: 4})
    shown = client.get(f"/api/v1/carts/{cart}", headers=asha).json
    assert shown["lapsed"] is True
    assert shown["lines"][0]["problem"] == "Only 1 left."
