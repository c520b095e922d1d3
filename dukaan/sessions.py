"""Sessions everywhere except on the customer's pages."""

from flask.sessions import SecureCookieSessionInterface

from .api import API_PREFIX
from .storefront import STOREFRONT_PREFIX

STOREFRONT_PATHS = STOREFRONT_PREFIX + "/"
# The API never reads the web session (its callers send a token): none, so that it sets no
# cookie and its public lists carry no Vary: Cookie. Nor do health checks, metrics and
# static files need one (opening a session costs 20 µs a request).
SESSIONLESS = (STOREFRONT_PATHS, API_PREFIX + "/", "/livez", "/healthz", "/metrics", "/static/")


class SessionInterface(SecureCookieSessionInterface):
    """Cookie sessions, but none for ``/order/…`` (nor the API's ``/api/v1/…``, nor the
    health checks, metrics and static files).

    A storefront response must be the same for every visitor and cacheable by
    a shared cache: no session means no ``Set-Cookie`` and no ``Vary: Cookie``
    (which Flask-Login's after-request hook would otherwise cause by looking
    into the session), whoever is logged in elsewhere.
    """

    def open_session(self, app, request):
        if request.path.startswith(SESSIONLESS):
            return self.make_null_session(app)
        return super().open_session(app, request)
