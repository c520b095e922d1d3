"""The operators' ``flask`` commands: create-vendor, seed-demo, cache clear / stats."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from dukaan import accounts, storefront_cache
from dukaan.cli.demo import DEMO_PRODUCTS
from dukaan.extensions import cache, db
from dukaan.models import Product, Vendor
from dukaan.storefront_cache import entries
from helpers import DEAD_REDIS_URL, AuthActions, make_app, make_product, make_vendor


def vendors(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(select(Vendor.username, Vendor.store_name)).all())


def products_of(app, username) -> list[Product]:
    with app.app_context():
        rows = db.session.scalars(
            select(Product).join(Vendor).where(Vendor.username == username).order_by(Product.id)
        ).all()
        db.session.expunge_all()
        return rows


def cached(app, slug):
    with app.app_context():
        return cache.get(entries.entry_key(slug))


# --- create-vendor -----------------------------------------------------------------------


def test_create_vendor(app, runner):
    result = runner.invoke(args=["create-vendor", "asha", "--store-name", "Asha's Crafts",
                                 "--password", "long-enough"])
    assert result.exit_code == 0, result.output
    assert "Created vendor asha: store link /order/asha" in result.output
    assert vendors(app) == {"asha": "Asha's Crafts"}
    with app.app_context():
        assert accounts.authenticate("asha", "long-enough") is not None
        assert accounts.authenticate("asha", "wrong-password") is None
    client = app.test_client()
    AuthActions(client).login("asha", "long-enough")
    assert "Asha&#39;s Crafts" in client.get("/order/asha").get_data(as_text=True)


def test_create_vendor_lowercases_the_username(app, runner):
    result = runner.invoke(args=["create-vendor", "Asha-2", "--store-name", "Asha",
                                 "--password", "long-enough"])
    assert result.exit_code == 0, result.output
    assert vendors(app) == {"asha-2": "Asha"}


@pytest.mark.parametrize("username", ["ab", "has space", "asha!", "x" * 31, "ünï", "a/b"])
def test_create_vendor_refuses_a_bad_username(app, runner, username):
    result = runner.invoke(args=["create-vendor", username, "--store-name", "Shop",
                                 "--password", "long-enough"])
    assert result.exit_code != 0
    assert "Error: username: Use 3–30 characters: lowercase letters, digits and hyphens." in result.output
    assert vendors(app) == {}


def test_create_vendor_refuses_a_short_password(app, runner):
    result = runner.invoke(args=["create-vendor", "asha", "--store-name", "Shop", "--password", "short"])
    assert result.exit_code != 0
    assert "Error: password: Use at least 8 characters." in result.output
    assert vendors(app) == {}


def test_create_vendor_refuses_an_empty_store_name(app, runner):
    result = runner.invoke(args=["create-vendor", "asha", "--store-name", "  ",
                                 "--password", "long-enough"])
    assert result.exit_code != 0
    assert "store_name:" in result.output
    assert vendors(app) == {}


@pytest.mark.parametrize("username", ["ravi", "RAVI"])
def test_create_vendor_refuses_a_taken_username(app, runner, username):
    make_vendor(app)
    result = runner.invoke(args=["create-vendor", username, "--store-name", "Another",
                                 "--password", "long-enough"])
    assert result.exit_code != 0
    assert "Error: username: That username is taken." in result.output
    assert vendors(app) == {"ravi": "Ravi's Store"}


def test_create_vendor_prompts_for_missing_options(app, runner):
    result = runner.invoke(args=["create-vendor", "asha"],
                           input="Asha's Crafts\nlong-enough\nlong-enough\n")
    assert result.exit_code == 0, result.output
    assert vendors(app) == {"asha": "Asha's Crafts"}


def test_create_vendor_prompt_needs_matching_passwords(app, runner):
    result = runner.invoke(args=["create-vendor", "asha", "--store-name", "Shop"],
                           input="long-enough\ndifferent-one\n")
    assert result.exit_code != 0
    assert vendors(app) == {}


# --- seed-demo ------------------------------------------------------------------------------


def test_seed_demo_loads_a_store_to_log_into(app, runner, client):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Created vendor demo (password demo1234)." in result.output
    assert (f"Demo store: {len(DEMO_PRODUCTS)} products added, {len(DEMO_PRODUCTS)} in all; "
            f"{len(DEMO_PRODUCTS)} photos added.") in result.output
    products = products_of(app, "demo")
    assert 15 <= len(products) <= 25
    hidden = [p.name for p in products if not p.available]
    sold_out = [p.name for p in products if p.available and p.stock == 0]
    assert hidden and sold_out
    AuthActions(client).login("demo", "demo1234")
    html = client.get("/order/demo").get_data(as_text=True)
    for product in products:
        assert (product.name in html) == product.available, product.name
        assert (f'alt="{escape(product.name)}"' in html) == product.available, product.name
    assert html.count("Sold out") == len(sold_out)
    # In sections, with a chip bar: the demo's categories, then the rest under "More".
    headings = re.findall(r'class="shelf-title">([^<]*)</h2>', html)
    assert headings == ["Pickles &amp; chutneys", "Sweets &amp; snacks", "Crafts &amp; gifts", "More"]
    assert 'class="chips"' in html


def test_seed_demo_twice_adds_nothing(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    before = [(p.name, p.price, p.stock) for p in products_of(app, "demo")]
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Vendor demo already exists." in result.output
    assert f"Demo store: 0 products added, {len(before)} in all; 0 photos added." in result.output
    assert [(p.name, p.price, p.stock) for p in products_of(app, "demo")] == before
    assert list(vendors(app)) == ["demo"]


def test_seed_demo_refreshes_the_cached_store(app, runner, client):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    client.get("/order/demo")
    assert cached(app, "demo") is not None
    with app.app_context():
        demo = accounts.find("demo")
        db.session.execute(
            Product.__table__.delete().where(Product.vendor_id == demo.id,
                                             Product.name == DEMO_PRODUCTS[0][0])
        )
        db.session.commit()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert cached(app, "demo") is None
    assert DEMO_PRODUCTS[0][0] in client.get("/order/demo").get_data(as_text=True)


def test_seed_demo_with_load_vendors(app, runner, client):
    result = runner.invoke(args=["seed-demo", "--vendors", "3", "--products", "5"])
    assert result.exit_code == 0, result.output
    assert "Load-test vendors: 3 created, 3 in all, 5 products each" in result.output
    assert sorted(vendors(app)) == ["demo", "load0001", "load0002", "load0003"]
    for username in ("load0001", "load0002", "load0003"):
        assert len(products_of(app, username)) == 5
    AuthActions(client).login("load0002", "demo1234")
    assert client.get("/order/load0003").status_code == 200
    again = runner.invoke(args=["seed-demo", "--vendors", "4", "--products", "5"])
    assert again.exit_code == 0, again.output
    assert "Load-test vendors: 1 created, 4 in all" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Product.id))) == len(DEMO_PRODUCTS) + 4 * 5


@pytest.mark.parametrize("option", ["--vendors", "--products"])
def test_seed_demo_refuses_negative_counts(app, runner, option):
    result = runner.invoke(args=["seed-demo", option, "-1"])
    assert result.exit_code != 0
    assert "cannot be negative" in result.output
    assert vendors(app) == {}


# --- cache clear / stats -----------------------------------------------------------------------


@pytest.fixture
def two_cached_stores(app, client):
    for username in ("ravi", "asha"):
        make_product(app, make_vendor(app, username, username.title()), "Pickle", "10.00", 1)
        assert client.get(f"/order/{username}").status_code == 200
        assert cached(app, username) is not None


def test_cache_clear_one_store(app, runner, two_cached_stores):
    """The store's entry goes, and so does its version: every process's page of it is outdated."""
    with app.app_context():
        version = cache.get(entries.version_key("ravi"))
    result = runner.invoke(args=["cache", "clear", "RAVI"])
    assert result.exit_code == 0, result.output
    assert "Cleared the cached page of ravi" in result.output
    assert cached(app, "ravi") is None
    assert cached(app, "asha") is not None
    with app.app_context():
        assert cache.get(entries.version_key("ravi")) not in (None, version)


def test_cache_clear_everything(app, runner, two_cached_stores):
    result = runner.invoke(args=["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert "Cleared the storefront cache" in result.output
    assert cached(app, "ravi") is None and cached(app, "asha") is None


def test_cache_stats_counts_cached_storefronts(app, runner, client, two_cached_stores):
    result = runner.invoke(args=["cache", "stats"])
    assert result.exit_code == 0, result.output
    assert f"backend: {app.config['CACHE_TYPE']}" in result.output
    assert "cached storefronts: 2" in result.output
    # An invalidation (which leaves a version key behind) counts one store fewer.
    with app.app_context():
        storefront_cache.forget("asha")
    assert "cached storefronts: 1" in runner.invoke(args=["cache", "stats"]).output
    runner.invoke(args=["cache", "clear"])
    assert "cached storefronts: 0" in runner.invoke(args=["cache", "stats"]).output


@pytest.mark.redis
def test_cache_stats_on_redis_shows_hits(app, runner, two_cached_stores):
    assert app.config["CACHE_TYPE"] == "RedisCache"
    output = runner.invoke(args=["cache", "stats"]).output
    assert "backend: RedisCache" in output
    assert "redis keyspace hits:" in output


def test_cache_stats_on_the_in_process_cache(app):
    local = make_app(app.config["SQLALCHEMY_DATABASE_URI"], None)
    make_product(app, make_vendor(app), "Pickle", "10.00", 1)
    assert local.test_client().get("/order/ravi").status_code == 200
    result = local.test_cli_runner().invoke(args=["cache", "stats"])
    assert result.exit_code == 0, result.output
    assert "backend: SimpleCache" in result.output
    assert "cached storefronts: 1 (in this process only)" in result.output
    with local.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("args", [["cache", "clear"], ["cache", "clear", "ravi"], ["cache", "stats"]])
def test_cache_commands_fail_clearly_when_redis_is_down(app, args):
    dead = make_app(app.config["SQLALCHEMY_DATABASE_URI"], DEAD_REDIS_URL)
    result = dead.test_cli_runner().invoke(args=args)
    assert result.exit_code != 0
    assert "Error: the cache is unreachable" in result.output
    with dead.app_context():
        db.engine.dispose()
