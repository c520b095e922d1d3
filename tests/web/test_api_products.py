"""A store's products through the API: pages, filters, orders, what can be bought now,
ETags and freshness."""

import time
from decimal import Decimal

import pytest

from dukaan import carts, products
from dukaan.extensions import db
from dukaan.models import Product, Vendor
from helpers import make_app, make_product, make_vendor, place, recording, vendor_id_of

LIST = "/api/v1/stores/ravi/products"


@pytest.fixture
def shop(app):
    vendor = make_vendor(app)
    ids = {
        "pickle": make_product(app, vendor, "Mango pickle", "120.00", 10, mrp="150.00",
                              description="Raw mango in mustard oil"),
        "papad": make_product(app, vendor, "Urad papad", "45.50", 0),
        "chutney": make_product(app, vendor, "Coconut chutney 50%_off", "80.00", 3),
        "hidden": make_product(app, vendor, "Secret masala", "99.00", 5, available=False),
    }
    other = make_vendor(app, "meera", "Meera's")
    ids["elsewhere"] = make_product(app, other, "Mango pickle", "10.00", 5)
    return {"vendor": vendor, **ids}


def names(response):
    return [item["name"] for item in response.json["items"]]


def hold(app, vendor_id, product_id, quantity):
    with app.app_context():
        carts.set_quantity(db.session.get(Vendor, vendor_id), None, product_id, quantity)


def test_a_store_and_its_details_need_no_token(client, shop):
    response = client.get("/api/v1/stores/ravi")
    assert response.status_code == 200
    assert response.json == {"slug": "ravi", "name": "Ravi's Store"}
    assert client.get("/api/v1/stores/RAVI").json["slug"] == "ravi"


@pytest.mark.parametrize("slug", ["nobody", "a", "x" * 40, "ra%00vi", "ravi%20", "..", "%E0%A5%A8"])
def test_an_unknown_store_is_404_in_json(client, shop, slug):
    for path in (f"/api/v1/stores/{slug}", f"/api/v1/stores/{slug}/products"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json["status"] == 404


def test_the_list_shows_what_the_store_has_on_sale(client, shop):
    response = client.get(LIST)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.json
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 3)
    assert body["items"][0] == {
        "id": shop["pickle"], "name": "Mango pickle", "description": "Raw mango in mustard oil",
        "price": "120.00", "mrp": "150.00", "stock": 10, "available": True, "max_per_order": None,
        "category": None, "photos": [],
    }
    # Oldest first, as the store page; sold out included, hidden and other stores' not.
    assert names(response) == ["Mango pickle", "Urad papad", "Coconut chutney 50%_off"]
    papad = body["items"][1]
    assert (papad["stock"], papad["available"], papad["mrp"]) == (0, False, None)
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")


def test_stock_is_what_can_be_bought_now(app, client, shop):
    hold(app, shop["vendor"], shop["pickle"], 4)
    hold(app, shop["vendor"], shop["chutney"], 3)
    items = {item["id"]: item for item in client.get(LIST).json["items"]}
    assert (items[shop["pickle"]]["stock"], items[shop["pickle"]]["available"]) == (6, True)
    assert (items[shop["chutney"]]["stock"], items[shop["chutney"]]["available"]) == (0, False)
    assert names(client.get(LIST + "?in_stock=true")) == ["Mango pickle"]
    assert names(client.get(LIST + "?in_stock=false")) == ["Urad papad", "Coconut chutney 50%_off"]


@pytest.mark.parametrize("query, expected", [
    ("q=MANGO", ["Mango pickle"]),
    ("q=mustard", ["Mango pickle"]),
    ("q=50%25_", ["Coconut chutney 50%_off"]),
    ("q=%25", ["Coconut chutney 50%_off"]),
    ("q=_", ["Coconut chutney 50%_off"]),
    ("q=masala", []),
    ("min_price=80", ["Mango pickle", "Coconut chutney 50%_off"]),
    ("max_price=80.00", ["Urad papad", "Coconut chutney 50%_off"]),
    ("min_price=45.5&max_price=45.5", ["Urad papad"]),
    ("in_stock=true&max_price=100", ["Coconut chutney 50%_off"]),
    ("category=999", []),
    ("q=mango%20MUSTARD", ["Mango pickle"]),
    ("q=mango%20chutney", []),
    ("sort=price", ["Urad papad", "Coconut chutney 50%_off", "Mango pickle"]),
    ("sort=-price", ["Mango pickle", "Coconut chutney 50%_off", "Urad papad"]),
    ("sort=name", ["Coconut chutney 50%_off", "Mango pickle", "Urad papad"]),
    ("sort=newest", ["Coconut chutney 50%_off", "Urad papad", "Mango pickle"]),
    ("unknown=1", ["Mango pickle", "Urad papad", "Coconut chutney 50%_off"]),
])
def test_filters_and_orders(client, shop, query, expected):
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.json
    assert names(response) == expected
    assert response.json["total"] == len(expected)


