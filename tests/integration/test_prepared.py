"""The hot statements, prepared once per PostgreSQL connection (dukaan.models.prepared)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Boolean, DateTime, Integer, Numeric, String, bindparam, literal_column, select, text

from dukaan import accounts
from dukaan.extensions import db
from dukaan.models import Product
from dukaan.models.prepared import original, prepared
from dukaan.ops.metrics import statement_kind
from helpers import make_app, make_product, make_vendor

pytestmark = pytest.mark.postgres

PREPARED_HERE = text("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'dukaan%'")

# Values of each kind the app's statements carry, typed as the app types them.
ECHO = prepared(select(
    bindparam("number", type_=Integer).label("number"),
    bindparam("word", type_=String(20)).label("word"),
    bindparam("money", type_=Numeric(14, 2)).label("money"),
    bindparam("moment", type_=DateTime(timezone=True)).label("moment"),
    bindparam("flag", type_=Boolean).label("flag"),
    (literal_column("1") + bindparam("untyped")).label("sum"),
))
VALUES = {"number": 7, "word": "50% off", "money": Decimal("12.50"),
          "moment": datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc), "flag": True, "untyped": 2}


def test_a_marked_statement_is_prepared_once_per_connection_and_answers_as_sent_as_text(app):
    sent: list[str] = []
    with app.app_context():
        from sqlalchemy import event

        event.listen(db.engine, "after_cursor_execute", lambda _c, _cur, statement, *_a: sent.append(statement))
        with db.engine.connect() as connection:
            first = connection.execute(ECHO, VALUES).one()
            second = connection.execute(ECHO, {**VALUES, "word": None, "money": None}).one()
            plain = connection.execute(ECHO.execution_options(dukaan_prepared=False), VALUES).one()
            here = connection.scalars(PREPARED_HERE).all()
    assert first == plain == (7, "50% off", Decimal("12.50"), VALUES["moment"], True, 3)
    assert second.word is None and second.money is None
    assert [statement.split()[0] for statement in sent[:2]] == ["EXECUTE", "EXECUTE"]
    assert sent[2].startswith("SELECT")
    assert len(here) == 1 and "$6" in here[0], "one PREPARE for both executions"
    assert original(sent[0]).startswith("SELECT") and statement_kind(sent[0]) == "read"


def test_prepared_statements_outlive_a_rollback_and_a_new_connection_prepares_its_own(app):
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(ECHO, VALUES)
            connection.rollback()  # PostgreSQL keeps what was prepared in a rolled-back transaction
            assert connection.execute(ECHO, VALUES).one().number == 7
            connection.invalidate()  # its record of what it prepared goes with it
        with db.engine.connect() as connection:
            assert connection.scalars(PREPARED_HERE).all() == []
            assert connection.execute(ECHO, VALUES).one().number == 7
            assert len(connection.scalars(PREPARED_HERE).all()) == 1


def test_a_statement_whose_values_sqlalchemy_expands_is_sent_as_text(app):
    product_id = make_product(app, make_vendor(app))
    with app.app_context():
        with db.engine.connect() as connection:
            found = connection.execute(
                prepared(select(Product.name).where(Product.id.in_(bindparam("ids", expanding=True)))),
                {"ids": [product_id, product_id + 1]},
            ).scalars().all()
            assert found == ["Mango pickle"]
            assert not any("products" in s for s in connection.scalars(PREPARED_HERE))


def test_a_store_page_an_order_and_a_first_add_to_the_cart_run_on_prepared_statements(app):
    product_id = make_product(app, make_vendor(app), stock=10)
    shopper = app.test_client()
    assert shopper.get("/order/ravi").status_code == 200  # no cache has it yet: read and rendered
    assert shopper.post("/order/ravi/cart", data={"product_id": product_id, "quantity": 2}).status_code == 200
    response = app.test_client().post("/order/ravi", data={"name": "Asha", "phone": "9876543210",
                                                           "address": "12 MG Road, Pune", f"qty-{product_id}": "1"})
    assert response.status_code == 303
    with app.app_context():
        [connection] = [db.engine.raw_connection()]  # the pool's one idle connection: the requests'
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            statements = [row[0] for row in cursor.fetchall()]
        finally:
            connection.close()
        assert db.session.get(Product, product_id).stock == 9
    assert any("INSERT INTO carts" in s and "INSERT INTO cart_lines" in s for s in statements), statements
    assert any("INSERT INTO orders" in s for s in statements) and any(s.startswith("PREPARE") for s in statements)
    assert any("FROM vendors" in s and "vendors.username = $1" in s for s in statements)
    assert any("FROM products" in s and "products.vendor_id = $" in s and "cover" in s for s in statements)


def test_switched_off_nothing_is_prepared(app, _schema):  # app: the database emptied
    app = make_app(_schema, None, DATABASE_PREPARED_STATEMENTS=False)
    vendor_id = make_vendor(app)
    with app.app_context():
        assert accounts.find("ravi").id == vendor_id
        with db.engine.connect() as connection:
            assert connection.execute(ECHO, VALUES).one().number == 7
            assert connection.scalars(PREPARED_HERE).all() == []


def test_a_connection_whose_prepared_statement_a_migration_made_stale_is_replaced(app):
    """A column a prepared statement returns changes type while the app runs: that statement
    fails once on the connection that prepared it, which goes; the next one prepares anew."""
    from sqlalchemy import Column, MetaData, Table
    from sqlalchemy.exc import DBAPIError

    scratch = Table("prepared_scratch", MetaData(), Column("amount", Integer))
    reading = prepared(select(scratch.c.amount))
    with app.app_context():
        engine = db.engine
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS prepared_scratch; CREATE TABLE prepared_scratch (amount int);"
                                    "INSERT INTO prepared_scratch VALUES (5)"))
        try:
            with engine.connect() as connection:
                assert connection.scalar(reading) == 5
                connection.rollback()  # its transaction's lock would hold the migration up
                with engine.begin() as migrating:
                    migrating.execute(text("ALTER TABLE prepared_scratch ALTER amount TYPE bigint"))
                with pytest.raises(DBAPIError) as failed:
                    connection.scalar(reading)
                assert failed.value.connection_invalidated
            with engine.connect() as connection:
                assert connection.scalar(reading) == 5
        finally:
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE prepared_scratch"))
