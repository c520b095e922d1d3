"""Vendors and demo data: ``flask create-vendor``, ``flask seed-demo``."""

from __future__ import annotations

import random
from decimal import Decimal

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from .. import accounts, categories, photos, products
from ..extensions import db
from ..models import Product, ProductPhoto, Vendor
from ..products import Details
from ..storefront import STOREFRONT_PREFIX

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo1234"
DEMO_STORE = "Asha's Kitchen & Crafts"

# name, price, mrp, stock, available, description
DEMO_PRODUCTS = [
    ("Mango pickle (500 g)", "180.00", "220.00", 40, True, "Grandmother's recipe, sun-cured raw mango in mustard oil."),
    ("Lime pickle (500 g)", "160.00", None, 35, True, "Sweet and sour, no preservatives."),
    ("Garlic chutney (250 g)", "120.00", "140.00", 25, True, "Dry red garlic chutney from Kolhapur."),
    ("Ghee, A2 cow (500 ml)", "650.00", "750.00", 12, True, "Bilona-churned, from our village dairy."),
    ("Masala chai mix (200 g)", "210.00", None, 50, True, "Cardamom, ginger, clove and pepper, hand-pounded."),
    ("Garam masala (100 g)", "95.00", "110.00", 60, True, "Roasted in small batches every week."),
    ("Besan laddoo (box of 12)", "320.00", None, 18, True, "Made fresh to order in pure ghee."),
    ("Coconut barfi (box of 12)", "280.00", "300.00", 0, True, "Back next week."),
    ("Kaju katli (250 g)", "450.00", "520.00", 10, True, "Silver varq, cashews from Goa."),
    ("Banana chips (200 g)", "90.00", None, 45, True, "Kerala style, fried in coconut oil."),
    ("Hand-block cotton dupatta", "799.00", "999.00", 8, True, "Sanganeri print, 2.25 m."),
    ("Jute shopping bag", "149.00", None, 30, True, "Strong handles, fits 5 kg."),
    ("Terracotta diya set (6)", "199.00", "249.00", 22, True, "Hand-painted, for Diwali."),
    ("Brass pooja bell", "549.00", None, 5, True, "Cast brass, clear long ring."),
    ("Madhubani coaster set (4)", "399.00", "450.00", 14, True, "Hand-painted on wood."),
    ("Handmade soap, neem (3 pack)", "240.00", None, 0, True, "Cold-process, for sensitive skin."),
    ("Rose water (200 ml)", "130.00", None, 28, False, "Steam-distilled. Restocking soon."),
    ("Kashmiri saffron (1 g)", "390.00", "450.00", 9, False, "Grade A mongra. Season ended."),
    ("Cotton tote, Warli print", "299.00", None, 16, True, "Printed by hand in Dahanu."),
    ("Gift hamper, festive", "1499.00", "1799.00", 6, True, "Pickle, laddoo, diyas and a dupatta in a jute bag."),
]

# The demo store's sections, in order, and the words that put a product in each; the rest
# (the chai mix, the garam masala) come last under "More".
DEMO_CATEGORIES = {
    "Pickles & chutneys": ("pickle", "chutney"),
    "Sweets & snacks": ("laddoo", "barfi", "katli", "chips", "hamper"),
    "Crafts & gifts": ("dupatta", "bag", "diya", "bell", "coaster", "tote", "soap"),
}

LOAD_WORDS = ["Organic", "Classic", "Premium", "Homemade", "Spicy", "Sweet", "Fresh", "Royal"]
LOAD_THINGS = ["pickle", "chutney", "masala", "laddoo", "barfi", "dupatta", "tote", "diya", "soap", "tea"]


@click.command("create-vendor")
@click.argument("username")
@click.option("--store-name", prompt=True, help="The store's name as customers see it.")
@click.password_option(help="At least 8 characters.")
@with_appcontext
def create_vendor(username: str, store_name: str, password: str) -> None:
    """Create a vendor; USERNAME becomes the store link /order/USERNAME."""
    try:
        vendor = accounts.create_vendor(username, store_name, password)
    except accounts.AccountError as error:
        raise click.ClickException(f"{error.field}: {error}") from None
    click.echo(f"Created vendor {vendor.username}: store link {STOREFRONT_PREFIX}/{vendor.slug}")


