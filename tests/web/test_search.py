"""Searching a store: the search box's fragment (with and without HX-Request), the store page
filtered with ?q= (no JavaScript), junk of every kind, and the cached page left alone."""

import re

import pytest

from dukaan.products import MAX_SEARCH_WORDS
from dukaan.storefront import catalogue
from dukaan.storefront_cache import entries, pages
from helpers import HX, make_product, make_vendor


@pytest.fixture
def shop(app):
    vendor = make_vendor(app)
    ids = {
        "pickle": make_product(app, vendor, "Mango pickle", description="Raw mango in mustard oil"),
        "chutney": make_product(app, vendor, "Coconut chutney 50%_off", "80.00"),
        "barfi": make_product(app, vendor, "Coconut barfi", "280.00", description="Made with khoya"),
        "slash": make_product(app, vendor, "Back\\slash masala", "60.00"),
        "hidden": make_product(app, vendor, "Secret mango", available=False),
    }
    other = make_vendor(app, "meera", "Meera's")
    ids["elsewhere"] = make_product(app, other, "Mango pickle")
    return ids


def found(html):
    """The products the search results list, and the cards the catalogue shows."""
    results = html[html.index('id="search-results"'):]
    results = results[:results.index("</div>")]
    return (re.findall(r'<a href="#item-(\d+)">', results), re.findall(r'<li class="item[^"]*" id="item-(\d+)"', html))


def ids(shop, *names):
    return [str(shop[name]) for name in names]


@pytest.mark.parametrize("q, expected", [
    ("mango", ["pickle"]),
    ("MUSTARD", ["pickle"]),  # the description, in any case
    ("coconut", ["chutney", "barfi"]),
    ("coco khoya", ["barfi"]),  # every word, each in the name or the description
    ("khoya mango", []),
    ("50%_", ["chutney"]),  # LIKE's wildcards match themselves
    ("%", ["chutney"]),
    ("_", ["chutney"]),
    ("\\", ["slash"]),
    ("k\\s", ["slash"]),
    ("secret", []),  # hidden products are not on sale
])
def test_the_store_page_filtered_by_q(client, shop, q, expected):
    response = client.get("/order/ravi", query_string={"q": q})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    listed, cards = found(html)
    assert listed == cards == ids(shop, *expected)
    if expected:
        assert f"match{'es' if len(expected) == 1 else ''} “{' '.join(q.split())}”" in html
    else:
        assert f"No products match “{q}”" in html.replace("&#34;", '"')
        assert "Nothing is on sale here" not in html  # a search found nothing; the store has things
    assert f'name="q" value="{q}"' in html.replace("&#34;", '"')  # the box keeps the search


def test_the_checkout_still_works_from_a_search(client, shop):
    html = client.get("/order/ravi?q=barfi").get_data(as_text=True)
    assert f'name="qty-{shop["barfi"]}"' in html and 'id="checkout"' in html


@pytest.mark.parametrize("q", ["", "   ", "\x00", "\t\n"])
def test_a_search_for_nothing_is_the_store_page(client, shop, q):
    plain = client.get("/order/ravi")
    searched = client.get("/order/ravi", query_string={"q": q})
    assert searched.get_data() == plain.get_data()
    assert searched.headers["ETag"] == plain.headers["ETag"]
    assert "X-Accel-Expires" not in searched.headers


JUNK = [
    "'\"%_\\\x00😀" * 143,
    "%" * 1000,
    "_" * 1000,
    "\\" * 1000,
    "\x00" * 1000,
    "😀" * 1000,
    "zq " * 333,
    "' OR 1=1; DROP TABLE products; --" * 30,
    "𝔪𝔞𝔫𝔤𝔬" * 200,
]


