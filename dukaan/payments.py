"""Getting paid: an order's payment state, the UPI link and QR code, and WhatsApp hand-offs.

Payment state is its own field, apart from the order's progress:

- ``pending``: not paid yet. A cash order stays here until it is delivered
  (``orders.change_status`` then makes it ``paid``).
- ``claimed``: the customer says they paid by UPI and gave the payment's
  12-digit reference (UTR); the vendor checks it with their bank.
- ``paid`` / ``not_received``: the vendor's word, and only the vendor's.

Each move is a conditional ``UPDATE`` on the state it was checked against,
so of two concurrent requests one wins and the other is told what happened.
The vendor's moves are emailed to the customer (``orders.tell_customer``).
"""

from __future__ import annotations

import io
import re
from urllib.parse import quote, urlencode

import segno
from markupsafe import Markup
from sqlalchemy import update

from . import orders, pricing
from .extensions import db
from .models import Order, OrderStatus, PaymentState, Vendor, utcnow

UTR = re.compile(r"[0-9]{12}")
UTR_RULE = "Enter the 12-digit UPI reference (UTR) your payment app shows, digits only."

# Which payment states the vendor may set, and from which.
VENDOR_MOVES: dict[str, tuple[str, ...]] = {
    PaymentState.PAID: (PaymentState.PENDING, PaymentState.CLAIMED, PaymentState.NOT_RECEIVED),
    PaymentState.NOT_RECEIVED: (PaymentState.CLAIMED,),
}
LABELS = {
    PaymentState.PENDING: "Not paid yet",
    PaymentState.CLAIMED: "Payment claimed",
    PaymentState.PAID: "Paid",
    PaymentState.NOT_RECEIVED: "Payment not received",
}

orders_table = Order.__table__


class PaymentError(Exception):
    """The payment cannot move as asked (its order or state does not allow it): a 409."""


def _move(order: Order, state: str, allowed_from: tuple[str, ...], **values) -> Order:
    """Move ``order``'s payment to ``state`` if it is still what was loaded and in ``allowed_from``
    (and the order is not cancelled); commit. Raises ``PaymentError`` otherwise."""
    session = db.session
    moved = session.execute(
        update(orders_table)
        .where(orders_table.c.id == order.id, orders_table.c.payment_state == order.payment_state,
               orders_table.c.payment_state.in_([str(s) for s in allowed_from]),
               orders_table.c.status != OrderStatus.CANCELLED.value)
        .values(payment_state=state, updated_at=utcnow(), **values)
    ).rowcount
    if moved != 1:
        session.rollback()
        session.refresh(order)
        cancelled = " and the order is cancelled" if order.status == OrderStatus.CANCELLED else ""
        raise PaymentError(f"The payment of order #{order.number} is {LABELS[order.payment_state].lower()}"
                           f"{cancelled}: it cannot become {LABELS[state].lower()}.")
    if state != PaymentState.CLAIMED:  # the customer's own doing needs no email
        orders.tell_customer(order, state)
    session.commit()
    session.refresh(order)
    return order


def claim(order: Order, utr: str) -> Order:
    """The customer says they paid ``order`` by UPI, with reference ``utr`` (12 digits).

    Raises ``ValueError`` for a malformed UTR and ``PaymentError`` for a cash or
    cancelled order, or one already claimed or paid.
    """
    if not UTR.fullmatch(utr or ""):
        raise ValueError(UTR_RULE)
    if order.payment_method != pricing.UPI:
        raise PaymentError(f"Order #{order.number} is paid in cash on delivery: there is no UPI reference to give.")
    return _move(order, PaymentState.CLAIMED, (PaymentState.PENDING, PaymentState.NOT_RECEIVED),
                 utr=utr, claimed_at=utcnow())


def vendor_sets(order: Order, state: str) -> Order:
    """The vendor marks ``order`` paid, or its claimed payment not received.

    Raises ``ValueError`` for another state and ``PaymentError`` when the order's
    payment cannot move there (already paid, not claimed, a cancelled order).
    """
    if state not in VENDOR_MOVES:
        raise ValueError("Mark the payment paid or not received.")
    extra = {"paid_at": utcnow()} if state == PaymentState.PAID else {}
    return _move(order, state, VENDOR_MOVES[state], **extra)


