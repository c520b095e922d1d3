"""Dukaan: a do-it-yourself online store for small merchants."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from apiflask import APIFlask
from flask import Flask, request
from jinja2 import MemcachedBytecodeCache

from .ops.requests import MATCHED

ROOT = Path(__file__).resolve().parent.parent

# No inline script or style anywhere. Images may also be data: URLs, which
# cannot run script: Pico CSS draws its form icons with them.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


class _CompiledTemplates(dict):
    """Templates compiled once per process, for every app in it (the tests make hundreds):
    the dict Jinja's memcached bytecode cache writes to. Jinja checks each entry
    against its template's source, so an edited template is compiled again."""

    def set(self, key: str, value: bytes, timeout: int | None = None) -> None:
        self[key] = value


JINJA_OPTIONS = {
    "trim_blocks": True,
    "lstrip_blocks": True,
    "bytecode_cache": MemcachedBytecodeCache(_CompiledTemplates()),
}


class Dukaan(APIFlask):
    """APIFlask, remembering which of its functions are coroutines.

    Flask asks ``ensure_sync`` about every hook and view it calls, on every request, and
    each answer inspects the function anew (seven times a request on the lightest route);
    none of ours is a coroutine, and a function does not become one later."""

    def __init__(self, *args, **kwargs) -> None:
        self._synced: dict = {}
        super().__init__(*args, **kwargs)

    def ensure_sync(self, func):
        try:
            return self._synced[func]
        except KeyError:
            return self._synced.setdefault(func, super().ensure_sync(func))

    def do_teardown_request(self, *exc) -> None:
        """Flask's, after leaving in the environ what the request matched (its rule and the
        URL's values), for the middlewares around Flask (dukaan.ops.requests): Flask takes
        the request itself out of the environ when its context ends."""
        answered = request._get_current_object()
        answered.environ[MATCHED] = (answered.url_rule, answered.view_args)
        super().do_teardown_request(*exc)


def create_app(config: object | None = None) -> Flask:
    """Build the app from ``config`` (default: the one the environment names)."""
    # APIFlask is Flask plus the OpenAPI document of the API blueprint (dukaan.api); its JSON
    # errors are off so that the HTML site keeps its error pages (dukaan.errors), and its
    # docs page is the API's own (a strict CSP allows no inline script).
    app = Dukaan(
        __name__,
        title="Dukaan customer API",
        version="1",
        spec_path="/api/v1/openapi.json",
        docs_path=None,
        docs_oauth2_redirect_path=None,
        json_errors=False,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.jinja_options = {**app.jinja_options, **JINJA_OPTIONS}
    if config is None:
        from config import from_environment

        config = from_environment()
    app.config.from_object(config)
    register_logging(app, getattr(config, "WARNINGS", ()))
    register_proxy(app)
    register_headers(app)
    register_extensions(app)
    register_blueprints(app)
    register_api(app)
    register_errorhandlers(app)
    register_templates(app)
    register_static_versions(app)
    register_health(app)
    register_observability(app)
    register_commands(app)
    return app


def register_logging(app: Flask, warnings) -> None:
    from .ops import logs

    logs.register(app, warnings)


def register_proxy(app: Flask) -> None:
    """Trust ``X-Forwarded-*`` from exactly ``PROXY_COUNT`` proxies (nginx: 1)."""
    hops = int(app.config.get("PROXY_COUNT", 0))
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)


