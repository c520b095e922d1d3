"""A store or product page this process has just sent is sent again without Flask, while the
page memo trusts it; anything else, or anything later, reaches Flask (storefront_cache.replay)."""

from __future__ import annotations

import io
import json

import pytest
from flask import request_started

from dukaan import jobs, storefront_cache
from dukaan.extensions import db
from dukaan.models import Product
from dukaan.ops import logs
from helpers import make_app, make_product, make_vendor

# Long enough that no test outlives it: when a page stops being trusted is the memo's rule.
TRUST = 60.0
VARYING = ("X-Request-ID", "Date")


@pytest.fixture
def shop(app):
    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = TRUST
    vendor_id = make_vendor(app)
    return {"vendor": vendor_id, "pickle": make_product(app, vendor_id, "Mango pickle", "120.00", 10)}


@pytest.fixture
def flask_saw(app):
    """The paths of the requests that reached Flask from now on."""
    seen: list[str] = []

    def note(sender, **_):
        from flask import request

        seen.append(request.full_path.rstrip("?"))

    request_started.connect(note, app)
    yield seen
    request_started.disconnect(note, app)


def same_response(first, second) -> None:
    assert second.status_code == first.status_code
    assert second.data == first.data
    assert [h for h in second.headers if h[0] not in VARYING] == [h for h in first.headers if h[0] not in VARYING]


def test_a_page_just_sent_is_sent_again_without_flask(client, shop, flask_saw):
    first = client.get("/order/ravi")
    again = client.get("/order/ravi")
    assert flask_saw == ["/order/ravi"]
    same_response(first, again)
    assert b"Mango pickle" in again.data
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]


def test_a_product_page_too(client, shop, flask_saw):
    path = f"/order/ravi/p/{shop['pickle']}"
    first = client.get(path)
    again = client.get(path)
    assert flask_saw == [path]
    same_response(first, again)


