"""A sale day at one store, for Locust: shoppers on phones, a few mobile-app customers, the vendor.

Against any Dukaan whose database ``flask seed-demo`` filled (store ``demo``,
vendor ``demo`` / ``demo1234``), on this machine only:

    locust -f loadtest/locustfile.py --headless -u 10 -r 5 -t 20s --host http://127.0.0.1:8080

(``make loadtest`` starts the native stack, runs this, and checks the stock after.)

The mix, per shopper: open the store page and product pages most of the time
(each, as in a browser, then fetches the visitor's cart fragment: the page's
htmx does), search the store now and then, ask for a running total, add to
the cart, now and then check out, and keep polling the order page they got.
A sold-out or held-out answer (409) is what a sale day gives some customers:
an expected outcome, not a failure. Mobile-app customers page through the
API's product list and search it. One vendor watches the orders
list, looks at the products and toggles one product off and on again; that
product is left out of the shoppers' choices, so they never meet it half-way.

Bounded by itself: loopback hosts only (any other host stops the run before
its first request), at most ``LOADTEST_MAX_REQUESTS`` requests (20,000), and
whatever ``-u`` and ``-t`` say. Settings: ``LOADTEST_STORE`` (demo),
``LOADTEST_VENDOR`` and ``LOADTEST_PASSWORD`` (demo / demo1234).
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import uuid
from urllib.parse import urlsplit

import gevent
from locust import HttpUser, between, events, task
from locust.exception import StopUser

STORE = os.environ.get("LOADTEST_STORE", "demo")
VENDOR = os.environ.get("LOADTEST_VENDOR", "demo")
PASSWORD = os.environ.get("LOADTEST_PASSWORD", "demo1234")
MAX_REQUESTS = int(os.environ.get("LOADTEST_MAX_REQUESTS", "20000"))

PRODUCT_FIELD = re.compile(r'name="qty-(\d+)"')
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
ORDER_LINK = re.compile(rf"/order/{re.escape(STORE)}/([A-Za-z0-9_-]{{1,32}})$")
HTMX = {"HX-Request": "true"}
SEARCH_WORDS = ("tea", "oil", "rice", "pickle", "masala", "soap", "honey", "ghee")

# The product the vendor toggles: the shoppers leave it alone (the highest id on the page).
toggled: dict[str, int] = {}


def loopback(host: str | None) -> bool:
    name = urlsplit(host or "").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@events.test_start.add_listener
def only_this_machine(environment, **_kwargs):
    if not loopback(environment.host):
        environment.process_exit_code = 2
        print(f"loadtest: refusing to load {environment.host!r}: only 127.0.0.1, ::1 or localhost", flush=True)
        environment.runner.quit()


@events.init.add_listener
def at_most_so_many(environment, **_kwargs):
    sent = {"requests": 0}

    @environment.events.request.add_listener
    def count(**_kwargs):
        sent["requests"] += 1
        if sent["requests"] == MAX_REQUESTS:
            print(f"loadtest: {MAX_REQUESTS} requests sent (LOADTEST_MAX_REQUESTS): stopping", flush=True)
            # Not in this greenlet: quitting kills the users, this one among them.
            gevent.spawn(environment.runner.quit)


class Shopper(HttpUser):
    """A customer on a phone, from the store link shared on WhatsApp."""

    weight = 20
    wait_time = between(0.5, 2)

    def on_start(self):
        if not loopback(self.host):
            raise StopUser()
        self.products: list[int] = []
        self.in_cart = 0
        self.order_page: str | None = None
        self.store_page()

    @task(10)
    def store_page(self):
        with self.client.get(f"/order/{STORE}", name="store page", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"store page: {response.status_code}")
                return
            ids = sorted({int(found) for found in PRODUCT_FIELD.findall(response.text)})
            # The highest id is the vendor's to toggle.
            self.products = ids[:-1] if len(ids) > 1 else ids
        self.cart_fragment()

    @task(6)
    def product_page(self):
        if not self.products:
            return
        self.client.get(f"/order/{STORE}/p/{random.choice(self.products)}", name="product page")
        self.cart_fragment()

    def cart_fragment(self):
        """What a page's htmx asks for as it loads: the visitor's cart beside the shared page."""
        self.client.get(f"/order/{STORE}/cart", headers=HTMX, name="cart fragment")

    @task(1)
    def search(self):
        """The search box, as the customer types (htmx)."""
        self.client.get(f"/order/{STORE}/search", params={"q": random.choice(SEARCH_WORDS)}, headers=HTMX,
                        name="store search")

    @task(3)
    def running_total(self):
        if not self.products:
            return
        chosen = random.sample(self.products, min(3, len(self.products)))
        params = {f"qty-{pid}": random.randint(1, 3) for pid in chosen}
        self.client.get(f"/order/{STORE}/total", params=params, name="running total")

    @task(4)
    def add_to_cart(self):
        if not self.products:
            return
        data = {"product_id": random.choice(self.products), "quantity": random.randint(1, 2)}
        with self.client.post(f"/order/{STORE}/cart", data=data, name="add to cart", catch_response=True) as response:
            if response.status_code == 200:
                self.in_cart += 1
                response.success()
            elif response.status_code == 409:  # sold out or held in other carts: a sale day
                response.success()
            else:
                response.failure(f"add to cart: {response.status_code}")

    @task(2)
    def checkout(self):
        if not self.in_cart:
            return
        data = {"name": "Sale Day Shopper", "phone": f"98{random.randint(10_000_000, 99_999_999)}",
                "address": "12 MG Road, Pune", "order_token": uuid.uuid4().hex}
        with self.client.post(f"/order/{STORE}", data=data, name="checkout", allow_redirects=False,
                              catch_response=True) as response:
            if response.status_code == 303:
                link = urlsplit(response.headers.get("Location", "")).path
                if ORDER_LINK.search(link):
                    self.order_page = link
                    self.in_cart = 0
                    response.success()
                else:
                    response.failure(f"checkout: redirected to {link!r}")
            elif response.status_code == 409:  # a line sold out meanwhile: the page says which
                self.in_cart = 0
                self.client.cookies.clear()
                response.success()
            else:
                response.failure(f"checkout: {response.status_code}")

    @task(3)
    def order_page_poll(self):
        if self.order_page:
            self.client.get(self.order_page, name="order page")


class AppCustomer(HttpUser):
    """A customer in the mobile app: the JSON API's product list, by page and by search."""

    weight = 3
    wait_time = between(1, 4)

    def on_start(self):
        if not loopback(self.host):
            raise StopUser()

    @task(3)
    def product_list(self):
        self.client.get(f"/api/v1/stores/{STORE}/products", params={"page": random.randint(1, 2)},
                        name="api products")

    @task(1)
    def search(self):
        self.client.get(f"/api/v1/stores/{STORE}/products", params={"q": random.choice(SEARCH_WORDS)},
                        name="api search")


