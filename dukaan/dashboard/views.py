"""The vendor's dashboard: products and orders, each row a self-contained component."""

import csv
import hashlib
import io
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import segno
from flask import Response, abort, current_app, flash, make_response, redirect, request, stream_with_context, url_for
from flask_login import current_user

from .. import categories, inventory, payments, replica, reviews, store_settings
from .. import orders as order_rules
from .. import photos as photo_rules
from .. import products as product_rules
from ..auth.guard import to_login
from ..forms import whole_number
from ..htmx import empty, is_htmx, render
from ..models import Product, Vendor, aware
from . import bp
from .forms import (
    AvailabilityForm,
    CategoryForm,
    ExportForm,
    HiddenForm,
    MoveForm,
    NewProductForm,
    OrderFilterForm,
    PaymentForm,
    ProductForm,
    SettingsForm,
    StatusForm,
)


@bp.before_request
def require_vendor():
    if current_user.is_authenticated:
        return None
    return to_login()


@bp.after_request
def private(response):
    # Dashboard pages show customers' names, phones and addresses.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def vendor() -> Vendor:
    """The logged-in vendor, whom every rule called from here is given."""
    return current_user._get_current_object()


def found(obj):
    """``obj``, or a 404 when the vendor's lookup found nothing (someone else's, or gone)."""
    if obj is None:
        abort(404)
    return obj


def store_url() -> str:
    return url_for("storefront.store", slug=current_user.slug, _external=True)


@bp.get("/store-qr.svg")
def store_qr():
    """The store link as a QR code (SVG), to show, print or download."""
    link = store_url()
    qr = segno.make(link, error="m")
    svg = io.BytesIO()
    # viewBox without a fixed size, so the page sizes it; a white margin so it scans on any background.
    qr.save(svg, kind="svg", border=2, dark="#1f2328", light="#ffffff", xmldecl=False, omitsize=True,
            title=f"{current_user.store_name}: {link}")
    response = make_response(svg.getvalue())
    response.mimetype = "image/svg+xml"
    return response


# --- store settings -------------------------------------------------------------


@bp.get("/settings")
def settings():
    return render("dashboard/settings.html", "settings_form", form=SettingsForm(obj=vendor()))


@bp.post("/settings")
def save_settings():
    """Save the store's settings: 303 back to them (a page) or the form saved (htmx);
    422 with every problem next to its field and everything typed kept."""
    form = SettingsForm()
    if form.validate():
        try:
            store_settings.save(vendor(), form.settings())
        except store_settings.SettingsError as problem:
            getattr(form, problem.field).errors.append(str(problem))
        else:
            if is_htmx():
                return render("dashboard/settings.html", "settings_form", form=form, saved=True)
            flash("Saved your store's settings.", "success")
            return redirect(url_for("dashboard.settings"), 303)
    return render("dashboard/settings.html", "settings_form", 422, form=form)


# --- reviews ------------------------------------------------------------------


@bp.get("/reviews")
def review_list():
    """The vendor's reviews, newest first (the latest 200), each hidden or shown in place."""
    return render("dashboard/reviews.html", reviews=reviews.latest(vendor(), 200, replica.session()))


@bp.post("/reviews/<int:review_id>/visibility")
def review_visibility(review_id: int):
    """Hide a review (``hidden=yes``) or show it again (``no``): the store page follows at once."""
    review = found(reviews.get(vendor(), review_id))
    form = HiddenForm()
    if not form.validate():
        if is_htmx():
            return render("dashboard/_review_row.html", status=422, review=review, error="Use yes or no.")
        abort(422, "Use yes or no.")
    reviews.set_hidden(review, form.hidden.data == "yes")
    if is_htmx():
        return render("dashboard/_review_row.html", review=review)
    flash("Review hidden from your store." if review.hidden else "Review shown in your store.", "success")
    return redirect(url_for("dashboard.review_list"), 303)


# --- products -----------------------------------------------------------------


@bp.get("/products")
def products():
    return render(
        "dashboard/products.html", "product_form",
        products=product_rules.listing(vendor(), replica.session()), form=_product_form(NewProductForm),
        store_url=store_url(),
    )


@bp.get("/products/new")
def new_product():
    return render("dashboard/new_product.html", "product_form", form=_product_form(NewProductForm))


def _product_form(form_class, **kwargs):
    """A product form that offers the vendor's categories (the primary's when the form is
    posted: ``replica.session()`` is, in a request that writes)."""
    form = form_class(**kwargs)
    form.offer_categories(categories.listing(vendor(), replica.session()))
    return form


