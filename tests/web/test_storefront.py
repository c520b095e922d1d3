"""The customer's store page: what it shows, and that it is the same for everyone."""

from __future__ import annotations

import re

import pytest

from dukaan.extensions import db
from dukaan.models import Order
from helpers import make_product, make_vendor


def order_form(name="Meera", phone="9876543210", address="12 MG Road, Pune", token=None, **qty):
    """Checkout form data; ``qty`` maps product id (as ``p<id>``) or field name to a value."""
    data = {"name": name, "phone": phone, "address": address}
    if token is not None:
        data["order_token"] = token
    for key, value in qty.items():
        data[key] = str(value)
    return data


def items(html: str) -> dict[int, str]:
    """The catalogue's <li> items by product id."""
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r'<li class="item[^"]*" id="item-(\d+)">(.*?)</li>', html, re.S)
    }


@pytest.fixture
def store(app):
    """Ravi's store: a discounted product, a plain one, a sold-out one and a hidden one."""
    vid = make_vendor(app)
    return {
        "vendor": vid,
        "pickle": make_product(app, vid, "Mango pickle", "99.00", 10, mrp="120.00",
                               description="Sun-cured raw mango."),
        "chai": make_product(app, vid, "Masala chai", "1250.50", 3),
        "barfi": make_product(app, vid, "Coconut barfi", "280.00", 0, description="Back next week."),
        "saffron": make_product(app, vid, "Kashmiri saffron", "390.00", 9, available=False),
    }


# --- what the page shows ---------------------------------------------------------


def test_store_shows_name_and_available_products(client, store):
    response = client.get("/order/ravi")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Ravi&#39;s Store" in html
    shown = items(html)
    assert set(shown) == {store["pickle"], store["chai"], store["barfi"]}
    pickle = shown[store["pickle"]]
    assert ">Mango pickle</a></h2>" in pickle
    assert "<strong>₹99.00</strong>" in pickle
    assert '<s aria-label="MRP">₹120.00</s>' in pickle
    assert "Sun-cured raw mango." in pickle
    assert f'name="qty-{store["pickle"]}"' in pickle
    chai = shown[store["chai"]]
    assert "₹1,250.50" in chai
    assert "MRP" not in chai  # no MRP, no strike-through


def test_unavailable_product_is_absent(client, store):
    html = client.get("/order/ravi").get_data(as_text=True)
    assert "Kashmiri saffron" not in html
    assert f'qty-{store["saffron"]}' not in html
    assert "₹390.00" not in html


def test_sold_out_product_shown_without_quantity_input(client, store):
    html = client.get("/order/ravi").get_data(as_text=True)
    barfi = items(html)[store["barfi"]]
    assert "Coconut barfi" in barfi
    assert "Sold out" in barfi
    assert "<input" not in barfi
    assert f'qty-{store["barfi"]}' not in html
    # In-stock products do not say sold out.
    assert "Sold out" not in items(html)[store["pickle"]]


def test_store_with_nothing_on_sale(app, client):
    make_vendor(app, "empty", "Empty Shelf")
    html = client.get("/order/empty").get_data(as_text=True)
    assert "Empty Shelf" in html
    assert "Nothing is on sale here right now" in html
    assert items(html) == {}


def test_only_this_stores_products(app, client, store):
    other = make_vendor(app, "asha", "Asha's Crafts")
    make_product(app, other, "Brass bell", "549.00", 5)
    html = client.get("/order/ravi").get_data(as_text=True)
    assert "Brass bell" not in html
    html = client.get("/order/asha").get_data(as_text=True)
    assert "Brass bell" in html
    assert "Mango pickle" not in html


def test_product_text_is_escaped(app, client):
    vid = make_vendor(app)
    make_product(app, vid, "<script>alert(1)</script>", "10.00", 1, description="<b>bold</b>")
    html = client.get("/order/ravi").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_page_has_checkout_form_without_csrf(client, store):
    html = client.get("/order/ravi").get_data(as_text=True)
    assert 'method="post" action="/order/ravi"' in html
    assert 'name="order_token"' in html
    for field in ("name", "phone", "address"):
        assert f'name="{field}"' in html
    assert "csrf" not in html.lower()
    assert "X-CSRFToken" not in html


# --- addresses -------------------------------------------------------------------


def test_unknown_store_is_404(client, store):
    response = client.get("/order/nobody")
    assert response.status_code == 404
    assert "Mango pickle" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/order/%00", "/order/a%00b", "/order/" + "x" * 5000,
                                  "/order/%F0%9F%98%80", "/order/ravi%00"])
