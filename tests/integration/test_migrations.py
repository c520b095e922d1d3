"""The Alembic migrations build exactly the schema the models describe, up and down."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, create_engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError

from config import database_url
from dukaan.extensions import db
from dukaan.models import Product, Vendor
from helpers import PG_URL, TEST_DB, make_app

# Per test session (TEST_DB_NAME), so two sessions on one server do not drop each other's.
MIGRATIONS_DB = f"{TEST_DB}_migrations"
WHEN = datetime(2024, 1, 1, tzinfo=timezone.utc)
TABLES = {"vendors", "products", "orders", "order_lines", "outbox", "sent_mail", "reviews"}


@pytest.fixture
def fresh_postgres():
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    admin = create_engine(database_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {MIGRATIONS_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {MIGRATIONS_DB}"))
    yield database_url(PG_URL.rsplit("/", 1)[0] + "/" + MIGRATIONS_DB)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {MIGRATIONS_DB} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def fresh_sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'migrations.sqlite'}"


def differences(app, metadata=None) -> list:
    """What autogenerate would still write after the migrations: nothing, if they agree."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata if metadata is not None else db.metadata)


def check_constraints(app) -> dict[str, set[str]]:
    inspector = inspect(db.engine)
    return {
        table: {c["name"] for c in inspector.get_check_constraints(table)}
        for table in sorted(TABLES)
    }


def model_check_constraints() -> dict[str, set[str]]:
    from sqlalchemy import CheckConstraint

    return {
        table: {
            c.name for c in db.metadata.tables[table].constraints if isinstance(c, CheckConstraint)
        }
        for table in sorted(TABLES)
    }


def test_one_head():
    app = make_app("sqlite://", None)
    with app.app_context():
        directory = app.extensions["migrate"].directory
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", directory)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def _round_trip(url):
    app = make_app(url, None)
    with app.app_context():
        try:
            upgrade()
            assert TABLES <= set(inspect(db.engine).get_table_names())
            assert differences(app) == []
            assert check_constraints(app) == model_check_constraints()
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()  # and back up again from nothing
            assert differences(app) == []
            _assert_constraints_hold()
        finally:
            db.session.remove()
            db.engine.dispose()


def _assert_constraints_hold():
    """The database itself refuses what the rules forbid."""
    with db.engine.begin() as conn:
        conn.execute(insert(Vendor), {"username": "ravi", "store_name": "Ravi",
                                      "password_hash": "x", "created_at": WHEN})
    bad_rows = [
        (insert(Vendor), {"username": "Ravi2", "store_name": "R", "password_hash": "x",
                          "created_at": WHEN}),
        (insert(Vendor), {"username": "ravi", "store_name": "R", "password_hash": "x",
                          "created_at": WHEN}),
        # Store settings: a payment method, a UPI ID for UPI, non-negative money, E.164.
        (insert(Vendor), {"username": "nopay", "store_name": "R", "password_hash": "x", "created_at": WHEN,
                          "accept_cod": False, "accept_upi": False}),
        (insert(Vendor), {"username": "upi", "store_name": "R", "password_hash": "x", "created_at": WHEN,
                          "accept_upi": True}),
        (insert(Vendor), {"username": "fee", "store_name": "R", "password_hash": "x", "created_at": WHEN,
                          "delivery_fee": -1}),
        (insert(Vendor), {"username": "codfee", "store_name": "R", "password_hash": "x", "created_at": WHEN,
                          "cod_fee": -1}),
        (insert(Vendor), {"username": "phone", "store_name": "R", "password_hash": "x", "created_at": WHEN,
                          "whatsapp": "9876543210"}),
        (insert(Product), {"vendor_id": 1, "name": "P", "price": 10, "stock": -1,
                           "created_at": WHEN}),
        (insert(Product), {"vendor_id": 1, "name": "P", "price": 0, "stock": 1,
                           "created_at": WHEN}),
        (insert(Product), {"vendor_id": 1, "name": "P", "price": 10, "mrp": 9, "stock": 1,
                           "created_at": WHEN}),
    ]
    for statement, row in bad_rows:
        with pytest.raises(IntegrityError):
            with db.engine.begin() as conn:
                conn.execute(statement, row)


