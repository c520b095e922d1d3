"""What an attacker and a clumsy user found (issue 16), one test or more per finding."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from dukaan.extensions import db
from dukaan.models import VendorSession
from helpers import HX, AuthActions, csrf_token, field_error, make_product, make_vendor, product_state

# --- 2. sessions end on the server ----------------------------------------------------------


def copied_cookie(client):
    """The session cookie as an attacker would copy it."""
    return client.get_cookie("session").value


def dashboard_with(app, cookie: str) -> int:
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief.get("/dashboard/products").status_code


def sessions_of(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(VendorSession.id)))


def test_logging_out_ends_that_session_for_a_copied_cookie(app, client, auth):
    make_vendor(app)
    auth.login()
    stolen = copied_cookie(client)
    assert dashboard_with(app, stolen) == 200
    auth.post("/logout")
    assert dashboard_with(app, stolen) == 302
    assert sessions_of(app) == 0


def test_logging_in_again_does_not_bring_an_old_cookie_back(app, client, auth):
    make_vendor(app)
    auth.login()
    stolen = copied_cookie(client)
    auth.post("/logout")
    auth.login()
    assert dashboard_with(app, stolen) == 302
    assert client.get("/dashboard/products").status_code == 200


def test_log_out_everywhere_ends_every_session(app, client, auth):
    make_vendor(app)
    other = AuthActions(app.test_client())
    other.login()
    auth.login()
    assert sessions_of(app) == 2
    response = auth.post("/logout/everywhere")
    assert response.status_code == 303
    assert other._client.get("/dashboard/products").status_code == 302
    assert client.get("/dashboard/products").status_code == 302
    assert sessions_of(app) == 0


def change_password(auth, current="secret-pass", new="mango-monsoon-2026", confirm=None):
    return auth.post("/password", {"current_password": current, "new_password": new,
                                   "confirm": confirm or new})


def test_a_password_change_ends_every_other_session(app, client, auth):
    make_vendor(app)
    other = AuthActions(app.test_client())
    other.login()
    auth.login()
    assert change_password(auth).status_code == 303
    assert other._client.get("/dashboard/products").status_code == 302
    assert client.get("/dashboard/products").status_code == 200  # this browser stays in
    assert sessions_of(app) == 1
    assert AuthActions(app.test_client()).login(password="mango-monsoon-2026").status_code == 303


def test_a_password_change_needs_the_current_password_and_a_good_new_one(app, auth):
    make_vendor(app)
    auth.login()
    wrong = change_password(auth, current="not-my-pass")
    assert wrong.status_code == 422
    assert "not your current password" in field_error(wrong.get_data(as_text=True), "current_password")
    common = change_password(auth, new="password123")
    assert common.status_code == 422
    assert "most common passwords" in field_error(common.get_data(as_text=True), "new_password")


def test_the_account_page_needs_a_login_and_is_not_stored(app, client, auth):
    assert client.get("/password").status_code == 302
    make_vendor(app)
    auth.login()
    response = client.get("/password")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert 'action="/logout/everywhere"' in response.get_data(as_text=True)


@pytest.mark.parametrize("column, age", [("last_seen_at", timedelta(hours=73)),
                                         ("created_at", timedelta(days=31))])
def test_an_idle_or_old_session_ends_by_itself(app, client, auth, column, age):
    make_vendor(app)
    auth.login()
    with app.app_context():
        db.session.execute(update(VendorSession).values({column: VendorSession.created_at - age}))
        db.session.commit()
    assert client.get("/dashboard/products").status_code == 302
    assert sessions_of(app) == 0


def test_the_storefront_stays_sessionless_for_a_logged_in_vendor(app, client, auth):
    make_vendor(app)
    auth.login()
    response = client.get("/order/ravi")
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


# --- 7. passwords (NIST SP 800-63B) ------------------------------------------------------------


def signup(client, password, username="asha-stores"):
    token = csrf_token(client, "/signup")
    return client.post("/signup", data={"username": username, "store_name": "Asha's", "password": password,
                                        "confirm": password, "csrf_token": token})


@pytest.mark.parametrize("password, why", [
    ("12345678", "most common"),
    ("password", "most common"),
    ("Password", "most common"),
    (" " * 8, "at least 8"),
    ("\u200b" * 8, "at least 8"),
    ("abc\u200b\u200b\u200b\u200b\u200b", "at least 8"),
    ("asha-stores", "username"),
    ("ASHA-STORES ", "username"),
])
def test_weak_passwords_are_refused(app, client, password, why):
    response = signup(client, password)
    assert response.status_code == 422
    assert why in field_error(response.get_data(as_text=True), "password").lower()


@pytest.mark.parametrize("password", ["mango-season", "correct horse battery", "आम का अचार 2026"])
def test_good_passwords_of_any_composition_are_taken(app, client, password):
    assert signup(client, password).status_code == 303


# --- 8. the app limits attempts itself -----------------------------------------------------------


def bad_login(client, username="ravi"):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": "wrong-pass", "csrf_token": token})


def test_wrong_passwords_against_one_account_are_throttled(app):
    make_vendor(app)
    statuses = [bad_login(app.test_client()).status_code for _ in range(12)]
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]
    refused = bad_login(app.test_client())
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many attempts" in refused.get_data(as_text=True)
    # The right password is refused too while the account is throttled.
    client = app.test_client()
    token = csrf_token(client, "/login")
    right = client.post("/login", data={"username": "ravi", "password": "secret-pass", "csrf_token": token})
    assert right.status_code == 429


def test_limits_cost_only_the_routes_that_have_them(app, client):
    """Flask-Limiter's hooks run on login, sign-up and the API, not on every request: a
    limited route still says how many attempts are left, a storefront or health check
    carries nothing of the limiter's (and opens no session)."""
    make_vendor(app)
    assert bad_login(app.test_client()).headers["X-RateLimit-Remaining"]
    for path in ("/livez", "/order/ravi"):
        response = client.get(path)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
        assert "Set-Cookie" not in response.headers and "Cookie" not in response.vary
    hooks = [*app.before_request_funcs[None], *app.after_request_funcs[None], *app.teardown_request_funcs[None]]
    assert not any("Limiter" in getattr(hook, "__qualname__", repr(hook)) for hook in hooks)