@bp.post("/products")
def add_product():
    form = _product_form(NewProductForm)
    if form.validate():
        try:
            product = product_rules.create(vendor(), form.details(), form.stock.data, form.available.data)
        except product_rules.UnknownCategory as problem:  # deleted since the form was shown
            form.category_id.errors.append(str(problem))
    if form.errors:
        return render("dashboard/new_product.html", "product_form", 422, form=form)
    if is_htmx():
        first = product_rules.count(vendor()) == 1
        return render(
            "dashboard/_product_added.html", product=product, form=_product_form(NewProductForm, formdata=None),
            first=first,
        )
    flash(f"Added {product.name}.", "success")
    return redirect(url_for("dashboard.products"), 303)


@bp.get("/products/<int:product_id>")
def product(product_id: int):
    """htmx: the product's row (cancelling an inline edit). Page: the edit form."""
    product = found(product_rules.get(vendor(), product_id))
    if is_htmx():
        return render("dashboard/_product_row.html", product=product)
    return edit_page(product, _edit_form(product))


@bp.get("/products/<int:product_id>/edit")
def edit_product(product_id: int):
    """htmx: the row as an inline form. Page: the edit form."""
    product = found(product_rules.get(vendor(), product_id))
    form = _edit_form(product)
    if is_htmx():
        return render("dashboard/_product_row.html", product=product, edit_form=form)
    return edit_page(product, form)


@bp.post("/products/<int:product_id>")
def update_product(product_id: int):
    product = found(product_rules.get(vendor(), product_id))
    form = _product_form(ProductForm)
    if not form.validate():
        if is_htmx():
            return render(
                "dashboard/_product_row.html", status=422, product=product, edit_form=form
            )
        return edit_page(product, form, 422)
    try:
        product_rules.update(product, form.details(), form.stock.data, form.seen_stock)
    except inventory.StockMoved as moved:
        form.stock.errors.append(str(moved))
        form.stock_seen.data = str(moved.now)  # so that saving again sets the typed stock
        if is_htmx():
            return render(
                "dashboard/_product_row.html", status=409, product=product, edit_form=form
            )
        return edit_page(product, form, 409)
    except product_rules.UnknownCategory as problem:  # deleted since the form was shown
        form.category_id.errors.append(str(problem))
        if is_htmx():
            return render("dashboard/_product_row.html", status=422, product=product, edit_form=form)
        return edit_page(product, form, 422)
    if is_htmx():
        return render("dashboard/_product_row.html", product=product, saved=True)
    flash(f"Saved {product.name}.", "success")
    return redirect(url_for("dashboard.products"), 303)


def _edit_form(product: Product) -> ProductForm:
    return _product_form(ProductForm, obj=product, stock_seen=str(product.stock))


def edit_page(product: Product, form: ProductForm, status: int = 200, photo_errors: list[str] | None = None):
    """The product's edit page: its form and its photos (``dashboard/_photos.html``)."""
    return render("dashboard/edit_product.html", status=status, form=form, product=product,
                  photos=photo_rules.of_product(product), photo_errors=photo_errors or [],
                  max_photos=photo_rules.MAX_PHOTOS)


@bp.post("/products/<int:product_id>/availability")
def toggle_availability(product_id: int):
    product = found(product_rules.get(vendor(), product_id))
    form = AvailabilityForm()
    if not form.validate():
        message = "; ".join(e for errors in form.errors.values() for e in errors)
        if is_htmx():
            return render("dashboard/_product_row.html", status=422, product=product, error=message)
        abort(422, message)
    wanted = form.available.data
    product_rules.set_available(product, (wanted == "yes") if wanted else None)
    if is_htmx():
        return render("dashboard/_product_row.html", product=product)
    state = "now on sale" if product.available else "hidden from your store"
    flash(f"{product.name} is {state}.", "success")
    return redirect(url_for("dashboard.products"), 303)


@bp.post("/products/<int:product_id>/delete")
def delete_product(product_id: int):
    product = found(product_rules.get(vendor(), product_id))
    name = product.name
    product_rules.delete(product)
    if is_htmx():
        if product_rules.count(vendor()) == 0:  # the empty state takes the last row's place
            return render("dashboard/_no_products.html")
        return empty(200)  # swapped over the row's outerHTML, it removes the row
    flash(f"Removed {name} from your store.", "success")
    return redirect(url_for("dashboard.products"), 303)


# --- categories -----------------------------------------------------------------


