"""Signing up, logging in and out, and who may see the dashboard."""

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from dukaan.extensions import db
from dukaan.models import Vendor
from helpers import HX, csrf_token, field_error, make_product, make_vendor, product_state, vendor_id_of

SIGNUP = {"username": "asha-stores", "store_name": "Asha's Kitchen",
          "password": "mango-season", "confirm": "mango-season"}


def vendor_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Vendor.id)))


def signup(client, htmx=False, **changes):
    data = dict(SIGNUP, **changes)
    headers = {}
    token = csrf_token(client, "/signup")
    if htmx:
        headers = dict(HX, **{"X-CSRFToken": token})
    else:
        data["csrf_token"] = token
    return client.post("/signup", data=data, headers=headers)


def login(client, username="ravi", password="secret-pass", htmx=False):
    token = csrf_token(client, "/login")
    data = {"username": username, "password": password}
    headers = {}
    if htmx:
        headers = dict(HX, **{"X-CSRFToken": token})
    else:
        data["csrf_token"] = token
    return client.post("/login", data=data, headers=headers)


def is_logged_in(client) -> bool:
    return client.get("/dashboard/products").status_code == 200


# --- the landing page ---------------------------------------------------------


def test_index_invites_visitors_to_sign_up_or_log_in(client):
    """A visitor sees the landing page with links to sign up and to log in."""
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Your shop, online in minutes" in html
    assert 'href="/signup"' in html and 'href="/login"' in html
    assert "Log out" not in html


def test_index_sends_a_logged_in_vendor_to_the_dashboard(app, client, auth):
    """A logged-in vendor goes straight to the product dashboard."""
    make_vendor(app)
    auth.login()
    response = client.get("/")
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == "/dashboard/products"


# --- signing up ---------------------------------------------------------------


def test_signup_page_shows_the_form(client):
    """The signup page has the four fields and a CSRF token."""
    response = client.get("/signup")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for name in ("username", "store_name", "password", "confirm", "csrf_token"):
        assert f'name="{name}"' in html


def test_signup_creates_the_vendor_and_logs_them_in(app, client):
    """A valid signup creates the vendor, logs them in and sends them to the dashboard."""
    response = signup(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/products"
    with app.app_context():
        vendor = db.session.scalar(select(Vendor).where(Vendor.username == "asha-stores"))
        assert vendor.store_name == "Asha's Kitchen"
        assert vendor.password_hash != "mango-season"
        assert "mango-season" not in vendor.password_hash
    page = client.get("/dashboard/products")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Asha&#39;s Kitchen" in html
    assert "Welcome to Dukaan!" in html


@pytest.mark.parametrize(("given", "stored"), [("  asha@example.com ", "asha@example.com"), ("", None)])
def test_signup_keeps_the_optional_email(app, client, given, stored):
    """The email (where new orders are announced) is optional; given, it is stored trimmed."""
    assert 'name="email"' in client.get("/signup").get_data(as_text=True)
    assert signup(client, email=given).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Vendor.email).where(Vendor.username == "asha-stores")) == stored


def test_signup_lowercases_the_username(app, client):
    """The username is the store slug: typed in any case, it is stored lowercase."""
    response = signup(client, username="  Asha-Stores ")
    assert response.status_code == 303
    assert vendor_id_of(app, "asha-stores") is not None
    assert client.get("/order/asha-stores").status_code == 200