def register_static_versions(app: Flask) -> None:
    """Give static URLs a content hash (``?v=…``) so a deploy busts long-lived caches."""
    import hashlib

    versions: dict[str, str] = {}

    def version_of(filename: str) -> str | None:
        if filename not in versions:
            path = Path(app.static_folder) / filename
            try:
                versions[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            except OSError:
                return None
        return versions[filename]

    @app.url_defaults
    def static_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values:
            version = version_of(values.get("filename", ""))
            if version:
                values["v"] = version


def register_extensions(app: Flask) -> None:
    from flask_login import current_user

    from . import accounts, jobs, media, replica, storefront_cache
    from .extensions import cache, csrf, db, limiter, login, migrate
    from .models.common import SIDE, check_on_checkout, side_bind
    from .models.prepared import send_prepared
    from .sessions import SessionInterface

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if (side := side_bind(app.config["SQLALCHEMY_DATABASE_URI"])) is not None:
        app.config["SQLALCHEMY_BINDS"] = {**(app.config.get("SQLALCHEMY_BINDS") or {}), SIDE: side}
    db.init_app(app)
    with app.app_context():  # no pool_pre_ping: a system call instead of a round trip
        for engine in db.engines.values():
            check_on_checkout(engine)
            if app.config["DATABASE_PREPARED_STATEMENTS"]:
                send_prepared(engine)
    replica.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    _guard_request_bodies(app, csrf)
    cache.init_app(app)
    limiter.init_app(app)
    _limit_only_where_limits_are(app, limiter)
    # Flask-Login's own context processor loads the user for every template,
    # which would cost the cached storefront a query; a lazy proxy does not.
    login.init_app(app, add_context_processor=False)
    _hooks_only_on(app, login, SESSION_BLUEPRINTS)
    app.context_processor(lambda: {"current_user": current_user})
    login.login_view = "auth.login"
    login.login_message = "Log in to see your store."
    login.login_message_category = "info"
    login.user_loader(accounts.session_vendor)
    storefront_cache.init_app(app)
    jobs.init_app(app)
    media.init_app(app)
    app.session_interface = SessionInterface()


# The blueprints whose routes carry rate limits (login and sign-up; the API's sign-up and token).
LIMITED_BLUEPRINTS = ("auth", "api")
# The blueprints that log vendors in and out or show them their store: the rest of the app
# opens no session (dukaan.sessions.SESSIONLESS) and so has no remember cookie to update.
SESSION_BLUEPRINTS = ("auth", "dashboard")


def _hooks_only_on(app: Flask, extension, blueprints, before: bool = False) -> None:
    """Move ``extension``'s app-wide after-request and teardown hooks (and, with ``before``,
    its before-request hooks) to ``blueprints``; without ``before`` its before-request hooks go."""
    def its_own(hook) -> bool:
        owner = getattr(hook, "__self__", None) or (hook.args[0] if isinstance(hook, partial) else None)
        return owner is extension

    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        moved = [hook for hook in hooks.get(None, []) if its_own(hook)]
        hooks[None] = [hook for hook in hooks.get(None, []) if not its_own(hook)]
        if hooks is not app.before_request_funcs or before:
            for blueprint in blueprints:
                hooks.setdefault(blueprint, []).extend(moved)


def _limit_only_where_limits_are(app: Flask, limiter) -> None:
    """Flask-Limiter hooks every request of the app. Only routes it decorates have limits, and
    its decorator checks them itself: its headers and clean-up move to those routes'
    blueprints, and its check for app-wide limits goes while there are none (35 µs a request)."""
    if any(app.config.get(name) for name in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION")):
        return  # limits on every route: every request is checked
    _hooks_only_on(app, limiter, LIMITED_BLUEPRINTS)


def _guard_request_bodies(app: Flask, csrf) -> None:
    """One before-request hook for what only a request with a body needs: a photo upload's
    larger limit (before the form is read), then the CSRF check. A GET returns at once.
    Flask-WTF's own hook looks up the view's exemptions on every request before it looks at
    the method (``WTF_CSRF_CHECK_DEFAULT`` off is Flask-WTF's way to bring one's own hook);
    this one runs the same check."""
    from .dashboard.photos import upload_limit

    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    theirs = "CSRFProtect.init_app.<locals>.csrf_protect"  # now returns at once: it goes
    app.before_request_funcs[None] = [hook for hook in app.before_request_funcs.get(None, [])
                                      if getattr(hook, "__qualname__", "") != theirs]
    unsafe = app.config["WTF_CSRF_METHODS"]

    @app.before_request
    def guard_body() -> None:
        if request.method not in unsafe:
            return
        limit = upload_limit()
        if limit is not None:
            request.max_content_length = limit
        if app.config["WTF_CSRF_ENABLED"]:
            csrf.protect(apply_exemptions=True)


def register_blueprints(app: Flask) -> None:
    from .auth import bp as auth_bp
    from .dashboard import bp as dashboard_bp
    from .storefront import bp as storefront_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp, url_prefix="/dashboard")
    app.register_blueprint(storefront_bp)


def register_api(app: Flask) -> None:
    from . import api

    api.register(app)


def register_errorhandlers(app: Flask) -> None:
    from . import errors

    errors.register(app)


def register_templates(app: Flask) -> None:
    def money(value: Decimal | None) -> str:
        return "" if value is None else f"₹{value:,.2f}"

    from .models import aware

    zone = ZoneInfo(app.config["DISPLAY_TIMEZONE"])

    def local_time(value: datetime, fmt: str = "%d %b, %H:%M") -> str:
        """A stored UTC time as the merchant reads it (their time zone)."""
        return aware(value).astimezone(zone).strftime(fmt)

    from .orders import MAX_QUANTITY
    from .photos import MAX_PHOTOS, Cover
    from .products import MAX_SEARCH, MAX_SEARCH_WORDS

    app.jinja_env.globals.update(MAX_QUANTITY=MAX_QUANTITY, MAX_SEARCH=MAX_SEARCH, MAX_SEARCH_WORDS=MAX_SEARCH_WORDS,
                                 max_photos=MAX_PHOTOS, cover_of=Cover.of)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["local_time"] = local_time


def content_security_policy(media_url: str) -> str:
    """The policy, letting images also come from where photos are served when that is
    another origin (a bucket or a CDN: ``MEDIA_URL``)."""
    from urllib.parse import urlsplit

    media = urlsplit(media_url)
    if not media.scheme or not media.netloc:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", f"img-src 'self' data: {media.scheme}://{media.netloc}")


class SecurityHeaders:
    """The WSGI middleware that adds the headers every response carries, each unless the app
    set its own: a list append as the response starts, where an after-request hook went
    through Werkzeug's header checks on every request. Just outside ProxyFix, whose scheme
    decides HSTS; a response the replay keeps is kept with them."""

    def __init__(self, wsgi_app, always: tuple, secure: tuple) -> None:
        self.wsgi_app = wsgi_app
        self.always = tuple((name.lower(), (name, value)) for name, value in always)
        self.secure = tuple((name.lower(), (name, value)) for name, value in secure)

    def __call__(self, environ, start_response):
        def start(status: str, headers: list, exc_info=None):
            present = {name.lower() for name, _ in headers}
            added = self.secure if environ.get("wsgi.url_scheme") == "https" else self.always
            headers.extend(header for name, header in added if name not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def register_headers(app: Flask) -> None:
    always = (("Content-Security-Policy", content_security_policy(app.config["MEDIA_URL"])),
              ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"))
    secure = (*always, ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    app.wsgi_app = SecurityHeaders(app.wsgi_app, always, secure)


def register_health(app: Flask) -> None:
    from .ops import health

    health.register(app)


def register_observability(app: Flask) -> None:
    """``/metrics``, and each request's id, log line and metrics (``dukaan.ops``)."""
    from .ops import metrics, requests

    metrics.register(app)
    requests.register(app, SESSION_BLUEPRINTS)


def register_commands(app: Flask) -> None:
    from . import cli

    cli.register(app)
