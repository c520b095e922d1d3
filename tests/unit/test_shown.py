"""One home for each rule: what the store page shows is declared once, and only
``dukaan.inventory`` writes stock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dukaan import accounts, products
from dukaan.extensions import db
from dukaan.models import Product, Vendor
from dukaan.storefront import catalogue
from dukaan.storefront.views import _render_store
from dukaan.storefront_cache.shown import SHOWN
from helpers import make_product, make_vendor

DUKAAN = Path(__file__).resolve().parents[2] / "dukaan"


class Recorder:
    """Stands in for a model object and notes every attribute read from it."""

    def __init__(self, obj, seen: set):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_seen", seen)

    def __getattr__(self, name):
        if not name.startswith("_"):
            self._seen.add((type(self._obj), name))
        return getattr(self._obj, name)


def undeclared(seen: set) -> list[str]:
    """The reads that ``SHOWN`` does not declare, as ``Model.attribute``."""
    wrong = []
    for model, name in sorted(seen, key=lambda pair: (pair[0].__name__, pair[1])):
        shown = SHOWN.get(model)
        if shown is None or (name not in shown.attributes and name not in shown.derived):
            wrong.append(f"{model.__name__}.{name}")
    return wrong


@pytest.fixture
def store_page_reads(app, monkeypatch):
    """Render ravi's store page from recording objects; the set of (model, attribute) read."""
    vendor_id = make_vendor(app)
    make_product(app, vendor_id, "Mango pickle", "120.00", 10, mrp="150.00", description="Tangy")
    make_product(app, vendor_id, "Coconut barfi", "280.00", 0)
    seen: set = set()
    real_find, real_on_sale = accounts.find, products.on_sale
    monkeypatch.setattr(accounts, "find", lambda slug, *session: Recorder(real_find(slug, *session), seen))
    monkeypatch.setattr(products, "on_sale",
                        lambda vendor, **options: [Recorder(p, seen) for p in real_on_sale(vendor, **options)])
    with app.test_request_context("/order/ravi"):
        front = catalogue.load("ravi")
        html = _render_store(front)
    assert "Mango pickle" in html and "Coconut barfi" in html
    return seen


def test_the_store_page_reads_only_what_shown_declares(store_page_reads):
    """A template that shows something new fails here until SHOWN declares it, so that
    changing it outdates the page."""
    assert {(Product, "price"), (Product, "in_stock"), (Vendor, "store_name")} <= store_page_reads
    assert undeclared(store_page_reads) == []


def test_a_product_page_reads_only_what_shown_declares(app, monkeypatch):
    """A product's page is kept under its store's version too: what it reads must outdate it."""
    from dukaan import orders, reviews
    from dukaan.models import Order, Review
    from dukaan.storefront.views import _render_product
    from helpers import place

    vendor_id = make_vendor(app)
    pickle = make_product(app, vendor_id, "Mango pickle", "120.00", 10, mrp="150.00", description="Tangy")
    with app.app_context():
        order = db.session.get(Order, place(app, vendor_id, {pickle: 1}))
        for status in ("confirmed", "shipped", "delivered"):
            orders.change_status(order, status)
        reviews.leave(order, pickle, 5, "Lovely")
    seen: set = set()
    real_find, real_one, real_reviews = accounts.find, products.on_sale_one, reviews.shown_with
    monkeypatch.setattr(accounts, "find", lambda slug, *session: Recorder(real_find(slug, *session), seen))
    monkeypatch.setattr(products, "on_sale_one",
                        lambda vendor, pid, session: Recorder(real_one(vendor, pid, session), seen))
    monkeypatch.setattr(reviews, "shown_with",
                        lambda product, session: [Recorder(r, seen) for r in real_reviews(product, session=session)])
    with app.test_request_context(f"/order/ravi/p/{pickle}"):
        html = _render_product("ravi", pickle, db.session)
    assert "Mango pickle" in html and "Lovely" in html
    assert {(Product, "price"), (Vendor, "store_name"), (Review, "text")} <= seen
    assert undeclared(seen) == []


def test_a_read_that_is_not_declared_is_caught(app):
    """The check above can fail: a template reading the product's creation time is named."""
    vendor_id = make_vendor(app)
    make_product(app, vendor_id)
    seen: set = set()
    with app.app_context():
        product = db.session.scalars(products.for_vendor(db.session.get(Vendor, vendor_id))).one()
        app.jinja_env.from_string("{{ p.name }} {{ p.created_at }}").render(p=Recorder(product, seen))
    assert undeclared(seen) == ["Product.created_at"]


def test_every_derived_property_rests_on_declared_attributes():
    for model, shown in SHOWN.items():
        for name, bases in shown.derived.items():
            assert bases and set(bases) <= set(shown.attributes), f"{model.__name__}.{name}"
            assert hasattr(model, name), f"{model.__name__} has no {name}"


# Calls that write rows from dicts: ``.values({...})``, ``session.execute(insert(...), [{...}])``.
ROW_WRITERS = {"values", "execute", "bulk_insert_mappings", "bulk_update_mappings"}


def stock_writes(path: Path) -> list[str]:
    """Places in ``path`` that write a ``stock``: an assignment to ``….stock``, a ``stock=``
    keyword (a constructor, ``.values(stock=…)``), or a ``"stock"`` key in rows written from dicts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Attribute) and t.attr == "stock" for t in targets):
            found.append(f"{path.name}:{node.lineno} assigns .stock")
        if isinstance(node, ast.keyword) and node.arg == "stock":
            found.append(f"{path.name}:{node.value.lineno} passes stock=")
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ROW_WRITERS:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Dict) and any(
                    isinstance(k, ast.Constant) and k.value == "stock" for k in inner.keys
                ):
                    found.append(f"{path.name}:{inner.lineno} writes a 'stock' key")
    return found


def test_only_inventory_writes_stock():
    assert stock_writes(DUKAAN / "inventory.py"), "the check finds inventory's own writes"
    elsewhere = [
        hit for path in sorted(DUKAAN.rglob("*.py")) if path.name != "inventory.py"
        for hit in stock_writes(path)
    ]
    assert elsewhere == []
