"""Reviews: after delivery, one per order line, rating 1–5 and optional plain text; the store
page shows each product's average and count at once; the vendor hides a review."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from dukaan import orders
from dukaan.extensions import db
from dukaan.models import Order, Review
from helpers import HX, AuthActions, field_error, make_product, make_vendor, place, set_store


@pytest.fixture
def shop(app):
    vid = make_vendor(app)
    return {
        "vendor": vid,
        "pickle": make_product(app, vid, "Mango pickle", "120.00", 10),
        "chai": make_product(app, vid, "Masala chai", "95.00", 10),
        "barfi": make_product(app, vid, "Coconut barfi", "280.00", 10),
    }


def delivered(app, shop, qty=None, *, status_moves=("confirmed", "shipped", "delivered")) -> str:
    """Place an order of ``qty`` (pickle and chai by default) and move it on; its page's path."""
    order_id = place(app, shop["vendor"], qty or {shop["pickle"]: 1, shop["chai"]: 2})
    with app.app_context():
        order = db.session.get(Order, order_id)
        for status in status_moves:
            orders.change_status(order, status)
        return f"/order/ravi/{order.ref}"


def review(client, page, product_id, rating="5", text="Lovely.", htmx=False, **headers):
    data = {"product_id": str(product_id), "rating": str(rating), "text": text}
    return client.post(f"{page}/reviews", data=data, headers={**(HX if htmx else {}), **headers})


def stored_reviews(app) -> list[tuple]:
    with app.app_context():
        found = db.session.scalars(select(Review).order_by(Review.id))
        return [(r.product_id, r.rating, r.text, r.hidden) for r in found]


def item(html, product_id):
    match = re.search(rf'<li class="item[^"]*" id="item-{product_id}">(.*?)</li>', html, re.S)
    assert match
    return match.group(1)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_buyer_reviews_a_delivered_product(app, client, shop, htmx):
    page = delivered(app, shop)
    response = review(client, page, shop["pickle"], 4, "  Tangy, <b>just</b> right.  ", htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    assert stored_reviews(app) == [(shop["pickle"], 4, "Tangy, <b>just</b> right.", False)]
    html = client.get(page).get_data(as_text=True)
    assert "Mango pickle: <span class=\"stars\" aria-label=\"4 out of 5\">★★★★☆</span>" in html
    assert "<q>Tangy, &lt;b&gt;just&lt;/b&gt; right.</q>" in html  # plain text
    # The form now offers only what is left to review.
    form = html[html.index('id="review-form"'):]
    assert f'<option value="{shop["chai"]}">Masala chai</option>' in form
    assert f'<option value="{shop["pickle"]}"' not in form


def test_the_review_form_appears_only_after_delivery(app, client, shop):
    page = delivered(app, shop, status_moves=("confirmed", "shipped"))
    assert "review-form" not in client.get(page).get_data(as_text=True)
    with app.app_context():
        orders.change_status(db.session.scalar(select(Order)), "delivered")
    assert 'id="review-form"' in client.get(page).get_data(as_text=True)


def test_when_every_line_is_reviewed_the_form_goes(app, client, shop):
    page = delivered(app, shop)
    assert review(client, page, shop["pickle"]).status_code == 303
    assert review(client, page, shop["chai"], 3, "").status_code == 303
    html = client.get(page).get_data(as_text=True)
    assert 'id="review-form"' not in html and html.count('class="stars"') == 2


@pytest.mark.parametrize("moves", [(), ("confirmed",), ("confirmed", "shipped"), ("cancelled",)])
def test_an_undelivered_order_cannot_be_reviewed(app, client, shop, moves):
    page = delivered(app, shop, status_moves=moves)
    response = review(client, page, shop["pickle"], htmx=True)
    assert response.status_code == 409
    assert "once it is delivered" in response.get_data(as_text=True)
    assert stored_reviews(app) == []


def test_a_product_not_in_the_order_cannot_be_reviewed(app, client, shop):
    page = delivered(app, shop)
    other = make_vendor(app, "meena", "Meena's Store")
    saree = make_product(app, other, "Silk saree", "2500", 3)
    for product_id in (shop["barfi"], saree, 999999):
        response = review(client, page, product_id)
        assert response.status_code == 422
        assert "did not buy that product" in response.get_data(as_text=True)
    assert stored_reviews(app) == []


def test_a_second_review_of_a_line_is_409(app, client, shop):
    page = delivered(app, shop)
    assert review(client, page, shop["pickle"], 5).status_code == 303
    response = review(client, page, shop["pickle"], 1, "Changed my mind")
    assert response.status_code == 409
    assert "already reviewed Mango pickle" in response.get_data(as_text=True)
    assert stored_reviews(app) == [(shop["pickle"], 5, "Lovely.", False)]


def test_each_order_reviews_its_own_lines(app, client, shop):
    """Buying the same product twice lets the buyer review it once per order."""
    first, second = delivered(app, shop), delivered(app, shop)
    assert review(client, first, shop["pickle"], 5).status_code == 303
    assert review(client, second, shop["pickle"], 3).status_code == 303
    assert len(stored_reviews(app)) == 2


@pytest.mark.parametrize("field, data", [
    ("rating", {"rating": "0"}), ("rating", {"rating": "6"}), ("rating", {"rating": "4.5"}),
    ("rating", {"rating": "٣"}), ("rating", {"rating": ""}), ("rating", {"rating": "five"}),
    ("product_id", {"product_id": ""}), ("product_id", {"product_id": "abc"}), ("product_id", {"product_id": "-1"}),
    ("product_id", {"product_id": "1" * 13}), ("text", {"text": "x" * 1001}), ("text", {"text": "bad\x00text"}),
])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_bad_review_input_is_422_next_to_the_field(app, client, shop, field, data, htmx):
    page = delivered(app, shop)
    fields = {"product_id": str(shop["pickle"]), "rating": "4", "text": "Nice", **data}
    response = client.post(f"{page}/reviews", data=fields, headers=HX if htmx else {})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, field), f"no error next to {field}"
    assert ("<html" in html) is not htmx
    if field != "text":
        assert "Nice</textarea>" in html  # the text typed stays
    assert stored_reviews(app) == []


