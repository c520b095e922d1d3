"""The product dashboard: listing, adding, editing, toggling and deleting products."""

import re
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dukaan.extensions import db
from dukaan.models import OrderLine, Product
from helpers import HX, join_all, make_product, make_vendor, place, product_state

NEW = {"name": "Lime pickle", "price": "85.50", "mrp": "99", "stock": "12",
       "description": "Grandma's recipe.", "available": "y"}


@pytest.fixture
def other(app):
    """Another vendor's product id: Meena's sarees."""
    meena = make_vendor(app, username="meena", store_name="Meena Sarees")
    return make_product(app, meena, name="Silk saree", price="2500.00", stock=3)


def product_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Product.id)))


def only_product(app):
    with app.app_context():
        product = db.session.scalars(select(Product)).one()
        return product.id, product_state(app, product.id)


def varies_on_htmx(response) -> bool:
    return "HX-Request" in response.headers.get("Vary", "")


# --- the product list ---------------------------------------------------------


def test_products_page_lists_the_vendors_products(app, client, vendor, other):
    """Each own product is a row with name, price, stock and availability; no one else's."""
    pickle = make_product(app, vendor, name="Mango pickle", price="120", stock=10)
    papad = make_product(app, vendor, name="Papad", price="1250.5", stock=0, available=False)
    response = client.get("/dashboard/products")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    row = html[html.index(f'<tr id="product-{pickle}"'):]
    row = row[:row.index("</tr>")]
    assert "Mango pickle" in row and "₹120.00" in row
    assert '<td data-label="Stock">10' in row
    assert ">Yes</button>" in row
    row = html[html.index(f'<tr id="product-{papad}"'):]
    row = row[:row.index("</tr>")]
    assert "₹1,250.50" in row and "sold out" in row and ">No</button>" in row
    assert f'id="product-{other}"' not in html
    assert "Silk saree" not in html
    assert html.index(f"product-{papad}") < html.index(f"product-{pickle}")  # newest first


def test_products_page_shows_the_store_link(app, client, vendor):
    """The store link is there to copy, open and share on WhatsApp."""
    html = client.get("/dashboard/products").get_data(as_text=True)
    assert 'value="http://localhost/order/ravi"' in html
    assert 'href="http://localhost/order/ravi"' in html
    assert "https://wa.me/?text=" in html
    assert "http%3A//localhost/order/ravi" in html


def test_products_page_without_products_says_so(client, vendor):
    html = client.get("/dashboard/products").get_data(as_text=True)
    assert 'id="no-products"' in html
    assert 'id="product-form"' in html


def test_product_names_are_escaped(app, client, vendor):
    """A product name is text, never markup."""
    make_product(app, vendor, name='<script>alert("x")</script>')
    html = client.get("/dashboard/products").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html


def test_new_product_page_has_the_add_form(client, vendor):
    """Without JavaScript, the add form is a page of its own."""
    response = client.get("/dashboard/products/new")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Add a product</h1>" in html
    assert 'id="product-form"' in html and 'action="/dashboard/products"' in html
    assert 'hx-post="/dashboard/products"' in html
    assert varies_on_htmx(response)