@pytest.mark.parametrize("query, field", [
    ("page=0", "page"), ("page=-1", "page"), ("page=x", "page"), ("page=1.5", "page"),
    ("page=%E0%A5%A8", "page"), ("page=100001", "page"), ("page=99999999999999999999", "page"),
    ("per_page=0", "per_page"), ("per_page=101", "per_page"), ("per_page=", "per_page"),
    ("min_price=-1", "min_price"), ("min_price=abc", "min_price"), ("min_price=1e3", "min_price"),
    ("min_price=NaN", "min_price"), ("max_price=1.005", "max_price"), ("max_price=100000000", "max_price"),
    ("max_price=%E0%A5%A8", "max_price"), ("in_stock=maybe", "in_stock"), ("sort=cheapest", "sort"),
    ("q=", "q"), ("q=" + "x" * 101, "q"), ("q=a%00b", "q"), ("category=", "category"),
    ("category=pickles", "category"), ("category=0", "category"), ("category=2147483648", "category"),
])
def test_invalid_parameters_are_422_naming_them(client, shop, query, field):
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 422, response.json
    assert field in response.json["detail"]["query"]


def test_a_minimum_above_the_maximum_is_422(client, shop):
    response = client.get(f"{LIST}?min_price=100&max_price=50")
    assert response.status_code == 422
    assert "min_price" in response.json["detail"]["query"]


def test_pages_with_the_total_and_link_headers(app, client, shop):
    for i in range(22):
        make_product(app, shop["vendor"], f"Spice {i:02}", "10.00", 1)
    first = client.get(f"{LIST}?per_page=10&q=spice")
    assert first.json["total"] == 22 and len(first.json["items"]) == 10
    assert first.headers["X-Total-Count"] == "22"
    links = first.headers["Link"]
    assert '<http://localhost/api/v1/stores/ravi/products?per_page=10&q=spice&page=2>; rel="next"' in links
    assert 'page=3>; rel="last"' in links and 'page=1>; rel="first"' in links
    assert 'rel="prev"' not in links
    last = client.get(f"{LIST}?per_page=10&q=spice&page=3")
    assert names(last) == ["Spice 20", "Spice 21"]
    assert 'page=2>; rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    beyond = client.get(f"{LIST}?per_page=10&q=spice&page=9")
    assert beyond.status_code == 200 and beyond.json["items"] == []
    assert 'page=3>; rel="prev"' in beyond.headers["Link"]
    assert len(client.get(f"{LIST}?per_page=100").json["items"]) == 25


