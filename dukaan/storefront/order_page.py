"""The customer's order page (``/order/<slug>/<ref>``): where the order is, what it cost, how to
pay, the store's WhatsApp; giving a UPI reference and cancelling while the order is new.

The ref is the customer's key: random and unguessable, and the page carries
their name, phone and address, so no cache may keep it. Like the store page's
order form, its POSTs carry no CSRF token (the customer has no session) and
are protected by ``same_origin`` instead.
"""

from __future__ import annotations

import hashlib

from flask import abort, current_app, redirect, request, url_for
from wtforms.fields.choices import SelectChoice

from .. import accounts, orders, payments, replica, reviews
from ..extensions import csrf
from ..htmx import empty, is_htmx, render
from . import bp
from .forms import ReviewForm, UtrForm
from .views import _lowercase_redirect, _require_slug_shape, same_origin


def _find(slug: str, ref: str):
    """The store and its order behind ``ref``; 404 for anything else (another store's ref too).

    Read on ``replica.session()``: the replica's for the page and its poll unless the customer's
    own last write (placing, paying, cancelling) is not there yet; the primary's for a POST."""
    _require_slug_shape(slug)
    if not orders.REF_RE.fullmatch(ref):
        abort(404)
    reading = replica.session()
    vendor = accounts.find(slug, reading)
    found = orders.find_by_ref(vendor, ref, reading) if vendor is not None else None
    if found is None:
        abort(404)
    return vendor, found


def page_state(order) -> str:
    """A fingerprint of what the page shows that can change: a poll that sends it back
    unchanged gets 204."""
    return hashlib.sha256(f"{order.status}|{order.payment_state}|{order.updated_at.isoformat()}"
                          .encode()).hexdigest()[:16]


def _page(vendor, order, status: int = 200, form: UtrForm | None = None, error: str | None = None,
          review_form: ReviewForm | None = None):
    page_url = url_for("storefront.order", slug=vendor.slug, ref=order.ref, _external=True)
    upi = payments.upi_link(vendor, order) if payments.awaits_upi(order) else None
    reviewed = reviews.for_order(order, replica.session())
    review_form = review_form or ReviewForm()
    review_form.product_id.choices = [
        SelectChoice(str(line.product_id), line.name) for line in order.lines
        if line.id not in reviewed and line.product_id is not None
    ]
    response = render(
        "storefront/order.html", "order_live", status,
        order=order, store_name=vendor.store_name, slug=vendor.slug, vendor=vendor,
        timeline=orders.timeline(order), payment_label=payments.LABELS[order.payment_state],
        upi_link=upi, upi_qr=payments.qr_svg(upi, f"Pay {vendor.store_name} by UPI") if upi else None,
        whatsapp=payments.to_store(vendor, order, page_url), form=form or UtrForm(),
        error=error, state=page_state(order), poll_seconds=current_app.config["ORDERS_POLL_SECONDS"],
        reviewed=reviewed, review_form=review_form,
    )
    _private(response)
    return response


def _private(response) -> None:
    # The page shows the customer's name, phone and address: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"


@bp.get("/<slug>/<ref>")
def order(slug: str, ref: str):
    """The order page. It polls itself with ``state``: unchanged, it gets 204 (htmx keeps the page)."""
    _require_slug_shape(slug)
    if orders.REF_RE.fullmatch(ref) and slug != slug.lower():
        return _lowercase_redirect("storefront.order", slug, ref=ref)
    vendor, found = _find(slug, ref)
    if is_htmx() and request.args.get("state") == page_state(found):
        response = empty(204)
        _private(response)
        return response
    return _page(vendor, found)


def _after(vendor, order, status: int, error: str | None = None, form: UtrForm | None = None,
           review_form: ReviewForm | None = None):
    """A POST's answer: the page (or its live part for htmx) with what went wrong, or after
    success 303 back to the page (htmx: the live part)."""
    if status == 200 and not is_htmx():
        return redirect(url_for("storefront.order", slug=vendor.slug, ref=order.ref), 303)
    return _page(vendor, order, status, form, error, review_form)


@bp.post("/<slug>/<ref>/utr")
@csrf.exempt  # the same-origin check below protects it instead, as for orders
def claim_payment(slug: str, ref: str):
    """The customer's UPI reference (``utr``, 12 digits): the payment becomes "claimed"."""
    if not same_origin():
        abort(403, "Payments can only be reported from the order's own page.")
    vendor, found = _find(slug, ref)
    form = UtrForm(request.form)
    if not form.validate():
        return _after(vendor, found, 422, form=form)
    try:
        payments.claim(found, form.utr.data)
    except payments.PaymentError as refused:
        return _after(vendor, found, 409, str(refused), form)
    return _after(vendor, found, 200)


@bp.post("/<slug>/<ref>/cancel")
@csrf.exempt  # the same-origin check below protects it instead, as for orders
def cancel(slug: str, ref: str):
    """The customer cancels while the order is still placed (the stock returns); 409 after."""
    if not same_origin():
        abort(403, "Orders can only be cancelled from their own page.")
    vendor, found = _find(slug, ref)
    try:
        orders.cancel_by_customer(found)
    except orders.IllegalTransition as refused:
        return _after(vendor, found, 409, str(refused))
    return _after(vendor, found, 200)


@bp.post("/<slug>/<ref>/reviews")
@csrf.exempt  # the same-origin check below protects it instead, as for orders
def review(slug: str, ref: str):
    """Review a product of a delivered order (``product_id``, ``rating`` 1–5, ``text``): 422 for
    bad input or a product the order did not buy, 409 before delivery or for a second review."""
    if not same_origin():
        abort(403, "Reviews can only be left from the order's own page.")
    vendor, found = _find(slug, ref)
    form = ReviewForm(request.form)
    if not form.validate():
        return _after(vendor, found, 422, review_form=form)
    try:
        reviews.leave(found, int(form.product_id.data), int(form.rating.data), form.text.data or "")
    except reviews.ReviewError as refused:
        return _after(vendor, found, refused.status, str(refused), review_form=form)
    return _after(vendor, found, 200)
