"""The shop's data, one module per subject: vendors, the catalogue, carts, orders, customers (with
their tokens and order claims), jobs, mail."""

from .carts import Cart, CartLine
from .catalogue import Product
from .common import Money, VendorOwned, aware, commit_keeping_loaded, utcnow
from .customers import ApiToken, Customer, OrderClaim
from .jobs import OutboxEntry
from .mail import SentMail
from .orders import Order, OrderLine, OrderStatus
from .vendors import Vendor, VendorSession

__all__ = [
    "ApiToken", "Cart", "CartLine", "Customer", "Money", "Order", "OrderClaim", "OrderLine", "OrderStatus",
    "OutboxEntry", "Product", "SentMail", "Vendor", "VendorOwned", "VendorSession", "aware", "commit_keeping_loaded",
    "utcnow",
]
