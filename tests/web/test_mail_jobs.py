"""The mail jobs beyond the vendor's new-order email, with the in-process jobs and a captured
sender: the customer's email on each change of their order (the checkout's optional email, an
API customer's own), the vendor's low-stock email once per fall below the mark, and the daily
summary with its switch. Each is sent once however often its job runs."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from dukaan import jobs, orders, payments
from dukaan.extensions import db
from dukaan.jobs import JOBS
from dukaan.jobs.celery import settings as celery_settings
from dukaan.models import Order, OutboxEntry, Product, SentMail, Vendor
from helpers import (
    HX,
    AuthActions,
    api_token,
    bearer,
    field_error,
    make_product,
    make_vendor,
    place,
    product_state,
    set_store,
)

CUSTOMER = {"name": "Meera Joshi", "phone": "9876543210", "address": "12 MG Road, Pune"}


@pytest.fixture
def shop(app):
    """Ravi's store (no email of its own unless a test gives one) and a pickle; (vendor id, product id)."""
    vendor_id = make_vendor(app)
    set_store(app, vendor_id, accept_upi=True, upi_id="ravi@okhdfcbank")
    return vendor_id, make_product(app, vendor_id, stock=20)


def settle(app) -> None:
    assert jobs.backend(app).join(5)


def to(sent, address: str) -> list[tuple[str, str, str]]:
    return [m for m in sent if m[0] == address]


def checkout(client, product_id, units=1, headers=None, **fields):
    data = {**CUSTOMER, f"qty-{product_id}": str(units), "payment": "cod", **fields}
    return client.post("/order/ravi", data=data, headers=headers or {})


def the_order(app) -> Order:
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        db.session.expunge(order)
        return order


def outbox_size(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(OutboxEntry))


# --- the customer's email at checkout -------------------------------------------------------


def test_the_store_page_asks_for_an_optional_email(client, shop):
    html = client.get("/order/ravi").get_data(as_text=True)
    assert 'name="email"' in html and 'type="email"' in html and "Email (optional)" in html
    # The running total leaves it out of its requests.
    assert 'hx-params="not name,phone,address,email,order_token"' in html


def test_an_email_given_at_checkout_is_kept_and_mailed_when_the_order_is_placed(app, client, shop, sent):
    response = checkout(client, shop[1], 2, email="  meera@example.com ")
    assert response.status_code == 303
    settle(app)
    order = the_order(app)
    assert order.email == "meera@example.com"
    assert len(sent) == 1
    address, subject, body = sent[0]
    assert address == "meera@example.com"
    assert subject == "Your order #1 at Ravi's Store: placed"
    for text in ("Hello Meera Joshi,", "2 × Mango pickle @ ₹120.00 = ₹240.00", "Total: ₹240.00",
                 "in cash on delivery", f"See your order: http://127.0.0.1:5000/order/ravi/{order.ref}"):
        assert text in body, text
    # Delivered again: not sent again.
    with app.app_context():
        JOBS["mail.customer_update"](order_id=order.id, news="placed")
    assert len(sent) == 1


def test_links_in_mail_follow_site_url(app, client, shop, sent):
    app.config["SITE_URL"] = "https://shop.example.in/dukaan"
    checkout(client, shop[1], email="meera@example.com")
    settle(app)
    assert f"https://shop.example.in/dukaan/order/ravi/{the_order(app).ref}" in sent[0][2]


def test_without_an_email_the_customer_gets_nothing_and_nothing_is_recorded(app, client, shop, sent):
    assert checkout(client, shop[1], email="").status_code == 303
    settle(app)
    assert the_order(app).email is None
    assert sent == [] and outbox_size(app) == 0


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("typed", ["meera", "meera@example", "meera @example.com", "a@b.c\x00", "x" * 250 + "@e.com"])
def test_a_malformed_email_is_refused_next_to_its_field(app, client, shop, sent, typed, htmx):
    response = checkout(client, shop[1], email=typed, headers=HX if htmx else None)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = field_error(html, "email")
    assert "Give an email address such as asha@example.com, or leave it empty." in error or \
        "Field cannot be longer than 254 characters." in error
    assert 'value="Meera Joshi"' in html  # nothing typed is lost
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert product_state(app, shop[1])["stock"] == 20


