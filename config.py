"""Configuration classes. Each reads the environment when it is instantiated.

With nothing set, Dukaan runs on a laptop: SQLite in ``instance/`` and an
in-process cache. ``DATABASE_URL``, ``REDIS_URL`` and ``SECRET_KEY`` move it
onto real servers; ``ProductionConfig`` refuses to start without them.
"""

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

# Short timeouts: a Redis that hangs must cost a request milliseconds, not the
# 5 s redis-py waits by default.
REDIS_SOCKET_OPTIONS = {
    "socket_timeout": 0.25,
    "socket_connect_timeout": 0.25,
    "health_check_interval": 30,
}


class ConfigError(RuntimeError):
    """A setting the app cannot start without is missing or malformed."""


# A secret shorter than this, or with fewer different characters, is guessable.
MIN_SECRET_LENGTH = 32
MIN_SECRET_CHARACTERS = 10
# Words of the placeholders in .env.example, the README and tutorials.
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "example", "placeholder", "dev-only",
                     "replace-me", "your-secret", "not-secret", "insecure")
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_hex(32))'"


def secret_problem(name: str, value: str) -> str | None:
    """Why ``value`` is not fit to be the secret ``name`` in production, or None."""
    lowered = value.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        why = "is a placeholder"
    elif len(value) < MIN_SECRET_LENGTH:
        why = f"is shorter than {MIN_SECRET_LENGTH} characters"
    elif len(set(value)) < MIN_SECRET_CHARACTERS:
        why = "repeats too few characters to be random"
    else:
        return None
    return f"{name} {why}: set it to a long random value, for example the output of {MAKE_A_SECRET}"


