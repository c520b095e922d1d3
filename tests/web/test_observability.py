"""What operators watch: /metrics (labels, who may read it, the cache and store gauges), the
request id, and the JSON log line of every request."""

from __future__ import annotations

import io
import json
import logging

import pytest
from flask import request
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from dukaan import jobs
from dukaan.extensions import db
from dukaan.ops import logs
from helpers import DEAD_REDIS_URL, make_app, make_product, make_vendor, place

PUBLIC_CLIENT = "203.0.113.5"  # an address of the documentation range: the public


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def sample(text: str, name: str, **labels) -> float:
    """The value of sample ``name`` with exactly these ``labels`` (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def label_values(text: str, name: str, label: str) -> set[str]:
    return {found.labels[label] for family in text_string_to_metric_families(text)
            for found in family.samples if found.name == name and label in found.labels}


@pytest.fixture
def store(app):
    vendor_id = make_vendor(app)
    return {"vendor": vendor_id, "pickle": make_product(app, vendor_id, "Mango pickle", "120.00", 10)}


# --- /metrics --------------------------------------------------------------------------------


def test_metrics_answer_prometheus_text_to_loopback(client, store):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    for name in ("dukaan_http_requests_total", "dukaan_http_request_duration_seconds",
                 "dukaan_cache_lookups_total", "dukaan_orders_placed_total", "dukaan_db_connections_in_use",
                 "dukaan_cart_holds_units", "dukaan_outbox_backlog"):
        assert f"# TYPE {name} " in text, name


def test_requests_are_counted_by_method_route_template_and_status(client, store):
    before = scrape(client)
    route = {"method": "GET", "route": "/order/<slug>", "status": "200"}
    for _ in range(3):
        assert client.get("/order/ravi").status_code == 200
    assert client.get("/order/nobody-here").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)
    counted = "dukaan_http_requests_total"
    assert sample(after, counted, **route) - sample(before, counted, **route) == 3
    missing = {"method": "GET", "route": "/order/<slug>", "status": "404"}
    assert sample(after, counted, **missing) - sample(before, counted, **missing) == 1
    unmatched = {"method": "GET", "route": "(unmatched)", "status": "404"}
    assert sample(after, counted, **unmatched) - sample(before, counted, **unmatched) == 1
    # A route template, never a raw path: a slug or an order's secret link is no label.
    routes = label_values(after, counted, "route")
    assert "/order/ravi" not in routes and "/no/such/page" not in routes
    assert all(r.startswith("/") or r == "(unmatched)" for r in routes)
    timed = {"method": "GET", "route": "/order/<slug>"}
    duration = "dukaan_http_request_duration_seconds_count"
    assert sample(after, duration, **timed) - sample(before, duration, **timed) == 4
    slowest = {**timed, "le": "+Inf"}
    assert sample(after, "dukaan_http_request_duration_seconds_bucket", **slowest) == sample(after, duration, **timed)


def test_an_odd_method_is_counted_as_other(client):
    before = scrape(client)
    client.open("/livez", method="BREW")
    after = scrape(client)
    assert "BREW" not in label_values(after, "dukaan_http_requests_total", "method")
    other = {"method": "OTHER", "route": "(unmatched)", "status": "405"}
    assert (sample(after, "dukaan_http_requests_total", **other)
            - sample(before, "dukaan_http_requests_total", **other)) == 1


@pytest.mark.parametrize("environ, headers", [
    ({"REMOTE_ADDR": PUBLIC_CLIENT}, {}),
    ({"REMOTE_ADDR": "2001:db8::1"}, {}),
    ({"REMOTE_ADDR": ""}, {}),
])
def test_metrics_are_not_for_the_public(client, environ, headers):
    response = client.get("/metrics", environ_base=environ, headers=headers)
    assert response.status_code == 404
    assert "dukaan_http_requests_total" not in response.get_data(as_text=True)


def test_metrics_refuse_a_public_client_that_nginx_forwarded(_schema):
    """Behind nginx (PROXY_COUNT=1) the client is the address nginx saw, not nginx's loopback."""
    app = make_app(_schema, None, PROXY_COUNT=1)
    client = app.test_client()
    assert client.get("/metrics", headers={"X-Forwarded-For": PUBLIC_CLIENT}).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200