def test_signed_up_vendor_can_log_in_later(app, client):
    """The password chosen at signup is the one that logs the vendor in."""
    signup(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/products")})
    assert not is_logged_in(client)
    assert login(client, "asha-stores", "mango-season").status_code == 303
    assert is_logged_in(client)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"username": "ab"}, "username", "3–30 characters"),
        ({"username": "a" * 31}, "username", "3–30 characters"),
        ({"username": "asha stores"}, "username", "3–30 characters"),
        ({"username": "asha_stores"}, "username", "3–30 characters"),
        ({"username": "asha.stores"}, "username", "3–30 characters"),
        ({"username": "आशा"}, "username", "3–30 characters"),
        ({"username": "asha/../x"}, "username", "3–30 characters"),
        ({"username": ""}, "username", "required"),
        ({"store_name": ""}, "store_name", "required"),
        ({"store_name": "   "}, "store_name", "1–80 characters"),
        ({"store_name": "x" * 81}, "store_name", "80"),
        ({"store_name": "Asha\x00"}, "store_name", "NUL"),
        ({"password": "short12", "confirm": "short12"}, "password", "8"),
        ({"password": "", "confirm": ""}, "password", "required"),
        ({"confirm": "mango-seasoN"}, "confirm", "do not match"),
        ({"email": "asha"}, "email", "such as asha@example.com"),
        ({"email": "asha@example"}, "email", "such as asha@example.com"),
        ({"email": "asha @example.com"}, "email", "such as asha@example.com"),
        ({"email": "a@b.co\x00"}, "email", "such as asha@example.com"),
        ({"email": "a" * 250 + "@b.com"}, "email", "254"),
    ],
)
def test_signup_rejects_bad_input_next_to_the_field(app, client, changes, field, message):
    """Invalid signup: 422, the form again with the error next to its field, no vendor."""
    response = signup(client, **changes)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="signup-form"' in html
    assert message in field_error(html, field)
    assert vendor_count(app) == 0
    assert not is_logged_in(client)


def test_signup_rejects_a_taken_username_in_any_case(app, client):
    """Usernames are unique whatever their case."""
    make_vendor(app, username="asha-stores")
    response = signup(client, username="ASHA-Stores")
    assert response.status_code == 422
    assert "taken" in field_error(response.get_data(as_text=True), "username")
    assert vendor_count(app) == 1
    assert not is_logged_in(client)


def test_invalid_signup_keeps_what_was_typed_but_not_the_password(client):
    """The re-rendered form keeps the username and store name, never the password."""
    response = signup(client, confirm="something-else")
    html = response.get_data(as_text=True)
    assert 'value="asha-stores"' in html
    assert 'value="Asha&#39;s Kitchen"' in html
    assert "mango-season" not in html
    assert "something-else" not in html


def test_signup_is_a_whole_page_even_for_htmx(client):
    """Signing up is a plain form (a boosted link may still send HX-Request): the page comes whole."""
    response = signup(client, htmx=True, username="x")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "<h1>Open your store</h1>" in html
    assert "3–30 characters" in field_error(html, "username")


def test_signup_over_htmx_with_the_header_token_succeeds(app, client):
    """htmx sends the CSRF token as X-CSRFToken; a valid signup still redirects."""
    response = signup(client, htmx=True)
    assert response.status_code == 303
    assert vendor_id_of(app, "asha-stores") is not None


def test_signup_without_csrf_token_is_refused(app, client):
    """A signup without the CSRF token is a 400 and creates nobody."""
    response = client.post("/signup", data=SIGNUP)
    assert response.status_code == 400
    assert vendor_count(app) == 0


# --- logging in ---------------------------------------------------------------


