"""The outbox with no broker: jobs recorded in a change's transaction run after its commit,
in the process, once; a rollback records nothing; mail about an order is sent once."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from dukaan import jobs, mail, orders
from dukaan.extensions import db
from dukaan.jobs import JOBS, outbox
from dukaan.models import OutboxEntry, SentMail, Vendor
from helpers import make_product, make_vendor, place

RAN: list[dict] = []


@pytest.fixture
def shop(app):
    """Ravi's store, with an email, and a product; (vendor id, product id)."""
    vendor_id = make_vendor(app)
    with app.app_context():
        db.session.get(Vendor, vendor_id).email = "ravi@example.com"
        db.session.commit()
    return vendor_id, make_product(app, vendor_id, stock=5)


@pytest.fixture
def noted(monkeypatch):
    RAN.clear()
    monkeypatch.setitem(JOBS, "test.note", lambda **args: RAN.append(args))
    return RAN


def outbox_size(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(OutboxEntry))


def test_a_recorded_job_runs_after_the_commit_and_leaves_the_outbox(app, noted):
    with app.app_context():
        jobs.record("test.note", n=1)
        db.session.flush()
        assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 1
        assert noted == []  # not before the commit
        db.session.commit()
    assert jobs.backend(app).join(5)
    assert noted == [{"n": 1}]
    assert outbox_size(app) == 0


def test_a_rolled_back_change_records_and_runs_nothing(app, noted):
    with app.app_context():
        jobs.record("test.note", n=1)
        db.session.flush()
        db.session.rollback()
        db.session.commit()  # a later commit of the same session does not relay it either
    assert jobs.backend(app).join(5)
    assert noted == []
    assert outbox_size(app) == 0


def test_an_unknown_job_cannot_be_recorded(app):
    with app.app_context(), pytest.raises(LookupError, match="no job is named 'test.nothing'"):
        jobs.record("test.nothing")


def test_entries_a_carrier_refused_wait_for_the_sweep_and_go_once(app, noted, monkeypatch, caplog):
    with app.app_context():
        carrier = outbox.carrier()
        real_send = carrier.send

        def refuse(entries):
            raise outbox.CarrierDown("the broker did not take the jobs: test")

        monkeypatch.setattr(carrier, "send", refuse)
        with caplog.at_level(logging.WARNING, logger="dukaan.jobs.outbox"):
            jobs.record("test.note", n=1)
            db.session.commit()
            assert jobs.backend(app).join(5)
        assert any("1 jobs wait in the outbox" in r.getMessage() for r in caplog.records)
        assert outbox.backlog()[0] == 1
        monkeypatch.setattr(carrier, "send", real_send)
        assert outbox.hand_over(older_than=3600) == 0  # too young for the sweep
        assert outbox.hand_over() == 1
        assert outbox.hand_over() == 0
    assert jobs.backend(app).join(5)
    assert noted == [{"n": 1}]


def test_backlog_counts_entries_and_the_age_of_the_oldest(app, monkeypatch):
    with app.app_context():
        assert outbox.backlog() == (0, None)
        monkeypatch.setattr(outbox.InProcessCarrier, "resting", lambda self: True)
        jobs.record("mail.order_placed", order_id=1)
        db.session.commit()
        assert jobs.backend(app).join(5)
        count, age = outbox.backlog()
        assert count == 1 and 0 <= age < 5


def test_an_order_emails_its_vendor_once(app, shop, sent):
    vendor_id, product_id = shop
    order_id = place(app, vendor_id, {product_id: 2})
    assert jobs.backend(app).join(5)
    assert len(sent) == 1
    to, subject, body = sent[0]
    assert to == "ravi@example.com"
    assert subject == "New order #1 at Ravi's Store: ₹240.00"
    for text in ("2 × Mango pickle @ ₹120.00 = ₹240.00", "Total: ₹240.00", "Customer: Asha Rao",
                 "Phone: 9876543210", "Address: 12 MG Road, Pune",
                 f"http://127.0.0.1:5000/dashboard/orders#order-{order_id}"):
        assert text in body
    # Delivered again (a broker's redelivery, a sweep after a crash): not sent again.
    with app.app_context():
        JOBS["mail.order_placed"](order_id=order_id)
        row = db.session.scalar(select(SentMail))
        assert (row.order_id, row.kind, row.recipient) == (order_id, "vendor.order_placed", "ravi@example.com")
        assert row.sent_at is not None
    assert len(sent) == 1


