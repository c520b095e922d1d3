"""Sessions everywhere except on the customer's pages."""

from flask.sessions import SecureCookieSessionInterface

from .storefront import STOREFRONT_PREFIX

STOREFRONT_PATHS = STOREFRONT_PREFIX + "/"


class SessionInterface(SecureCookieSessionInterface):
    """Cookie sessions, but none for ``/order/…``.

    A storefront response must be the same for every visitor and cacheable by
    a shared cache: no session means no ``Set-Cookie`` and no ``Vary: Cookie``
    (which Flask-Login's after-request hook would otherwise cause by looking
    into the session), whoever is logged in elsewhere.
    """

    def open_session(self, app, request):
        if request.path.startswith(STOREFRONT_PATHS):
            return self.make_null_session(app)
        return super().open_session(app, request)