def test_one_client_guessing_many_accounts_is_throttled(app):
    app.config["LOGIN_LIMIT_PER_CLIENT"] = "5 per minute"
    client = app.test_client()
    statuses = [bad_login(client, f"user{i}").status_code for i in range(7)]
    assert statuses == [422] * 5 + [429] * 2


def test_successful_logins_do_not_count(app):
    make_vendor(app)
    for _ in range(15):
        assert AuthActions(app.test_client()).login().status_code == 303


def test_signups_from_one_client_are_throttled(app):
    app.config["SIGNUP_LIMIT_PER_CLIENT"] = "3 per hour"
    client = app.test_client()
    statuses = [signup(client, "mango-season", f"store{i}").status_code for i in range(4)]
    assert statuses == [303, 303, 303, 429]


def test_login_page_is_not_stored(client):
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    assert client.get("/signup").headers["Cache-Control"] == "no-store"


# --- 3. one request cannot stall a store's checkout ----------------------------------------------

CUSTOMER = {"name": "Meera", "phone": "9876543210", "address": "12 MG Road, Pune"}


@pytest.fixture
def shop(app):
    vendor_id = make_vendor(app)
    return {"vendor": vendor_id, "pickle": make_product(app, vendor_id, "Mango pickle", "120.00", 10)}


def locks_taken(queries) -> list[str]:
    return [q for q in queries if q.lstrip().upper().startswith("UPDATE VENDORS")]


@pytest.mark.parametrize("fields", [20_000, 101])
def test_a_huge_order_is_refused_before_the_store_is_locked(app, client, shop, queries, fields):
    """20,000 quantity fields (more than any store page) or 101 products (more than an order
    may have): refused with a 4xx before any lock, so other customers' orders never wait."""
    data = dict(CUSTOMER, **{f"qty-{shop['pickle'] + 1 + i}": "1" for i in range(fields)})
    queries.clear()
    response = client.post("/order/ravi", data=data)
    assert response.status_code == 422
    assert locks_taken(queries) == []
    assert len(queries) <= 3


def test_an_order_of_products_the_store_does_not_have_takes_no_lock(app, client, shop, queries):
    data = dict(CUSTOMER, **{f"qty-{shop['pickle'] + 1 + i}": "1" for i in range(100)})
    queries.clear()
    response = client.post("/order/ravi", data=data)
    assert response.status_code == 422
    assert locks_taken(queries) == []


def test_a_body_over_the_limit_is_refused_clearly(client, shop):
    response = client.post("/order/ravi", data=dict(CUSTOMER, address="x" * (2 * 1024 * 1024)))
    assert response.status_code == 413
    assert "Too Large" in response.get_data(as_text=True)


# --- 4. large orders: a stated limit, never a 500 -----------------------------------------------


