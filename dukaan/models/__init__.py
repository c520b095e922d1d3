"""The shop's data, one module per subject: vendors, the catalogue, orders, jobs, mail."""

from .catalogue import Product
from .common import Money, VendorOwned, utcnow
from .jobs import OutboxEntry
from .mail import SentMail
from .orders import Order, OrderLine, OrderStatus
from .vendors import Vendor

__all__ = [
    "Money", "Order", "OrderLine", "OrderStatus", "OutboxEntry", "Product", "SentMail", "Vendor", "VendorOwned",
    "utcnow",
]