def test_junk_store_slug_is_404_not_500(client, store, path):
    assert client.get(path).status_code == 404
    assert client.post(path, data=order_form()).status_code == 404


@pytest.mark.parametrize("path", ["/order/Ravi", "/order/RAVI", "/order/rAvI"])
def test_mixed_case_slug_redirects_permanently_to_lowercase(client, store, path):
    response = client.get(path)
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/order/ravi")
    assert client.get(path, follow_redirects=True).status_code == 200


def test_mixed_case_unknown_slug_redirects_then_404(client, store):
    response = client.get("/order/Nobody")
    assert response.status_code == 301
    assert client.get("/order/Nobody", follow_redirects=True).status_code == 404


# --- the same bytes for everyone --------------------------------------------------


def _login(app, client, username, password="secret-pass"):
    from helpers import AuthActions

    AuthActions(client).login(username, password)
    assert client.get_cookie("session") is not None


def _assert_anonymous_response(response):
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "csrf" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize("warm", [False, True], ids=["cache-miss", "cache-hit"])
def test_store_page_is_identical_for_every_visitor(app, store, warm):
    """An anonymous visitor, the store's own vendor and another vendor get the same bytes."""
    make_vendor(app, "asha", "Asha's Crafts")
    anonymous = app.test_client()
    owner = app.test_client()
    stranger = app.test_client()
    _login(app, owner, "ravi")
    _login(app, stranger, "asha")
    # Visiting the dashboard puts a CSRF token in the session: it must not leak.
    assert owner.get("/dashboard/products").status_code == 200
    if warm:
        app.test_client().get("/order/ravi")
    else:
        from dukaan.extensions import cache

        with app.app_context():
            cache.clear()
    responses = [c.get("/order/ravi") for c in (owner, anonymous, stranger, anonymous)]
    for response in responses:
        _assert_anonymous_response(response)
    bodies = {r.data for r in responses}
    assert len(bodies) == 1
    # Each response has its own request id: nginx hides the app's and adds its own, cached copy or not.
    headers = {tuple(sorted(h for h in r.headers.items() if h[0] != "X-Request-ID")) for r in responses}
    assert len(headers) == 1
    # The owner is still logged in: the storefront did not log them out.
    assert owner.get("/dashboard/products").status_code == 200


def test_store_page_sends_no_cookie_to_a_new_visitor(client, store):
    response = client.get("/order/ravi")
    _assert_anonymous_response(response)
    assert client.get_cookie("session") is None


# --- the order page -----------------------------------------------------------------


def _place(client, store, token=None, **qty):
    response = client.post("/order/ravi", data=order_form(token=token, **qty))
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def test_order_page_shows_number_lines_total_and_status(client, store):
    location = _place(client, store, **{f"qty-{store['pickle']}": 2, f"qty-{store['chai']}": 1})
    assert re.fullmatch(r"/order/ravi/[A-Za-z0-9_-]{20,32}", location)
    response = client.get(location)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Order #1</h1>" in html
    assert "Status: <strong class=\"status-placed\">Placed</strong>" in html
    assert "<td>Mango pickle</td><td>2</td><td>₹99.00</td><td>₹198.00</td>" in html
    assert "<td>Masala chai</td><td>1</td><td>₹1,250.50</td><td>₹1,250.50</td>" in html
    assert "<strong>₹1,448.50</strong>" in html
    assert "Meera" in html and "12 MG Road, Pune" in html and "9876543210" in html
    assert "Ravi&#39;s Store" in html


def test_order_page_is_private(client, store):
    location = _place(client, store, **{f"qty-{store['pickle']}": 1})
    response = client.get(location)
    # It shows the customer's name, phone and address: no cache, shared or the browser's, keeps it.
    assert response.headers["Cache-Control"] == "no-store"


def test_order_numbers_count_per_vendor(app, client, store):
    asha = make_vendor(app, "asha", "Asha's Crafts")
    bell = make_product(app, asha, "Brass bell", "549.00", 5)
    first = _place(client, store, **{f"qty-{store['pickle']}": 1})
    second = _place(client, store, **{f"qty-{store['pickle']}": 1})
    response = client.post("/order/asha", data=order_form(**{f"qty-{bell}": 1}))
    assert response.status_code == 303
    assert "<h1>Order #1</h1>" in client.get(first).get_data(as_text=True)
    assert "<h1>Order #2</h1>" in client.get(second).get_data(as_text=True)
    assert "<h1>Order #1</h1>" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_order_page_unknown_ref_is_404(client, store):
    _place(client, store, **{f"qty-{store['pickle']}": 1})
    assert client.get("/order/ravi/not-a-real-ref").status_code == 404
    assert client.get("/order/nobody/not-a-real-ref").status_code == 404


