"""A product's own page (/order/<slug>/p/<id>): what it shows, what is no page, and that it is
cached and kept fresh exactly as the store page is."""

from __future__ import annotations

import http.server
import re
import threading

import pytest

from dukaan import jobs, orders
from dukaan.extensions import db
from dukaan.models import Order, Review
from dukaan.storefront_cache import entries
from helpers import AuthActions, make_app, make_product, make_vendor, place, set_store


@pytest.fixture
def shop(app):
    vid = make_vendor(app)
    return {
        "vendor": vid,
        "pickle": make_product(app, vid, "Mango pickle", "99.00", 10, mrp="120.00",
                               description="Sun-cured raw mango.\nNo preservatives."),
        "chai": make_product(app, vid, "Masala chai", "95.00", 3),
        "barfi": make_product(app, vid, "Coconut barfi", "280.00", 0),
        "hidden": make_product(app, vid, "Rose water", "130.00", 5, available=False),
    }


def page(client, product_id, slug="ravi", **headers):
    return client.get(f"/order/{slug}/p/{product_id}", headers=headers)


def html_of(client, product_id) -> str:
    response = page(client, product_id)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def product_fields(name, price="99.00", mrp="120.00", stock="10", description="Sun-cured raw mango."):
    return {"name": name, "price": price, "mrp": mrp, "stock": stock, "description": description}


# --- what it shows ---------------------------------------------------------------------


def test_the_page_shows_the_product_and_the_way_back(client, shop):
    html = html_of(client, shop["pickle"])
    assert "<title>Mango pickle · Ravi&#39;s Store</title>" in html
    assert "<h1>Mango pickle</h1>" in html
    assert "<strong>₹99.00</strong>" in html and '<s aria-label="MRP">₹120.00</s>' in html
    assert "17% off" in html
    assert "Sun-cured raw mango.\nNo preservatives." in html  # shown with its line break (CSS)
    assert 'href="/order/ravi"' in html
    # The cart's controls, and without JavaScript the way to order on the store page.
    assert 'name="qty-%d"' % shop["pickle"] in html and ">Add</button>" in html
    assert 'id="cart-box"' in html and 'hx-get="/order/ravi/cart"' in html
    assert f'href="/order/ravi#item-{shop["pickle"]}"' in html


def test_the_store_page_links_each_product_to_its_page(client, shop):
    html = client.get("/order/ravi").get_data(as_text=True)
    for key in ("pickle", "chai", "barfi"):
        assert f'<a href="/order/ravi/p/{shop[key]}">' in html
    assert f'/order/ravi/p/{shop["hidden"]}' not in html


def test_sold_out_and_held_products_say_so(app, client, shop):
    assert "Sold out" in html_of(client, shop["barfi"])
    assert 'name="qty-%d"' % shop["barfi"] not in html_of(client, shop["barfi"])
    # Every unit of chai in another visitor's cart: held, not sold out.
    other = app.test_client()
    held = other.post("/order/ravi/cart", data={"product_id": str(shop["chai"]), "quantity": "3"})
    assert held.status_code == 200, held.get_data(as_text=True)
    html = html_of(client, shop["chai"])
    assert "In other carts now" in html and 'class="item held"' in html


def test_a_closed_store_shows_the_product_but_takes_no_order(app, client, shop):
    set_store(app, shop["vendor"], open=False)
    html = html_of(client, shop["pickle"])
    assert "<h1>Mango pickle</h1>" in html
    assert "is closed right now" in html
    assert 'name="qty-' not in html and 'id="cart-box"' not in html


@pytest.mark.parametrize("path", [
    "/order/ravi/p/{hidden}",          # the vendor took it off the store
    "/order/ravi/p/999999",            # no such product
    "/order/asha/p/{pickle}",          # another store's link to ravi's product
    "/order/nobody/p/{pickle}",        # no such store
    "/order/ravi/p/0{pickle}",         # not the product's one address
    "/order/ravi/p/99999999999999999999",  # more than PostgreSQL's integer holds
    "/order/ravi/p/-1",
    "/order/ravi/p/pickle",
    "/order/ravi/p/",
])
def test_what_is_not_a_product_page_is_404(app, client, shop, path):
    make_vendor(app, "asha", "Asha's Crafts")
    assert client.get(path.format(**shop)).status_code == 404


def test_a_capitalised_store_link_redirects(client, shop):
    response = client.get(f"/order/Ravi/p/{shop['pickle']}")
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/order/ravi/p/{shop['pickle']}")


# --- reviews -----------------------------------------------------------------------------


def test_the_page_lists_visible_reviews_and_drops_a_hidden_one(app, client, shop):
    order_id = place(app, shop["vendor"], {shop["pickle"]: 1})
    with app.app_context():
        order = db.session.get(Order, order_id)
        for status in ("confirmed", "shipped", "delivered"):
            orders.change_status(order, status)
        from dukaan import reviews

        review_id = reviews.leave(order, shop["pickle"], 4, "Tangy, just like home.").id
    html = html_of(client, shop["pickle"])
    assert "What buyers say" in html and "Tangy, just like home." in html
    assert "★★★★☆" in html and "4.0" in html
    with app.app_context():
        db.session.get(Review, review_id).hidden = True
        db.session.commit()
    html = html_of(client, shop["pickle"])
    assert "Tangy" not in html and "What buyers say" not in html