# --- each change of the order ----------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_each_state_the_vendor_moves_the_order_to_is_mailed_once(app, client, shop, sent, htmx):
    checkout(client, shop[1], email="meera@example.com")
    order = the_order(app)
    auth = AuthActions(client)
    auth.login()
    for status in ("confirmed", "shipped", "delivered"):
        response = auth.post(f"/dashboard/orders/{order.id}/status", {"status": status}, htmx=htmx)
        assert response.status_code == (200 if htmx else 303)
    settle(app)
    bodies = {subject: body for _, subject, body in to(sent, "meera@example.com")}
    assert sorted(bodies) == sorted(f"Your order #1 at Ravi's Store: {news}"
                                    for news in ("placed", "confirmed", "on its way", "delivered"))
    delivered = bodies["Your order #1 at Ravi's Store: delivered"]
    assert "It was paid in cash on delivery." in delivered  # and no separate payment email
    with app.app_context():
        for news in ("placed", "confirmed", "shipped", "delivered"):
            JOBS["mail.customer_update"](order_id=order.id, news=news)
        kinds = db.session.scalars(select(SentMail.kind).where(SentMail.order_id == order.id)).all()
    assert sorted(kinds) == ["customer.confirmed", "customer.delivered", "customer.placed", "customer.shipped"]
    assert len(to(sent, "meera@example.com")) == 4


def test_a_mail_about_a_state_says_that_state_even_if_the_order_moved_on(app, shop, sent):
    order_id = place(app, shop[0], {shop[1]: 1}, payment="cod", email="meera@example.com")
    settle(app)
    with app.app_context():
        order = db.session.get(Order, order_id)
        orders.change_status(order, "confirmed")
        orders.change_status(order, "cancelled")
    settle(app)
    bodies = {subject: body for _, subject, body in sent}
    assert "has confirmed your order" in bodies["Your order #1 at Ravi's Store: confirmed"]
    assert "has been cancelled" in bodies["Your order #1 at Ravi's Store: cancelled"]


def test_the_customer_cancelling_on_the_order_page_is_mailed(app, client, shop, sent):
    response = checkout(client, shop[1], email="meera@example.com")
    assert client.post(response.headers["Location"] + "/cancel").status_code in (200, 303)
    settle(app)
    assert sorted(s for _, s, _ in sent) == ["Your order #1 at Ravi's Store: cancelled",
                                             "Your order #1 at Ravi's Store: placed"]


def test_a_refused_state_change_records_nothing(app, shop, sent):
    order_id = place(app, shop[0], {shop[1]: 1}, payment="cod", email="meera@example.com")
    settle(app)
    with app.app_context(), pytest.raises(orders.IllegalTransition):
        orders.change_status(db.session.get(Order, order_id), "delivered")
    settle(app)
    assert outbox_size(app) == 0 and len(sent) == 1


def test_the_vendors_payment_moves_are_mailed_but_not_the_customers_claim(app, shop, sent):
    order_id = place(app, shop[0], {shop[1]: 1}, payment="upi", email="meera@example.com")
    with app.app_context():
        order = db.session.get(Order, order_id)
        payments.claim(order, "412345678901")
        payments.vendor_sets(order, "not_received")
        payments.claim(order, "412345678902")
        payments.vendor_sets(order, "paid")
    settle(app)
    bodies = {subject: body for _, subject, body in sent}
    assert sorted(bodies) == [f"Your order #1 at Ravi's Store: {news}"
                              for news in ("payment not found", "payment received", "placed")]
    assert "could not find your UPI payment" in bodies["Your order #1 at Ravi's Store: payment not found"]
    assert "has received your payment of ₹120.00" in bodies["Your order #1 at Ravi's Store: payment received"]
    assert "Pay by UPI from the order's page." in bodies["Your order #1 at Ravi's Store: placed"]


def test_a_payment_not_found_twice_is_mailed_twice_each_once(app, shop, sent):
    order_id = place(app, shop[0], {shop[1]: 1}, payment="upi", email="meera@example.com")
    with app.app_context():
        order = db.session.get(Order, order_id)
        for utr in ("412345678901", "412345678902"):
            payments.claim(order, utr)
            payments.vendor_sets(order, "not_received")
    settle(app)
    assert [s for _, s, _ in sent].count("Your order #1 at Ravi's Store: payment not found") == 2
    with app.app_context():
        for row in db.session.scalars(select(SentMail).where(SentMail.kind == "customer.not_received")):
            _, at = row.about.split("@", 1)
            JOBS["mail.customer_update"](order_id=order_id, news="not_received", at=at)  # redelivered
    assert len(sent) == 3


def api_order(client, token: str, product_id: int) -> None:
    response = client.post("/api/v1/orders", headers={**bearer(token), "Idempotency-Key": "k1"},
                           json={"store": "ravi", "lines": [{"product_id": product_id, "quantity": 1}],
                                 "address": "4 Park Street", "payment": "cod"})
    assert response.status_code == 201, response.json


