"""The shop's data, one module per subject: vendors, the catalogue, carts, orders."""

from .carts import Cart, CartLine
from .catalogue import Product
from .common import Money, VendorOwned, utcnow
from .orders import Order, OrderLine, OrderStatus
from .vendors import Vendor, VendorSession

__all__ = [
    "Cart", "CartLine", "Money", "Order", "OrderLine", "OrderStatus", "Product", "Vendor", "VendorOwned",
    "VendorSession", "utcnow",
]