def test_metrics_networks_are_a_setting(_schema):
    app = make_app(_schema, None, METRICS_ALLOWED_NETWORKS="10.0.0.0/8")
    client = app.test_client()
    assert client.get("/metrics").status_code == 404  # loopback is not in the list
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 200


def test_store_page_caches_count_hits_and_misses_per_layer(client, store):
    before = scrape(client)
    client.get("/order/ravi")  # nothing cached yet: both layers miss
    client.get("/order/ravi")  # this process's page, still current
    after = scrape(client)

    def delta(layer, result):
        name, labels = "dukaan_cache_lookups_total", {"layer": layer, "result": result}
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert (delta("page", "miss"), delta("page", "hit")) == (1, 1)
    assert (delta("catalogue", "miss"), delta("catalogue", "hit")) == (1, 0)


def test_a_second_process_finds_the_catalogue_in_the_cache(app, client, store):
    client.get("/order/ravi")
    app.extensions["dukaan.storefront_pages"].clear()  # as another process would start
    before = scrape(client)
    client.get("/order/ravi")
    after = scrape(client)
    name = "dukaan_cache_lookups_total"
    assert sample(after, name, layer="catalogue", result="hit") - sample(before, name, layer="catalogue",
                                                                            result="hit") == 1


def test_a_cache_that_does_not_answer_is_counted_as_errors(_schema, store):
    app = make_app(_schema, DEAD_REDIS_URL)
    client = app.test_client()
    before = scrape(client)
    assert client.get("/order/ravi").status_code == 200  # the store still sells
    after = scrape(client)
    name, labels = "dukaan_cache_lookups_total", {"layer": "catalogue", "result": "error"}
    assert sample(after, name, **labels) - sample(before, name, **labels) >= 1


def test_orders_placed_are_counted_once(app, client, store):
    from dukaan import orders
    from dukaan.models import Vendor

    before = sample(scrape(client), "dukaan_orders_placed_total")
    place(app, store["vendor"], {store["pickle"]: 1})
    with app.app_context():
        vendor = db.session.get(Vendor, store["vendor"])
        customer = orders.Customer("Asha Rao", "9876543210", "12 MG Road, Pune")
        orders.place(vendor, {store["pickle"]: 2}, customer, token="tap-1")
        _, created = orders.place(vendor, {store["pickle"]: 2}, customer, token="tap-1")  # the double tap
        assert not created
    assert sample(scrape(client), "dukaan_orders_placed_total") - before == 2


def test_holds_are_read_at_scrape_time(app, client, store):
    assert sample(scrape(client), "dukaan_cart_holds_units") == 0
    customer = app.test_client()
    assert customer.post("/order/ravi/cart", data={"product_id": store["pickle"], "quantity": "3"}).status_code == 200
    text = scrape(client)
    assert sample(text, "dukaan_cart_holds_units") == 3
    assert sample(text, "dukaan_carts_live") == 1
    assert sample(text, "dukaan_database_gauges_up") == 1


def test_outbox_backlog_counts_waiting_jobs(app, client, store):
    from dukaan.models import OutboxEntry, utcnow

    with app.app_context():
        db.session.execute(OutboxEntry.__table__.insert(), [
            {"name": "storefront.forget", "args": {"slug": "ravi"}, "created_at": utcnow()} for _ in range(4)
        ])
        db.session.commit()  # straight in: no relay was asked for
    text = scrape(client)
    assert sample(text, "dukaan_outbox_backlog") == 4
    assert sample(text, "dukaan_outbox_oldest_seconds") >= 0