def test_an_api_order_is_mailed_to_the_customers_own_email(app, client, shop, sent):
    api_order(client, api_token(client, email="asha@example.com"), shop[1])
    settle(app)
    assert the_order(app).email == "asha@example.com"
    assert [(a, s) for a, s, _ in sent] == [("asha@example.com", "Your order #1 at Ravi's Store: placed")]


def test_an_api_customer_without_an_email_gets_none(app, client, shop, sent):
    api_order(client, api_token(client), shop[1])
    settle(app)
    assert sent == [] and outbox_size(app) == 0


# --- low stock ------------------------------------------------------------------------------


@pytest.fixture
def stocked(app):
    """Ravi (with an email) and a pickle: 10 in stock, email at 3; (vendor id, product id)."""
    vendor_id = make_vendor(app)
    set_store(app, vendor_id, email="ravi@example.com")
    product_id = make_product(app, vendor_id, stock=10)
    with app.app_context():
        db.session.get(Product, product_id).low_stock_at = 3
        db.session.commit()
    return vendor_id, product_id


def low_stock_mails(sent) -> list[tuple[str, str, str]]:
    return [m for m in sent if m[1].startswith("Low stock:")]


def test_a_fall_to_the_mark_is_mailed_once_and_again_only_after_going_back_above(app, stocked, sent):
    vendor_id, product_id = stocked
    place(app, vendor_id, {product_id: 5})  # 10 -> 5: above
    settle(app)
    assert low_stock_mails(sent) == []
    first = place(app, vendor_id, {product_id: 2})  # 5 -> 3: at the mark
    place(app, vendor_id, {product_id: 1})  # 3 -> 2: still low, no second mail
    settle(app)
    assert [(a, s) for a, s, _ in low_stock_mails(sent)] == [
        ("ravi@example.com", "Low stock: Mango pickle is down to 3 at Ravi's Store")]
    body = low_stock_mails(sent)[0][2]
    assert "at or below the 3 you asked to be told about" in body
    assert f"http://127.0.0.1:5000/dashboard/products/{product_id}/edit" in body
    with app.app_context():
        orders.change_status(db.session.get(Order, first), "cancelled")  # 2 -> 4: above again
    place(app, vendor_id, {product_id: 4})  # 4 -> 0: a new fall
    settle(app)
    assert [s for _, s, _ in low_stock_mails(sent)] == [
        "Low stock: Mango pickle is down to 3 at Ravi's Store", "Low stock: Mango pickle is down to 0 at Ravi's Store"]


def test_the_low_stock_job_delivered_twice_sends_once(app, stocked, sent):
    vendor_id, product_id = stocked
    place(app, vendor_id, {product_id: 8})
    settle(app)
    with app.app_context():
        args = db.session.scalar(select(SentMail.about).where(SentMail.kind == "vendor.low_stock"))
        _, _, at = args.split(":", 2)
        JOBS["mail.low_stock"](product_id=product_id, fell_to=2, at=at)
        JOBS["mail.low_stock"](product_id=product_id, fell_to=2, at=at)
    assert len(low_stock_mails(sent)) == 1


def test_no_mark_or_no_email_means_no_low_stock_mail(app, stocked, sent):
    vendor_id, product_id = stocked
    set_store(app, vendor_id, email=None)
    place(app, vendor_id, {product_id: 8})
    settle(app)
    assert sent == []  # the job ran and found no one to tell
    set_store(app, vendor_id, email="ravi@example.com")
    other = make_product(app, vendor_id, name="Lime pickle", stock=5)  # no mark
    place(app, vendor_id, {other: 5})
    settle(app)
    assert low_stock_mails(sent) == [] and outbox_size(app) == 0


def edit(auth, product_id, htmx=False, **fields):
    data = {"name": "Mango pickle", "price": "120.00", "stock": "10", "stock_seen": "10", **fields}
    return auth.post(f"/dashboard/products/{product_id}", data, htmx=htmx)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_vendor_lowering_the_stock_to_the_mark_is_mailed(app, client, stocked, sent, htmx):
    vendor_id, product_id = stocked
    auth = AuthActions(client)
    auth.login()
    assert edit(auth, product_id, htmx, stock="3", low_stock_at="3").status_code == (200 if htmx else 303)
    settle(app)
    assert [s for _, s, _ in low_stock_mails(sent)] == ["Low stock: Mango pickle is down to 3 at Ravi's Store"]


def test_raising_the_mark_above_the_stock_sends_nothing(app, client, stocked, sent):
    vendor_id, product_id = stocked
    auth = AuthActions(client)
    auth.login()
    assert edit(auth, product_id, low_stock_at="15").status_code == 303
    settle(app)
    with app.app_context():
        assert db.session.get(Product, product_id).low_stock_at == 15
    assert sent == []


