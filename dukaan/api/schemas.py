"""What the API reads and writes, as marshmallow schemas (the OpenAPI document is made from them)."""

from __future__ import annotations

import unicodedata

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Email, Integer, List, Nested, String
from apiflask.fields import Decimal as DecimalField
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError, validates_schema

from ..orders import MAX_LINES, MAX_QUANTITY
from ..products import MAX_PRICE as MAX_MONEY


class Text(String):
    """A string stripped of surrounding space, with no control characters (PostgreSQL cannot
    store NUL; nobody types the others)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
            raise ValidationError("Control characters are not allowed.")
        return text


class WholeNumber(Integer):
    """A whole number; in a query string, ASCII digits only (int() would read ९ or ٢ too).
    ``strict``: a JSON number only, never a string of digits."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 12):
            raise ValidationError("Not a valid integer.")
        if isinstance(value, bool | float):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class Money(DecimalField):
    """Rupees with at most two decimals, written in ASCII digits ("120", "99.5"), from 0 to
    the most a price may be."""

    def __init__(self, **kwargs):
        # Bounds as numbers: apispec would write a Range of Decimals as strings, which
        # JSON Schema does not allow.
        metadata = {"minimum": 0, "maximum": float(MAX_MONEY), **kwargs.pop("metadata", {})}
        super().__init__(places=None, as_string=True, allow_nan=False, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not (value.isascii() and value.replace(".", "", 1).isdigit()):
            raise ValidationError("A number of rupees, such as 120 or 99.50.")
        amount = super()._deserialize(value, attr, data, **kwargs)
        if amount.as_tuple().exponent < -2:
            raise ValidationError("At most two decimals.")
        if not 0 <= amount <= MAX_MONEY:
            raise ValidationError(f"From 0 to {MAX_MONEY}.")
        return amount


# The document carries the pattern to apps, so it must read the same in JavaScript: no \Z,
# and (?![\s\S]) rather than $, which Python lets end before a trailing newline.
# PostgreSQL's integer: a larger id is no row's, and must not reach a query (an error there).
MAX_ID = 2**31 - 1

PHONE = Regexp(r"^\+?[0-9]{10,15}(?![\s\S])", error="A phone number of 10 to 15 digits, optionally after a +.")


# --- customers and tokens ---------------------------------------------------------


class CustomerIn(Schema):
    username = String(required=True, validate=Length(1, 100),
                      metadata={"description": "3–30 lowercase letters, digits and hyphens.",
                                "example": "asha-rao"})
    password = String(required=True, validate=Length(1, 1000),
                      metadata={"description": "At least 8 characters; not a common password.",
                                "example": "mango pickle season"})
    name = Text(required=True, validate=Length(1, 100), metadata={"example": "Asha Rao"})
    phone = String(required=True, validate=PHONE, metadata={"example": "9876543210"})
    email = Email(load_default=None, allow_none=True, validate=Length(max=254),
                  metadata={"example": "asha@example.com"})


class CustomerOut(Schema):
    username = String(required=True)
    name = String(required=True)
    phone = String(required=True)
    email = String(allow_none=True)


class TokenIn(Schema):
    username = String(required=True, validate=Length(1, 100), metadata={"example": "asha-rao"})
    password = String(required=True, validate=Length(1, 1000), metadata={"example": "mango pickle season"})


class TokenOut(Schema):
    token = String(required=True, metadata={"description": "Send it as `Authorization: Bearer <token>`."})
    expires_at = DateTime(required=True, metadata={
        "description": "When the token ends in any case; it also ends after 14 days unused."})


class PasswordIn(Schema):
    current_password = String(required=True, validate=Length(1, 1000))
    new_password = String(required=True, validate=Length(1, 1000))


# --- stores and products -------------------------------------------------------------

MAX_PAGE = 100_000


class StoreOut(Schema):
    slug = String(required=True, metadata={"example": "ravi"})
    name = String(required=True, metadata={"example": "Ravi's Store"})


class ProductsQuery(Schema):
    page = WholeNumber(load_default=1, validate=Range(1, MAX_PAGE))
    per_page = WholeNumber(load_default=20, validate=Range(1, 100))
    q = Text(validate=Length(1, 100), metadata={"description": "Words in the name or description."})
    min_price = Money()
    max_price = Money()
    in_stock = Boolean(metadata={"description": "true: only what can be bought now; false: only what cannot."})
    category = WholeNumber(validate=Range(1, MAX_ID), metadata={
        "description": "A category's id (as in each item's `category`): only its products. "
                       "An id that is not one of the store's categories lists nothing."})
    sort = String(validate=OneOf(["price", "-price", "name", "newest"]), metadata={
        "description": "Default: as the store page lists them (oldest first)."})


class CategoryOut(Schema):
    id = Integer(required=True)
    name = String(required=True, metadata={"example": "Pickles"})


class PhotoOut(Schema):
    width = Integer(required=True, metadata={"description": "The largest rendition's width in pixels."})
    height = Integer(required=True, metadata={"description": "The largest rendition's height in pixels."})
    urls = Dict(keys=String(), values=String(), required=True, metadata={
        "description": "A WebP file for each width it exists at (\"320\", \"640\", \"1280\"; fewer "
                       "for a small photo), by width.",
        "example": {"320": "https://example.com/media/p/3f/3f9a-320.webp"}})


class ProductOut(Schema):
    id = Integer(required=True)
    name = String(required=True)
    description = String(required=True)
    price = String(required=True, metadata={"description": "Rupees, two decimals.", "example": "120.00"})
    mrp = String(required=True, allow_none=True, metadata={"description": "The printed price, or null."})
    stock = Integer(required=True, metadata={"description": "Units that can be bought now (stock less "
                                                            "what carts hold)."})
    available = Boolean(required=True, metadata={"description": "At least one unit can be bought now."})
    max_per_order = Integer(required=True, allow_none=True, metadata={
        "description": "The most one order may take, or null."})
    category = Nested(CategoryOut, required=True, allow_none=True, metadata={
        "description": "The store page's section it is listed in, or null (uncategorised)."})
    photos = List(Nested(PhotoOut), required=True, metadata={
        "description": "Its photos ready to show, the cover first (empty: none)."})


class ProductPage(Schema):
    items = List(Nested(ProductOut), required=True)
    page = Integer(required=True)
    per_page = Integer(required=True)
    total = Integer(required=True, metadata={"description": "Products matching, on every page."})


class ListHeaders(Schema):
    etag = String(data_key="ETag", metadata={"description": "Send it back in If-None-Match: 304 while unchanged."})
    link = String(data_key="Link", metadata={"description": "The first, prev, next and last pages (RFC 8288)."})
    total = Integer(data_key="X-Total-Count", metadata={"description": "Products matching, on every page."})


# --- carts ----------------------------------------------------------------------------


class CartIn(Schema):
    store = String(required=True, validate=Length(1, 100), metadata={"description": "The store's slug.",
                                                                     "example": "ravi"})


class QuantityIn(Schema):
    quantity = WholeNumber(required=True, strict=True, validate=Range(0, MAX_QUANTITY), metadata={
        "description": "Units to hold; 0 lets go of the line."})


class CartLineOut(Schema):
    product_id = Integer(required=True)
    name = String(required=True)
    price = String(required=True, metadata={"example": "120.00"})
    quantity = Integer(required=True)
    subtotal = String(required=True, metadata={"example": "240.00"})
    problem = String(required=True, allow_none=True, metadata={
        "description": "What the customer must know: fewer left than held, or a hold the store cut."})


class CartOut(Schema):
    id = Integer(required=True)
    store = String(required=True, metadata={"description": "The store's slug."})
    lines = List(Nested(CartLineOut), required=True)
    total = String(required=True, metadata={"example": "240.00"})
    expires_at = DateTime(required=True, metadata={
        "description": "The units are held until then; every change moves it on."})
    lapsed = Boolean(required=True, metadata={"description": "The hold has ended; ordering takes what is "
                                                             "still free."})
    gone = Integer(required=True, metadata={"description": "Lines of products no longer on sale (left out)."})


# --- orders ---------------------------------------------------------------------------

PAYMENT_METHODS = ("cod", "upi")
# The key's characters: printable ASCII without spaces (a UUID, say), so that it survives
# every HTTP stack unchanged.
IDEMPOTENCY_KEY = Regexp(r"^[!-~]{1,255}(?![\s\S])", error="1 to 255 printable ASCII characters, no spaces.")


class IdempotencyHeaders(Schema):
    idempotency_key = String(required=True, data_key="Idempotency-Key", validate=IDEMPOTENCY_KEY, metadata={
        "description": "A new random value (a UUID) for each order the customer means to place; "
                       "the same value when retrying that order. Kept per customer.",
        "example": "5f0c6a7e-1b7e-4c1e-9a57-6c1c2f9e8d11"})


class OrderLineIn(Schema):
    product_id = WholeNumber(required=True, strict=True, validate=Range(1, MAX_ID))
    quantity = WholeNumber(required=True, strict=True, validate=Range(1, MAX_QUANTITY))


class OrderIn(Schema):
    store = String(required=True, validate=Length(1, 100), metadata={"description": "The store's slug.",
                                                                     "example": "ravi"})
    lines = List(Nested(OrderLineIn), validate=Length(1, MAX_LINES), metadata={
        "description": "What to order, each product once; or send `cart` instead.",
        "example": [{"product_id": 1, "quantity": 2}]})
    cart = WholeNumber(strict=True, validate=Range(1, MAX_ID), metadata={
        "description": "Order what one of your carts at the store holds (the cart is gone once the "
                       "order is placed); or send `lines` instead."})
    name = Text(validate=Length(1, 100), metadata={"description": "Default: your account's name.",
                                                   "example": "Asha Rao"})
    phone = String(validate=PHONE, metadata={"description": "Default: your account's phone.",
                                             "example": "9876543210"})
    address = Text(required=True, validate=Length(1, 500), metadata={"example": "12 MG Road, Pune 411001"})
    payment = String(validate=OneOf(PAYMENT_METHODS), metadata={
        "description": "`cod` (cash on delivery) or `upi`; default: the store's."})

    # What _lines_or_cart checks, said in the document (dukaan.api.document).
    JSON_SCHEMA = {"oneOf": [{"required": ["lines"]}, {"required": ["cart"]}]}

    @validates_schema
    def _lines_or_cart(self, data, **kwargs):
        if ("lines" in data) == ("cart" in data):
            message = "Send either lines or a cart." if "lines" in data else "Send lines or a cart."
            raise ValidationError({"lines": [message], "cart": [message]})
        products = [line["product_id"] for line in data.get("lines", ())]
        if len(set(products)) != len(products):
            raise ValidationError("Name each product once.", "lines")


class OrderLineOut(Schema):
    product_id = Integer(required=True, allow_none=True, metadata={
        "description": "Null when the store has deleted the product since."})
    name = String(required=True, metadata={"description": "As it was when ordered."})
    price = String(required=True, metadata={"description": "Rupees a unit, as it was when ordered.",
                                            "example": "120.00"})
    quantity = Integer(required=True)
    subtotal = String(required=True, metadata={"example": "240.00"})


class OrderOut(Schema):
    ref = String(required=True, metadata={"description": "The order's reference: `GET /api/v1/orders/{ref}`."})
    number = Integer(required=True, metadata={"description": "The order's number at its store (#1042)."})
    store = String(required=True, metadata={"description": "The store's slug."})
    status = String(required=True, validate=OneOf(["placed", "confirmed", "shipped", "delivered", "cancelled"]))
    total = String(required=True, metadata={"description": "Rupees.", "example": "240.00"})
    created_at = DateTime(required=True)
    name = String(required=True)
    phone = String(required=True)
    address = String(required=True)
    lines = List(Nested(OrderLineOut), required=True)


class PlacedHeaders(Schema):
    replayed = String(data_key="Idempotent-Replayed", metadata={
        "description": "`true`: this key placed the order before; this is that order again."})


class OrdersQuery(Schema):
    page = WholeNumber(load_default=1, validate=Range(1, MAX_PAGE))
    per_page = WholeNumber(load_default=20, validate=Range(1, 100))


class OrderPage(Schema):
    items = List(Nested(OrderOut), required=True)
    page = Integer(required=True)
    per_page = Integer(required=True)
    total = Integer(required=True, metadata={"description": "Your orders, on every page."})


class PageHeaders(Schema):
    link = String(data_key="Link", metadata={"description": "The first, prev, next and last pages (RFC 8288)."})
    total = Integer(data_key="X-Total-Count", metadata={"description": "Your orders, on every page."})