def _category_list(status: int = 200, form: CategoryForm | None = None, block: str = "category_list",
                   **row_state):
    """The categories page, or (htmx) its ``block``: ``row_state`` (``errors``, ``typed``
    names, the ``saved`` row) is keyed by category id. Read on ``replica.session()``: after a
    change (a POST) that is the primary's."""
    return render(
        "dashboard/categories.html", block, status,
        categories=categories.listing(vendor(), replica.session()), form=form or CategoryForm(formdata=None),
        errors=row_state.get("errors", {}), typed_names=row_state.get("typed", {}), saved=row_state.get("saved"),
    )


def _category_row(category, status: int = 200, **state):
    return render("dashboard/_category_row.html", status=status, category=category, **state)


@bp.get("/categories")
def category_page():
    """The vendor's categories, in the order of their store page's sections."""
    return _category_list()


@bp.post("/categories")
def add_category():
    """Add a category at the end: 303 back to the list (a page), or (htmx) a fresh form with
    the new row added out of band; 422 with the problem next to the name."""
    form = CategoryForm()
    if form.validate():
        try:
            category = categories.create(vendor(), form.name.data)
        except categories.CategoryError as problem:
            form.name.errors.append(str(problem))
    if form.errors:
        return _category_list(422, form, block="category_form")
    if is_htmx():
        first = len(categories.listing(vendor())) == 1
        return render("dashboard/_category_added.html", category=category, form=CategoryForm(formdata=None),
                      first=first)
    flash(f"Added the category {category.name}.", "success")
    return redirect(url_for("dashboard.category_page"), 303)


@bp.post("/categories/<int:category_id>")
def rename_category(category_id: int):
    """Rename a category in place: the row (htmx) or 303 to the list; 422 with the problem
    in the row and the name as typed."""
    category = found(categories.get(vendor(), category_id))
    form = CategoryForm()
    if form.validate():
        try:
            categories.rename(category, vendor(), form.name.data)
        except categories.CategoryError as problem:
            form.name.errors.append(str(problem))
    if form.errors:
        error = " ".join(form.name.errors)
        if is_htmx():
            return _category_row(category, 422, error=error, typed=form.name.data or "")
        return _category_list(422, errors={category.id: error}, typed={category.id: form.name.data or ""})
    if is_htmx():
        return _category_row(category, saved=True)
    flash(f"Renamed the category to {category.name}.", "success")
    return redirect(url_for("dashboard.category_page"), 303)


@bp.post("/categories/<int:category_id>/move")
def move_category(category_id: int):
    """Move a category one place up or down: the whole list (htmx: two rows change
    places), or 303 to it."""
    category = found(categories.get(vendor(), category_id))
    form = MoveForm()
    if not form.validate():
        if is_htmx():
            return _category_row(category, 422, error="Move it up or down.")
        abort(422, "Move it up or down.")
    categories.move(category, vendor(), -1 if form.direction.data == "up" else 1)
    if is_htmx():
        return _category_list(saved=category.id)
    return redirect(url_for("dashboard.category_page") + f"#category-{category.id}", 303)


@bp.post("/categories/<int:category_id>/delete")
def delete_category(category_id: int):
    """Delete a category; its products stay, uncategorised."""
    category = found(categories.get(vendor(), category_id))
    name = category.name
    categories.delete(category)
    if is_htmx():
        if not categories.listing(vendor()):  # the empty state takes the last row's place
            return render("dashboard/_no_categories.html")
        return empty(200)  # swapped over the row's outerHTML, it removes the row
    flash(f"Deleted the category {name}: its products are still in your store.", "success")
    return redirect(url_for("dashboard.category_page"), 303)


# --- orders -------------------------------------------------------------------

# Order numbers are 32-bit, so no store has orders past this page; a larger
# page would overflow the database's OFFSET instead of being a plain 404.
MAX_ORDERS_PAGE = 2**31


def _list_state(found, total: int) -> str:
    """A fingerprint of what the order list shows: it changes when an order
    arrives or any shown order changes state."""
    shown = ";".join(f"{o.id}:{o.status}:{o.payment_state}:{o.updated_at.isoformat()}" for o in found)
    return hashlib.sha256(f"{total}|{shown}".encode()).hexdigest()[:16]