def test_connections_in_use_go_back_after_each_request(app, client, store):
    name = "dukaan_db_connections_in_use"
    idle = sample(scrape(client), name)
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))
        assert sample(scrape(app.test_client()), name) >= idle + 1
    client.get("/dashboard/products")
    for _ in range(3):
        client.get("/order/ravi")
    assert sample(scrape(client), name) == idle


# --- the request id --------------------------------------------------------------------------


def test_every_response_carries_a_request_id(client):
    first = client.get("/livez").headers["X-Request-ID"]
    second = client.get("/nowhere").headers["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


@pytest.mark.parametrize("incoming, kept", [
    ("4f0c3b0e8d1a4e6f9b2c7d5a1e3f6b8c", True),
    ("0b5e5cbe-52c2-4ab0-a9e5-6f7d5b4e2f10", True),
    ("short", False),
    ("has spaces in it ok", False),
    ('quote"injection', False),
    ("x" * 200, False),
])
def test_a_sane_incoming_request_id_is_kept(client, incoming, kept):
    answered = client.get("/livez", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert (answered == incoming) is kept
    assert len(answered) >= 8


# --- the log ---------------------------------------------------------------------------------


@pytest.fixture
def json_app(_schema, store):
    """An app logging JSON, made after ``app`` (the log's handler is the process's last app's)."""
    app = make_app(_schema, None, LOG_FORMAT="json", PROPAGATE_EXCEPTIONS=False)
    stream = io.StringIO()
    handlers = [h for h in app.logger.handlers if isinstance(h, logs._Handler)]
    assert len(handlers) == 1
    handlers[0].setStream(stream)
    app.log_lines = lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    yield app
    jobs.backend(app).shutdown()


def test_each_request_is_one_json_line_with_its_request_id(json_app, store):
    client = json_app.test_client()
    response = client.get("/order/ravi", headers={"X-Request-ID": "req-0001-abcdef"})
    assert response.headers["X-Request-ID"] == "req-0001-abcdef"
    lines = [line for line in json_app.log_lines() if line["logger"] == "dukaan.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-0001-abcdef"
    assert (line["method"], line["route"], line["status"], line["vendor"]) == ("GET", "/order/<slug>", 200, "ravi")
    assert line["level"] == "INFO" and line["time"].startswith("20") and "T" in line["time"]
    assert 0 < line["duration_ms"] < 10_000


def test_the_log_names_the_logged_in_vendor(json_app, store):
    from helpers import AuthActions

    client = json_app.test_client()
    AuthActions(client).login()
    response = client.get("/dashboard/products")
    line = [ln for ln in json_app.log_lines() if ln["logger"] == "dukaan.access"][-1]
    assert line["route"] == "/dashboard/products" and line["vendor"] == "ravi"
    assert line["request_id"] == response.headers["X-Request-ID"]


def test_an_error_is_logged_with_its_traceback_and_request_id(json_app):
    @json_app.get("/boom")
    def boom():
        return 1 / 0

    response = json_app.test_client().get("/boom")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    lines = json_app.log_lines()
    error = [ln for ln in lines if ln["logger"] == "dukaan" and ln["level"] == "ERROR"]
    assert len(error) == 1
    assert error[0]["request_id"] == request_id
    assert "ZeroDivisionError" in error[0]["exc_info"] and "Traceback" in error[0]["exc_info"]
    access = [ln for ln in lines if ln["logger"] == "dukaan.access"]
    assert (access[-1]["status"], access[-1]["level"], access[-1]["request_id"]) == (500, "ERROR", request_id)


def test_a_line_logged_during_a_request_carries_its_id(json_app, store):
    @json_app.get("/chatty")
    def chatty():
        logging.getLogger("dukaan.somewhere").warning("something to say")
        return "ok"

    response = json_app.test_client().get("/chatty")
    said = [ln for ln in json_app.log_lines() if ln["message"] == "something to say"]
    assert said and said[0]["request_id"] == response.headers["X-Request-ID"]
    assert said[0]["level"] == "WARNING"


def test_text_logs_for_a_laptop(_schema, store):
    app = make_app(_schema, None, LOG_FORMAT="text")
    stream = io.StringIO()
    next(h for h in app.logger.handlers if isinstance(h, logs._Handler)).setStream(stream)
    response = app.test_client().get("/order/ravi")
    text = stream.getvalue()
    assert f"[{response.headers['X-Request-ID']}] dukaan.access: GET /order/<slug> 200" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_a_second_app_in_the_process_replaces_the_handler(_schema):
    make_app(_schema, None, LOG_FORMAT="json")
    app = make_app(_schema, None, LOG_FORMAT="text")
    ours = [h for h in app.logger.handlers if isinstance(h, logs._Handler)]
    assert len(ours) == 1 and not isinstance(ours[0].formatter, type(logs.json_formatter()))


def test_observing_requests_can_be_switched_off_to_measure_its_cost(_schema):
    app = make_app(_schema, None, OBSERVE_REQUESTS=False)
    app.add_url_rule("/unobserved", "unobserved", lambda: "ok")
    client = app.test_client()
    assert "X-Request-ID" not in client.get("/unobserved").headers
    assert 'route="/unobserved"' not in scrape(client)


@jobs.job("test.observability.say")
def _say(words: str) -> None:
    logging.getLogger("dukaan.jobs.test").warning(words)


def test_a_job_started_by_a_request_logs_its_request_id(json_app):
    @json_app.get("/asks-for-a-job")
    def asks():
        jobs.enqueue("test.observability.say", words="from the job")
        return "ok"

    response = json_app.test_client().get("/asks-for-a-job", headers={"X-Request-ID": "req-job-000042"})
    assert jobs.backend(json_app).join(5)
    said = [ln for ln in json_app.log_lines() if ln["message"] == "from the job"]
    assert len(said) == 1 and said[0]["request_id"] == response.headers["X-Request-ID"] == "req-job-000042"
    with json_app.app_context():
        jobs.enqueue("test.observability.say", words="from no request")
    assert jobs.backend(json_app).join(5)
    alone = [ln for ln in json_app.log_lines() if ln["message"] == "from no request"]
    assert len(alone) == 1 and alone[0]["request_id"] is None


def test_a_job_recorded_in_the_outbox_logs_the_request_that_recorded_it(json_app):
    """The outbox keeps the id with the job: handed over in the same request or later by a
    sweep that runs in no request at all, the job logs the id of the request that asked."""
    from dukaan.jobs import outbox
    from dukaan.models import OutboxEntry

    @json_app.get("/records-a-job")
    def records():
        jobs.record("test.observability.say", words=request.args["words"])
        db.session.commit()
        return "ok"

    client = json_app.test_client()
    response = client.get("/records-a-job?words=relayed", headers={"X-Request-ID": "req-outbox-000001"})
    assert response.status_code == 200
    assert jobs.backend(json_app).join(5)
    said = [ln for ln in json_app.log_lines() if ln["message"] == "relayed"]
    assert [ln["request_id"] for ln in said] == ["req-outbox-000001"]
    # Left in the outbox (as while the broker is down), handed over by a sweep outside any request.
    with json_app.app_context():
        asked_by = logs.REQUEST_ID.set("req-outbox-000002")
        jobs.record("test.observability.say", words="swept")
        db.session.flush()
        stored = db.session.scalar(select(OutboxEntry.request_id).where(OutboxEntry.name == "test.observability.say"))
        db.session.info.pop(jobs.RECORDED, None)  # no relay after this commit: the sweep takes it
        db.session.commit()
        logs.REQUEST_ID.reset(asked_by)
    assert stored == "req-outbox-000002"
    with json_app.app_context():
        assert outbox.hand_over() == 1
    assert jobs.backend(json_app).join(5)
    swept = [ln for ln in json_app.log_lines() if ln["message"] == "swept"]
    assert [ln["request_id"] for ln in swept] == ["req-outbox-000002"]