def test_an_order_worth_ten_crore_is_placed(app, client, shop):
    pricey = make_product(app, shop["vendor"], "Gold necklace", "99999999.99", 5)
    response = client.post("/order/ravi", data=dict(CUSTOMER, **{f"qty-{pricey}": "2"}))
    assert response.status_code == 303
    with app.app_context():
        from dukaan.models import Order

        assert db.session.scalar(select(Order.total)) == Decimal("199999999.98")


def test_an_order_over_the_limit_is_a_clear_422(app, client, shop):
    pricey = make_product(app, shop["vendor"], "Gold necklace", "99999999.99", 50)
    response = client.post("/order/ravi", data=dict(CUSTOMER, **{f"qty-{pricey}": "11"}))
    assert response.status_code == 422
    assert "An order can be worth at most ₹999,999,999.99" in response.get_data(as_text=True)
    total = client.get(f"/order/ravi/total?qty-{pricey}=11").get_data(as_text=True)
    assert "An order can be worth at most ₹999,999,999.99" in total


# --- 5. digits that are not ASCII digits --------------------------------------------------------


@pytest.mark.parametrize("seen", ["²", "①", "٣", "１"])
def test_an_odd_digit_in_stock_seen_is_no_500(app, auth, shop, seen):
    auth.login()
    response = auth.post(f"/dashboard/products/{shop['pickle']}", {
        "name": "Mango pickle", "price": "120.00", "stock": "8", "stock_seen": seen}, htmx=True)
    assert response.status_code == 200
    assert product_state(app, shop["pickle"])["stock"] == 8  # no stock seen: the typed stock is set


@pytest.mark.parametrize("page", ["²", "٣", "１"])
def test_an_odd_digit_in_a_page_number_is_a_404(app, client, auth, shop, page):
    auth.login()
    assert client.get(f"/dashboard/orders?page={page}").status_code == 404


# --- 10. smaller ones -----------------------------------------------------------------------------


def test_an_htmx_click_after_the_session_ended_goes_to_the_login_page(app, client, auth, shop):
    auth.login()
    stolen_token = auth.token
    auth.post("/logout/everywhere")
    response = client.post(f"/dashboard/products/{shop['pickle']}/availability",
                           headers={"HX-Request": "true", "X-CSRFToken": stolen_token,
                                    "HX-Current-URL": "http://localhost/dashboard/products"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=/dashboard/products")


def test_an_htmx_click_with_a_stale_token_reloads_the_page(app, client, auth, shop):
    auth.login()
    response = client.post(f"/dashboard/products/{shop['pickle']}/availability",
                           headers={"HX-Request": "true", "X-CSRFToken": "stale"})
    assert response.status_code == 400
    assert response.headers["HX-Refresh"] == "true"


def test_the_order_page_is_not_stored(app, client, shop):
    response = client.post("/order/ravi", data=dict(CUSTOMER, **{f"qty-{shop['pickle']}": "1"}))
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("name", ["\u200b\u200b", "\u200d", " \ufeff "])
def test_a_name_of_invisible_characters_is_no_name(app, client, shop, name):
    response = client.post("/order/ravi", data=dict(CUSTOMER, name=name, **{f"qty-{shop['pickle']}": "1"}))
    assert response.status_code == 422
    assert "This field is required." in field_error(response.get_data(as_text=True), "name")


def test_a_vendor_limits_how_many_one_order_takes(app, client, auth, shop):
    auth.login()
    response = auth.post(f"/dashboard/products/{shop['pickle']}", {
        "name": "Mango pickle", "price": "120.00", "stock": "10", "stock_seen": "10",
        "max_per_order": "2"}, htmx=True)
    assert response.status_code == 200
    html = client.get("/order/ravi").get_data(as_text=True)
    assert "At most 2 per order." in html
    assert f'name="qty-{shop["pickle"]}" min="0" max="2"' in html
    refused = client.post("/order/ravi", data=dict(CUSTOMER, **{f"qty-{shop['pickle']}": "3"}))
    assert refused.status_code == 422
    assert "Mango pickle: at most 2 per order." in refused.get_data(as_text=True)
    assert product_state(app, shop["pickle"])["stock"] == 10
    assert client.post("/order/ravi", data=dict(CUSTOMER, **{f"qty-{shop['pickle']}": "2"})).status_code == 303


def test_the_inline_edit_keeps_the_per_order_limit(app, auth, shop):
    auth.login()
    with app.app_context():
        from dukaan.models import Product

        db.session.get(Product, shop["pickle"]).max_per_order = 4
        db.session.commit()
    row = auth._client.get(f"/dashboard/products/{shop['pickle']}/edit", headers=HX).get_data(as_text=True)
    assert 'name="max_per_order" value="4"' in row