# --- cached and fresh ----------------------------------------------------------------------


def test_a_second_visit_runs_no_sql_and_a_known_copy_is_304(client, shop, queries):
    first = page(client, shop["pickle"])
    assert first.status_code == 200
    queries.clear()
    second = page(client, shop["pickle"])
    assert queries == [] and second.data == first.data
    assert second.headers["Cache-Control"] == "no-cache"
    again = page(client, shop["pickle"], **{"If-None-Match": second.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_gzip_for_browsers_that_take_it(client, shop):
    import gzip

    response = page(client, shop["pickle"], **{"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "<h1>Mango pickle</h1>" in gzip.decompress(response.data).decode()
    assert "Accept-Encoding" in response.headers["Vary"]


def test_the_vendors_changes_show_at_once(app, client, shop):
    auth = AuthActions(client)
    auth.login()
    assert "<h1>Mango pickle</h1>" in html_of(client, shop["pickle"])
    edited = auth.post(f"/dashboard/products/{shop['pickle']}", product_fields("Lime pickle", price="89.00"))
    assert edited.status_code == 303
    html = html_of(client, shop["pickle"])
    assert "<h1>Lime pickle</h1>" in html and "<strong>₹89.00</strong>" in html
    # The store's name is on every product page.
    set_store(app, shop["vendor"], store_name="Ravi Pickles")
    assert "Ravi Pickles" in html_of(client, shop["pickle"])
    # Taken off the store: no page.
    hidden = auth.post(f"/dashboard/products/{shop['pickle']}/availability", {"available": "no"})
    assert hidden.status_code == 303
    assert page(client, shop["pickle"]).status_code == 404


def test_the_last_unit_sold_shows_sold_out_on_its_page(app, client, shop):
    assert 'name="qty-%d"' % shop["chai"] in html_of(client, shop["chai"])
    place(app, shop["vendor"], {shop["chai"]: 3})
    assert "Sold out" in html_of(client, shop["chai"])


class RefreshCatcher(http.server.ThreadingHTTPServer):
    """Stands in for nginx: notes each refresh request (path, encoding)."""

    def __init__(self):
        self.seen: list[tuple[str, str]] = []
        catcher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                catcher.seen.append((self.path, self.headers.get("Accept-Encoding")))
                self.send_response(404 if "/p/" in self.path and self.path.endswith("/999") else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def nginx_stand_in():
    server = RefreshCatcher()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_change_refreshes_the_product_pages_nginx_may_hold(app, nginx_stand_in, shop, _schema):
    """After a change, nginx is asked for the store page and for every product page
    rendered lately (both encodings), and for no other."""
    fronted = make_app(_schema, app.config.get("CACHE_REDIS_URL"),
                       SHARED_CACHE_URL=f"http://127.0.0.1:{nginx_stand_in.server_port}",
                       CACHE_REFRESH_KEY="k" * 32, SHARED_CACHE_REFRESH_AGAIN_SECONDS=0.05)
    app = fronted
    client = app.test_client()
    assert page(client, shop["pickle"]).status_code == 200
    assert page(client, shop["chai"]).status_code == 200
    assert page(client, shop["hidden"]).status_code == 404  # not remembered
    with app.app_context():
        assert entries.product_pages("ravi") == sorted([shop["pickle"], shop["chai"]])
    place(app, shop["vendor"], {shop["chai"]: 3})  # the last units: the pages change
    jobs.backend(app).join(5)
    paths = {path for path, _ in nginx_stand_in.seen}
    assert paths == {"/order/ravi", f"/order/ravi/p/{shop['pickle']}", f"/order/ravi/p/{shop['chai']}"}
    encodings = {encoding for path, encoding in nginx_stand_in.seen if path.endswith(f"/p/{shop['chai']}")}
    assert encodings == {"gzip", "identity"}
    jobs.backend(fronted).shutdown()


# --- photos ------------------------------------------------------------------------------


def _picture(colour: str) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (800, 600), colour).save(out, "JPEG")
    return out.getvalue()


def test_the_page_shows_every_ready_photo_cover_first(app, client, shop):
    """The gallery: each ready photo with its srcset, size and an alt that counts them; a
    photo added later shows at once (it outdates the page like any change)."""
    from dukaan import photos
    from dukaan.models import Product

    assert 'class="gallery"' not in html_of(client, shop["pickle"])
    with app.app_context():
        product = db.session.get(Product, shop["pickle"])
        for colour in ("orange", "green"):
            photos.add_processed(product, photos.Upload(f"{colour}.jpg", _picture(colour)))
    html = html_of(client, shop["pickle"])
    images = re.findall(r'<img src="([^"]+)" srcset="([^"]+)"[^>]*?width="(\d+)" height="(\d+)"\s*alt="([^"]+)"', html)
    assert [alt for *_, alt in images] == ["Mango pickle, photo 1 of 2", "Mango pickle, photo 2 of 2"]
    assert all("320w" in srcset and "640w" in srcset for _, srcset, *_ in images)
    assert all((width, height) == ("800", "600") for _, _, width, height, _ in images)
    assert "2 photos: swipe to see them all." in html
    assert html.count('loading="lazy"') == 1  # the first is in view at once
    # Another product's page has none of them.
    assert 'class="gallery"' not in html_of(client, shop["chai"])
