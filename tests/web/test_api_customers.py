"""Customer accounts through the API: registering, tokens (issue, expiry, revocation), passwords
and the limits on registrations and token requests."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from dukaan.extensions import db
from dukaan.models import ApiToken, Customer, utcnow
from helpers import API_CUSTOMER, api_token, bearer, make_app

ME = "/api/v1/customers/me"


def register(client, **fields):
    return client.post("/api/v1/customers", json=dict(API_CUSTOMER, **fields))


def log_in(client, username="asha", password="mango pickle season", **kwargs):
    return client.post("/api/v1/tokens", json={"username": username, "password": password}, **kwargs)


# --- registering -------------------------------------------------------------------


def test_registering_makes_an_account_with_the_vendors_hashing(app, client):
    response = register(client, username=" Asha ", email="asha@example.com")
    assert response.status_code == 201
    assert response.json == {"username": "asha", "name": "Asha Rao", "phone": "9876543210",
                             "email": "asha@example.com"}
    with app.app_context():
        customer = db.session.scalar(select(Customer))
        assert customer.password_hash.startswith(app.config["PASSWORD_HASH_METHOD"] + "$")
        assert "mango" not in customer.password_hash


def test_registering_needs_no_csrf_token_and_sets_no_cookie(app, client):
    response = register(client)
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("fields, field", [
    ({"username": "a"}, "username"),
    ({"username": "Asha Rao!"}, "username"),
    ({"username": "as\x00ha"}, "username"),
    ({"password": "short"}, "password"),
    ({"password": "password123"}, "password"),
    ({"password": "asha"}, "password"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "Asha\x00"}, "name"),
    ({"phone": "12345"}, "phone"),
    ({"phone": "9876543210\n"}, "phone"),
    ({"phone": 9876543210}, "phone"),
    ({"email": "not-an-address"}, "email"),
    ({"nickname": "ash"}, "nickname"),
])
def test_invalid_registrations_are_422_naming_the_field(client, fields, field):
    response = register(client, **fields)
    assert response.status_code == 422, response.json
    assert response.json["status"] == 422
    assert response.json["message"]
    assert field in response.json["detail"]["json"]


def test_missing_fields_are_each_named(client):
    response = client.post("/api/v1/customers", json={})
    assert response.status_code == 422
    assert set(response.json["detail"]["json"]) == {"username", "password", "name", "phone"}


def test_a_taken_username_is_refused(client):
    assert register(client).status_code == 201
    response = register(client, username="ASHA")
    assert response.status_code == 422
    assert response.json["detail"]["json"]["username"] == ["That username is taken."]


@pytest.mark.parametrize("body, content_type", [
    ("{not json", "application/json"),
    ("[1, 2", "application/json"),
])
def test_a_body_that_is_not_json_is_400(client, body, content_type):
    response = client.post("/api/v1/customers", data=body, content_type=content_type)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.json["message"]


@pytest.mark.parametrize("body", ["[]", '"asha"', "null", "42"])
def test_json_that_is_not_an_object_is_422(client, body):
    response = client.post("/api/v1/customers", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.mimetype == "application/json"


# --- tokens --------------------------------------------------------------------------


def test_a_token_for_a_username_and_password(app, client):
    register(client)
    response = log_in(client, username="Asha")
    assert response.status_code == 201
    token, expires_at = response.json["token"], response.json["expires_at"]
    assert len(token) >= 40
    assert expires_at.startswith(str((utcnow() + app.config["API_TOKEN_MAX"]).year))
    with app.app_context():
        stored = db.session.scalar(select(ApiToken))
        assert token not in (stored.token_hash, str(stored.id))
    me = client.get(ME, headers=bearer(token))
    assert me.status_code == 200
    assert me.json["username"] == "asha"


@pytest.mark.parametrize("username, password", [
    ("asha", "wrong password"), ("nobody", "mango pickle season"), ("as\x00ha", "x"), ("ASHA ", "Mango pickle season"),
])
def test_wrong_credentials_are_401(client, username, password):
    register(client)
    response = log_in(client, username, password)
    assert response.status_code == 401
    assert response.json["message"] == "Wrong username or password."


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-a-token"},
    {"Authorization": "Basic YXNoYTpwYXNz"}, {"Authorization": "Bearer " + "x" * 5000},
    {"Authorization": "Bearer a\x00b"},
])
def test_calls_without_a_live_token_are_401_in_json(client, headers):
    register(client)
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert response.json["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_web_session_is_no_api_login(app, client, auth):
    from helpers import make_vendor

    make_vendor(app)
    auth.login()
    assert client.get(ME).status_code == 401


def test_logging_out_revokes_that_token_at_once_and_no_other(client):
    token = api_token(client)
    other = log_in(client).json["token"]
    response = client.delete("/api/v1/tokens/current", headers=bearer(token))
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(ME, headers=bearer(token)).status_code == 401
    assert client.delete("/api/v1/tokens/current", headers=bearer(token)).status_code == 401
    assert client.get(ME, headers=bearer(other)).status_code == 200


def age(app, **changes):
    with app.app_context():
        for row in db.session.scalars(select(ApiToken)):
            for name, value in changes.items():
                setattr(row, name, value)
        db.session.commit()


def tokens_left(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(ApiToken)).all())


def test_a_token_unused_for_the_idle_limit_ends(app, client):
    token = api_token(client)
    age(app, last_seen_at=utcnow() - app.config["API_TOKEN_IDLE"] - timedelta(seconds=1))
    assert client.get(ME, headers=bearer(token)).status_code == 401
    assert tokens_left(app) == 0


def test_a_token_used_within_the_idle_limit_lives_on(app, client):
    token = api_token(client)
    age(app, last_seen_at=utcnow() - app.config["API_TOKEN_IDLE"] + timedelta(minutes=1))
    assert client.get(ME, headers=bearer(token)).status_code == 200
    with app.app_context():
        seen = db.session.scalar(select(ApiToken)).last_seen_at
    assert utcnow() - seen.replace(tzinfo=seen.tzinfo or utcnow().tzinfo) < timedelta(minutes=1)


def test_a_token_ends_at_its_absolute_expiry_however_much_it_is_used(app, client):
    token = api_token(client)
    age(app, expires_at=utcnow() - timedelta(seconds=1))
    assert client.get(ME, headers=bearer(token)).status_code == 401
    assert tokens_left(app) == 0


# --- passwords -------------------------------------------------------------------------


def change(client, token, current="mango pickle season", new="monsoon mango season"):
    return client.put(f"{ME}/password", json={"current_password": current, "new_password": new},
                      headers=bearer(token))


def test_a_password_change_revokes_every_token_and_hands_a_new_one(client):
    token = api_token(client)
    other = log_in(client).json["token"]
    response = change(client, token)
    assert response.status_code == 200
    fresh = response.json["token"]
    assert client.get(ME, headers=bearer(token)).status_code == 401
    assert client.get(ME, headers=bearer(other)).status_code == 401
    assert client.get(ME, headers=bearer(fresh)).status_code == 200
    assert log_in(client).status_code == 401
    assert log_in(client, password="monsoon mango season").status_code == 201


@pytest.mark.parametrize("current, new, field", [
    ("wrong password", "monsoon mango season", "current_password"),
    ("mango pickle season", "short", "new_password"),
    ("mango pickle season", "asha", "new_password"),
])
def test_a_refused_password_change_changes_nothing(client, current, new, field):
    token = api_token(client)
    response = change(client, token, current, new)
    assert response.status_code == 422
    assert field in response.json["detail"]["json"]
    assert client.get(ME, headers=bearer(token)).status_code == 200


def test_a_password_change_needs_a_token(client):
    api_token(client)
    response = client.put(f"{ME}/password", json={"current_password": "x", "new_password": "y"})
    assert response.status_code == 401


# --- limits ------------------------------------------------------------------------------


def test_registrations_from_one_client_are_limited(app, client):
    app.config["API_SIGNUP_LIMIT_PER_CLIENT"] = "3 per hour"
    statuses = [register(client, username=f"asha-{i}").status_code for i in range(3)]
    statuses += [register(client, username="asha-x").status_code, register(client, name="").status_code]
    assert statuses == [201, 201, 201, 429, 429]
    refused = register(client, username="asha-y")
    assert refused.mimetype == "application/json"
    assert refused.json["status"] == 429
    assert int(refused.headers["Retry-After"]) > 0
    # Another client is not held back.
    other = client.post("/api/v1/customers", json=dict(API_CUSTOMER, username="ravi-k"),
                        environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 201


def test_token_requests_from_one_client_are_limited_right_or_wrong(app, client):
    register(client)
    app.config["API_TOKEN_LIMIT_PER_CLIENT"] = "4 per minute"
    statuses = [log_in(client).status_code, log_in(client, password="wrong").status_code,
                log_in(client).status_code, log_in(client).status_code, log_in(client).status_code]
    assert statuses == [201, 401, 201, 201, 429]
    assert int(log_in(client).headers["Retry-After"]) > 0


def test_failed_token_requests_for_one_account_are_limited_from_every_client(app, client):
    register(client)
    app.config["API_TOKEN_LIMIT_PER_ACCOUNT"] = "3 per 15 minutes"
    statuses = [log_in(client, password="wrong", environ_base={"REMOTE_ADDR": f"10.0.1.{i}"}).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    # The right password is refused too while the account is throttled; other accounts are not.
    assert log_in(client, environ_base={"REMOTE_ADDR": "10.0.2.1"}).status_code == 429
    assert client.post("/api/v1/customers", json=dict(API_CUSTOMER, username="ravi-k"),
                       environ_base={"REMOTE_ADDR": "10.0.2.2"}).status_code == 201
    assert log_in(client, "ravi-k", environ_base={"REMOTE_ADDR": "10.0.2.3"}).status_code == 201


@pytest.mark.redis
def test_limits_hold_across_processes_through_redis(app, _schema):
    """Two apps (two gunicorn processes) on the same Redis count the same attempts."""
    from helpers import REDIS_URL

    assert app.config["RATELIMIT_STORAGE_URI"].startswith("redis://")
    app.config["API_SIGNUP_LIMIT_PER_CLIENT"] = "2 per hour"
    twin = make_app(_schema, REDIS_URL, LIMITS_NAMESPACE=app.config["LIMITS_NAMESPACE"],
                    API_SIGNUP_LIMIT_PER_CLIENT="2 per hour")
    first, second = app.test_client(), twin.test_client()
    assert register(first, username="asha-1").status_code == 201
    assert register(second, username="asha-2").status_code == 201
    assert register(first, username="asha-3").status_code == 429
    assert register(second, username="asha-4").status_code == 429