def test_new_product_over_htmx_is_the_form_alone(client, vendor):
    response = client.get("/dashboard/products/new", headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<form id="product-form"')
    assert "<h1>" not in html


# --- adding a product ---------------------------------------------------------


def test_add_product_over_htmx_returns_a_fresh_form_and_the_new_row(app, auth, vendor):
    """htmx add: 200, an empty form to swap in, and the new row out of band."""
    response = auth.post("/dashboard/products", NEW, htmx=True)
    assert response.status_code == 200
    product_id, state = only_product(app)
    assert state == {"name": "Lime pickle", "price": Decimal("85.50"), "mrp": Decimal("99.00"),
                     "stock": 12, "available": True, "description": "Grandma's recipe."}
    html = response.get_data(as_text=True)
    form = html[:html.index("</form>")]
    assert form.lstrip().startswith('<form id="product-form"')
    assert "Lime pickle" not in form and "85.50" not in form  # fresh, not refilled
    assert 'hx-swap-oob="afterbegin:#product-rows"' in html
    row = html[html.index(f'<tr id="product-{product_id}"'):]
    assert "Lime pickle" in row and "₹85.50" in row and "<s>₹99.00</s>" in row
    assert 'id="no-products" hx-swap-oob="delete"' in html
    assert "<html" not in html
    assert varies_on_htmx(response)


def test_add_product_as_a_page_redirects_to_the_list(app, client, auth, vendor):
    """Full-page add: 303 to the product list, which shows the product and a message."""
    response = auth.post("/dashboard/products", NEW)
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/products"
    product_id, state = only_product(app)
    assert state["name"] == "Lime pickle" and state["stock"] == 12
    html = client.get("/dashboard/products").get_data(as_text=True)
    assert "Added Lime pickle." in html
    assert f'id="product-{product_id}"' in html


def test_add_product_unchecked_is_not_available(app, auth, vendor):
    """Leaving the "available" box unticked adds a hidden product."""
    data = {k: v for k, v in NEW.items() if k != "available"}
    assert auth.post("/dashboard/products", data, htmx=True).status_code == 200
    _, state = only_product(app)
    assert state["available"] is False


def test_add_product_with_only_the_required_fields(app, auth, vendor):
    """MRP and description are optional."""
    response = auth.post("/dashboard/products", {"name": "  Papad ", "price": "40", "stock": "0"})
    assert response.status_code == 303
    _, state = only_product(app)
    assert state["name"] == "Papad"
    assert state["price"] == Decimal("40.00") and state["mrp"] is None
    assert state["stock"] == 0 and state["description"] == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [("name", "x" * 120), ("price", "0.01"), ("price", "99999999.99"), ("price", "7.5"),
     ("mrp", "85.50"), ("stock", "0"), ("stock", "1000000"), ("description", "d" * 2000)],
)
def test_add_product_accepts_the_limits(app, auth, vendor, name, value):
    """The edges of each rule are allowed."""
    data = dict(NEW, **{name: value})
    if name == "price":
        data["mrp"] = ""
    assert auth.post("/dashboard/products", data).status_code == 303
    assert product_count(app) == 1


INVALID = [
    ("name", "", "required"),
    ("name", "   ", "required"),
    ("name", "x" * 121, "120"),
    ("name", "Lime\x00pickle", "NUL"),
    ("price", "", "required"),
    ("price", "abc", "rupees"),
    ("price", "-1", "more than zero"),
    ("price", "0", "more than zero"),
    ("price", "0.00", "more than zero"),
    ("price", "1.234", "two decimals"),
    ("price", "NaN", "rupees"),
    ("price", "Infinity", "rupees"),
    ("price", "-Infinity", "rupees"),
    ("price", "1e400", "rupees"),
    ("price", "100000000", "at most"),
    ("price", "1,000", "rupees"),
    ("mrp", "80", "less than the price"),
    ("mrp", "abc", "rupees"),
    ("mrp", "NaN", "rupees"),
    ("mrp", "1e400", "rupees"),
    ("stock", "", "required"),
    ("stock", "-1", "0"),
    ("stock", "1.5", "digits 0–9"),
    ("stock", "99999999999", "1000000"),
    ("stock", "ten", "digits 0–9"),
    ("price", "١٢٠", "rupees"),
    ("stock", "²", "digits 0–9"),
    ("stock", "٣", "digits 0–9"),
    ("description", "d" * 2001, "2000"),
    ("description", "Tangy\x00", "NUL"),
]


