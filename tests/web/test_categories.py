"""Categories: the vendor's list in the dashboard (each htmx endpoint with and without
HX-Request), a product's category, and the store page's sections and chip bar."""

import re

import pytest

from dukaan import categories
from dukaan.extensions import db
from dukaan.models import Category, Product, Vendor
from helpers import HX, field_error, make_product, make_vendor

PAGE = "/dashboard/categories"


def add(auth, name, htmx=False):
    return auth.post(PAGE, {"name": name}, htmx=htmx)


def names_in(app, vendor_id):
    """The vendor's category names, in their order."""
    with app.app_context():
        return [c.name for c in categories.listing(db.session.get(Vendor, vendor_id))]


def category_id(app, vendor_id, name):
    with app.app_context():
        return db.session.scalar(Category.owned_by(db.session.get(Vendor, vendor_id)).where(Category.name == name)).id


def category_of(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).category_id


@pytest.fixture
def shelves(app, auth, vendor):
    """Ravi's categories Pickles, Sweets and Snacks, in that order; their ids by name."""
    for name in ("Pickles", "Sweets", "Snacks"):
        assert add(auth, name).status_code == 303
    return {name: category_id(app, vendor, name) for name in ("Pickles", "Sweets", "Snacks")}


# --- the list -----------------------------------------------------------------------


def test_the_page_is_in_the_nav_and_says_when_there_are_none(client, vendor):
    html = client.get(PAGE).get_data(as_text=True)
    assert 'href="/dashboard/categories" aria-current="page"' in html
    assert 'id="no-categories"' in html
    assert 'href="/dashboard/categories"' in client.get("/dashboard/products").get_data(as_text=True)


def test_adding_without_javascript_redirects_with_the_outcome(app, client, auth, vendor):
    response = add(auth, "  Pickles ")
    assert response.status_code == 303 and response.headers["Location"].endswith(PAGE)
    html = client.get(PAGE).get_data(as_text=True)
    assert "Added the category Pickles." in html and 'value="Pickles"' in html
    assert names_in(app, vendor) == ["Pickles"]


def test_adding_over_htmx_returns_a_fresh_form_and_the_row_out_of_band(app, auth, vendor):
    first = add(auth, "Pickles", htmx=True)
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert html.startswith('<form id="category-form"') or '<form id="category-form"' in html.split("<template>")[0]
    assert 'hx-swap-oob="beforeend:#category-list"' in html and 'value="Pickles"' in html
    assert 'id="no-categories" hx-swap-oob="delete"' in html  # the empty state goes
    second = add(auth, "Sweets", htmx=True).get_data(as_text=True)
    assert "no-categories" not in second  # nothing to delete the second time
    assert "HX-Request" in first.headers["Vary"]
    assert names_in(app, vendor) == ["Pickles", "Sweets"]


@pytest.mark.parametrize("name, message", [
    ("", "Give the category a name."),
    ("   ", "Give the category a name."),
    ("x" * 61, "at most 60 characters"),
    ("PICKLES", "You have a category called PICKLES already."),
    ("pickles", "You have a category called pickles already."),
    ("Pick\x00les", "control characters"),
])
@pytest.mark.parametrize("htmx", [True, False])
def test_a_bad_name_is_422_with_the_problem_next_to_it(app, auth, vendor, name, message, htmx):
    add(auth, "Pickles")
    response = add(auth, name, htmx=htmx)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message.lower() in field_error(html, "name").lower()
    assert ("<html" in html) is not htmx  # the form alone for htmx, the page without
    assert names_in(app, vendor) == ["Pickles"]


def test_a_store_has_at_most_fifty_categories(app, auth, vendor):
    with app.app_context():
        ravi = db.session.get(Vendor, vendor)
        for number in range(categories.MAX_CATEGORIES):
            categories.create(ravi, f"Shelf {number}")
    response = add(auth, "One more", htmx=True)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "name") == (
        "A store can have at most 50 categories: delete one first.")


def test_names_are_per_vendor(app, client, auth, vendor):
    make_vendor(app, "meera", "Meera's")
    add(auth, "Pickles")
    auth.post("/logout", {})
    auth.login("meera")
    assert add(auth, "pickles").status_code == 303
    assert names_in(app, vendor) == ["Pickles"]