@pytest.mark.parametrize("junk", JUNK, ids=range(len(JUNK)))
def test_a_thousand_characters_of_junk_answer_quickly_and_correctly(client, shop, junk, queries):
    """Quick by construction, not by a clock (a timed assertion measures only this machine's
    load): a search is cut to MAX_SEARCH_WORDS words, one pattern each over two columns, in
    one statement over one store's products."""
    for path, headers in (("/order/ravi", {}), ("/order/ravi/search", HX)):
        queries.clear()
        response = client.get(path, query_string={"q": junk[:1000]}, headers=headers)
        assert response.status_code == 200, path
        searching = [statement for statement in queries if "ILIKE" in statement.upper()]
        assert len(searching) <= 1, searching
        assert all(statement.upper().count("ILIKE") <= 2 * MAX_SEARCH_WORDS for statement in searching)
        html = response.get_data(as_text=True)
        assert "\x00" not in html
        if "No products match" in html:
            assert "a search is cut to its first 100 characters" in html
        assert not found(html)[0], path


def test_the_search_box_is_on_the_cached_page_and_works_both_ways(client, shop):
    html = client.get("/order/ravi").get_data(as_text=True)
    form = html[html.index('<form class="store-search"'):html.index("</form>")]
    assert 'method="get" action="/order/ravi"' in form and 'name="q"' in form
    assert 'hx-get="/order/ravi/search"' in form and 'hx-trigger="input changed delay:300ms, search"' in form
    assert 'hx-target="#search-results"' in form


def test_the_fragment_over_htmx_is_the_results_list(client, shop):
    response = client.get("/order/ravi/search?q=coconut", headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.startswith('<div id="search-results"') and "<html" not in html
    assert found(html)[0] == ids(shop, "chutney", "barfi")
    assert "HX-Request" in response.headers["Vary"]
    nothing = client.get("/order/ravi/search?q=", headers=HX).get_data(as_text=True)
    assert found(nothing)[0] == [] and "match" not in nothing
    assert "No products match “zzz”" in client.get("/order/ravi/search?q=zzz", headers=HX).get_data(as_text=True)


def test_the_fragment_without_htmx_redirects_to_the_page_searched(client, shop):
    response = client.get("/order/ravi/search?q=mango%20pickle")
    assert response.status_code == 303
    assert response.headers["Location"] == "/order/ravi?q=mango+pickle"
    assert client.get("/order/ravi/search").headers["Location"] == "/order/ravi"


@pytest.mark.parametrize("path", ["/order/nobody?q=mango", "/order/nobody/search?q=mango", "/order/ra%00vi/search"])
def test_an_unknown_store_is_404(client, shop, path):
    assert client.get(path, headers=HX).status_code == 404


def test_an_uppercase_link_keeps_the_search(client, shop):
    response = client.get("/order/RAVI?q=mango")
    assert response.status_code == 301 and response.headers["Location"] == "/order/ravi?q=mango"


def test_search_answers_are_kept_by_no_cache(client, shop):
    for response in (client.get("/order/ravi?q=mango"), client.get("/order/ravi/search?q=mango", headers=HX)):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Accel-Expires"] == "0"  # nginx: never store it
    assert "X-Accel-Expires" not in client.get("/order/ravi").headers


def test_a_search_neither_reads_nor_writes_the_store_pages_cache(app, client, shop, monkeypatch):
    """The cached store page is untouched by searches: no cache call, no render of the
    catalogue entry, and the next visit is served the page kept before them."""
    plain = client.get("/order/ravi").get_data()
    calls = []
    monkeypatch.setattr(entries, "call", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setattr(pages, "page", lambda *args, **kwargs: calls.append(args))
    for q in ("mango", "zzz", "x" * 1000):
        assert client.get("/order/ravi", query_string={"q": q}).status_code == 200
        assert client.get("/order/ravi/search", query_string={"q": q}, headers=HX).status_code == 200
    assert calls == []
    monkeypatch.undo()
    renders = []
    real = catalogue.render
    monkeypatch.setattr(catalogue, "render", lambda *args, **kwargs: renders.append(1) or real(*args, **kwargs))
    assert client.get("/order/ravi").get_data() == plain
    assert renders == []  # the page kept before the searches, not rendered again