@pytest.mark.parametrize(("field", "value", "message"), INVALID)
def test_invalid_new_product_over_htmx_is_the_form_with_errors(app, auth, vendor, field, value, message):
    """htmx: 422 with the form fragment and the error next to the field; nothing saved."""
    response = auth.post("/dashboard/products", dict(NEW, **{field: value}), htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<form id="product-form"')
    assert "<html" not in html and "hx-swap-oob" not in html
    assert f'id="{field}-error"' in html
    error = html[html.index(f'id="{field}-error"'):]
    assert message in error[:error.index("</small>")]
    assert 'value="Lime pickle"' in html or field == "name"  # what was typed stays
    assert product_count(app) == 0
    assert varies_on_htmx(response)


@pytest.mark.parametrize(("field", "value", "message"), INVALID)
def test_invalid_new_product_as_a_page_is_the_add_page_with_errors(app, auth, vendor, field, value, message):
    """Full page: 422 with the add-product page and the error inline; nothing saved."""
    response = auth.post("/dashboard/products", dict(NEW, **{field: value}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<h1>Add a product</h1>" in html
    assert f'id="{field}-error"' in html
    assert product_count(app) == 0


def test_add_product_needs_the_csrf_token(app, client, vendor):
    """Without the token (as field or header) the add is a 400 and saves nothing."""
    assert client.post("/dashboard/products", data=NEW).status_code == 400
    assert client.post("/dashboard/products", data=NEW, headers=HX).status_code == 400
    headers = dict(HX, **{"X-CSRFToken": "forged"})
    assert client.post("/dashboard/products", data=NEW, headers=headers).status_code == 400
    assert product_count(app) == 0


# --- one product: its row and its edit form ------------------------------------


def test_product_over_htmx_is_its_row(app, client, vendor):
    """GET the product with htmx: exactly its row (how an inline edit is cancelled)."""
    product_id = make_product(app, vendor, name="Mango pickle", price="120")
    response = client.get(f"/dashboard/products/{product_id}", headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="product-{product_id}"') and html.endswith("</tr>")
    assert "Mango pickle" in html and "₹120.00" in html
    assert varies_on_htmx(response)


def test_product_as_a_page_is_the_edit_form(app, client, vendor):
    product_id = make_product(app, vendor, name="Mango pickle", price="120", mrp="150")
    response = client.get(f"/dashboard/products/{product_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Edit Mango pickle</h1>" in html
    assert f'action="/dashboard/products/{product_id}"' in html
    assert 'value="120.00"' in html and 'value="150.00"' in html


def test_edit_over_htmx_is_the_row_as_an_inline_form(app, client, vendor):
    """The row turns into inputs for name, price, MRP and stock, posting to the product."""
    product_id = make_product(app, vendor, name="Mango pickle", price="120", stock=7,
                              description="Sweet and sour")
    response = client.get(f"/dashboard/products/{product_id}/edit", headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="product-{product_id}" class="editing"')
    assert html.endswith("</tr>")
    assert 'value="Mango pickle"' in html and 'value="120.00"' in html and 'value="7"' in html
    assert 'value="Sweet and sour"' in html
    assert f'hx-post="/dashboard/products/{product_id}"' in html
    assert f'hx-get="/dashboard/products/{product_id}"' in html  # cancel
    # Its own ids: the add form on the same page already has id="name".
    assert f'id="edit-{product_id}-name"' in html and 'id="name"' not in html
    assert varies_on_htmx(response)


def test_edit_as_a_page_is_the_edit_form(app, client, vendor):
    product_id = make_product(app, vendor, name="Mango pickle", description="Sweet and sour")
    response = client.get(f"/dashboard/products/{product_id}/edit")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Edit Mango pickle</h1>" in html
    assert "Sweet and sour</textarea>" in html


# --- editing a product --------------------------------------------------------

EDIT = {"name": "Mango pickle (500 g)", "price": "135.00", "mrp": "150", "stock": "4",
        "description": "Now in a bigger jar."}


def test_update_over_htmx_returns_the_saved_row(app, auth, vendor):
    product_id = make_product(app, vendor, available=False)
    response = auth.post(f"/dashboard/products/{product_id}", EDIT, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="product-{product_id}"') and 'class="editing"' not in html
    assert "Mango pickle (500 g)" in html and "₹135.00" in html and "<s>₹150.00</s>" in html
    assert product_state(app, product_id) == {
        "name": "Mango pickle (500 g)", "price": Decimal("135.00"), "mrp": Decimal("150.00"),
        "stock": 4, "available": False, "description": "Now in a bigger jar.",
    }
    assert varies_on_htmx(response)


def test_update_as_a_page_redirects_to_the_list(app, client, auth, vendor):
    product_id = make_product(app, vendor)
    response = auth.post(f"/dashboard/products/{product_id}", EDIT)
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/products"
    assert product_state(app, product_id)["price"] == Decimal("135.00")
    assert "Saved Mango pickle (500 g)." in client.get("/dashboard/products").get_data(as_text=True)


def test_update_can_clear_the_mrp(app, auth, vendor):
    product_id = make_product(app, vendor, mrp="150")
    response = auth.post(f"/dashboard/products/{product_id}", dict(EDIT, mrp=""), htmx=True)
    assert response.status_code == 200
    assert product_state(app, product_id)["mrp"] is None


def test_inline_edit_keeps_the_description(app, client, auth, vendor):
    """The inline row has no description box, yet saving it keeps the description."""
    product_id = make_product(app, vendor, description="Sweet and sour")
    row = client.get(f"/dashboard/products/{product_id}/edit", headers=HX).get_data(as_text=True)
    assert f'name="description" value="Sweet and sour" form="edit-{product_id}"' in row
    data = dict(EDIT, description="Sweet and sour")
    assert auth.post(f"/dashboard/products/{product_id}", data, htmx=True).status_code == 200
    assert product_state(app, product_id)["description"] == "Sweet and sour"


@pytest.mark.parametrize(("field", "value", "message"), INVALID)
def test_invalid_update_over_htmx_is_the_editing_row_with_errors(app, auth, vendor, field, value, message):
    """htmx: 422 with the row still in edit mode and the error; the product is unchanged."""
    product_id = make_product(app, vendor, mrp="150", description="Sweet")
    before = product_state(app, product_id)
    response = auth.post(f"/dashboard/products/{product_id}", dict(EDIT, **{field: value}), htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="product-{product_id}" class="editing"')
    assert 'class="error"' in html and message in html
    assert product_state(app, product_id) == before
    assert varies_on_htmx(response)


@pytest.mark.parametrize(("field", "value", "message"), INVALID)
def test_invalid_update_as_a_page_is_the_edit_page_with_errors(app, auth, vendor, field, value, message):
    """Full page: 422 with the edit page and the error next to the field; unchanged."""
    product_id = make_product(app, vendor, mrp="150")
    before = product_state(app, product_id)
    response = auth.post(f"/dashboard/products/{product_id}", dict(EDIT, **{field: value}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<h1>Edit Mango pickle</h1>" in html
    assert f'id="{field}-error"' in html
    assert product_state(app, product_id) == before


def test_update_needs_the_csrf_token(app, client, vendor):
    product_id = make_product(app, vendor)
    before = product_state(app, product_id)
    assert client.post(f"/dashboard/products/{product_id}", data=EDIT).status_code == 400
    assert client.post(f"/dashboard/products/{product_id}", data=EDIT, headers=HX).status_code == 400
    assert product_state(app, product_id) == before


# --- availability -------------------------------------------------------------


def test_toggle_over_htmx_flips_availability_and_returns_the_row(app, auth, vendor):
    """Without a value each click flips it; the row comes back with the new state."""
    product_id = make_product(app, vendor, available=True)
    response = auth.post(f"/dashboard/products/{product_id}/availability", htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="product-{product_id}" class="off"')
    assert 'aria-checked="false"' in html and ">No</button>" in html
    assert 'name="available" value="yes"' in html  # the next click turns it back on
    assert product_state(app, product_id)["available"] is False
    assert varies_on_htmx(response)
    auth.post(f"/dashboard/products/{product_id}/availability", htmx=True)
    assert product_state(app, product_id)["available"] is True


def test_toggle_as_a_page_redirects_to_the_list(app, client, auth, vendor):
    product_id = make_product(app, vendor, available=True)
    response = auth.post(f"/dashboard/products/{product_id}/availability")
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/products"
    assert product_state(app, product_id)["available"] is False
    assert "Mango pickle is hidden from your store." in client.get("/dashboard/products").get_data(as_text=True)


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize(("start", "value", "end"),
                         [(True, "no", False), (False, "no", False), (False, "yes", True), (True, "yes", True)])
def test_availability_set_explicitly_is_idempotent(app, auth, vendor, htmx, start, value, end):
    """available=yes|no sets the state, so a double click does not flip it back."""
    product_id = make_product(app, vendor, available=start)
    response = auth.post(f"/dashboard/products/{product_id}/availability", {"available": value}, htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    assert product_state(app, product_id)["available"] is end


@pytest.mark.parametrize("value", ["maybe", "YES", "1", "true"])
def test_bad_availability_value_is_rejected(app, auth, vendor, value):
    """Anything but yes/no: 422 (the row with an error for htmx), nothing changes."""
    product_id = make_product(app, vendor, available=True)
    response = auth.post(f"/dashboard/products/{product_id}/availability", {"available": value}, htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="product-{product_id}"')
    assert "Use yes or no." in html
    page = auth.post(f"/dashboard/products/{product_id}/availability", {"available": value})
    assert page.status_code == 422
    assert "Use yes or no." in page.get_data(as_text=True)
    assert product_state(app, product_id)["available"] is True


def test_toggle_needs_the_csrf_token(app, client, vendor):
    product_id = make_product(app, vendor, available=True)
    assert client.post(f"/dashboard/products/{product_id}/availability").status_code == 400
    assert client.post(f"/dashboard/products/{product_id}/availability", headers=HX).status_code == 400
    assert product_state(app, product_id)["available"] is True


# --- deleting -----------------------------------------------------------------


def test_delete_over_htmx_returns_an_empty_body(app, auth, vendor):
    """An empty 200 swapped over the row removes it."""
    product_id = make_product(app, vendor)
    make_product(app, vendor, name="Papad")
    response = auth.post(f"/dashboard/products/{product_id}/delete", htmx=True)
    assert response.status_code == 200
    assert response.get_data() == b""
    assert product_state(app, product_id) is None
    assert varies_on_htmx(response)


def test_deleting_the_last_product_over_htmx_brings_back_the_empty_state(app, client, auth, vendor, other):
    product_id = make_product(app, vendor)
    response = auth.post(f"/dashboard/products/{product_id}/delete", htmx=True)
    assert response.status_code == 200
    row = response.get_data(as_text=True).strip()
    assert row.startswith('<tr id="no-products">') and "No products yet" in row
    # The same row as the page shows (another vendor's product does not count).
    assert row in client.get("/dashboard/products").get_data(as_text=True)


def test_delete_as_a_page_redirects_to_the_list(app, client, auth, vendor):
    product_id = make_product(app, vendor)
    response = auth.post(f"/dashboard/products/{product_id}/delete")
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/products"
    assert product_state(app, product_id) is None
    html = client.get("/dashboard/products").get_data(as_text=True)
    assert "Removed Mango pickle from your store." in html
    assert f'id="product-{product_id}"' not in html


def test_deleting_a_sold_product_keeps_its_order_lines(app, client, auth, vendor):
    """Past orders keep their lines, with the product link set to NULL."""
    product_id = make_product(app, vendor, name="Mango pickle", price="120", stock=5)
    place(app, vendor, {product_id: 2}, name="Asha", address="12 MG Road")
    assert auth.post(f"/dashboard/products/{product_id}/delete", htmx=True).status_code == 200
    assert product_state(app, product_id) is None
    with app.app_context():
        line = db.session.scalars(select(OrderLine)).one()
        assert line.product_id is None
        assert (line.name, line.unit_price, line.quantity) == ("Mango pickle", Decimal("120.00"), 2)
    assert "2 × Mango pickle" in client.get("/dashboard/orders").get_data(as_text=True)


def test_delete_needs_the_csrf_token(app, client, vendor):
    product_id = make_product(app, vendor)
    assert client.post(f"/dashboard/products/{product_id}/delete").status_code == 400
    assert client.post(f"/dashboard/products/{product_id}/delete", headers=HX).status_code == 400
    assert product_state(app, product_id) is not None


def test_delete_is_not_a_get(app, client, vendor):
    product_id = make_product(app, vendor)
    assert client.get(f"/dashboard/products/{product_id}/delete").status_code == 405
    assert product_state(app, product_id) is not None


# --- another vendor's products ------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize("path", ["/dashboard/products/{id}", "/dashboard/products/{id}/edit"])
def test_another_vendors_product_cannot_be_seen(client, vendor, other, htmx, path):
    """Reading someone else's product is a 404, as if it did not exist."""
    response = client.get(path.format(id=other), headers=HX if htmx else {})
    assert response.status_code == 404
    assert "Silk saree" not in response.get_data(as_text=True)


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/dashboard/products/{id}", EDIT),
        ("/dashboard/products/{id}/availability", {}),
        ("/dashboard/products/{id}/availability", {"available": "no"}),
        ("/dashboard/products/{id}/delete", {}),
    ],
)
def test_another_vendors_product_cannot_be_changed(app, auth, vendor, other, htmx, path, data):
    """Editing, toggling or deleting someone else's product is a 404 and changes nothing."""
    before = product_state(app, other)
    response = auth.post(path.format(id=other), data, htmx=htmx)
    assert response.status_code == 404
    assert product_state(app, other) == before


@pytest.mark.parametrize("path", ["/dashboard/products/999", "/dashboard/products/999/edit"])
def test_a_missing_product_is_not_found(client, vendor, path):
    assert client.get(path).status_code == 404
    assert client.get(path, headers=HX).status_code == 404


def test_a_boosted_request_gets_the_whole_page(app, client, vendor):
    """A boosted navigation sends HX-Request too, but wants the page, not the row."""
    product_id = make_product(app, vendor)
    headers = dict(HX, **{"HX-Boosted": "true"})
    html = client.get(f"/dashboard/products/{product_id}", headers=headers).get_data(as_text=True)
    assert "<h1>Edit Mango pickle</h1>" in html
    restore = dict(HX, **{"HX-History-Restore-Request": "true"})
    html = client.get(f"/dashboard/products/{product_id}/edit", headers=restore).get_data(as_text=True)
    assert "<h1>Edit Mango pickle</h1>" in html


# --- the storefront follows the dashboard -------------------------------------


def storefront(client):
    return client.get("/order/ravi").get_data(as_text=True)


@pytest.mark.parametrize("htmx", [True, False])
def test_a_product_added_on_the_dashboard_is_in_the_store_at_once(app, client, auth, vendor, htmx):
    """The cached store page is dropped when a product is added."""
    assert "Nothing is on sale here" in storefront(client)  # now cached
    auth.post("/dashboard/products", NEW, htmx=htmx)
    html = storefront(client)
    assert "Lime pickle" in html and "₹85.50" in html


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize(
    ("action", "data", "seen", "gone"),
    [
        ("", dict(EDIT, price="99.00", mrp=""), "₹99.00", "₹120.00"),
        ("", dict(EDIT, stock="5"), 'name="qty-{id}"', "Sold out"),
        ("/availability", {"available": "no"}, "Nothing is on sale here", 'id="item-{id}"'),
        ("/delete", {}, "Nothing is on sale here", 'id="item-{id}"'),
    ],
)
def test_dashboard_changes_show_in_the_store_at_once(app, client, auth, vendor, htmx, action, data, seen, gone):
    """Editing, restocking, hiding or deleting a product updates the cached store page."""
    product_id = make_product(app, vendor, name="Mango pickle", price="120", stock=0)
    before = storefront(client)  # now cached
    assert f'id="item-{product_id}"' in before and "Sold out" in before
    response = auth.post(f"/dashboard/products/{product_id}{action}", data, htmx=htmx)
    assert response.status_code in (200, 303)
    after = storefront(client)
    assert seen.format(id=product_id) in after
    assert gone.format(id=product_id) not in after


def test_a_rejected_edit_leaves_the_store_as_it_was(app, client, auth, vendor):
    product_id = make_product(app, vendor, name="Mango pickle", price="120")
    storefront(client)
    assert auth.post(f"/dashboard/products/{product_id}", dict(EDIT, price="abc"), htmx=True).status_code == 422
    html = storefront(client)
    assert "Mango pickle" in html and "₹120.00" in html


# --- the store link's QR code and the edit feedback ------------------------------


def test_store_qr_is_an_svg_of_the_store_link(client, vendor):
    response = client.get("/dashboard/store-qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg") and "viewBox" in svg
    assert "http://localhost/order/ravi" in svg  # its title
    assert "style=" not in svg and "<script" not in svg
    assert "private" in response.headers["Cache-Control"]


def test_store_qr_needs_a_login(client):
    response = client.get("/dashboard/store-qr.svg")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_products_page_shows_the_qr_code(client, vendor):
    html = client.get("/dashboard/products").get_data(as_text=True)
    assert 'src="/dashboard/store-qr.svg' in html
    assert 'download="ravi-store-qr.svg"' in html


def test_a_saved_inline_edit_is_marked_saved(app, auth, vendor):
    product_id = make_product(app, vendor)
    html = auth.post(f"/dashboard/products/{product_id}", EDIT, htmx=True).get_data(as_text=True)
    assert html.strip().startswith(f'<tr id="product-{product_id}" class="saved"')


def test_only_the_first_product_clears_the_empty_state(app, auth, vendor):
    """htmx reports an out-of-band target it cannot find as an error: only ask when it exists."""
    first = auth.post("/dashboard/products", NEW, htmx=True).get_data(as_text=True)
    assert 'id="no-products" hx-swap-oob="delete"' in first
    second = auth.post("/dashboard/products", dict(NEW, name="Papad"), htmx=True).get_data(as_text=True)
    assert "no-products" not in second
    assert "Added Papad." in second[second.index("</form>"):]


# --- stock edits while orders come in ----------------------------------------


def _stock_seen(html: str) -> str:
    return re.search(r'name="stock_seen" type="hidden" value="(\d*)"', html).group(1)


@pytest.mark.parametrize("htmx", [True, False])
def test_an_edit_that_leaves_stock_alone_keeps_the_units_sold_meanwhile(app, client, auth, vendor, htmx):
    """The vendor opens the form at stock 10, 3 sell, the vendor saves a new price: stock stays 7."""
    product_id = make_product(app, vendor, name="Mango pickle", price="120", stock=10)
    form = client.get(f"/dashboard/products/{product_id}/edit", headers=HX if htmx else {})
    assert _stock_seen(form.get_data(as_text=True)) == "10"
    place(app, vendor, {product_id: 3})
    response = auth.post(f"/dashboard/products/{product_id}",
                         dict(EDIT, stock="10", stock_seen="10"), htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    state = product_state(app, product_id)
    assert (state["price"], state["stock"]) == (Decimal("135.00"), 7)


@pytest.mark.parametrize("htmx", [True, False])
def test_a_stock_edit_that_crossed_an_order_is_refused_then_saved_on_purpose(app, auth, vendor, htmx):
    product_id = make_product(app, vendor, name="Mango pickle", price="120", stock=10)
    place(app, vendor, {product_id: 3})
    refused = auth.post(f"/dashboard/products/{product_id}",
                        dict(EDIT, stock="20", stock_seen="10"), htmx=htmx)
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert ("Stock changed from 10 to 7 while you were editing (3 sold). Save again to set it to 20."
            in html)
    assert _stock_seen(html) == "7"
    assert 'value="20"' in html  # what the vendor typed is kept
    if htmx:
        assert html.strip().startswith(f'<tr id="product-{product_id}" class="editing"')
    state = product_state(app, product_id)
    assert (state["stock"], state["price"]) == (7, Decimal("120.00"))  # nothing saved

    again = auth.post(f"/dashboard/products/{product_id}", dict(EDIT, stock="20", stock_seen="7"),
                      htmx=htmx)
    assert again.status_code == (200 if htmx else 303)
    assert product_state(app, product_id)["stock"] == 20


def test_a_stock_edit_to_the_number_orders_already_left_is_simply_saved(app, auth, vendor):
    product_id = make_product(app, vendor, stock=7)
    response = auth.post(f"/dashboard/products/{product_id}", dict(EDIT, stock="7", stock_seen="10"),
                         htmx=True)
    assert response.status_code == 200
    assert product_state(app, product_id)["stock"] == 7


def test_a_stock_edit_that_crossed_a_cancellation_names_it(app, auth, vendor):
    product_id = make_product(app, vendor, stock=10)
    refused = auth.post(f"/dashboard/products/{product_id}", dict(EDIT, stock="5", stock_seen="8"),
                        htmx=True)
    assert refused.status_code == 409
    assert "(2 back from cancelled orders)" in refused.get_data(as_text=True)
    assert product_state(app, product_id)["stock"] == 10


@pytest.mark.parametrize("seen", ["", "junk", "-1", "1e9", "9" * 40])
def test_without_a_readable_stock_seen_the_typed_stock_is_set(app, auth, vendor, seen):
    product_id = make_product(app, vendor, stock=10)
    response = auth.post(f"/dashboard/products/{product_id}", dict(EDIT, stock="4", stock_seen=seen),
                         htmx=True)
    assert response.status_code == 200
    assert product_state(app, product_id)["stock"] == 4


@pytest.mark.postgres
def test_price_edits_during_a_sale_lose_no_sold_unit(app, client, auth, vendor):
    """Orders and price edits (stock left as the form showed it) at once, on PostgreSQL:
    the stock ends at what the orders left, not at the number in the vendor's form."""
    product_id = make_product(app, vendor, name="Mango pickle", price="120", stock=100)
    data = dict(EDIT, stock="100", stock_seen="100")
    sold = []

    def buy():
        place(app, vendor, {product_id: 1})
        sold.append(1)

    def edit(i):
        assert auth.post(f"/dashboard/products/{product_id}", dict(data, price=f"{100 + i}.00"),
                         htmx=True).status_code == 200

    threads = [threading.Thread(target=buy, daemon=True) for _ in range(30)]
    for thread in threads:
        thread.start()
    for i in range(10):
        edit(i)
    join_all(threads)
    assert len(sold) == 30
    assert product_state(app, product_id)["stock"] == 70
