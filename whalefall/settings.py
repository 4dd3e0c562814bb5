"""Django settings for WhaleFall, read from the environment (django-environ).

Every knob is an environment variable documented in `.env.example`. Defaults are safe for a
developer laptop (SQLite, console logs); production sets DEBUG=false and must then provide a real
SECRET_KEY and WHALEFALL_ENCRYPTION_KEY (see whalefall/checks.py).
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-dev-only-key-change-me" if DEBUG else "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "whalefall.adminsite.WhaleFallAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_apscheduler",
    "whalefall.apps.WhaleFallConfig",
    "accounts_sync.apps.AccountsSyncConfig",
    "capacity.apps.CapacityConfig",
    "scheduling.apps.SchedulingConfig",
]
# The admin home's blocks in the order of the work: app labels, and the core's own blocks
# (instances, alerts, sessions; see whalefall.adminsite). Apps not listed follow, by name.
WHALEFALL_ADMIN_ORDER = [
    "instances",
    "accounts_sync",
    "capacity",
    "scheduling",
    "django_apscheduler",
    "alerts",
    "sessions",
    "auth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whalefall.middleware.VisibleControlCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The page language: the one chosen in the admin header (a cookie), else the browser's
    # Accept-Language, else LANGUAGE_CODE. Where Django requires it: after the session, before
    # CommonMiddleware (whose redirects must already speak that language).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "whalefall.urls"
WSGI_APPLICATION = "whalefall.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Metadata database -------------------------------------------------------------------------
DATABASES = {
    "default": environ.Env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions + a busy timeout: the parallel sync workers (one connection
    # each) then wait for each other instead of failing with "database is locked". Pages are
    # read through a 256 MB memory map (the OS page cache, shared by every connection, instead
    # of a read() and a copy per page) with a 16 MB cache per connection: the nightly
    # aggregation walks 10^5 size rows and thousands of index pages of a history that SQLite's
    # default 2 MB cache cannot hold (a third of its time).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                " PRAGMA cache_size=-16384; PRAGMA mmap_size=268435456;"
            ),
        }
    )
    # A file, not :memory:, so worker threads in tests share the database like in production.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("TEST_SQLITE_NAME", default=str(BASE_DIR / ".test-db.sqlite3"))
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_whalefall")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The language of pages for a browser that asks for none we offer, and of everything written
# outside a web request: alert messages, scheduler output. A browser asking for Chinese
# (Accept-Language) or a choice in the admin header overrides it per user.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en-us")
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# Dates and times as ISO 8601, 24-hour, in TIME_ZONE, whatever the language (whalefall/formats).
FORMAT_MODULE_PATH = ["whalefall.formats"]

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

# --- Production hardening (checked by `manage.py check --deploy`) -------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts only from our own static files, no plugins, no
# framing, forms post only to us. Inline style attributes stay allowed: the admin and the
# server-side SVG charts use them, and without scripts they cannot run code.
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- WhaleFall -----------------------------------------------------------------------------------
# Fernet keys (urlsafe base64, 32 bytes), comma-separated; the first encrypts, all decrypt, so a
# key can be rotated by prepending the new one. Required when DEBUG is off.
WHALEFALL_ENCRYPTION_KEYS = env.list("WHALEFALL_ENCRYPTION_KEY", default=[])
# Development only (DEBUG on, no key above): a random key generated once and kept beside the
# SQLite database, mode 0600. Without SQLite there is no such place and a key must be set.
WHALEFALL_DEV_KEY_FILE = env.str(
    "WHALEFALL_DEV_KEY_FILE",
    default=str(Path(DATABASES["default"]["NAME"]).parent / "whalefall-dev-encryption.key")
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    else "",
)
WHALEFALL_CONNECT_TIMEOUT = env.int("WHALEFALL_CONNECT_TIMEOUT", default=10)
WHALEFALL_STATEMENT_TIMEOUT = env.int("WHALEFALL_STATEMENT_TIMEOUT", default=60)
WHALEFALL_SYNC_POOL_SIZE = env.int("WHALEFALL_SYNC_POOL_SIZE", default=4)
WHALEFALL_RETRY_ATTEMPTS = env.int("WHALEFALL_RETRY_ATTEMPTS", default=3)
WHALEFALL_RETRY_DELAYS = [float(d) for d in env.list("WHALEFALL_RETRY_DELAYS", default=["2", "4", "8"])]
WHALEFALL_LOCK_TTL = env.int("WHALEFALL_LOCK_TTL", default=30 * 60)
WHALEFALL_RETENTION_DAYS = env.int("WHALEFALL_RETENTION_DAYS", default=90)
# Account change history is audit data: kept much longer than run records.
WHALEFALL_CHANGELOG_RETENTION_DAYS = env.int("WHALEFALL_CHANGELOG_RETENTION_DAYS", default=730)
WHALEFALL_SCHEDULER_LEASE_SECONDS = env.int("WHALEFALL_SCHEDULER_LEASE_SECONDS", default=30)
# A relative path is taken from the project directory.
WHALEFALL_SCHEDULER_TASKS_FILE = str(
    BASE_DIR / env.str("WHALEFALL_SCHEDULER_TASKS_FILE", default="scheduling/scheduler_tasks.yaml")
)

# --- Alerts: e-mail through Django's mail framework, webhooks with a bounded timeout -------------
# EMAIL_URL: smtp://user:password@host:587/?tls=True, smtp+ssl://..., or consolemail:// (default).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="whalefall@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
WHALEFALL_ALERT_TIMEOUT = env.int("WHALEFALL_ALERT_TIMEOUT", default=10)

# --- Logging (structlog; see whalefall/structured_logging.py) -----------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="console" if DEBUG else "json")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")

from whalefall.structured_logging import build_logging_config  # noqa: E402

LOGGING = build_logging_config(LOG_FORMAT, LOG_LEVEL)