# --- rename, move, delete -------------------------------------------------------------


def test_renaming_over_htmx_returns_the_row(app, auth, shelves):
    response = auth.post(f"{PAGE}/{shelves['Sweets']}", {"name": "Mithai"}, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.startswith(f'<li id="category-{shelves["Sweets"]}" class="category-row saved"')
    assert 'value="Mithai"' in html


def test_renaming_without_javascript_redirects(app, auth, vendor, shelves):
    response = auth.post(f"{PAGE}/{shelves['Sweets']}", {"name": "sweets & mithai"})
    assert response.status_code == 303
    assert names_in(app, vendor) == ["Pickles", "sweets & mithai", "Snacks"]


def test_a_category_may_change_only_its_own_case(app, auth, vendor, shelves):
    assert auth.post(f"{PAGE}/{shelves['Sweets']}", {"name": "SWEETS"}).status_code == 303
    assert names_in(app, vendor) == ["Pickles", "SWEETS", "Snacks"]


@pytest.mark.parametrize("htmx", [True, False])
def test_renaming_to_a_taken_name_is_422_in_the_row_keeping_what_was_typed(app, auth, vendor, shelves, htmx):
    response = auth.post(f"{PAGE}/{shelves['Sweets']}", {"name": "snacks"}, htmx=htmx)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    row = f"category-{shelves['Sweets']}"
    assert field_error(html, row) == "You have a category called snacks already."
    assert 'value="snacks"' in html and 'aria-invalid="true"' in html
    assert ("<html" in html) is not htmx
    assert names_in(app, vendor) == ["Pickles", "Sweets", "Snacks"]


def test_moving_over_htmx_returns_the_list_in_its_new_order(app, auth, vendor, shelves):
    response = auth.post(f"{PAGE}/{shelves['Snacks']}/move", {"direction": "up"}, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<ul id="category-list"')
    assert re.findall(r'<li id="category-(\d+)"', html) == [str(shelves[n]) for n in ("Pickles", "Snacks", "Sweets")]
    assert names_in(app, vendor) == ["Pickles", "Snacks", "Sweets"]


def test_moving_without_javascript_redirects_to_the_row(app, auth, vendor, shelves):
    response = auth.post(f"{PAGE}/{shelves['Pickles']}/move", {"direction": "down"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{PAGE}#category-{shelves['Pickles']}")
    assert names_in(app, vendor) == ["Sweets", "Pickles", "Snacks"]


def test_moving_past_either_end_changes_nothing(app, auth, vendor, shelves):
    auth.post(f"{PAGE}/{shelves['Pickles']}/move", {"direction": "up"})
    auth.post(f"{PAGE}/{shelves['Snacks']}/move", {"direction": "down"})
    assert names_in(app, vendor) == ["Pickles", "Sweets", "Snacks"]


@pytest.mark.parametrize("htmx", [True, False])
def test_a_move_that_is_neither_up_nor_down_is_422(auth, shelves, htmx):
    assert auth.post(f"{PAGE}/{shelves['Pickles']}/move", {"direction": "sideways"}, htmx=htmx).status_code == 422


def test_deleting_keeps_the_products_uncategorised(app, client, auth, vendor, shelves):
    pickle = make_product(app, vendor, "Mango pickle")
    with app.app_context():
        db.session.get(Product, pickle).category_id = shelves["Pickles"]
        db.session.commit()
    response = auth.post(f"{PAGE}/{shelves['Pickles']}/delete", {}, htmx=True)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "")
    assert names_in(app, vendor) == ["Sweets", "Snacks"]
    assert category_of(app, pickle) is None
    assert "Mango pickle" in client.get("/order/ravi").get_data(as_text=True)


def test_deleting_without_javascript_redirects_and_the_last_one_brings_back_the_empty_state(app, auth, vendor,
                                                                                            shelves):
    assert auth.post(f"{PAGE}/{shelves['Pickles']}/delete", {}).status_code == 303
    assert auth.post(f"{PAGE}/{shelves['Sweets']}/delete", {}, htmx=True).get_data(as_text=True) == ""
    last = auth.post(f"{PAGE}/{shelves['Snacks']}/delete", {}, htmx=True)
    assert 'id="no-categories"' in last.get_data(as_text=True)
    assert names_in(app, vendor) == []


def test_another_vendors_category_is_404_on_every_route(app, auth, vendor, shelves):
    meera = make_vendor(app, "meera", "Meera's")
    with app.app_context():
        theirs = categories.create(db.session.get(Vendor, meera), "Theirs").id
    for path, data in ((f"{PAGE}/{theirs}", {"name": "Mine"}), (f"{PAGE}/{theirs}/move", {"direction": "up"}),
                       (f"{PAGE}/{theirs}/delete", {})):
        for htmx in (True, False):
            assert auth.post(path, data, htmx=htmx).status_code == 404, path
    assert names_in(app, meera) == ["Theirs"]


def test_every_category_route_needs_a_login_and_the_csrf_token(client, app, shelves):
    fresh = app.test_client()
    assert fresh.get(PAGE).status_code in (302, 303)
    assert client.post(PAGE, data={"name": "No token"}, headers=HX).status_code == 400


# --- a product's category -----------------------------------------------------------


NEW = {"name": "Lime pickle", "price": "80", "mrp": "", "stock": "5", "description": "", "available": "y"}
# Saving make_product's Mango pickle unchanged, as its edit form sends it.
EDIT = {"name": "Mango pickle", "price": "120.00", "mrp": "", "stock": "10", "stock_seen": "10", "description": ""}


def test_the_product_form_offers_the_vendors_categories(client, shelves):
    html = client.get("/dashboard/products/new").get_data(as_text=True)
    select = html[html.index('<select id="category_id"'):html.index("</select>")]
    assert re.findall(r"<option[^>]*>([^<]*)</option>", select) == ["No category", "Pickles", "Sweets", "Snacks"]


@pytest.mark.parametrize("htmx", [True, False])
def test_a_product_is_added_in_a_category(app, auth, vendor, shelves, htmx):
    response = auth.post("/dashboard/products", {**NEW, "category_id": str(shelves["Pickles"])}, htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    with app.app_context():
        product = db.session.scalar(Product.owned_by(db.session.get(Vendor, vendor)))
        assert product.category_id == shelves["Pickles"]


@pytest.mark.parametrize("htmx", [True, False])
def test_an_edit_moves_a_product_to_another_category_or_none(app, auth, vendor, shelves, htmx):
    pickle = make_product(app, vendor, "Mango pickle")
    edit = EDIT
    assert auth.post(f"/dashboard/products/{pickle}", {**edit, "category_id": str(shelves["Sweets"])},
                     htmx=htmx).status_code == (200 if htmx else 303)
    assert category_of(app, pickle) == shelves["Sweets"]
    row = auth._client.get(f"/dashboard/products/{pickle}", headers=HX).get_data(as_text=True)
    assert '<small class="category">Sweets</small>' in row
    assert auth.post(f"/dashboard/products/{pickle}", {**edit, "category_id": ""}, htmx=htmx).status_code in (200, 303)
    assert category_of(app, pickle) is None


@pytest.mark.parametrize("value", ["other-vendor", "999999", "abc", "-1", "99999999999999999999", "1.5"])
@pytest.mark.parametrize("htmx", [True, False])
def test_a_category_that_is_not_the_vendors_is_an_inline_error(app, auth, vendor, shelves, value, htmx):
    if value == "other-vendor":
        meera = make_vendor(app, "meera", "Meera's")
        with app.app_context():
            value = str(categories.create(db.session.get(Vendor, meera), "Theirs").id)
    response = auth.post("/dashboard/products", {**NEW, "category_id": value}, htmx=htmx)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "category_id") == "Choose one of your categories, or none."
    pickle = make_product(app, vendor, "Mango pickle")
    edit = {**EDIT, "category_id": value}
    response = auth.post(f"/dashboard/products/{pickle}", edit, htmx=htmx)
    assert response.status_code == 422
    assert "Choose one of your categories, or none." in response.get_data(as_text=True)
    assert category_of(app, pickle) is None


def test_the_rule_refuses_another_vendors_category_too(app, vendor, shelves):
    from dukaan import products

    meera = make_vendor(app, "meera", "Meera's")
    with app.app_context():
        theirs = categories.create(db.session.get(Vendor, meera), "Theirs").id
        details = products.Details("Lime pickle", 80, None, "", None, theirs)
        with pytest.raises(products.UnknownCategory):
            products.create(db.session.get(Vendor, vendor), details, 5)


# --- the store page ---------------------------------------------------------------


def put(app, product_id, category):
    with app.app_context():
        db.session.get(Product, product_id).category_id = category
        db.session.commit()


def sections_of(html):
    """(anchor, heading) of each section, in order, and the chip bar's links."""
    found = re.findall(r'<section class="shelf" id="([^"]+)"[^>]*>\s*(?:<h2[^>]*>([^<]*)</h2>)?', html)
    chips = re.findall(r'<a href="#(section-[^"]+)">([^<]*)</a>', html)
    return found, chips


def test_a_store_without_categories_looks_as_before(app, client, vendor):
    make_product(app, vendor, "Mango pickle")
    html = client.get("/order/ravi").get_data(as_text=True)
    assert sections_of(html) == ([("section-more", "")], [])
    assert ">Mango pickle</a></h2>" in html and 'class="chips"' not in html


def test_the_store_page_shows_sections_in_the_vendors_order_uncategorised_last(app, client, auth, vendor,
                                                                               shelves):
    pickle = make_product(app, vendor, "Mango pickle")
    barfi = make_product(app, vendor, "Coconut barfi")
    loose = make_product(app, vendor, "Gift box")
    hidden = make_product(app, vendor, "Secret masala", available=False)
    put(app, pickle, shelves["Pickles"])
    put(app, barfi, shelves["Sweets"])
    put(app, hidden, shelves["Snacks"])  # Snacks shows nothing on sale: no section
    html = client.get("/order/ravi").get_data(as_text=True)
    sections, chips = sections_of(html)
    assert sections == [(f"section-{shelves['Pickles']}", "Pickles"), (f"section-{shelves['Sweets']}", "Sweets"),
                        ("section-more", "More")]
    assert chips == [(anchor, heading) for anchor, heading in sections]
    assert ">Mango pickle</a></h3>" in html and html.index("Coconut barfi") < html.index("Gift box")
    assert f'id="item-{loose}"' in html.split('id="section-more"')[1]

    # The vendor moves Sweets first: the page follows at once.
    auth.post(f"{PAGE}/{shelves['Sweets']}/move", {"direction": "up"}, htmx=True)
    sections, _ = sections_of(client.get("/order/ravi").get_data(as_text=True))
    assert [heading for _, heading in sections] == ["Sweets", "Pickles", "More"]


def test_one_section_has_its_heading_but_no_chip_bar(app, client, vendor, shelves):
    put(app, make_product(app, vendor, "Mango pickle"), shelves["Pickles"])
    html = client.get("/order/ravi").get_data(as_text=True)
    assert sections_of(html) == ([(f"section-{shelves['Pickles']}", "Pickles")], [])


@pytest.mark.parametrize("change, headings", [
    ("rename", ["Achaar", "Sweets"]),
    ("move", ["Sweets", "Pickles"]),
    ("delete", ["Pickles", "More"]),
    ("assign", ["Sweets", "Snacks"]),
])
def test_every_category_change_outdates_the_store_page(app, client, auth, vendor, shelves, change, headings):
    pickle = make_product(app, vendor, "Mango pickle")
    barfi = make_product(app, vendor, "Coconut barfi")
    put(app, pickle, shelves["Pickles"])
    put(app, barfi, shelves["Sweets"])
    before = client.get("/order/ravi").headers["ETag"]
    if change == "rename":
        auth.post(f"{PAGE}/{shelves['Pickles']}", {"name": "Achaar"}, htmx=True)
    elif change == "move":
        auth.post(f"{PAGE}/{shelves['Sweets']}/move", {"direction": "up"}, htmx=True)
    elif change == "delete":
        auth.post(f"{PAGE}/{shelves['Sweets']}/delete", {}, htmx=True)
    else:
        edit = {**EDIT, "category_id": str(shelves["Snacks"])}
        auth.post(f"/dashboard/products/{pickle}", edit, htmx=True)
    response = client.get("/order/ravi")
    assert response.headers["ETag"] != before
    assert [heading for _, heading in sections_of(response.get_data(as_text=True))[0]] == headings
