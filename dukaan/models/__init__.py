"""The shop's data, one module per subject: vendors, the catalogue, carts, orders, reviews, jobs, mail."""

from .carts import Cart, CartLine
from .catalogue import Product
from .common import Money, VendorOwned, aware, utcnow
from .jobs import OutboxEntry
from .mail import SentMail
from .orders import Order, OrderLine, OrderStatus, PaymentState
from .reviews import Review
from .vendors import Vendor, VendorSession

__all__ = [
    "Cart", "CartLine", "Money", "Order", "OrderLine", "OrderStatus", "OutboxEntry", "PaymentState", "Product",
    "Review", "SentMail", "Vendor", "VendorOwned", "VendorSession", "aware", "utcnow",
]
