from flask import Blueprint

# The store link is /order/<slug>: every customer page lives under it.
STOREFRONT_PREFIX = "/order"

bp = Blueprint("storefront", __name__, url_prefix=STOREFRONT_PREFIX)

from . import order_page, views  # noqa: E402,F401  (registers the routes on bp)
