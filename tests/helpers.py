"""What the tests share besides fixtures: the test servers, the test config, data helpers,
and a logged-in client. Import from here (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from decimal import Decimal

from config import Config, database_url
from dukaan import create_app, orders
from dukaan.extensions import db
from dukaan.models import Product, Vendor

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"
# Two test sessions on one server need two names: each drops and recreates its own.
# Under pytest-xdist (-n) each worker has its own: gw0, gw1, …
TEST_DB = os.environ.get("TEST_DB_NAME", "dukaan_test") + (
    f"_{os.environ['PYTEST_XDIST_WORKER']}" if "PYTEST_XDIST_WORKER" in os.environ else ""
)
# Each test session's own RabbitMQ virtual host (made by the tests or .ci/run if missing).
_BASE_NAME = os.environ.get("TEST_DB_NAME", "dukaan_test")
BROKER_VHOST = _BASE_NAME if _BASE_NAME.endswith("_test") else _BASE_NAME + "_test"
BROKER_URL = os.environ.get("TEST_BROKER_URL", f"amqp://guest:guest@127.0.0.1:5672/{BROKER_VHOST}")
TABLES = ("api_order_claims", "product_photos", "outbox", "sent_mail", "reviews", "cart_lines", "carts",
          "order_lines", "orders", "products", "categories", "vendor_sessions", "vendors", "api_tokens", "customers")
# A port nothing listens on: a Redis that is down.
DEAD_REDIS_URL = "redis://127.0.0.1:6390/0"

# Lines a test measured (load figures): printed in the summary of every run.
FIGURES: list[str] = []


def postgres_url() -> str:
    return database_url(PG_URL.rsplit("/", 1)[0] + "/" + TEST_DB)


class TestConfig(Config):
    """Fast hashing, the test servers, CSRF left on."""

    __test__ = False

    def __init__(self, database: str, redis_url: str | None, **overrides):
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret"
        self.SERVER_NAME = None
        self.SQLALCHEMY_DATABASE_URI = database_url(database)
        self.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
        # Photos in the temp folder, one per test database (tests that look at files use their own).
        self.MEDIA_ROOT = os.path.join(tempfile.gettempdir(), f"dukaan-media-{TEST_DB}")
        # Tests look at the store right after a change; test_freshness.py
        # covers the production window.
        self.STOREFRONT_PAGE_TRUST_SECONDS = 0
        self.API_PRODUCTS_TRUST_SECONDS = 0
        self.CACHE_KEY_PREFIX = f"dukaan-test-{uuid.uuid4().hex[:8]}:"
        self.LIMITS_NAMESPACE = f"{self.CACHE_KEY_PREFIX}limits"
        self.RATELIMIT_STORAGE_URI = redis_url or "memory://"
        self.RATELIMIT_STORAGE_OPTIONS = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25} if redis_url else {}
        if redis_url:
            self.CACHE_TYPE = "RedisCache"
            self.CACHE_REDIS_URL = redis_url
            self.CACHE_OPTIONS = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
        else:
            self.CACHE_TYPE = "SimpleCache"
            self.CACHE_OPTIONS = {}
        for key, value in overrides.items():
            setattr(self, key, value)


# Every app a test made: after each test their idle database connections are closed (conftest),
# so a suite of a thousand apps never holds more than PostgreSQL allows.
MADE_APPS: list = []


def recording(seen: list[str]):
    """A ``before_cursor_execute`` listener that keeps each statement's SQL in ``seen`` (for a
    prepared statement, what its ``EXECUTE`` runs)."""
    from dukaan.models.prepared import original

    def record(_conn, _cursor, statement, *_args):
        seen.append(original(statement))
    return record


def make_app(database: str, redis_url: str | None, **overrides):
    app = create_app(TestConfig(database, redis_url, **overrides))
    MADE_APPS.append(app)
    return app


# --- data helpers -------------------------------------------------------------


def make_vendor(app, username="ravi", store_name="Ravi's Store", password="secret-pass"):
    from dukaan import accounts

    with app.app_context():
        vendor = accounts.create_vendor(username, store_name, password)
        return vendor.id


def make_product(app, vendor_id, name="Mango pickle", price="120.00", stock=10,
                 available=True, mrp=None, description=""):
    with app.app_context():
        product = Product(
            vendor_id=vendor_id, name=name, price=Decimal(price), stock=stock,
            available=available, mrp=Decimal(mrp) if mrp else None, description=description,
        )
        db.session.add(product)
        db.session.commit()
        return product.id


def place(app, vendor_id, quantities, name="Asha Rao", phone="9876543210", address="12 MG Road, Pune",
          payment=None, email=None):
    """Place an order at the vendor's store; its id."""
    with app.app_context():
        vendor = db.session.get(Vendor, vendor_id)
        order, _ = orders.place(vendor, quantities, orders.Customer(name, phone, address, email), payment=payment)
        return order.id