@click.command("seed-demo")
@click.option("--vendors", default=0, show_default=True,
              help="Also create this many load-test vendors (load0001, …).")
@click.option("--products", "count", default=50, show_default=True,
              help="Products for each load-test vendor.")
@click.option("--photos/--no-photos", "with_photos", default=False, show_default=True,
              help="Give each load-test product a photo too (the demo store's always have one).")
@with_appcontext
def seed_demo(vendors: int, count: int, with_photos: bool) -> None:
    """Load the demo store (demo / demo1234); safe to run again."""
    if vendors < 0 or count < 0:
        raise click.BadParameter("counts cannot be negative")
    vendor = accounts.find(DEMO_USERNAME)
    if vendor is None:
        vendor = accounts.create_vendor(DEMO_USERNAME, DEMO_STORE, DEMO_PASSWORD)
        click.echo(f"Created vendor {DEMO_USERNAME} (password {DEMO_PASSWORD}).")
    else:
        click.echo(f"Vendor {DEMO_USERNAME} already exists.")
    have = {product.name for product in products.listing(vendor)}
    shelves = _demo_categories(vendor)
    added = 0
    for name, price, mrp, stock, available, description in DEMO_PRODUCTS:
        if name in have:
            continue
        shelf = next((shelves[title] for title, words in DEMO_CATEGORIES.items()
                      if any(word in name.lower() for word in words)), None)
        details = Details(name, Decimal(price), Decimal(mrp) if mrp else None, description, category_id=shelf)
        products.add(vendor, details, stock, available)
        added += 1
    db.session.commit()
    click.echo(f"Demo store: {added} products added, {len(have) + added} in all; "
               f"{photograph(vendor)} photos added.")
    if vendors:
        _seed_load(vendors, count, with_photos)


def _demo_categories(vendor: Vendor) -> dict[str, int]:
    """The demo store's categories by name, made if missing; their ids."""
    have = {category.name: category.id for category in categories.listing(vendor)}
    for name in DEMO_CATEGORIES:
        if name not in have:
            have[name] = categories.create(vendor, name).id
    return have


def photograph(vendor: Vendor) -> int:
    """Give each of the vendor's products without a photo a small drawn one, processed here
    and now; how many."""
    from ..sample_photos import product_picture

    bare = db.session.scalars(
        products.for_vendor(vendor)
        .where(~select(ProductPhoto.id).where(ProductPhoto.product_id == Product.id).exists())
        .order_by(Product.id)
    ).all()
    for product in bare:
        photos.add_processed(product, photos.Upload(f"product-{product.id}.jpg", product_picture(product.name)))
    return len(bare)


def _seed_load(vendors: int, count: int, with_photos: bool) -> None:
    """Bulk-load vendors load0001… with ``count`` products each (skips existing ones)."""
    rng = random.Random(42)
    # One hash for all: these accounts exist to be loaded, and hashing each at
    # OWASP cost would take minutes. Their password is demo1234 as well.
    password_hash = accounts.hash_password(DEMO_PASSWORD)
    existing = set(db.session.scalars(select(Vendor.username).where(Vendor.username.like("load%"))))
    created = 0
    with click.progressbar(range(1, vendors + 1), label="Loading vendors") as numbers:
        for number in numbers:
            username = f"load{number:04d}"
            if username in existing:
                continue
            vendor = Vendor(username=username, store_name=f"Load Store {number}",
                            password_hash=password_hash)
            db.session.add(vendor)
            db.session.flush()
            for i in range(1, count + 1):
                details = Details(f"{rng.choice(LOAD_WORDS)} {rng.choice(LOAD_THINGS)} #{i}",
                                  Decimal(rng.randrange(1000, 200000)) / 100, None, "Load-test product.")
                products.add(vendor, details, rng.randrange(0, 200), rng.random() > 0.1)
            db.session.commit()
            if with_photos:
                photograph(vendor)
            created += 1
    total = db.session.scalar(select(func.count(Vendor.id)).where(Vendor.username.like("load%")))
    click.echo(f"Load-test vendors: {created} created, {total} in all, "
               f"{count} products each (password {DEMO_PASSWORD}).")