def test_plain_and_gzipped_are_kept_apart(client, shop, flask_saw):
    plain = client.get("/order/ravi")
    gzipped = client.get("/order/ravi", headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    same_response(plain, client.get("/order/ravi"))
    same_response(gzipped, client.get("/order/ravi", headers={"Accept-Encoding": "gzip"}))
    assert flask_saw == ["/order/ravi", "/order/ravi"]


def test_https_behind_the_proxy_is_kept_apart_from_http(_schema, flask_saw_for_proxy):
    app, seen = flask_saw_for_proxy
    client = app.test_client()
    plain = client.get("/order/ravi")
    secure = client.get("/order/ravi", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in secure.headers and "Strict-Transport-Security" not in plain.headers
    same_response(secure, client.get("/order/ravi", headers={"X-Forwarded-Proto": "https"}))
    same_response(plain, client.get("/order/ravi"))
    assert len(seen) == 2


@pytest.fixture
def flask_saw_for_proxy(_schema, app, shop):
    proxied = make_app(_schema, None, PROXY_COUNT=1, STOREFRONT_PAGE_TRUST_SECONDS=TRUST)
    seen: list[str] = []
    request_started.connect(lambda sender, **_: seen.append("seen"), proxied, weak=False)
    yield proxied, seen
    jobs.backend(proxied).shutdown()


def test_a_change_in_this_process_reaches_flask_at_once(app, client, shop, flask_saw):
    client.get("/order/ravi")
    client.get("/order/ravi")
    with app.app_context():
        db.session.get(Product, shop["pickle"]).name = "Lime pickle"
        db.session.commit()
    flask_saw.clear()
    page = client.get("/order/ravi")
    assert flask_saw == ["/order/ravi"]
    assert b"Lime pickle" in page.data and b"Mango pickle" not in page.data


def test_past_the_trust_window_flask_confirms_the_page(app, client, shop, flask_saw, monkeypatch):
    client.get("/order/ravi")
    client.get("/order/ravi")
    assert len(flask_saw) == 1
    memo = app.extensions[storefront_cache.pages.MEMO]
    version, page, confirmed = memo._pages["ravi"]
    memo._pages["ravi"] = (version, page, confirmed - TRUST - 1)  # confirmed long ago
    client.get("/order/ravi")
    assert len(flask_saw) == 2  # Flask asked for the version, and confirmed the page
    client.get("/order/ravi")
    assert len(flask_saw) == 2


@pytest.mark.parametrize("how", [
    {"query_string": {"q": "mango"}},  # a search: never kept
    {"method": "HEAD"},
])
def test_a_search_or_a_head_reaches_flask(client, shop, flask_saw, how):
    client.get("/order/ravi")
    flask_saw.clear()
    client.open("/order/ravi", **how)
    client.open("/order/ravi", **how)
    assert len(flask_saw) == 2


def test_another_query_string_is_another_request(client, shop, flask_saw):
    plain = client.get("/order/ravi")
    tagged = client.get("/order/ravi?utm_source=whatsapp")
    same_response(plain, tagged)
    same_response(tagged, client.get("/order/ravi?utm_source=whatsapp"))
    same_response(plain, client.get("/order/ravi"))
    assert flask_saw == ["/order/ravi", "/order/ravi?utm_source=whatsapp"]


def test_a_revalidation_reaches_flask_and_gets_its_304(client, shop, flask_saw):
    first = client.get("/order/ravi")
    response = client.get("/order/ravi", headers={"If-None-Match": first.headers["ETag"]})
    assert response.status_code == 304
    assert flask_saw == ["/order/ravi", "/order/ravi"]


@pytest.mark.parametrize("path", ["/order/nobody", "/order/RAVI", "/order/ravi/p/999"])
def test_a_missing_page_or_a_redirect_is_never_replayed(client, shop, flask_saw, path):
    first = client.get(path)
    assert first.status_code in (301, 404)
    client.get(path)
    assert len(flask_saw) == 2


def test_a_customers_cookies_change_nothing(client, shop, flask_saw):
    first = client.get("/order/ravi")
    client.set_cookie("cart", "something")
    same_response(first, client.get("/order/ravi"))
    assert len(flask_saw) == 1


def test_with_no_trust_window_every_request_reaches_flask(app, client, shop, flask_saw):
    app.config["STOREFRONT_PAGE_TRUST_SECONDS"] = 0
    client.get("/order/ravi")
    client.get("/order/ravi")
    assert len(flask_saw) == 2


def test_a_replayed_page_is_logged_and_counted_as_a_page_hit(_schema, app, shop):
    from prometheus_client import REGISTRY

    json_app = make_app(_schema, None, LOG_FORMAT="json", STOREFRONT_PAGE_TRUST_SECONDS=TRUST)
    stream = io.StringIO()
    [handler] = [h for h in json_app.logger.handlers if isinstance(h, logs._Handler)]
    handler.setStream(stream)
    client = json_app.test_client()
    client.get("/order/ravi")
    hits = REGISTRY.get_sample_value("dukaan_cache_lookups_total", {"layer": "page", "result": "hit"}) or 0
    again = client.get("/order/ravi", headers={"X-Request-ID": "req-replayed-0001"})
    assert again.headers["X-Request-ID"] == "req-replayed-0001"
    line = [json.loads(text) for text in stream.getvalue().splitlines()][-1]
    assert (line["logger"], line["request_id"], line["route"], line["status"], line["vendor"]) == (
        "dukaan.access", "req-replayed-0001", "/order/<slug>", 200, "ravi")
    assert REGISTRY.get_sample_value("dukaan_cache_lookups_total", {"layer": "page", "result": "hit"}) == hits + 1
    jobs.backend(json_app).shutdown()


# --- the API's product lists ----------------------------------------------------------------

LIST = "/api/v1/stores/ravi/products?per_page=5"


@pytest.fixture
def api_shop(app, shop):
    app.config["API_PRODUCTS_TRUST_SECONDS"] = TRUST
    return shop


def test_an_api_list_just_sent_is_sent_again_without_flask(client, api_shop, flask_saw):
    first = client.get(LIST)
    again = client.get(LIST)
    assert first.status_code == 200 and first.json["total"] == 1
    assert flask_saw == [LIST]
    same_response(first, again)
    assert client.get(LIST.replace("5", "6")).json["per_page"] == 6
    assert len(flask_saw) == 2


def test_a_bad_api_query_always_reaches_flask(client, api_shop, flask_saw):
    for _ in range(2):
        assert client.get("/api/v1/stores/ravi/products?per_page=0").status_code == 422
    assert len(flask_saw) == 2


def test_a_change_reaches_a_repeated_api_list_at_once(app, client, api_shop, flask_saw):
    client.get(LIST)
    client.get(LIST)
    with app.app_context():
        db.session.get(Product, api_shop["pickle"]).name = "Lime pickle"
        db.session.commit()
    response = client.get(LIST)
    assert response.json["items"][0]["name"] == "Lime pickle"
    assert len(flask_saw) == 2


def test_an_api_list_past_its_trust_window_reaches_flask(app, client, api_shop, flask_saw):
    client.get(LIST)
    app.config["API_PRODUCTS_TRUST_SECONDS"] = 0.000001  # every kept list is now too old
    client.get(LIST)
    assert len(flask_saw) == 2


def test_an_api_revalidation_reaches_flask_and_gets_its_304(client, api_shop, flask_saw):
    first = client.get(LIST)
    assert client.get(LIST, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert len(flask_saw) == 2