def test_no_email_no_job(app, sent, queries):
    vendor_id = make_vendor(app)
    product_id = make_product(app, vendor_id)
    queries.clear()
    place(app, vendor_id, {product_id: 1})
    assert jobs.backend(app).join(5)
    assert not any("outbox" in statement for statement in queries)
    assert outbox_size(app) == 0 and sent == []


def test_an_order_refused_for_stock_records_nothing(app, shop, sent):
    vendor_id, product_id = shop
    with app.app_context(), pytest.raises(orders.OutOfStock):
        orders.place(db.session.get(Vendor, vendor_id), {product_id: 6}, orders.Customer("A", "9876543210", "X"))
    assert jobs.backend(app).join(5)
    assert outbox_size(app) == 0 and sent == []


def test_a_mail_server_that_fails_means_a_retry_that_sends_later(app, shop, monkeypatch):
    vendor_id, product_id = shop
    tries: list[str] = []

    def flaky(to, subject, body):
        tries.append(to)
        if len(tries) == 1:
            raise mail.MailError("127.0.0.1:25: connection refused")

    monkeypatch.setattr(mail, "send", flaky)
    monkeypatch.setattr("dukaan.jobs.mail.FIRST_RETRY_SECONDS", 0.05)
    order_id = place(app, vendor_id, {product_id: 1})
    assert jobs.backend(app).join(5)
    assert tries == ["ravi@example.com", "ravi@example.com"]
    with app.app_context():
        assert db.session.scalar(select(SentMail.sent_at).where(SentMail.order_id == order_id)) is not None


def test_a_mail_another_worker_is_sending_is_retried_not_sent(app, shop, sent):
    vendor_id, product_id = shop
    order_id = place(app, vendor_id, {product_id: 1})
    assert jobs.backend(app).join(5)
    with app.app_context():
        db.session.execute(SentMail.__table__.update().values(sent_at=None))  # as if still sending
        db.session.commit()
        with pytest.raises(mail.ClaimedElsewhere):
            mail.send_once("vendor.order_placed", mail.order_key(order_id), "ravi@example.com", "s", "b", order_id)
    assert len(sent) == 1


def test_a_claim_whose_sender_died_is_taken_over(app, shop, sent):
    vendor_id, product_id = shop
    order_id = place(app, vendor_id, {product_id: 1})
    assert jobs.backend(app).join(5)
    app.config["MAIL_CLAIM_SECONDS"] = 0
    with app.app_context():
        db.session.execute(SentMail.__table__.update().values(sent_at=None))
        db.session.commit()
        assert mail.send_once("vendor.order_placed", mail.order_key(order_id), "ravi@example.com", "s", "b",
                              order_id) is True
    assert len(sent) == 2


def test_without_a_mail_server_mail_goes_to_the_log(app, caplog):
    with app.app_context(), caplog.at_level(logging.INFO, logger="dukaan.mail"):
        mail.send("ravi@example.com", "Hello", "A body")
    assert any("ravi@example.com: Hello" in r.getMessage() and "A body" in r.getMessage() for r in caplog.records)


def test_an_unreachable_mail_server_is_a_mail_error(app, unused_port):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=unused_port, MAIL_TIMEOUT=1)
    with app.app_context(), pytest.raises(mail.MailError, match=f"127.0.0.1:{unused_port}"):
        mail.send("ravi@example.com", "Hello", "A body")


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jobs_status_without_a_broker(app, runner, monkeypatch):
    result = runner.invoke(args=["jobs", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "broker: none (outbox jobs run in the web processes)", "outbox backlog: 0", "oldest entry: -",
    ]
    monkeypatch.setattr(outbox.InProcessCarrier, "resting", lambda self: True)
    with app.app_context():
        jobs.record("mail.order_placed", order_id=1)
        db.session.commit()
    assert jobs.backend(app).join(5)
    lines = runner.invoke(args=["jobs", "status"]).output.splitlines()
    assert lines[1] == "outbox backlog: 1" and lines[2].startswith("oldest entry: 0.")


def test_jobs_sweep_hands_the_outbox_over(app, runner, noted, monkeypatch):
    monkeypatch.setattr(outbox.InProcessCarrier, "resting", lambda self: True)
    with app.app_context():
        jobs.record("test.note", n=1)
        db.session.commit()
    result = runner.invoke(args=["jobs", "sweep"])
    assert result.exit_code == 0, result.output
    assert result.output == "handed over: 1; left in the outbox: 0\n"
    assert jobs.backend(app).join(5)
    assert noted == [{"n": 1}]