def set_store(app, vendor_id, **settings):
    """Change the vendor's store settings (``open``, ``delivery_fee``, …) as saved settings would."""
    with app.app_context():
        vendor = db.session.get(Vendor, vendor_id)
        for name, value in settings.items():
            money = name in ("delivery_fee", "free_delivery_from", "min_order", "cod_fee")
            setattr(vendor, name, Decimal(value) if money and value is not None else value)
        db.session.commit()


def product_state(app, product_id):
    """The product as stored now, or None."""
    with app.app_context():
        product = db.session.get(Product, product_id)
        if product is None:
            return None
        return {c: getattr(product, c) for c in ("name", "price", "mrp", "stock", "available", "description")}


def rename_after_first_call(monkeypatch, app, module, name, product_id, new_name="Lime pickle"):
    """Pause ``module.name`` between its read and its caller's store: right after
    its first call returns, another session renames the product and commits.
    Returns a list that holds True once that has happened."""
    real = getattr(module, name)
    raced: list[bool] = []

    def read_then_commit_elsewhere(*args, **kwargs):
        result = real(*args, **kwargs)
        if not raced:
            raced.append(True)
            with app.app_context():  # another request, its own session
                db.session.get(Product, product_id).name = new_name
                db.session.commit()
        return result

    monkeypatch.setattr(module, name, read_then_commit_elsewhere)
    return raced


def vendor_id_of(app, username):
    with app.app_context():
        return db.session.query(Vendor.id).filter_by(username=username).scalar()


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_token(client, path="/login") -> str:
    """The CSRF token a page hands this client."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


class AuthActions:
    def __init__(self, client):
        self._client = client
        self.token = None

    def login(self, username="ravi", password="secret-pass"):
        token = csrf_token(self._client, "/login")
        response = self._client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        self.token = csrf_token(self._client, "/dashboard/products")
        return response

    def post(self, path, data=None, htmx=False, **kwargs):
        """POST as the logged-in vendor with the CSRF token (as htmx sends it, or as a field)."""
        data = dict(data or {})
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": self.token})
        else:
            data.setdefault("csrf_token", self.token)
        return self._client.post(path, data=data, headers=headers, **kwargs)


HX = {"HX-Request": "true"}


def upload_photos(auth, product_id, *named, htmx=False, from_row=False):
    """POST the files ``named`` (filename, bytes) to the product's photos in the field ``photos``,
    with the CSRF token as htmx sends it or as the form's field. The body is encoded in memory:
    the test client would spool a large one to a temporary file it never closes."""
    import io

    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    fields = MultiDict([("photos", FileStorage(io.BytesIO(content), name)) for name, content in named])
    headers = {}
    if from_row:
        fields.add("from", "row")
    if htmx:
        headers = {"HX-Request": "true", "X-CSRFToken": auth.token}
    else:
        fields.add("csrf_token", auth.token)
    boundary, body = encode_multipart(fields)
    return auth._client.post(f"/dashboard/products/{product_id}/photos", data=body, headers=headers,
                             content_type=f"multipart/form-data; boundary={boundary}")


def join_all(threads, seconds: float = 60) -> None:
    """Wait for every thread, ``seconds`` in all; a thread still running then (a deadlock)
    fails the test rather than hanging the suite."""
    import time

    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in threads if thread.is_alive()]
    assert not alive, f"threads still running after {seconds} s (a deadlock?): {alive}"


def field_error(html: str, field: str) -> str:
    """The error text shown next to ``field``, or ''."""
    marker = f'id="{field}-error">'
    start = html.find(marker)
    if start < 0:
        return ""
    start += len(marker)
    return html[start:html.index("</small>", start)]


# --- the customer API -------------------------------------------------------------

API_CUSTOMER = {"username": "asha", "password": "mango pickle season", "name": "Asha Rao",
                "phone": "9876543210"}


def api_token(client, **fields) -> str:
    """Register a customer through the API (``API_CUSTOMER`` with ``fields``) and log in: the
    bearer token."""
    body = dict(API_CUSTOMER, **fields)
    response = client.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.json
    response = client.post("/api/v1/tokens", json={"username": body["username"], "password": body["password"]})
    assert response.status_code == 201, response.json
    return response.json["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