@pytest.mark.parametrize("ref", ["%00", "a%00b", "x" * 3000])
def test_order_page_junk_ref_is_404_not_500(client, store, ref):
    assert client.get(f"/order/ravi/{ref}").status_code == 404


def test_order_page_under_another_slug_is_404(app, client, store):
    make_vendor(app, "asha", "Asha's Crafts")
    location = _place(client, store, **{f"qty-{store['pickle']}": 1})
    ref = location.rsplit("/", 1)[1]
    response = client.get(f"/order/asha/{ref}")
    assert response.status_code == 404
    assert "Meera" not in response.get_data(as_text=True)


def test_order_page_mixed_case_slug_redirects(client, store):
    location = _place(client, store, **{f"qty-{store['pickle']}": 1})
    ref = location.rsplit("/", 1)[1]
    response = client.get(f"/order/RAVI/{ref}")
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/order/ravi/{ref}")


def test_order_page_shows_later_status(app, client, store):
    from dukaan import orders

    location = _place(client, store, **{f"qty-{store['pickle']}": 1})
    with app.app_context():
        order = db.session.query(Order).one()
        orders.change_status(order, "confirmed")
    html = client.get(location).get_data(as_text=True)
    assert '<strong class="status-confirmed">Confirmed</strong>' in html



# --- the running total ----------------------------------------------------------------


def total(client, query: str = "", **headers):
    return client.get(f"/order/ravi/total{query}", headers=headers)


def test_total_prices_the_chosen_quantities(client, store):
    response = total(client, f"?qty-{store['pickle']}=2&qty-{store['chai']}=1", **{"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "₹1,448.50" in html  # 2 × 99.00 + 1250.50
    assert "3 items" in html
    assert "<html" not in html
    assert response.headers["Cache-Control"] == "no-store"


def test_total_of_nothing_is_zero(client, store):
    html = total(client).get_data(as_text=True)
    assert "₹0.00" in html and "error" not in html


def test_total_names_short_stock_and_products_not_on_sale(client, store):
    query = f"?qty-{store['chai']}=5&qty-{store['barfi']}=1&qty-{store['saffron']}=1"
    html = total(client, query).get_data(as_text=True)
    assert "Masala chai: only 3 left." in html
    assert "Coconut barfi: sold out, 0 left." in html
    assert "A product you chose is not available." in html
    assert "Kashmiri saffron" not in html and "₹390.00" not in html  # hidden: not priced or named
    assert "₹6,532.50" in html  # what is on sale: 5 × 1250.50 + 1 × 280.00


@pytest.mark.parametrize("query", [
    "?qty-abc=1", "?qty-1=abc", "?qty-1=-1", "?qty-1=1e3", "?qty-1=%00", "?qty-" + "9" * 5000 + "=1",
    "?qty-99999999999=1", "?qty-1=" + "9" * 5000, "?qty-1=1&qty-1=2", "?name=Meera&phone=x",
])
def test_total_never_fails_on_junk(client, store, query):
    response = total(client, query)
    assert response.status_code == 200
    assert "₹" in response.get_data(as_text=True)


def test_total_needs_no_session_and_sets_no_cookie(app, client, store):
    from helpers import AuthActions

    AuthActions(client).login()
    response = total(client, f"?qty-{store['pickle']}=1")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    # It varies with the cart cookie (a visitor's own holds), never with the login session.
    anonymous = app.test_client()
    assert total(anonymous, f"?qty-{store['pickle']}=1").data == response.data


@pytest.mark.parametrize("path", ["/order/nobody/total", "/order/%00/total", "/order/a%00b/total"])
def test_total_of_an_unknown_store_is_404(client, store, path):
    assert client.get(path).status_code == 404


def test_store_page_asks_for_the_total_without_personal_details(client, store):
    """The total's request carries only the quantities and the payment choice, never the
    customer's details; a change of payment asks again."""
    html = client.get("/order/ravi").get_data(as_text=True)
    assert 'hx-get="/order/ravi/total"' in html
    assert "hx-include=\".items input[name^='qty-'], #payment input[name='payment']\"" in html
    assert 'hx-trigger="input delay:250ms from:.items, change from:#payment, cart-changed from:body"' in html
    assert 'hx-params="not name,phone,address,email,order_token"' in html
