"""The customer JSON API for mobile apps, under ``/api/v1``.

One blueprint, described by the OpenAPI 3.1 document APIFlask generates from
it (``/api/v1/openapi.json``, readable at ``/api/v1/docs``). Endpoints parse,
call the same services as the web views (accounts, products, carts, orders,
inventory) and translate their errors; they never read the web session.
Every error here is JSON (``errors``); the HTML site keeps its pages.
"""

from __future__ import annotations

from apiflask import APIBlueprint, APIFlask

API_PREFIX = "/api/v1"

bp = APIBlueprint("api", __name__, url_prefix=API_PREFIX)

from . import carts, customers, docs, orders, stores  # noqa: E402,F401  (register the routes on bp)


def register(app: APIFlask) -> None:
    """Mount the API on ``app``: no CSRF (a bearer token is no ambient credential), JSON errors."""
    from ..extensions import csrf
    from . import document, errors, listing

    app.config.update(
        # Only the API's routes belong in its document: app-level routes (health) stay out.
        AUTO_200_RESPONSE=False,
        AUTO_SERVERS=False,
        # Each operation names its own tag; the blueprint's would be an empty "Api".
        AUTO_TAGS=False,
        TAGS=[{"name": "Customers", "description": "Register; your account and password."},
              {"name": "Tokens", "description": "Log in and out."},
              {"name": "Stores", "description": "A store and its products: no token needed."},
              {"name": "Carts", "description": "Units held for you while you choose."},
              {"name": "Orders", "description": "Place an order (once, however often it is retried); "
                                                "your order history."}],
        HTTP_ERROR_SCHEMA=errors.ErrorSchema,
        VALIDATION_ERROR_SCHEMA=errors.ErrorSchema,
        INFO={"description": "Browse a store's products, hold them in a cart, order, and see "
                             "your order history. Errors are JSON: `message`, and for invalid "
                             "input `detail` names the fields at fault."},
    )
    # APIFlask 3.1.2 reads this flag off every blueprint with a before_request hook (the
    # dashboard's) when it builds the document, and fails on Flask's plain ones.
    for blueprint in app.blueprints.values():
        if not hasattr(blueprint, "enable_openapi"):
            blueprint.enable_openapi = False
    app.spec_processor(document.finish)
    listing.init_app(app)
    csrf.exempt(bp)
    app.register_blueprint(bp)
    errors.register(app)