def test_the_product_forms_set_the_mark_and_the_inline_row_keeps_it(app, client, stocked, sent):
    vendor_id, product_id = stocked
    auth = AuthActions(client)
    auth.login()
    html = client.get(f"/dashboard/products/{product_id}/edit").get_data(as_text=True)
    assert 'name="low_stock_at"' in html and 'value="3"' in html
    row = client.get(f"/dashboard/products/{product_id}/edit", headers=HX).get_data(as_text=True)
    assert '<input type="hidden" name="low_stock_at" value="3"' in row
    assert edit(auth, product_id, htmx=True, low_stock_at="").status_code == 200
    with app.app_context():
        assert db.session.get(Product, product_id).low_stock_at is None
    response = auth.post("/dashboard/products", {"name": "Papad", "price": "40", "stock": "9", "low_stock_at": "2"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Product.low_stock_at).where(Product.name == "Papad")) == 2


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("typed, error", [
    ("-1", "Number must be between 0 and 1000000."), ("two", "Enter a whole number in the digits 0–9."),
    ("2000000", "Number must be between 0 and 1000000."), ("٣", "Enter a whole number in the digits 0–9."),
])
def test_a_bad_mark_is_refused_next_to_its_field(app, client, stocked, typed, error, htmx):
    vendor_id, product_id = stocked
    auth = AuthActions(client)
    auth.login()
    response = edit(auth, product_id, htmx, low_stock_at=typed)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert (f"Email me when down to: {error}" in html) if htmx else error in field_error(html, "low_stock_at")
    response = auth.post("/dashboard/products", {"name": "Papad", "price": "40", "stock": "9", "low_stock_at": typed},
                         htmx=htmx)
    assert response.status_code == 422
    assert error in field_error(response.get_data(as_text=True), "low_stock_at")
    with app.app_context():
        assert db.session.get(Product, product_id).low_stock_at == 3


# --- the daily summary ------------------------------------------------------------------------

# 29 Nov 2026 in India (DISPLAY_TIMEZONE, UTC+5:30) runs from 28 Nov 18:30 to 29 Nov 18:30 UTC.
DAY = "2026-11-29"


def at(app, order_id, moment: datetime) -> None:
    with app.app_context():
        db.session.execute(update(Order).where(Order.id == order_id).values(created_at=moment))
        db.session.commit()


@pytest.fixture
def busy_day(app):
    """Ravi (with an email) sold on 29 Nov: two orders kept, one cancelled, one each side of the day."""
    vendor_id = make_vendor(app)
    set_store(app, vendor_id, email="ravi@example.com")
    pickle = make_product(app, vendor_id, "Mango pickle", "120.00", 100)
    chai = make_product(app, vendor_id, "Masala chai", "95.50", 100)
    papad = make_product(app, vendor_id, "Papad", "40.00", 100)
    utc = timezone.utc
    for quantities, moment in (
        ({pickle: 2, chai: 1}, datetime(2026, 11, 28, 18, 30, tzinfo=utc)),  # 00:00 IST on the 29th
        ({pickle: 1, papad: 3}, datetime(2026, 11, 29, 18, 29, tzinfo=utc)),  # 23:59 IST
        ({chai: 5}, datetime(2026, 11, 29, 10, 0, tzinfo=utc)),  # cancelled below
        ({papad: 9}, datetime(2026, 11, 28, 18, 29, tzinfo=utc)),  # 23:59 IST on the 28th
        ({papad: 9}, datetime(2026, 11, 29, 18, 30, tzinfo=utc)),  # 00:00 IST on the 30th
    ):
        at(app, place(app, vendor_id, quantities), moment)
    with app.app_context():
        orders.change_status(db.session.scalars(select(Order).where(Order.number == 3)).one(), "cancelled")
    settle(app)
    return vendor_id


def summaries(sent) -> list[tuple[str, str, str]]:
    return [m for m in sent if "Download the day's orders" in m[2]]


def test_the_summary_counts_the_merchants_day_its_revenue_and_top_products(app, busy_day, sent):
    sent.clear()
    with app.app_context():
        assert JOBS["mail.daily_summaries"](day=DAY) == 1
    settle(app)
    [(address, subject, body)] = summaries(sent)
    assert address == "ravi@example.com"
    assert subject == "Ravi's Store on Sun 29 Nov 2026: 3 orders, ₹575.50"
    for text in ("Orders placed: 3 (1 cancelled since)", "Revenue: ₹575.50 (cancelled orders not counted)",
                 "1. Mango pickle: 3 sold, ₹360.00", "2. Papad: 3 sold, ₹120.00", "3. Masala chai: 1 sold, ₹95.50",
                 "See your orders: http://127.0.0.1:5000/dashboard/orders",
                 "http://127.0.0.1:5000/dashboard/orders.csv?from_date=2026-11-29&to_date=2026-11-29"):
        assert text in body, text


