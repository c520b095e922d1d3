"""The shop's data, one module per subject: vendors, the catalogue (products, categories), carts,
orders, reviews, customers (with their tokens and order claims), jobs, mail."""

from .carts import Cart, CartLine
from .catalogue import Category, PhotoState, Product, ProductPhoto
from .common import Money, VendorOwned, aware, commit_keeping_loaded, utcnow
from .customers import ApiToken, Customer, OrderClaim
from .jobs import OutboxEntry
from .mail import SentMail
from .orders import Order, OrderLine, OrderStatus, PaymentState
from .reviews import Review
from .vendors import Vendor, VendorSession

__all__ = [
    "ApiToken", "Cart", "CartLine", "Category", "Customer", "Money", "Order", "OrderClaim", "OrderLine", "OrderStatus",
    "OutboxEntry", "PaymentState", "PhotoState", "Product", "ProductPhoto", "Review", "SentMail", "Vendor",
    "VendorOwned", "VendorSession",
    "aware", "commit_keeping_loaded", "utcnow",
]