def test_login_page_shows_the_form(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="login-form"' in html
    assert 'name="username"' in html and 'name="password"' in html
    assert 'name="csrf_token"' in html


def test_login_sends_the_vendor_to_the_dashboard(app, client):
    """Right credentials: 303 to the product dashboard, which now opens."""
    make_vendor(app)
    response = login(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/products"
    assert is_logged_in(client)


def test_login_username_ignores_case_and_spaces(app, client):
    """The username is matched as the slug: case and surrounding spaces do not matter."""
    make_vendor(app)
    assert login(client, username=" RAVI ").status_code == 303
    assert is_logged_in(client)


@pytest.mark.parametrize(
    ("username", "password"),
    [("ravi", "wrong-pass"), ("nobody", "secret-pass"), ("ravi", "SECRET-PASS"), ("ravi", "secret-pass ")],
)
def test_login_with_wrong_credentials_gives_one_generic_message(app, client, username, password):
    """Wrong password or unknown user: 422 and the same message, not logged in."""
    make_vendor(app)
    response = login(client, username, password)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.count("Wrong username or password.") == 1
    assert 'value="' + username + '"' in html
    assert password not in html
    assert not is_logged_in(client)


@pytest.mark.parametrize(("username", "password"), [("", "secret-pass"), ("ravi", "")])
def test_login_with_a_missing_field_is_refused(app, client, username, password):
    """An empty username or password: 422 with a field error, not logged in."""
    make_vendor(app)
    response = login(client, username, password)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    field = "username" if not username else "password"
    assert "required" in field_error(html, field)
    assert not is_logged_in(client)


def test_login_with_a_nul_character_is_refused_not_a_crash(app, client):
    """A username no database can hold is a form error (422), never a 500."""
    make_vendor(app)
    response = login(client, username="ra\x00vi")
    assert response.status_code == 422
    assert "NUL" in field_error(response.get_data(as_text=True), "username")
    assert not is_logged_in(client)


def test_login_is_a_whole_page_even_for_htmx(app, client):
    make_vendor(app)
    response = login(client, password="wrong-pass", htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "<h1>Log in</h1>" in html
    assert "Wrong username or password." in html


def test_login_over_htmx_with_the_header_token_succeeds(app, client):
    make_vendor(app)
    response = login(client, htmx=True)
    assert response.status_code == 303
    assert is_logged_in(client)


def test_login_without_csrf_token_is_refused(app, client):
    """A login without the CSRF token is a 400 and logs nobody in."""
    make_vendor(app)
    response = client.post("/login", data={"username": "ravi", "password": "secret-pass"})
    assert response.status_code == 400
    assert not is_logged_in(client)


def login_with_next(app, client, target):
    make_vendor(app)
    token = csrf_token(client, "/login")
    return client.post(
        "/login", query_string={"next": target},
        data={"username": "ravi", "password": "secret-pass", "csrf_token": token},
    )


@pytest.mark.parametrize(
    "target", ["/dashboard/orders", "/dashboard/orders?page=2", "/dashboard/products/new"]
)
def test_login_follows_next_to_a_local_path(app, client, target):
    """``next`` naming a path on this site is where the vendor lands."""
    response = login_with_next(app, client, target)
    assert response.status_code == 303
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "///evil.com",
        "https://evil.com",
        "https://evil.com/dashboard/products",
        "http:/evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "javascript:alert(1)",
        "evil.com",
        "",
    ],
)
def test_login_ignores_next_pointing_off_site(app, client, target):
    """``next`` that could leave the site is replaced by the dashboard."""
    response = login_with_next(app, client, target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/products"


def test_login_form_carries_next_through_the_post(client):
    """The login page posts back to itself with the same ``next``."""
    html = client.get("/login?next=/dashboard/orders").get_data(as_text=True)
    assert 'action="/login?next=/dashboard/orders"' in html


def test_login_starts_a_fresh_session(app, client):
    """A CSRF token from before logging in no longer works after it."""
    make_vendor(app)
    old_token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": "ravi", "password": "secret-pass", "csrf_token": old_token}
    )
    assert response.status_code == 303
    assert client.post("/logout", data={"csrf_token": old_token}).status_code == 400
    assert is_logged_in(client)
    new_token = csrf_token(client, "/dashboard/products")
    assert new_token != old_token
    assert client.post("/logout", data={"csrf_token": new_token}).status_code == 303


def test_logging_in_as_another_vendor_replaces_the_first(app, client, auth):
    """Logging in again as someone else shows only the second vendor's store."""
    make_vendor(app, username="ravi", store_name="Ravi's Store")
    make_vendor(app, username="meena", store_name="Meena Sarees")
    auth.login("ravi")
    auth.login("meena", "secret-pass")
    html = client.get("/dashboard/products").get_data(as_text=True)
    assert "Meena Sarees" in html
    assert "Ravi&#39;s Store" not in html


# --- logging out --------------------------------------------------------------


def test_logout_ends_the_session(app, client, auth):
    """Logging out: 303 to the home page, and the dashboard asks for a login again."""
    make_vendor(app)
    auth.login()
    response = auth.post("/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "You are logged out." in client.get("/").get_data(as_text=True)
    assert not is_logged_in(client)


def test_logout_needs_the_csrf_token(app, client, auth):
    """A logout without the CSRF token (a cross-site form) is a 400; the vendor stays in."""
    make_vendor(app)
    auth.login()
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert is_logged_in(client)


def test_logout_over_htmx_uses_the_header_token(app, client, auth):
    make_vendor(app)
    auth.login()
    assert auth.post("/logout", htmx=True).status_code == 303
    assert not is_logged_in(client)


def test_logout_is_not_a_get(app, client, auth):
    """A link (GET) cannot log the vendor out."""
    make_vendor(app)
    auth.login()
    assert client.get("/logout").status_code == 405
    assert is_logged_in(client)


def test_layout_offers_log_out_only_to_a_logged_in_vendor(app, client, auth):
    make_vendor(app)
    assert 'action="/logout"' not in client.get("/login").get_data(as_text=True)
    auth.login()
    html = client.get("/dashboard/products").get_data(as_text=True)
    assert 'action="/logout"' in html
    assert 'href="/order/ravi"' in html


# --- the dashboard is for logged-in vendors -----------------------------------

DASHBOARD_PAGES = [
    "/dashboard/products",
    "/dashboard/products/new",
    "/dashboard/products/1",
    "/dashboard/products/1/edit",
    "/dashboard/orders",
    "/dashboard/orders?page=2",
]


@pytest.mark.parametrize("path", DASHBOARD_PAGES)
def test_dashboard_sends_a_visitor_to_log_in(client, path):
    """A visitor asking for a dashboard page is sent to log in, then back."""
    response = client.get(path)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


@pytest.mark.parametrize("path", DASHBOARD_PAGES)
def test_dashboard_tells_htmx_to_go_to_the_login_page(client, path):
    """An htmx request without a login is a 401 whose HX-Redirect goes to the login
    page, coming back to the page the vendor was on (not the fragment's URL)."""
    page = "/dashboard/orders?page=2"
    response = client.get(path, headers={**HX, "HX-Current-URL": f"http://localhost{page}"})
    assert response.status_code == 401
    location = urlsplit(response.headers["HX-Redirect"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [page]
    assert response.get_data(as_text=True) == ""


def test_htmx_login_redirect_without_a_current_page_returns_to_the_products(client):
    response = client.get("/dashboard/products/1", headers=HX)
    assert response.status_code == 401
    assert parse_qs(urlsplit(response.headers["HX-Redirect"]).query)["next"] == ["/dashboard/products"]


def test_login_after_the_redirect_returns_to_the_page_asked_for(app, client):
    """The whole round trip: dashboard, login page, back to the dashboard page."""
    make_vendor(app)
    to_login = client.get("/dashboard/orders").headers["Location"]
    html = client.get(to_login).get_data(as_text=True)
    assert "Log in to see your store." in html
    token = csrf_token(client, to_login)
    response = client.post(
        to_login, data={"username": "ravi", "password": "secret-pass", "csrf_token": token}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/orders"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/products",
        "/dashboard/products/1",
        "/dashboard/products/1/availability",
        "/dashboard/products/1/delete",
        "/dashboard/orders/1/status",
    ],
)
def test_dashboard_posts_without_a_login_change_nothing(app, client, path):
    """A visitor's POST (with a valid CSRF token) never reaches a dashboard action."""
    vendor_id = make_vendor(app)
    product_id = make_product(app, vendor_id)
    before = product_state(app, product_id)
    token = csrf_token(client, "/login")
    data = {"csrf_token": token, "name": "Hacked", "price": "1", "stock": "0", "status": "cancelled"}
    page = client.post(path, data=data)
    assert page.status_code == 302
    assert urlsplit(page.headers["Location"]).path == "/login"
    fragment = client.post(path, data=data, headers=HX)
    assert fragment.status_code == 401
    assert "HX-Redirect" in fragment.headers
    assert product_state(app, product_id) == before