def test_an_unchanged_list_is_304_by_its_etag(client, shop):
    response = client.get(LIST)
    etag = response.headers["ETag"]
    assert response.headers["Cache-Control"] == "no-cache"
    again = client.get(LIST, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    # Another page or filter is another list.
    assert client.get(LIST + "?sort=name", headers={"If-None-Match": etag}).status_code == 200
    # The weak form nginx sends back once it has gzipped the list still matches.
    assert client.get(LIST, headers={"If-None-Match": "W/" + etag}).status_code == 304


def test_a_change_gives_a_new_etag(app, client, shop):
    etag = client.get(LIST).headers["ETag"]
    place(app, shop["vendor"], {shop["pickle"]: 1})
    response = client.get(LIST, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json["items"][0]["stock"] == 9


@pytest.mark.redis
def test_lists_are_kept_per_store_version_and_fresh_within_a_second(shop, _schema):
    """With the production trust window: a kept list costs no SQL; a change the store page
    shows is sent at once, a stock count within the window."""
    from helpers import REDIS_URL

    app = make_app(_schema, REDIS_URL, API_PRODUCTS_TRUST_SECONDS=0.5)
    client = app.test_client()
    first = client.get(LIST)
    assert first.status_code == 200
    with app.app_context():
        statements = []
        from sqlalchemy import event

        listen = recording(statements)
        event.listen(db.engine, "before_cursor_execute", listen)
        assert client.get(LIST).headers["ETag"] == first.headers["ETag"]
        event.remove(db.engine, "before_cursor_execute", listen)
        assert statements == []
        # A price the store page shows: a new version, at once.
        product = products.get(db.session.get(Vendor, shop["vendor"]), shop["pickle"])
        products.update(product, products.Details("Mango pickle", Decimal("125.00"), Decimal("150.00"),
                                                  product.description), 10, 10)
    assert client.get(LIST).json["items"][0]["price"] == "125.00"
    # A sale that leaves 9 of 10: the page shows it within the window.
    started = time.monotonic()
    place(app, shop["vendor"], {shop["pickle"]: 1})
    while client.get(LIST).json["items"][0]["stock"] != 9:
        assert time.monotonic() - started < 1.0, "a stock count older than a second"
        time.sleep(0.05)
    # Selling out is shown on the store page too: at once.
    place(app, shop["vendor"], {shop["chutney"]: 3})
    assert client.get(LIST + "?in_stock=false").json["total"] == 2
    with app.app_context():
        assert db.session.get(Product, shop["chutney"]).stock == 0


def test_each_item_names_its_category_and_the_list_filters_by_it(app, client, shop):
    """A category id lists its products; another store's category, like a deleted one, lists
    nothing (an id that could be a category: no 422, an empty list)."""
    from dukaan import categories

    with app.app_context():
        ravi = db.session.get(Vendor, shop["vendor"])
        pickles = categories.create(ravi, "Pickles")
        theirs = categories.create(db.session.get(Vendor, vendor_id_of(app, "meera")), "Pickles")
        db.session.get(Product, shop["pickle"]).category_id = pickles.id
        db.session.commit()
        ids = {"pickles": pickles.id, "theirs": theirs.id}
    items = {item["name"]: item for item in client.get(LIST).json["items"]}
    assert items["Mango pickle"]["category"] == {"id": ids["pickles"], "name": "Pickles"}
    assert items["Urad papad"]["category"] is None
    assert names(client.get(f"{LIST}?category={ids['pickles']}")) == ["Mango pickle"]
    assert names(client.get(f"{LIST}?category={ids['theirs']}")) == []
    with app.app_context():
        categories.rename(db.session.get(categories.Category, ids["pickles"]), db.session.get(Vendor, shop["vendor"]),
                          "Achaar")
    assert client.get(LIST).json["items"][0]["category"]["name"] == "Achaar"  # fresh, like the page


def test_within_the_trust_window_a_list_asks_nothing_of_the_cache(app, client, monkeypatch):
    """As a store page hit does: within STOREFRONT_PAGE_TRUST_SECONDS of the last check a
    repeat list reads neither the cache nor the database; a change made in this process
    shows at once all the same."""
    from dukaan.extensions import db
    from dukaan.models import Product
    from dukaan.storefront_cache import entries

    vendor_id = make_vendor(app)
    product_id = make_product(app, vendor_id, "Mango pickle", "120.00", 10)
    app.config.update(STOREFRONT_PAGE_TRUST_SECONDS=1.0, API_PRODUCTS_TRUST_SECONDS=1.0)
    path = "/api/v1/stores/ravi/products"
    assert client.get(path).get_json()["items"][0]["name"] == "Mango pickle"
    reads = []
    real_call = entries.call

    def counted(method, *args, **kwargs):
        reads.append(method)
        return real_call(method, *args, **kwargs)

    monkeypatch.setattr(entries, "call", counted)
    assert client.get(path).get_json()["items"][0]["name"] == "Mango pickle"
    assert reads == []
    with app.app_context():
        db.session.get(Product, product_id).name = "Lime pickle"
        db.session.commit()
    assert client.get(path).get_json()["items"][0]["name"] == "Lime pickle"


# --- a repeat answered from the page kept for it ---------------------------------------


@pytest.fixture
def keeping(app):
    """Lists kept for a minute, so that every repeat below is answered from its kept page
    however slow the run (the production window is half a second)."""
    app.config.update(API_PRODUCTS_TRUST_SECONDS=60)
    return app


@pytest.fixture
def validations(monkeypatch):
    """The query strings the product list's schema has validated."""
    from dukaan.api.schemas import ProductsQuery

    validated = []
    real_load = ProductsQuery.load

    def counted(self, data, *args, **kwargs):
        validated.append(dict(data))
        return real_load(self, data, *args, **kwargs)

    monkeypatch.setattr(ProductsQuery, "load", counted)
    return validated


def own_headers(response):
    return [(name, value) for name, value in response.headers.items() if name != "X-Request-ID"]


def test_a_repeat_is_sent_as_kept_without_its_query_parsed_again(keeping, client, shop, validations):
    first = client.get(f"{LIST}?sort=name&per_page=2")
    assert first.status_code == 200 and len(validations) == 1
    again = client.get(f"{LIST}?sort=name&per_page=2")
    assert len(validations) == 1
    assert again.status_code == 200
    assert again.data == first.data and own_headers(again) == own_headers(first)
    # A 304 from the same kept page.
    unchanged = client.get(f"{LIST}?sort=name&per_page=2", headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["ETag"] == first.headers["ETag"]
    assert unchanged.headers["Link"] == first.headers["Link"]
    assert len(validations) == 1


def test_another_query_string_slug_or_host_is_not_sent_the_kept_page(keeping, client, shop):
    by_name = client.get(f"{LIST}?sort=name&per_page=2")
    by_price = client.get(f"{LIST}?sort=price&per_page=2")
    assert names(by_name) == ["Coconut chutney 50%_off", "Mango pickle"]
    assert names(by_price) == ["Urad papad", "Coconut chutney 50%_off"]
    # The same list with a parameter it ignores: the same body, and links that keep it.
    extra = client.get(f"{LIST}?sort=name&per_page=2&utm=app")
    assert extra.data == by_name.data
    assert "utm=app" in extra.headers["Link"] and "utm=app" not in by_name.headers["Link"]
    # Links repeat the slug as written and name the host asked.
    upper = client.get("/api/v1/stores/RAVI/products?sort=name&per_page=2")
    assert upper.data == by_name.data and "/stores/RAVI/products?" in upper.headers["Link"]
    elsewhere = client.get(f"{LIST}?sort=name&per_page=2", headers={"Host": "shop.example"})
    assert "<http://shop.example/api/v1/stores/ravi/products?" in elsewhere.headers["Link"]
    assert "<http://localhost/" in client.get(f"{LIST}?sort=name&per_page=2").headers["Link"]


def test_a_change_the_store_page_shows_is_sent_at_once_to_a_repeat(keeping, client, shop, validations):
    first = client.get(LIST)
    with keeping.app_context():
        db.session.get(Product, shop["pickle"]).name = "Lime pickle"
        db.session.commit()
    changed = client.get(LIST, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    assert names(changed)[0] == "Lime pickle" and changed.headers["ETag"] != first.headers["ETag"]
    assert len(validations) == 2  # read again, its query validated again


@pytest.mark.parametrize("query", ["per_page=0", "page=-1", "min_price=abc", "sort=bogus", "q=",
                                   "min_price=100&max_price=50", "sort=name&per_page=0"])
def test_a_bad_query_is_never_kept(keeping, client, shop, validations, query):
    assert client.get(f"{LIST}?sort=name").status_code == 200  # a good one is kept meanwhile
    first = client.get(f"{LIST}?{query}")
    again = client.get(f"{LIST}?{query}")
    assert first.status_code == again.status_code == 422
    assert first.json == again.json and "detail" in again.json
    assert len(validations) == 3  # validated every time


def test_an_unknown_store_is_never_kept(keeping, client, shop, validations):
    assert client.get("/api/v1/stores/nobody/products").status_code == 404
    assert client.get("/api/v1/stores/nobody/products").status_code == 404
    assert len(validations) == 2


def test_options_on_a_kept_list_is_answered_as_before(keeping, client, shop):
    client.get(LIST)
    response = client.open(LIST, method="OPTIONS")
    assert response.status_code == 200 and response.data == b""
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    head = client.head(LIST)
    assert head.status_code == 200 and head.headers["ETag"] == client.get(LIST).headers["ETag"]
