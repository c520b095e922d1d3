"""Jobs that send mail: each sends its message once, however often it is delivered.

- ``mail.order_placed``: the vendor, of a new order;
- ``mail.customer_update``: the customer who gave an email, of each change of their order;
- ``mail.low_stock``: the vendor, of a product whose stock fell to its low-stock mark;
- ``mail.daily_summaries`` (beat, hourly) asks for ``mail.daily_summary``: each vendor's day.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from .. import jobs, mail, orders
from ..extensions import db
from ..models import Order, Product, SentMail, Vendor
from . import Retry, job

log = logging.getLogger(__name__)

# The mail server failing: wait this long, doubling each time, up to the cap.
FIRST_RETRY_SECONDS = 2.0
LONGEST_RETRY_SECONDS = 300.0

# What the customer is told of each change of their order (``orders.CUSTOMER_NEWS``), as a subject's end.
HEADLINES = {
    "placed": "placed",
    "confirmed": "confirmed",
    "shipped": "on its way",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "paid": "payment received",
    "not_received": "payment not found",
}
SUMMARY = "vendor.daily_summary"


def _send(kind: str, about: str, to: str, body: str, attempt: int, order_id: int | None = None) -> None:
    """Send ``body`` (its first line is the subject) once; a busy claim or a failing mail
    server raises ``Retry`` (with backoff for the server)."""
    subject, _, _ = body.partition("\n")
    try:
        mail.send_once(kind, about, to, subject, body, order_id=order_id)
    except mail.ClaimedElsewhere as busy:
        raise Retry(busy.after) from None
    except mail.MailError as error:
        after = min(FIRST_RETRY_SECONDS * 2 ** (attempt - 1), LONGEST_RETRY_SECONDS)
        log.warning("%s mail about %s not sent (attempt %d, next in %.0f s): %s", kind, about, attempt, after, error)
        raise Retry(after, attempt=attempt + 1) from None


def _order(order_id: int) -> Order | None:
    return db.session.scalar(
        select(Order).where(Order.id == order_id).options(selectinload(Order.lines), joinedload(Order.vendor))
    )


@job("mail.order_placed")
def order_placed(order_id: int, attempt: int = 1) -> None:
    """Email the vendor of order ``order_id`` its lines, total, customer and a dashboard link, once.

    Nothing is sent for an order that is gone or a vendor with no email.
    Retried with backoff while the mail server fails or another worker sends it.
    """
    order = _order(order_id)
    if order is None or not order.vendor.email:
        return
    vendor = order.vendor
    link = site_url("dashboard.orders") + f"#order-{order.id}"
    body = render_template("mail/order_placed.txt", order=order, vendor=vendor, link=link)
    _send("vendor.order_placed", mail.order_key(order.id), vendor.email, body, attempt, order.id)


@job("mail.customer_update")
def customer_update(order_id: int, news: str, at: str | None = None, attempt: int = 1) -> None:
    """Email the customer of order ``order_id`` its ``news`` (a key of ``HEADLINES``: the state it
    reached, or its payment's), with a link to the order's page, once per order and news (and
    ``at``, the moment of a news an order can have twice: ``orders.REPEATABLE_NEWS``).

    Says what happened then, whatever the order's state is by the time it runs.
    Nothing is sent for an order that is gone or has no email.
    """
    order = _order(order_id)
    if order is None or not order.email or news not in HEADLINES:
        return
    link = site_url("storefront.order", slug=order.vendor.slug, ref=order.ref)
    body = render_template("mail/order_update.txt", order=order, vendor=order.vendor, news=news,
                           headline=HEADLINES[news], link=link)
    about = mail.order_key(order.id) + (f"@{at}" if at else "")
    _send(f"customer.{news}", about, order.email, body, attempt, order.id)


@job("mail.low_stock")
def low_stock(product_id: int, fell_to: int, at: str, attempt: int = 1) -> None:
    """Email the vendor that product ``product_id``'s stock fell to ``fell_to``, at or below its
    low-stock mark, at ``at`` (ISO time: which fall this is; each is mailed once)."""
    product = db.session.scalar(select(Product).where(Product.id == product_id).options(joinedload(Product.vendor)))
    if product is None or not product.vendor.email:
        return
    link = site_url("dashboard.edit_product", product_id=product.id)
    body = render_template("mail/low_stock.txt", product=product, vendor=product.vendor, fell_to=fell_to,
                           at=datetime.fromisoformat(at), link=link)
    _send("vendor.low_stock", f"product:{product.id}:{at}", product.vendor.email, body, attempt)


def _day_key(vendor_id: int, day: date) -> str:
    return f"vendor:{vendor_id}:{day.isoformat()}"


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The merchant's ``day`` (``DISPLAY_TIMEZONE``) as [start, end) moments."""
    start = datetime.combine(day, time(), _zone())
    return start, datetime.combine(day + timedelta(days=1), time(), _zone())


@job("mail.daily_summaries")
def daily_summaries(day: str | None = None) -> int:
    """Ask for the summary of ``day`` (ISO date; None: yesterday, in the merchant's zone) for each
    vendor who had orders then, has an email and wants it, and has not had it; how many.

    Beat runs it every hour (``DAILY_SUMMARY_CHECK_SECONDS``), so a day's summaries go out in
    the first hour after the merchant's midnight, or at the next run after an outage."""
    wanted = date.fromisoformat(day) if day else (datetime.now(_zone()).date() - timedelta(days=1))
    since, before = day_bounds(wanted)
    had_orders = select(Order.vendor_id).where(Order.created_at >= since, Order.created_at < before)
    vendor_ids = db.session.scalars(
        select(Vendor.id).where(Vendor.id.in_(had_orders), Vendor.email.is_not(None), Vendor.daily_summary)
        .order_by(Vendor.id)
    ).all()
    keys = {_day_key(vendor_id, wanted): vendor_id for vendor_id in vendor_ids}
    done = set(db.session.scalars(select(SentMail.about).where(SentMail.kind == SUMMARY,
                                                               SentMail.about.in_(keys)))) if keys else set()
    asked = 0
    for key, vendor_id in keys.items():
        if key not in done:
            jobs.record("mail.daily_summary", vendor_id=vendor_id, day=wanted.isoformat())
            asked += 1
    db.session.commit()
    if asked:
        log.info("daily summaries of %s: %d asked for", wanted, asked)
    return asked


@job("mail.daily_summary")
def daily_summary(vendor_id: int, day: str, attempt: int = 1) -> None:
    """Email vendor ``vendor_id`` the summary of their ``day`` (ISO date, the merchant's zone):
    orders, revenue, top products, a link to the orders. Once per vendor and day; nothing for
    a vendor who is gone, has no email, switched it off, or had no orders that day."""
    vendor = db.session.get(Vendor, vendor_id)
    if vendor is None or not vendor.email or not vendor.daily_summary:
        return
    wanted = date.fromisoformat(day)
    summary = orders.summary(vendor, *day_bounds(wanted))
    if not summary.orders:
        return
    link = site_url("dashboard.orders")
    export = site_url("dashboard.export_orders", from_date=day, to_date=day)
    body = render_template("mail/daily_summary.txt", vendor=vendor, day=wanted, summary=summary, link=link,
                           export=export)
    _send(SUMMARY, _day_key(vendor.id, wanted), vendor.email, body, attempt)


def site_url(endpoint: str, **values) -> str:
    """An absolute link to ``endpoint`` at ``SITE_URL`` (a job has no request to build it from)."""
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(site.netloc, script_name=site.path or "/", url_scheme=site.scheme)
    return adapter.build(endpoint, values, force_external=True)