def test_reviews_from_another_site_are_refused(app, client, shop):
    page = delivered(app, shop)
    assert review(client, page, shop["pickle"], **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert stored_reviews(app) == []


def test_reviews_under_another_store_or_ref_are_404(app, client, shop):
    page = delivered(app, shop)
    make_vendor(app, "meena", "Meena's Store")
    ref = page.rsplit("/", 1)[1]
    for path in (f"/order/meena/{ref}", f"/order/ravi/{ref[:-1]}x"):
        assert review(client, path, shop["pickle"]).status_code == 404
    assert stored_reviews(app) == []


# --- the store page ---------------------------------------------------------------------


def test_the_store_page_shows_each_products_average_and_count_at_once(app, client, shop):
    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = 0.2
    assert "class=\"rating\"" not in client.get("/order/ravi").get_data(as_text=True)
    first, second = delivered(app, shop), delivered(app, shop)
    review(client, first, shop["pickle"], 5)
    html = client.get("/order/ravi").get_data(as_text=True)
    assert '★</span> 5.0<span class="sr-only"> out of 5</span> <small>(1 review)</small>' in item(html, shop["pickle"])
    review(client, second, shop["pickle"], 4)
    html = client.get("/order/ravi").get_data(as_text=True)
    assert "4.5<span class=\"sr-only\"> out of 5</span> <small>(2 reviews)</small>" in item(html, shop["pickle"])
    assert 'class="rating"' not in item(html, shop["chai"])


def test_hiding_a_review_takes_it_off_the_store_page_at_once(app, client, shop):
    page = delivered(app, shop)
    review(client, page, shop["pickle"], 2, "Too salty")
    auth = AuthActions(client)
    auth.login()
    assert "(1 review)" in item(client.get("/order/ravi").get_data(as_text=True), shop["pickle"])
    response = auth.post("/dashboard/reviews/1/visibility", {"hidden": "yes"}, htmx=True)
    assert response.status_code == 200 and response.get_data(as_text=True).startswith('<tr id="review-1"')
    assert stored_reviews(app)[0][3] is True
    assert 'class="rating"' not in item(client.get("/order/ravi").get_data(as_text=True), shop["pickle"])
    assert auth.post("/dashboard/reviews/1/visibility", {"hidden": "no"}).status_code == 303
    assert "(1 review)" in item(client.get("/order/ravi").get_data(as_text=True), shop["pickle"])


def test_the_store_page_reads_ratings_with_the_products(app, client, shop, queries):
    """No query more for ratings: still the vendor, then the products."""
    app.config["STOREFRONT_CACHE"] = False
    review(client, delivered(app, shop), shop["pickle"], 5)
    queries.clear()
    assert "(1 review)" in client.get("/order/ravi").get_data(as_text=True)
    assert len(queries) == 2


# --- the vendor's reviews ------------------------------------------------------------------


def test_the_vendor_sees_their_reviews_as_plain_text(app, client, shop):
    review(client, delivered(app, shop), shop["pickle"], 3, "<script>alert(1)</script>")
    auth = AuthActions(client)
    auth.login()
    html = client.get("/dashboard/reviews").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "<td data-label=\"Product\">Mango pickle</td>" in html
    assert 'href="/dashboard/reviews" aria-current="page"' in html


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_a_vendor_cannot_hide_another_vendors_review(app, client, shop, htmx):
    review(client, delivered(app, shop), shop["pickle"], 3)
    make_vendor(app, "meena", "Meena's Store")
    auth = AuthActions(client)
    auth.login("meena")
    assert "Mango pickle" not in client.get("/dashboard/reviews").get_data(as_text=True)
    assert auth.post("/dashboard/reviews/1/visibility", {"hidden": "yes"}, htmx=htmx).status_code == 404
    assert stored_reviews(app)[0][3] is False


@pytest.mark.parametrize("value", ["", "maybe", "YES"])
def test_a_visibility_that_is_not_yes_or_no_is_422(app, client, shop, value):
    review(client, delivered(app, shop), shop["pickle"], 3)
    auth = AuthActions(client)
    auth.login()
    assert auth.post("/dashboard/reviews/1/visibility", {"hidden": value}, htmx=True).status_code == 422
    assert stored_reviews(app)[0][3] is False


def test_hiding_needs_the_csrf_token_and_a_login(app, client, shop):
    review(client, delivered(app, shop), shop["pickle"], 3)
    assert client.post("/dashboard/reviews/1/visibility", data={"hidden": "yes"}).status_code in (302, 400)
    AuthActions(client).login()
    assert client.post("/dashboard/reviews/1/visibility", data={"hidden": "yes"}).status_code == 400
    assert stored_reviews(app)[0][3] is False


def test_a_review_count_survives_the_product_being_deleted(app, client, shop):
    review(client, delivered(app, shop), shop["pickle"], 3)
    with app.app_context():
        from dukaan.models import Product

        db.session.delete(db.session.get(Product, shop["pickle"]))
        db.session.commit()
        assert db.session.scalar(select(func.count(Review.id))) == 1
    set_store(app, shop["vendor"], open=True)
    assert client.get("/order/ravi").status_code == 200