def database_url(url: str) -> str:
    """Return ``url`` with the psycopg2 driver made explicit.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` URL to psycopg 3, which we do
    not ship; Heroku-style ``postgres://`` URLs are not recognised at all.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def cart_hold_minutes(value: str) -> int:
    if not value.strip().isascii() or not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"CART_HOLD_MINUTES must be a whole number of minutes, 1 or more (not {value!r})")
    return int(value)


LOG_FORMATS = ("json", "text")
# Loopback and the private ranges: where Prometheus scrapes from.
PRIVATE_NETWORKS = "127.0.0.0/8, ::1/128, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7"


def log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)} (not {value!r})")
    return value


def networks(name: str, value: str) -> str:
    """``value``, a comma-separated list of networks (``10.0.0.0/8, ::1``); ConfigError if one is malformed."""
    import ipaddress

    for part in value.split(","):
        try:
            ipaddress.ip_network(part.strip(), strict=False)
        except ValueError:
            raise ConfigError(f"{name} must list networks such as 10.0.0.0/8, separated by commas "
                              f"(not {part.strip()!r})") from None
    return value


def _integer(env, name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {env[name]!r}") from None


class Config:
    """Settings shared by every environment."""

    def __init__(self) -> None:
        env = os.environ
        self.SECRET_KEY = env.get("SECRET_KEY")
        self.SQLALCHEMY_DATABASE_URI = database_url(env.get("DATABASE_URL", ""))
        self.REDIS_URL = env.get("REDIS_URL", "")
        # A streaming replica for reads that may be a moment old (dukaan.replica); optional.
        self.DATABASE_REPLICA_URL = database_url(env.get("DATABASE_REPLICA_URL", ""))
        if self.DATABASE_REPLICA_URL:
            self.SQLALCHEMY_BINDS = {"replica": {
                "url": self.DATABASE_REPLICA_URL,
                # A replica that does not answer costs a second, then the primary serves.
                "connect_args": {"connect_timeout": 1},
            }}
        # The hot statements prepared once per connection (dukaan.models.prepared); "off" behind a
        # pooler that shares server connections between clients (PgBouncer in transaction mode).
        self.DATABASE_PREPARED_STATEMENTS = env.get("DATABASE_PREPARED_STATEMENTS", "on") != "off"
        # Reads leave a replica further behind than this; each process checks it this often,
        # and a replica that failed is tried again after this long.
        self.REPLICA_MAX_LAG_SECONDS = float(env.get("REPLICA_MAX_LAG_SECONDS", "2"))
        self.REPLICA_CHECK_SECONDS = 0.5
        self.REPLICA_RETRY_SECONDS = 5.0
        # After a write, the writer's reads wait for the replica to have replayed it, for this long.
        self.REPLICA_READ_OWN_WRITES_SECONDS = 60
        # Flask would re-send a permanent session cookie on every response,
        # including the storefront, which must be identical for everyone.
        self.SESSION_REFRESH_EACH_REQUEST = False
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None
        # No request body needs more (nginx refuses over 1 MB too); form fields other than
        # files, at most this much in all (a store page of 5,000 products sends about 70 KB).
        self.MAX_CONTENT_LENGTH = 1024 * 1024
        self.MAX_FORM_MEMORY_SIZE = 256 * 1024
        # A vendor's login ends after this long unused, and after this long in any case
        # (accounts.session_vendor); its last use is written at most this often.
        self.VENDOR_SESSION_IDLE = timedelta(hours=float(env.get("VENDOR_SESSION_IDLE_HOURS", "72")))
        self.VENDOR_SESSION_MAX = timedelta(days=float(env.get("VENDOR_SESSION_MAX_DAYS", "30")))
        self.VENDOR_SESSION_TOUCH = timedelta(minutes=5)
        # A customer's API token (dukaan.customers) ends after this long unused, and this
        # long after it was issued in any case; its last use is written at most this often.
        self.API_TOKEN_IDLE = timedelta(days=float(env.get("API_TOKEN_IDLE_DAYS", "14")))
        self.API_TOKEN_MAX = timedelta(days=float(env.get("API_TOKEN_MAX_DAYS", "90")))
        self.API_TOKEN_TOUCH = timedelta(minutes=5)
        # How long a process sends a product list it read without reading the stock again
        # (dukaan.api.listing); any other change shows at once.
        self.API_PRODUCTS_TRUST_SECONDS = min(float(env.get("API_PRODUCTS_TRUST_SECONDS", "0.5")), 1.0)
        # A request placing an order under an Idempotency-Key that has not finished after this
        # long is presumed dead: a retry with the key takes over (dukaan.api.claims).
        self.API_ORDER_LEASE_SECONDS = float(env.get("API_ORDER_LEASE_SECONDS", "30"))
        # OWASP's minimum for scrypt is N=2^17, r=8, p=1.
        self.PASSWORD_HASH_METHOD = "scrypt:131072:8:1"
        # The store page's caches (dukaan.storefront_cache).
        self.STOREFRONT_CACHE_TIMEOUT = 15 * 60
        # How long a process sends its rendered store page without asking the
        # cache whether the store changed.
        self.STOREFRONT_PAGE_TRUST_SECONDS = min(float(env.get("STOREFRONT_PAGE_TRUST_SECONDS", "0.1")), 0.25)
        # Stores whose whole page each process keeps.
        self.STOREFRONT_MEMO_PAGES = 1000
        # API product lists each process keeps (one per store, query and host).
        self.API_PRODUCTS_MEMO_PAGES = 2000
        # Single flight: while one request loads a missing catalogue, the others
        # poll the cache this often, for at most this long, then load it
        # themselves; a loader that died frees its lock after the last one.
        self.STOREFRONT_FILL_POLL_SECONDS = 0.01
        self.STOREFRONT_FILL_WAIT_SECONDS = 2.0
        self.STOREFRONT_FILL_LOCK_SECONDS = 5
        # A link with no store behind it is remembered this long.
        self.STOREFRONT_MISSING_STORE_SECONDS = 10
        # A new version the cache refused at commit time is tried again this often.
        self.STOREFRONT_VERSION_RETRY_SECONDS = 1.0
        # nginx's copy is fetched anew right after a change and once more this
        # much later (longer than the trust window above).
        self.SHARED_CACHE_REFRESH_AGAIN_SECONDS = 0.4
        # Jobs run in the web process (dukaan.jobs): on this many threads, with
        # at most this many outstanding.
        self.JOBS_THREADS = 2
        self.JOBS_QUEUE_LIMIT = 10_000
        # Jobs recorded in the outbox go to Celery workers through this broker
        # (RabbitMQ); without one they run in the process (dukaan.jobs).
        self.CELERY_BROKER_URL = env.get("CELERY_BROKER_URL", "")
        # Processes per Celery worker: twice the cores, as jobs wait on SMTP and the database
        # about as long as they compute (8 on 2 cores made the jobs slower, not faster).
        self.CELERY_WORKER_CONCURRENCY = _integer(env, "CELERY_WORKER_CONCURRENCY", 2 * (os.cpu_count() or 1))
        # Publishing to the broker never waits longer than this for a connection.
        self.OUTBOX_PUBLISH_TIMEOUT = 1.0
        # A relay waits this long after a commit for the jobs of the next commits.
        self.OUTBOX_RELAY_DELAY = 0.05
        # After the broker failed, web processes leave the outbox to the sweep this long.
        self.OUTBOX_BROKER_REST_SECONDS = 5.0
        # Beat runs the sweep this often; it hands over entries at least this old.
        self.OUTBOX_SWEEP_SECONDS = float(env.get("OUTBOX_SWEEP_SECONDS", "5"))
        self.OUTBOX_SWEEP_AGE = 2.0
        self.OUTBOX_BATCH = 500
        # Mail over SMTP; with no MAIL_SERVER it is written to the log instead.
        self.MAIL_SERVER = env.get("MAIL_SERVER", "")
        self.MAIL_PORT = _integer(env, "MAIL_PORT", 25)
        self.MAIL_USERNAME = env.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD", "")
        self.MAIL_USE_TLS = env.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes", "on")
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER", "Dukaan <orders@localhost>")
        self.MAIL_TIMEOUT = 10.0
        # A mail claimed this long ago and not marked sent was lost with its sender: send it again.
        self.MAIL_CLAIM_SECONDS = 60.0
        # Links in mail point here: the public address of the dashboard and the store pages.
        self.SITE_URL = env.get("SITE_URL", "http://127.0.0.1:5000").rstrip("/")
        # Off only to measure what the cache saves (the benchmark).
        self.STOREFRONT_CACHE = env.get("STOREFRONT_CACHE", "on") != "off"
        # The shared cache in front of the app (nginx), refreshed after every
        # change a storefront shows: its base URL and the key it honours.
        self.SHARED_CACHE_URL = env.get("SHARED_CACHE_URL", "").rstrip("/")
        self.CACHE_REFRESH_KEY = env.get("CACHE_REFRESH_KEY", "")
        self.CACHE_DEFAULT_TIMEOUT = 15 * 60
        self.CACHE_KEY_PREFIX = env.get("CACHE_KEY_PREFIX", "dukaan:")
        # How many reverse proxies (nginx) stand in front and set X-Forwarded-*.
        self.PROXY_COUNT = int(env.get("PROXY_COUNT", "0"))
        # Order times are stored in UTC and shown in the merchants' zone.
        self.DISPLAY_TIMEZONE = env.get("DISPLAY_TIMEZONE", "Asia/Kolkata")
        # How long a cart holds its units after its last change (a whole number, 1 or more).
        self.CART_HOLD_MINUTES = cart_hold_minutes(env.get("CART_HOLD_MINUTES", "15"))
        # Lapsed carts are kept this long (a customer who comes back sees what they chose),
        # then deleted by a job beat runs this often.
        self.CART_KEEP_HOURS = 24
        self.CART_CLEANUP_SECONDS = 15 * 60
        # Beat asks this often for the vendors' summaries of yesterday (DISPLAY_TIMEZONE's days);
        # each is sent once, so they go out within this long after the merchants' midnight.
        self.DAILY_SUMMARY_CHECK_SECONDS = 60 * 60
        # Product photos (dukaan.photos, dukaan.media). Files live on local disk under MEDIA_ROOT by
        # default, served at MEDIA_URL (by nginx in production, by the app elsewhere), or in an
        # S3-compatible bucket when MEDIA_S3_BUCKET is set (MEDIA_URL then points at the bucket or
        # a CDN in front of it).
        self.MEDIA_ROOT = env.get("MEDIA_ROOT", str(BASE_DIR / "instance" / "media"))
        self.MEDIA_URL = env.get("MEDIA_URL", "/media/")
        self.MEDIA_S3_BUCKET = env.get("MEDIA_S3_BUCKET", "")
        self.MEDIA_S3_ENDPOINT_URL = env.get("MEDIA_S3_ENDPOINT_URL", "") or None
        self.MEDIA_S3_REGION = env.get("MEDIA_S3_REGION", "") or None
        self.MEDIA_S3_PREFIX = env.get("MEDIA_S3_PREFIX", "")
        # The app answers MEDIA_URL itself outside production (a bare gunicorn or `flask run`
        # shows photos); in production nginx (or the bucket) does and the app never serves one.
        self.MEDIA_SERVE = True
        self.ORDERS_PER_PAGE = 50
        self.ORDERS_POLL_SECONDS = 5
        # The log (dukaan.ops.logs): "text" to read on a laptop, "json" (production's default)
        # for one object per line.
        self.LOG_FORMAT = log_format(env.get("LOG_FORMAT", "text"))
        # Off only to measure what the request id, metrics and log line cost (the benchmark).
        self.OBSERVE_REQUESTS = env.get("OBSERVE_REQUESTS", "on") != "off"
        # Who may read /metrics on the app (nginx refuses it to the public in any case):
        # Prometheus on this machine or on the private network.
        self.METRICS_ALLOWED_NETWORKS = networks(
            "METRICS_ALLOWED_NETWORKS", env.get("METRICS_ALLOWED_NETWORKS", PRIVATE_NETWORKS))
        if self.REDIS_URL:
            self.CACHE_TYPE = "RedisCache"
            self.CACHE_REDIS_URL = self.REDIS_URL
            self.CACHE_OPTIONS = dict(REDIS_SOCKET_OPTIONS)
        else:
            self.CACHE_TYPE = "SimpleCache"
        # Attempts at logging in and signing up (Flask-Limiter), counted in Redis so that
        # they hold across processes; each process counts alone while Redis is down.
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.RATELIMIT_STORAGE_OPTIONS = dict(REDIS_SOCKET_OPTIONS) if self.REDIS_URL else {}
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_HEADERS_ENABLED = True
        self.LIMITS_NAMESPACE = f"{self.CACHE_KEY_PREFIX}limits"
        # Failed logins per client address and per account, and sign-ups per client. Mobile
        # carriers put many customers behind one address: the per-account limit does the work.
        self.LOGIN_LIMIT_PER_CLIENT = env.get("LOGIN_LIMIT_PER_CLIENT", "30 per minute")
        self.LOGIN_LIMIT_PER_ACCOUNT = env.get("LOGIN_LIMIT_PER_ACCOUNT", "10 per 15 minutes")
        self.SIGNUP_LIMIT_PER_CLIENT = env.get("SIGNUP_LIMIT_PER_CLIENT", "30 per hour")
        # The API's registrations and token requests per client address (all of them), and
        # failed token requests per account.
        self.API_SIGNUP_LIMIT_PER_CLIENT = env.get("API_SIGNUP_LIMIT_PER_CLIENT", "30 per hour")
        self.API_TOKEN_LIMIT_PER_CLIENT = env.get("API_TOKEN_LIMIT_PER_CLIENT", "30 per minute")
        self.API_TOKEN_LIMIT_PER_ACCOUNT = env.get("API_TOKEN_LIMIT_PER_ACCOUNT", "10 per 15 minutes")


class DevelopmentConfig(Config):
    """A laptop: everything has a default, and the log says so."""

    def __init__(self) -> None:
        super().__init__()
        self.WARNINGS = []
        if not self.SECRET_KEY:
            self.SECRET_KEY = "dev-only-secret-change-me"
            self.WARNINGS.append("SECRET_KEY is not set: using a development secret")
        if not self.SQLALCHEMY_DATABASE_URI:
            path = BASE_DIR / "instance" / "dukaan.sqlite"
            self.SQLALCHEMY_DATABASE_URI = f"sqlite:///{path}"
            self.WARNINGS.append(f"DATABASE_URL is not set: using SQLite at {path}")
        if not self.REDIS_URL:
            self.WARNINGS.append("REDIS_URL is not set: caching in this process only")


class ProductionConfig(Config):
    """A real deployment: secrets and servers come from the environment."""

    def __init__(self) -> None:
        super().__init__()
        missing = [
            name
            for name, value in (
                ("SECRET_KEY", self.SECRET_KEY),
                ("DATABASE_URL", self.SQLALCHEMY_DATABASE_URI),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} must be set in the environment for production"
            )
        if self.SHARED_CACHE_URL and not self.CACHE_REFRESH_KEY:
            raise ConfigError("CACHE_REFRESH_KEY must be set when SHARED_CACHE_URL is")
        # Anyone who can guess the secret key can sign a session cookie; anyone who can
        # guess the refresh key can make nginx fetch pages anew on every request.
        for name in ("SECRET_KEY", "CACHE_REFRESH_KEY"):
            value = getattr(self, name)
            if value and (problem := secret_problem(name, value)):
                raise ConfigError(problem)
        self.SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "1") != "0"
        # nginx serves MEDIA_URL from the media volume (or the bucket does): gunicorn never serves a photo.
        self.MEDIA_SERVE = False
        self.LOG_FORMAT = log_format(os.environ.get("LOG_FORMAT", "json"))


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
}


def from_environment() -> Config:
    """The configuration named by ``DUKAAN_ENV`` (default: development)."""
    name = os.environ.get("DUKAAN_ENV", "development")
    try:
        return CONFIGS[name]()
    except KeyError:
        raise ConfigError(
            f"DUKAAN_ENV={name!r} is not one of {', '.join(sorted(CONFIGS))}"
        ) from None