def test_the_summary_is_sent_once_per_vendor_and_day(app, busy_day, sent):
    sent.clear()
    with app.app_context():
        JOBS["mail.daily_summaries"](day=DAY)
        settle(app)
        assert JOBS["mail.daily_summaries"](day=DAY) == 0  # already sent: not asked for again
        JOBS["mail.daily_summary"](vendor_id=busy_day, day=DAY)  # a redelivery
    settle(app)
    assert len(summaries(sent)) == 1


def test_no_summary_for_a_day_without_orders_no_email_or_switched_off(app, client, busy_day, sent):
    sent.clear()
    with app.app_context():
        assert JOBS["mail.daily_summaries"](day="2026-11-27") == 0
        JOBS["mail.daily_summary"](vendor_id=busy_day, day="2026-11-27")
    auth = AuthActions(client)
    auth.login()
    form = {"store_name": "Ravi's Store", "email": "ravi@example.com", "accept_cod": "y", "open": "y"}
    assert auth.post("/dashboard/settings", form).status_code == 303  # daily_summary left unticked
    with app.app_context():
        assert db.session.get(Vendor, busy_day).daily_summary is False
        assert JOBS["mail.daily_summaries"](day=DAY) == 0
        JOBS["mail.daily_summary"](vendor_id=busy_day, day=DAY)  # asked for before the switch
    settle(app)
    assert summaries(sent) == []


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_the_settings_form_shows_and_saves_the_summary_switch(app, client, htmx):
    vendor_id = make_vendor(app)
    auth = AuthActions(client)
    auth.login()
    html = client.get("/dashboard/settings").get_data(as_text=True)
    assert 'checked id="daily_summary"' in html and "summary of each day with orders" in html
    form = {"store_name": "Ravi's Store", "email": "ravi@example.com", "accept_cod": "y", "open": "y"}
    response = auth.post("/dashboard/settings", form, htmx=htmx)
    assert response.status_code == (200 if htmx else 303)
    if htmx:
        assert 'id="daily_summary"' in response.get_data(as_text=True)
        assert 'checked id="daily_summary"' not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Vendor, vendor_id).daily_summary is False
    assert auth.post("/dashboard/settings", {**form, "daily_summary": "y"}, htmx=htmx).status_code < 400
    with app.app_context():
        assert db.session.get(Vendor, vendor_id).daily_summary is True


def test_without_a_day_the_summaries_are_yesterdays(app, busy_day, sent, monkeypatch):
    import dukaan.jobs.mail as mail_jobs

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 11, 30, 0, 20, tzinfo=timezone.utc).astimezone(tz)  # 05:50 IST on the 30th

    monkeypatch.setattr(mail_jobs, "datetime", Clock)
    sent.clear()
    with app.app_context():
        assert JOBS["mail.daily_summaries"]() == 1
    settle(app)
    assert summaries(sent)[0][1].startswith("Ravi's Store on Sun 29 Nov 2026: 3 orders")


def test_beat_asks_for_the_summaries_every_hour(app):
    schedule = celery_settings(app.config)["beat_schedule"]["mail-daily-summaries"]
    assert schedule["task"] == "mail.daily_summaries" and schedule["schedule"] == 3600


def test_the_summaries_command(app, runner, busy_day, sent):
    sent.clear()
    result = runner.invoke(args=["jobs", "daily-summaries", "--day", DAY])
    assert result.exit_code == 0, result.output
    assert result.output == "summaries asked for: 1\n"
    settle(app)
    assert len(summaries(sent)) == 1
    result = runner.invoke(args=["jobs", "daily-summaries", "--day", "2026-02-30"])
    assert result.exit_code == 2 and "use a date like 2026-11-30" in result.output


def test_summary_figures_leave_cancelled_orders_out(app, busy_day):
    from dukaan.jobs.mail import day_bounds

    with app.app_context():
        summary = orders.summary(db.session.get(Vendor, busy_day), *day_bounds(datetime(2026, 11, 29).date()))
    assert (summary.orders, summary.cancelled, summary.revenue) == (3, 1, Decimal("575.50"))
    assert summary.top[0] == ("Mango pickle", 3, Decimal("360.00"))