@bp.get("/orders")
def orders():
    """The vendor's orders, newest first, filtered by ``status`` and ``payment`` (422 for a
    filter that is no state).

    The list polls itself with ``seen`` (the newest order number it shows) and
    ``state``: an unchanged list answers 204, so htmx leaves it (and the
    vendor's focus) alone; orders newer than ``seen`` are marked as arrived.
    """
    page = whole_number(request.args.get("page", "1"), max_digits=12)
    if page is None or not 1 <= page <= MAX_ORDERS_PAGE:
        abort(404)
    filters_form = OrderFilterForm(request.args)
    if not filters_form.validate():
        abort(422, "Filter by a known status and payment state.")
    filters = filters_form.filters()
    per_page = current_app.config["ORDERS_PER_PAGE"]
    found, total = order_rules.vendor_orders(vendor(), page, per_page, **filters)
    if page > 1 and not found:
        abort(404)
    state = _list_state(found, total)
    if is_htmx() and request.args.get("state") == state:
        return empty(204)
    return render(
        "dashboard/orders.html", "order_list",
        orders=found, page=page, total=total, per_page=per_page, **_row_helpers(),
        poll_seconds=current_app.config["ORDERS_POLL_SECONDS"],
        seen=whole_number(request.args.get("seen")) if is_htmx() else None,
        newest=max((o.number for o in found), default=0), state=state,
        filters=filters, filters_form=filters_form, export_form=ExportForm(request.args),
    )


CSV_COLUMNS = ("order", "placed_at", "status", "customer", "phone", "address", "items", "subtotal",
               "delivery_fee", "cod_fee", "total", "payment_method", "payment_state", "utr")


def _csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: a leading =, +, -, @ would make it a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/orders.csv")
def export_orders():
    """The vendor's orders as CSV, placed between ``from_date`` and ``to_date`` (the merchant's
    days, both included; either may be empty), with the list's filters. Streamed: rows are
    written as they are read, a batch at a time."""
    form = ExportForm(request.args)
    if not form.validate():
        problems = "; ".join(e for errors in form.errors.values() for e in errors)
        abort(422, f"Check the export's dates and filters: {problems}")
    zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
    start, end = form.days()
    since = datetime.combine(start, time(), zone) if start else None
    before = datetime.combine(end + timedelta(days=1), time(), zone) if end else None
    rows = order_rules.export(vendor(), since, before, **form.filters())

    def lines():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for order in rows:
            writer.writerow(_csv_cell(value) for value in (
                order.number, aware(order.created_at).astimezone(zone).isoformat(timespec="seconds"),
                order.status, order.customer_name, order.phone, order.address,
                "; ".join(f"{line.quantity} x {line.name}" for line in order.lines),
                order.subtotal, order.delivery_fee, order.cod_fee, order.total,
                order.payment_method, order.payment_state, order.utr,
            ))
            if out.tell() > 64 * 1024:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    name = f"{current_user.slug}-orders-{start or 'start'}-to-{end or 'now'}.csv"
    response = Response(stream_with_context(lines()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.post("/orders/<int:order_id>/status")
def order_status(order_id: int):
    order = found(order_rules.get(vendor(), order_id))
    form = StatusForm()
    error, status = None, 200
    if not form.validate():
        error, status = "Choose the order's next status.", 422
    else:
        try:
            order_rules.change_status(order, form.status.data)
        except order_rules.IllegalTransition as problem:
            error, status = str(problem), 409
    if is_htmx():
        return render(
            "dashboard/_order_row.html", status=status, order=order, error=error, **_row_helpers(),
        )
    if error:
        abort(status, error)
    flash(f"Order #{order.number} is {order.status}.", "success")
    return redirect(url_for("dashboard.orders"), 303)


def _row_helpers() -> dict:
    """What an order row asks about each order: its next states, its payment's, the WhatsApp link."""
    def message_customer(order):
        page = url_for("storefront.order", slug=current_user.slug, ref=order.ref, _external=True)
        return payments.to_customer(vendor(), order, page)

    return {
        "next_statuses": order_rules.next_statuses, "payment_moves": payments.vendor_moves,
        "payment_labels": payments.LABELS, "message_customer": message_customer,
    }


@bp.post("/orders/<int:order_id>/payment")
def order_payment(order_id: int):
    """The vendor marks an order's payment ``paid`` or (a claimed one) ``not_received``."""
    order = found(order_rules.get(vendor(), order_id))
    form = PaymentForm()
    error, status = None, 200
    if not form.validate():
        error, status = "Mark the payment paid or not received.", 422
    else:
        try:
            payments.vendor_sets(order, form.payment.data)
        except payments.PaymentError as problem:
            error, status = str(problem), 409
    if is_htmx():
        return render("dashboard/_order_row.html", status=status, order=order, error=error, **_row_helpers())
    if error:
        abort(status, error)
    flash(f"Order #{order.number}: {payments.LABELS[order.payment_state].lower()}.", "success")
    return redirect(url_for("dashboard.orders"), 303)