@pytest.mark.postgres
def test_migrations_match_the_models_on_postgres(fresh_postgres):
    _round_trip(fresh_postgres)


def test_migrations_match_the_models_on_sqlite(fresh_sqlite):
    _round_trip(fresh_sqlite)


@pytest.mark.postgres
def test_autogenerate_would_notice_a_model_change(fresh_postgres):
    """The comparison is not vacuous: a column the migrations lack shows up."""
    from sqlalchemy import Column, Integer

    app = make_app(fresh_postgres, None)
    with app.app_context():
        try:
            upgrade()
            changed = MetaData(naming_convention=db.metadata.naming_convention)
            for table in db.metadata.sorted_tables:
                table.to_metadata(changed)
            changed.tables["vendors"].append_column(Column("loyalty_points", Integer))
            diff = differences(app, changed)
            assert [(d[0], d[3].name) for d in diff] == [("add_column", "loyalty_points")]
            assert differences(app) == []
        finally:
            db.session.remove()
            db.engine.dispose()


OLD_VENDOR = ("INSERT INTO vendors (username, store_name, password_hash, created_at) "
              "VALUES ('ravi', 'Ravi', 'x', '2024-01-01')")


def upgraded_from(url: str, revision: str, rows: list[str], query: str) -> list[tuple]:
    """A database at ``revision`` with ``rows`` (INSERTs), upgraded to the head: ``query``'s rows."""
    app = make_app(url, None)
    with app.app_context():
        try:
            upgrade(revision=revision)
            with db.engine.begin() as conn:
                for row in rows:
                    conn.execute(text(row))
            upgrade()
            with db.engine.connect() as conn:
                found = [tuple(r) for r in conn.execute(text(query))]
            downgrade(revision=revision)  # and back, with the data in
            return found
        finally:
            db.session.remove()
            db.engine.dispose()


def test_orders_placed_before_charges_existed_cost_their_goods(fresh_sqlite):
    """0006 gives every older order a subtotal equal to its total, no charges, cash, pending."""
    from decimal import Decimal

    [row] = upgraded_from(fresh_sqlite, "0005", [
        OLD_VENDOR,
        "INSERT INTO orders (vendor_id, number, ref, customer_name, phone, address, total, status, created_at, "
        "updated_at) VALUES (1, 1, 'r1', 'A', '9876543210', 'X', 120.50, 'placed', '2024-01-01', '2024-01-01')",
    ], "SELECT subtotal, delivery_fee, cod_fee, total, payment_method, payment_state FROM orders")
    assert [Decimal(str(v)) for v in row[:4]] == [Decimal("120.5"), 0, 0, Decimal("120.5")]
    assert row[4:] == ("cod", "pending")


def test_mail_sent_before_0010_stays_sent_about_its_order(fresh_sqlite):
    """0010 keys each mail already sent by its order ("order:<id>"), so it is not sent again."""
    [row] = upgraded_from(fresh_sqlite, "0009", [
        OLD_VENDOR,
        "INSERT INTO orders (vendor_id, number, ref, customer_name, phone, address, subtotal, total, status, "
        "created_at, updated_at) VALUES (1, 1, 'r1', 'A', '9876543210', 'X', 120.50, 120.50, 'placed', "
        "'2024-01-01', '2024-01-01')",
        "INSERT INTO sent_mail (order_id, kind, recipient, claimed_at, sent_at) VALUES (1, 'vendor.order_placed', "
        "'ravi@example.com', '2024-01-01', '2024-01-01')",
    ], "SELECT s.order_id, s.kind, s.about, v.daily_summary FROM sent_mail s JOIN vendors v ON v.id = 1")
    assert row == (1, "vendor.order_placed", "order:1", 1)


def test_each_store_numbers_its_orders_on_from_its_last_number_after_0014(fresh_postgres):
    """0014 gives each store a sequence that carries on after the last number it handed out."""
    [row] = upgraded_from(fresh_postgres, "0013", [
        OLD_VENDOR.replace("'2024-01-01')", "'2024-01-01'), ('asha', 'Asha', 'x', '2024-01-01')"),
        "UPDATE vendors SET last_order_number = 41 WHERE username = 'ravi'",
    ], "SELECT nextval('order_numbers_1'), nextval('order_numbers_2')")
    assert row == (42, 1)
