"""A product's photos on the dashboard: upload several at once, move, delete, retry.

Each route answers htmx with the part it changed (the product's photos, or
its row when the upload came from the row) and a page with a 303 back, so
everything works with JavaScript off. Every route finds the product or the
photo through the vendor: another vendor's is a 404.
"""

from flask import abort, flash, redirect, request, url_for

from .. import photos
from .. import products as product_rules
from ..htmx import is_htmx, render
from . import bp
from .views import _edit_form, edit_page, found, vendor

# Set on the request before the CSRF check reads the form (dukaan._guard_request_bodies).
UPLOAD_LIMIT = photos.MAX_PHOTOS * photos.MAX_BYTES + 1024 * 1024


def upload_limit() -> int | None:
    """The body a request may send: uploads of photos may be large; the rest stay small."""
    if request.endpoint == "dashboard.add_photos":
        return UPLOAD_LIMIT
    return None


def _box(product, status: int = 200, errors: list[str] | None = None):
    """The product's photos as a fragment (htmx) or its edit page, where they are shown."""
    if is_htmx():
        return render("dashboard/_photos.html", status=status, product=product, photos=photos.of_product(product),
                      photo_errors=errors or [], max_photos=photos.MAX_PHOTOS)
    return edit_page(product, _edit_form(product), status, errors)


def _back(product, message: str, from_row: bool):
    flash(message, "success")
    if from_row:
        return redirect(url_for("dashboard.products") + f"#product-{product.id}", 303)
    return redirect(url_for("dashboard.edit_product", product_id=product.id) + "#photos", 303)


@bp.get("/products/<int:product_id>/photos")
def product_photos(product_id: int):
    """htmx: the product's photos (polled while one is processing). Page: the edit page."""
    product = found(product_rules.get(vendor(), product_id))
    if not is_htmx():
        return redirect(url_for("dashboard.edit_product", product_id=product.id) + "#photos", 303)
    return _box(product)


@bp.post("/products/<int:product_id>/photos")
def add_photos(product_id: int):
    """Add the files of field ``photos`` (one or more) to the product. 422 naming each file
    refused, with nothing of the upload kept."""
    product = found(product_rules.get(vendor(), product_id))
    from_row = request.form.get("from") == "row"
    uploads = [photos.Upload(photos.file_name(f.filename), f.read(photos.MAX_BYTES + 1))
               for f in request.files.getlist("photos") if f.filename or f.content_length]
    try:
        added = photos.add(product, uploads)
    except photos.Refused as refused:
        if from_row and is_htmx():
            return render("dashboard/_product_row.html", status=422, product=product,
                          photo_errors=refused.messages)
        return _box(product, 422, refused.messages)
    product = product_rules.get(vendor(), product_id)  # its covers and counts, as they are now
    if is_htmx():
        if from_row:
            return render("dashboard/_product_row.html", product=product)
        return _box(product)
    count = len(added)
    return _back(product, f"Added {count} photo{'s' if count != 1 else ''} to {product.name}: "
                          "they show in your store once processed, in a few seconds.", from_row)


def _photo(photo_id: int):
    return found(photos.get(vendor(), photo_id))


@bp.post("/photos/<int:photo_id>/move")
def move_photo(photo_id: int):
    """Move a photo ``earlier`` or ``later`` (field ``direction``); the first is the cover."""
    photo = _photo(photo_id)
    direction = request.form.get("direction")
    if direction not in ("earlier", "later"):
        if is_htmx():
            return _box(photo.product, 422, ["Move a photo earlier or later."])
        abort(422, "Move a photo earlier or later.")
    photos.move(photo, -1 if direction == "earlier" else 1)
    product = found(product_rules.get(vendor(), photo.product_id))
    if is_htmx():
        return _box(product)
    return _back(product, f"Moved a photo of {product.name} {direction}.", False)


@bp.post("/photos/<int:photo_id>/delete")
def delete_photo(photo_id: int):
    photo = _photo(photo_id)
    product_id = photo.product_id
    photos.remove(photo)
    product = found(product_rules.get(vendor(), product_id))
    if is_htmx():
        return _box(product)
    return _back(product, f"Deleted a photo of {product.name}.", False)


@bp.post("/photos/<int:photo_id>/retry")
def retry_photo(photo_id: int):
    """Process a failed photo again."""
    photo = _photo(photo_id)
    photos.retry(photo)
    product = found(product_rules.get(vendor(), photo.product_id))
    if is_htmx():
        return _box(product)
    return _back(product, f"Processing a photo of {product.name} again.", False)