def vendor_moves(order: Order) -> tuple[str, ...]:
    """The payment states the vendor may set ``order`` to now."""
    if order.status == OrderStatus.CANCELLED:
        return ()
    return tuple(state for state, sources in VENDOR_MOVES.items() if order.payment_state in sources)


def awaits_upi(order: Order) -> bool:
    """Should the order page show how to pay by UPI (QR, link, the UTR form)?"""
    return (order.payment_method == pricing.UPI and order.status != OrderStatus.CANCELLED
            and order.payment_state in (PaymentState.PENDING, PaymentState.NOT_RECEIVED))


# --- UPI ------------------------------------------------------------------------------------


def upi_link(vendor: Vendor, order: Order) -> str | None:
    """The ``upi://pay`` link that opens a UPI app ready to pay ``order``; None without a UPI ID.

    Every value is percent-encoded (a space is %20, never +, which UPI apps show
    as a plus); the ``@`` of the UPI ID is left as it is, as the query component
    allows and every UPI app expects.
    """
    if not vendor.upi_id:
        return None
    params = {
        "pa": vendor.upi_id,
        "pn": vendor.store_name,
        "am": f"{order.total:.2f}",
        "cu": "INR",
        "tn": f"Order #{order.number} at {vendor.store_name}",
        "tr": order.ref,
    }
    return "upi://pay?" + urlencode(params, quote_via=lambda value, *_: quote(value, safe="@"))


def qr_svg(link: str, title: str) -> Markup:
    """``link`` as an inline SVG QR code (no style attribute: the CSP holds)."""
    qr = segno.make(link, error="m")
    out = io.BytesIO()
    qr.save(out, kind="svg", border=2, dark="#1f2328", light="#ffffff", xmldecl=False, svgns=True,
            omitsize=True, title=title, svgclass="upi-qr")
    return Markup(out.getvalue().decode())


# --- WhatsApp (links, no API) ------------------------------------------------------------------


def wa_number(phone: str | None) -> str | None:
    """``phone`` as wa.me wants it: digits with the country code (an Indian 10-digit number gets 91)."""
    digits = re.sub(r"[^0-9]", "", phone or "")
    if len(digits) == 10:
        digits = "91" + digits
    elif len(digits) == 11 and digits.startswith("0"):
        digits = "91" + digits[1:]
    return digits if 11 <= len(digits) <= 15 else None


def wa_link(phone: str | None, text: str) -> str | None:
    number = wa_number(phone)
    return f"https://wa.me/{number}?text={quote(text, safe='')}" if number else None


def order_summary(order: Order) -> str:
    lines = "\n".join(f"- {line.quantity} × {line.name}" for line in order.lines)
    method = pricing.PAYMENT_METHODS[order.payment_method]
    return f"Order #{order.number}, ₹{order.total:,.2f} ({method}):\n{lines}"


def to_store(vendor: Vendor, order: Order, page_url: str) -> str | None:
    """The customer's "send this order to the store" link; None if the store gave no WhatsApp."""
    text = f"Hello {vendor.store_name}, this is {order.customer_name}.\n{order_summary(order)}\n{page_url}"
    return wa_link(vendor.whatsapp, text)


STATE_TEXT = {
    OrderStatus.PLACED: "We have your order #{number} from {store} and will confirm it soon.",
    OrderStatus.CONFIRMED: "Your order #{number} from {store} is confirmed.",
    OrderStatus.SHIPPED: "Your order #{number} from {store} has shipped.",
    OrderStatus.DELIVERED: "Your order #{number} from {store} has been delivered. Thank you!",
    OrderStatus.CANCELLED: "Your order #{number} from {store} has been cancelled.",
}


def to_customer(vendor: Vendor, order: Order, page_url: str) -> str | None:
    """The vendor's "message the customer" link, with a text for the order's state now."""
    text = f"Hello {order.customer_name}. " + STATE_TEXT[order.status].format(
        number=order.number, store=vendor.store_name)
    if awaits_upi(order) and vendor.upi_id:
        text += f" Please pay ₹{order.total:,.2f} by UPI to {vendor.upi_id}."
    elif order.payment_state == PaymentState.NOT_RECEIVED:
        text += " We have not received your UPI payment yet."
    text += f"\n{page_url}"
    return wa_link(order.phone, text)