class Vendor(HttpUser):
    """The store's owner at the dashboard: orders arriving, products, one toggled off and on."""

    weight = 1
    fixed_count = 1
    wait_time = between(2, 5)

    def on_start(self):
        if not loopback(self.host):
            raise StopUser()
        page = self.client.get("/login", name="login page")
        response = self.client.post("/login", data={"username": VENDOR, "password": PASSWORD,
                                                     "csrf_token": _csrf(page.text)},
                                    name="login", allow_redirects=False)
        if response.status_code != 303:
            raise StopUser()
        self.token = None

    @task(5)
    def orders(self):
        self.client.get("/dashboard/orders", name="dashboard orders")

    @task(2)
    def products(self):
        response = self.client.get("/dashboard/products", name="dashboard products")
        self.token = _csrf(response.text) or self.token
        ids = [int(found) for found in re.findall(r'/dashboard/products/(\d+)/availability', response.text)]
        if ids:
            toggled["id"] = max(ids)

    @task(1)
    def toggle(self):
        if not self.token or "id" not in toggled:
            return
        path = f"/dashboard/products/{toggled['id']}/availability"
        for wanted in ("no", "yes"):
            self.client.post(path, data={"available": wanted}, headers={"HX-Request": "true",
                                                                         "X-CSRFToken": self.token},
                             name="toggle product")


def _csrf(html: str) -> str | None:
    found = CSRF.search(html)
    return (found.group(1) or found.group(2)) if found else None
