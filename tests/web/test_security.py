"""What an attacker and a clumsy user found (issue 16), one test or more per finding."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dukaan.extensions import db
from dukaan.models import VendorSession
from helpers import AuthActions, csrf_token, field_error, make_vendor

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
