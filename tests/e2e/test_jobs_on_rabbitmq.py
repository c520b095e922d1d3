"""Jobs on the real RabbitMQ, mail to a real SMTP server (aiosmtpd), real ``celery`` workers and beat.

Each test has the session's own virtual host, emptied before and after, and
stops the processes it started (by PID). The broker being down is a closed
port in the web app's settings: RabbitMQ itself is never stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import select

from dukaan import jobs, orders
from dukaan.extensions import db
from dukaan.jobs import outbox
from dukaan.models import Order, OutboxEntry, Vendor
from helpers import BROKER_URL, REDIS_URL, make_app, make_product, make_vendor, place

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
HERE = Path(__file__).resolve().parent
VENDOR_EMAIL = "ravi@example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, seconds: float, what: str):
    """``condition()``'s first true value within ``seconds``; fails the test with ``what`` otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    pytest.fail(f"not within {seconds} s: {what}")


@dataclass
class Inbox:
    """An SMTP server's handler: every message it accepted, with when."""

    port: int = 0
    messages: list[tuple[float, EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((time.time(), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


def purge(url: str) -> None:
    broker = Celery(broker=url)
    broker.conf.broker_connection_timeout = 2
    broker.control.purge()
    broker.close()


@pytest.fixture
def broker():
    """The session's virtual host, its queue emptied before and after the test."""
    purge(BROKER_URL)
    yield BROKER_URL
    purge(BROKER_URL)


def shop_app(app, smtp, broker_url):
    """An app like ``app`` (same database) whose jobs go to ``broker_url`` and mail to ``smtp``."""
    return make_app(
        app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL, CELERY_BROKER_URL=broker_url,
        MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port,
    )


def close(app) -> None:
    jobs.backend(app).drop_waiting()
    jobs.backend(app).shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def web(app, smtp, broker):
    web = shop_app(app, smtp, broker)
    yield web
    close(web)


@pytest.fixture
def shop(app):
    """Ravi's store with his email and a product: (vendor id, product id)."""
    vendor_id = make_vendor(app)
    with app.app_context():
        db.session.get(Vendor, vendor_id).email = VENDOR_EMAIL
        db.session.commit()
    return vendor_id, make_product(app, vendor_id, stock=100)


class Processes:
    """``celery`` workers and beat this test started; each stopped by its PID at the end."""

    def __init__(self, app, smtp, tmp_path: Path):
        self.env = {
            **os.environ,
            "DUKAAN_ENV": "development",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": "",
            "CELERY_BROKER_URL": BROKER_URL,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp.port),
            "OUTBOX_SWEEP_SECONDS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
        }
        self.tmp_path = tmp_path
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, *args: str, app: str = "wsgi:celery_app") -> tuple[subprocess.Popen, Path]:
        log = self.tmp_path / f"celery-{len(self.started)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [CELERY, "-A", app, *args], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((process, log))
        return process, log

    def worker(self, *args: str, app: str = "wsgi:celery_app") -> tuple[subprocess.Popen, Path]:
        """A worker that is ready to take jobs (``--pool solo`` unless ``args`` say otherwise)."""
        n = len(self.started)
        pool = () if any(a.startswith("--pool") for a in args) else ("--pool", "solo")
        process, log = self.start("worker", "-n", f"w{n}@%h", "--loglevel", "INFO", "--without-gossip",
                                  "--without-mingle", *pool, *args, app=app)
        wait_until(lambda: " ready." in log.read_text() or process.poll() is not None, 30, "the worker to start")
        assert process.poll() is None, log.read_text()
        return process, log

    def beat(self) -> tuple[subprocess.Popen, Path]:
        return self.start("beat", "--loglevel", "INFO", "-s", str(self.tmp_path / "beat-schedule"))

    def stop(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def processes(app, smtp, tmp_path):
    running = Processes(app, smtp, tmp_path)
    yield running
    running.stop()


def mails(smtp) -> list[EmailMessage]:
    return [message for _, message in smtp.messages]


def backlog(app) -> int:
    with app.app_context():
        return outbox.backlog()[0]


# --- the tests ------------------------------------------------------------------------


def test_an_order_sends_its_vendor_exactly_one_email(web, shop, smtp, processes):
    vendor_id, product_id = shop
    second = make_product(web, vendor_id, name="Lime pickle", price="80.50")
    processes.worker()
    order_id = place(web, vendor_id, {product_id: 2, second: 1}, name="Meera Iyer", phone="9812345678",
                     address="4 Park Street, Kolkata")
    wait_until(lambda: smtp.messages, 20, "the vendor's email")
    time.sleep(1.5)  # a second copy would have come by now
    assert len(smtp.messages) == 1
    message = mails(smtp)[0]
    assert message["To"] == VENDOR_EMAIL
    assert message["Subject"] == "New order #1 at Ravi's Store: ₹320.50"
    body = message.get_content()
    for text in ("2 × Mango pickle @ ₹120.00 = ₹240.00", "1 × Lime pickle @ ₹80.50 = ₹80.50",
                 "Total: ₹320.50", "Customer: Meera Iyer", "Phone: 9812345678",
                 "Address: 4 Park Street, Kolkata",
                 f"/dashboard/orders#order-{order_id}"):
        assert text in body, body
    assert backlog(web) == 0


def test_the_worker_logs_the_id_of_the_request_that_placed_the_order(web, shop, smtp, processes):
    """nginx's X-Request-ID travels with the job through the outbox and RabbitMQ: the worker's
    log line for the mail carries it."""
    vendor_id, product_id = shop
    _, log = processes.worker()
    placed = web.test_client().post("/order/ravi", headers={"X-Request-ID": "req-rabbit-0000042"}, data={
        "name": "Meera Iyer", "phone": "9812345678", "address": "4 Park Street, Kolkata",
        f"qty-{product_id}": "1"})
    assert placed.status_code == 303, placed.get_data(as_text=True)
    wait_until(lambda: "mail vendor.order_placed about order" in log.read_text(), 20, "the worker's mail line")
    # The app's line (Celery's own handler repeats it in its format, without the id).
    sent = [line for line in log.read_text().splitlines() if "dukaan.mail: mail vendor.order_placed" in line]
    assert len(sent) == 1 and "[req-rabbit-0000042]" in sent[0], sent


def test_orders_go_through_while_the_broker_is_down_and_their_emails_follow_once(app, shop, smtp, broker,
                                                                                   processes):
    vendor_id, product_id = shop
    down = shop_app(app, smtp, BROKER_URL.replace(":5672/", f":{free_port()}/"))
    try:
        took = []
        for _ in range(5):
            started = time.perf_counter()
            place(down, vendor_id, {product_id: 1})
            took.append(time.perf_counter() - started)
        # Placing an order never waits for the broker: the relay tries after the commit.
        assert max(took) < 0.5, took
        assert jobs.backend(down).join(10)
        assert backlog(down) == 5 and smtp.messages == []
    finally:
        close(down)
    # The broker is back (the workers' settings name the real one): the sweep hands the jobs over.
    processes.worker()
    processes.beat()
    wait_until(lambda: len(smtp.messages) >= 5, 30, "five emails")
    time.sleep(3)  # three more sweeps: nothing is sent twice
    subjects = sorted(message["Subject"] for message in mails(smtp))
    assert subjects == [f"New order #{n} at Ravi's Store: ₹120.00" for n in range(1, 6)]
    assert backlog(app) == 0


def test_each_change_of_an_order_sends_its_customer_exactly_one_email(web, shop, smtp, processes):
    vendor_id, product_id = shop
    processes.worker()
    order_id = place(web, vendor_id, {product_id: 1}, email="meera@example.com")
    with web.app_context():
        order = db.session.get(Order, order_id)
        orders.change_status(order, "confirmed")
        orders.change_status(order, "shipped")
        ref = order.ref
    wait_until(lambda: len(smtp.messages) >= 4, 20, "the vendor's email and the customer's three")
    time.sleep(1.5)  # a second copy would have come by now
    to_customer = {message["Subject"]: message.get_content() for message in mails(smtp)
                   if message["To"] == "meera@example.com"}
    assert len(smtp.messages) == 4
    assert sorted(to_customer) == [f"Your order #1 at Ravi's Store: {news}"
                                   for news in ("confirmed", "on its way", "placed")]
    for body in to_customer.values():
        assert f"/order/ravi/{ref}" in body, body
    assert backlog(web) == 0


@pytest.mark.parametrize("kill", ["worker", "pool process"])
def test_a_job_whose_worker_is_killed_midway_completes_once(web, processes, tmp_path, kill):
    import slow_job  # noqa: F401  (the job the worker runs)

    notes = tmp_path / "slow.log"
    if kill == "worker":
        first, _ = processes.worker(app="jobs_worker:celery_app")
    else:
        first, first_log = processes.worker("--pool", "prefork", "--concurrency", "1", app="jobs_worker:celery_app")
    with web.app_context():
        jobs.record("test.slow", path=str(notes), seconds=2)
        db.session.commit()
    started = wait_until(lambda: notes.exists() and notes.read_text().split(), 20, "the job to start")
    assert "done" not in notes.read_text()
    if kill == "worker":
        first.kill()  # SIGKILL: no goodbye to the broker, the message is not acknowledged
        first.wait(10)
        processes.worker(app="jobs_worker:celery_app")
    else:
        os.kill(int(started[1]), signal.SIGKILL)  # the pool process running the job
    wait_until(lambda: "done" in notes.read_text(), 30, "the job to complete")
    time.sleep(1)
    lines = notes.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["start", "start", "done"], lines
    if kill == "pool process":
        assert first.poll() is None and "WorkerLostError" in first_log.read_text()


def test_a_rolled_back_change_puts_nothing_on_the_queue(web, shop, smtp):
    vendor_id, product_id = shop
    with web.app_context():
        carrier = outbox.carrier()
        assert carrier.depth() == 0
        jobs.record("mail.order_placed", order_id=1)
        db.session.flush()
        db.session.rollback()
        with pytest.raises(orders.OutOfStock):
            orders.place(db.session.get(Vendor, vendor_id), {product_id: 101}, orders.Customer("A", "98765", "X"))
    assert jobs.backend(web).join(10)
    with web.app_context():
        assert carrier.depth() == 0
        assert db.session.scalar(select(OutboxEntry)) is None
    # The same, committed, is on the queue: the count above is not blind.
    place(web, vendor_id, {product_id: 1})
    assert jobs.backend(web).join(10)
    with web.app_context():
        assert wait_until(lambda: carrier.depth() == 1, 5, "one message on the queue")
    assert backlog(web) == 0


def test_jobs_status_shows_the_queue_and_the_outbox(app, web, shop, smtp):
    vendor_id, product_id = shop
    place(web, vendor_id, {product_id: 1})
    assert jobs.backend(web).join(10)
    result = web.test_cli_runner().invoke(args=["jobs", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"broker: {BROKER_URL.replace('guest:guest', 'guest:**')}", "queue depth: 1", "outbox backlog: 0",
        "oldest entry: -",
    ]
    down = shop_app(app, smtp, BROKER_URL.replace(":5672/", f":{free_port()}/"))
    try:
        result = down.test_cli_runner().invoke(args=["jobs", "status"])
    finally:
        close(down)
    assert result.exit_code == 1
    assert "queue depth: unknown (the broker does not answer)" in result.output
    assert "Error: the broker does not answer" in result.output
