"""Jobs that send mail: each sends its message once, however often it is delivered."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from .. import mail
from ..extensions import db
from ..models import Order
from . import Retry, job

log = logging.getLogger(__name__)

# The mail server failing: wait this long, doubling each time, up to the cap.
FIRST_RETRY_SECONDS = 2.0
LONGEST_RETRY_SECONDS = 300.0


@job("mail.order_placed")
def order_placed(order_id: int, attempt: int = 1) -> None:
    """Email the vendor of order ``order_id`` its lines, total, customer and a dashboard link, once.

    Nothing is sent for an order that is gone or a vendor with no email.
    Retried with backoff while the mail server fails or another worker sends it.
    """
    order = db.session.scalar(
        select(Order).where(Order.id == order_id).options(selectinload(Order.lines), joinedload(Order.vendor))
    )
    if order is None or not order.vendor.email:
        return
    vendor = order.vendor
    body = render_template("mail/order_placed.txt", order=order, vendor=vendor, link=dashboard_link(order))
    subject, _, _ = body.partition("\n")
    try:
        mail.send_once(order.id, "vendor.order_placed", vendor.email, subject, body)
    except mail.ClaimedElsewhere as busy:
        raise Retry(busy.after) from None
    except mail.MailError as error:
        after = min(FIRST_RETRY_SECONDS * 2 ** (attempt - 1), LONGEST_RETRY_SECONDS)
        log.warning("mail about order %s not sent (attempt %d, next in %.0f s): %s", order_id, attempt, after, error)
        raise Retry(after, attempt=attempt + 1) from None


def dashboard_link(order) -> str:
    """The order's row on its vendor's dashboard, at ``SITE_URL`` (a job has no request to build it from)."""
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(site.netloc, script_name=site.path or "/", url_scheme=site.scheme)
    return adapter.build("dashboard.orders", force_external=True) + f"#order-{order.id}"
