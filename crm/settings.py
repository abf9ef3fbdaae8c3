"""Settings, all read from the environment (and a .env file beside manage.py, if there is one).

.env.example lists every variable. Without DATABASE_URL the CRM runs on a SQLite file; without
REDIS_URL Celery runs tasks eagerly in-process and the cache lives in local memory.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (see .env.example)."
        )
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "django_htmx",
    "import_export",
    "django_celery_beat",
    "phonenumber_field",
    "axes",
    "django_countries",
    "crm",
    "core",
    "customers",
    "loyalty",
    "segments",
    "communications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"

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
                "crm.context_processors.crm",
            ],
        },
    },
]

WSGI_APPLICATION = "crm.wsgi.application"

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if env.str("DATABASE_TEST_NAME", default=""):
    # Separate test databases for test runs that share one server at the same time.
    DATABASES["default"]["TEST"] = {"NAME": env.str("DATABASE_TEST_NAME")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Failed logins are counted first (django-axes), then users are checked against the database.
# core.auth is Django's ModelBackend reading a user's permissions in the same query as the user.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "core.auth.PermissionsInOneQueryBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="crm@localhost")

# Security: strict unless DEBUG; behind a TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
if env.bool("DJANGO_SECURE_PROXY_SSL", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
X_FRAME_OPTIONS = "DENY"

# Celery: Redis when REDIS_URL is set, otherwise tasks run eagerly in the calling process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=15 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=20 * 60)
CELERY_TASK_ACKS_LATE = True
# A task whose pool process dies (killed, out of memory) goes back to the queue instead of being
# acknowledged as failed; its tasks are safe to run twice.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis hands a message that was delivered but never acknowledged (its whole worker was killed)
# to a worker again after this many seconds. It must stay above the longest task time limit
# (loyalty's nightly tasks, 65 minutes), or a task still running would be delivered a second
# time; the check crm.W001 says so when it is not.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60)
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

PHONENUMBER_DEFAULT_REGION = env.str("CRM_PHONE_REGION", default="US")
PHONENUMBER_DB_FORMAT = "E164"

# The CRM's own settings.
CRM_CURRENCY = env.str("CRM_CURRENCY", default="USD")
CRM_NAME = env.str("CRM_NAME", default="Retail CRM")
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
# Lists count their matches up to this many and then say "1,000+" (core/paginators.py): a count
# to the end of a search matching 200,000 customers took hundreds of milliseconds on every page.
CRM_LIST_COUNT_CAP = env.int("CRM_LIST_COUNT_CAP", default=1000)
if CRM_LIST_COUNT_CAP < 1:
    raise ImproperlyConfigured(f"CRM_LIST_COUNT_CAP must be 1 or more, not {CRM_LIST_COUNT_CAP}.")

# A bulk action on a segment's members runs in the request up to this many customers, above it
# in a Celery task with its progress on the segment's page; the task works through the customers
# in batches of this many ids, one transaction each.
CRM_SEGMENT_BULK_INLINE_LIMIT = env.int("CRM_SEGMENT_BULK_INLINE_LIMIT", default=5000)
CRM_SEGMENT_BULK_BATCH = env.int("CRM_SEGMENT_BULK_BATCH", default=50_000)
if CRM_SEGMENT_BULK_BATCH < 1:
    raise ImproperlyConfigured(
        f"CRM_SEGMENT_BULK_BATCH must be 1 or more, not {CRM_SEGMENT_BULK_BATCH}."
    )

# --- Sending, tracking and SMS (communications/backends/, communications/tracking.py;
# docs/communications.md "Backends", "Tracking and unsubscribe", "SMS replies") -----------------
# The address the CRM is reached at from the internet: the links in sent messages (open pixel,
# clicks, unsubscribe) start with it. RFC 8058 one-click unsubscribe needs https.
CRM_PUBLIC_URL = env.str("CRM_PUBLIC_URL", default="http://localhost:8000").rstrip("/")
if not CRM_PUBLIC_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"CRM_PUBLIC_URL must start with http:// or https://, not {CRM_PUBLIC_URL!r}."
    )
# A mailbox for unsubscribe requests by email, offered in the List-Unsubscribe header (optional).
CRM_UNSUBSCRIBE_MAILTO = env.str("CRM_UNSUBSCRIBE_MAILTO", default="")
# A click this many seconds or fewer after a message was sent or delivered is a mail scanner's,
# recorded but not counted.
CRM_CLICK_GRACE_SECONDS = env.int("CRM_CLICK_GRACE_SECONDS", default=10)
if CRM_CLICK_GRACE_SECONDS < 0:
    raise ImproperlyConfigured(
        f"CRM_CLICK_GRACE_SECONDS must be 0 or more, not {CRM_CLICK_GRACE_SECONDS}."
    )
# SMS_BACKEND (above): console, http, or the dotted path of a backend class.
if SMS_BACKEND not in ("console", "http") and "." not in SMS_BACKEND:
    raise ImproperlyConfigured(
        f"SMS_BACKEND must be 'console', 'http' or a dotted path, not {SMS_BACKEND!r}."
    )
# The http SMS backend: POST {"to", "body"} as JSON to this URL with "Authorization: Bearer
# <token>"; the provider's id of the message is read from this key of the JSON reply.
CRM_SMS_HTTP_URL = env.str("CRM_SMS_HTTP_URL", default="")
CRM_SMS_HTTP_TOKEN = env.str("CRM_SMS_HTTP_TOKEN", default="")
CRM_SMS_HTTP_ID_FIELD = env.str("CRM_SMS_HTTP_ID_FIELD", default="id")
CRM_SMS_HTTP_TIMEOUT = env.float("CRM_SMS_HTTP_TIMEOUT", default=10.0)
if SMS_BACKEND == "http" and not CRM_SMS_HTTP_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"SMS_BACKEND=http needs CRM_SMS_HTTP_URL (http:// or https://), not {CRM_SMS_HTTP_URL!r}."
    )
if CRM_SMS_HTTP_TIMEOUT <= 0:
    raise ImproperlyConfigured(
        f"CRM_SMS_HTTP_TIMEOUT must be more than 0 seconds, not {CRM_SMS_HTTP_TIMEOUT}."
    )
# The shared secret the SMS provider sends with each reply (Authorization: Bearer <secret>) to
# /communications/sms/inbound/; blank refuses every reply.
CRM_SMS_WEBHOOK_SECRET = env.str("CRM_SMS_WEBHOOK_SECRET", default="")
# --- End of sending, tracking and SMS ----------------------------------------------------------

# --- Input limits (customers/models.py; docs/architecture.md "Validation") ----------------------
# The longest note body, in characters; a longer one is refused with a message saying the limit.
CRM_NOTE_MAX_LENGTH = env.int("CRM_NOTE_MAX_LENGTH", default=10_000)
# --- End of input limits -------------------------------------------------------------------------

# --- Login throttling (django-axes; docs/operations.md) ------------------------------------------
# After CRM_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that username
# cannot log in from that address (staff login and admin alike) for CRM_LOGIN_COOLOFF_MINUTES,
# counted from the last failure; a successful login starts the count again. Locking the pair, not
# the username alone, keeps a stranger from locking a colleague out, and not the address alone,
# keeps one person's typing from locking out a shop that shares an address.
AXES_ENABLED = True
AXES_FAILURE_LIMIT = env.int("CRM_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("CRM_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Lockouts are logged; the banner at every start of a command is not needed.
AXES_VERBOSE = False
# Behind proxies that set X-Forwarded-For, how many there are: the client's address is read
# from that header instead of from the connection (which would be the proxy's).
CRM_LOGIN_PROXY_COUNT = env.int("CRM_LOGIN_PROXY_COUNT", default=0)
if CRM_LOGIN_PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = CRM_LOGIN_PROXY_COUNT
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
# --- End of login throttling --------------------------------------------------------------------

# --- Nightly analytics (customers/analytics/; docs/analytics.md) ---------------------------------
# Fewer customers with a purchase than this and the run scores with the fallback heuristic.
CRM_ANALYTICS_MIN_CUSTOMERS = env.int("CRM_ANALYTICS_MIN_CUSTOMERS", default=500)
# The churn and spend models are fitted on a random sample of at most this many customers.
CRM_ANALYTICS_FIT_SAMPLE = env.int("CRM_ANALYTICS_FIT_SAMPLE", default=50_000)
# Each run backtests its model on this many days before its as-of date (0: no backtest).
CRM_ANALYTICS_BACKTEST_DAYS = env.int("CRM_ANALYTICS_BACKTEST_DAYS", default=90)
if CRM_ANALYTICS_BACKTEST_DAYS < 0:
    raise ImproperlyConfigured(
        f"CRM_ANALYTICS_BACKTEST_DAYS must be 0 or more, not {CRM_ANALYTICS_BACKTEST_DAYS}."
    )
# PostgreSQL work_mem for the run's one pass over the orders, so its sort stays in memory.
CRM_ANALYTICS_WORK_MEM = env.str("CRM_ANALYTICS_WORK_MEM", default="256MB")
# Seconds without a sign of life (a heartbeat at every step) after which a queued or running run
# counts as abandoned: its worker died. It holds up no new run, which fails it when it starts.
CRM_ANALYTICS_HEARTBEAT_TIMEOUT = env.int("CRM_ANALYTICS_HEARTBEAT_TIMEOUT", default=5 * 60)
# RFM scoring: "quintiles" (cut points from the customers scored) or "fixed" (the thresholds).
CRM_RFM_METHOD = env.str("CRM_RFM_METHOD", default="quintiles")
if CRM_RFM_METHOD not in ("quintiles", "fixed"):
    raise ImproperlyConfigured(
        f"CRM_RFM_METHOD must be 'quintiles' or 'fixed', not {CRM_RFM_METHOD!r}."
    )
# The "fixed" thresholds, from the score-5 boundary down to the score-2 boundary: days since the
# last purchase at or under which, and orders and money spent at or over which, a customer scores
# 5, 4, 3 and 2.
CRM_RFM_THRESHOLDS = {
    "recency": tuple(env.list("CRM_RFM_RECENCY_DAYS", cast=int, default=[30, 60, 90, 180])),
    "frequency": tuple(env.list("CRM_RFM_FREQUENCY_ORDERS", cast=int, default=[10, 7, 4, 2])),
    "monetary": tuple(env.list("CRM_RFM_MONETARY", cast=float, default=[5000, 2500, 1000, 500])),
}
if any(len(thresholds) != 4 for thresholds in CRM_RFM_THRESHOLDS.values()):
    raise ImproperlyConfigured(
        "CRM_RFM_RECENCY_DAYS, CRM_RFM_FREQUENCY_ORDERS and CRM_RFM_MONETARY each list 4 values "
        f"(the boundaries of scores 5, 4, 3 and 2), not {CRM_RFM_THRESHOLDS}."
    )
# --- End of nightly analytics ------------------------------------------------------------------

# --- What a campaign earned (communications/attribution.py; docs/communications.md) -------------
# An order delivered within this many days after a customer clicked a campaign's message (or,
# without a click, after it was sent; for the control group, after the send started) is credited
# to the campaign.
CRM_ATTRIBUTION_DAYS = env.int("CRM_ATTRIBUTION_DAYS", default=5)
if CRM_ATTRIBUTION_DAYS < 1:
    raise ImproperlyConfigured(
        f"CRM_ATTRIBUTION_DAYS must be 1 or more, not {CRM_ATTRIBUTION_DAYS}."
    )
# --- End of what a campaign earned --------------------------------------------------------------

# --- Campaigns (communications/campaigns.py; docs/communications.md "Campaigns") ----------------
# Messages a campaign hands to its channel's backend at a time (one claim, one render, one send).
CRM_CAMPAIGN_BATCH = env.int("CRM_CAMPAIGN_BATCH", default=500)
# The most messages a second one worker sends on each channel; 0 for no limit. A provider's own
# limit (an SMS gateway's messages per second, a mail relay's hourly quota) goes here.
CRM_CAMPAIGN_RATE_LIMITS = {
    "email": env.float("CRM_CAMPAIGN_RATE_EMAIL", default=100.0),
    "sms": env.float("CRM_CAMPAIGN_RATE_SMS", default=10.0),
}
# A temporary error of the backend (a server busy, a connection lost) retries the send after
# CRM_CAMPAIGN_RETRY_BACKOFF seconds, doubling each time, at most CRM_CAMPAIGN_MAX_RETRIES times;
# then the messages left are marked failed.
CRM_CAMPAIGN_MAX_RETRIES = env.int("CRM_CAMPAIGN_MAX_RETRIES", default=5)
CRM_CAMPAIGN_RETRY_BACKOFF = env.int("CRM_CAMPAIGN_RETRY_BACKOFF", default=60)
# Seconds after which a message claimed for sending and still not recorded as sent is known to
# have been interrupted (its worker died): it is marked failed, never sent again. Longer than a
# batch ever takes to send.
CRM_CAMPAIGN_CLAIM_TIMEOUT = env.int("CRM_CAMPAIGN_CLAIM_TIMEOUT", default=10 * 60)
if CRM_CAMPAIGN_BATCH < 1:
    raise ImproperlyConfigured(f"CRM_CAMPAIGN_BATCH must be 1 or more, not {CRM_CAMPAIGN_BATCH}.")
if any(rate < 0 for rate in CRM_CAMPAIGN_RATE_LIMITS.values()):
    raise ImproperlyConfigured(
        "CRM_CAMPAIGN_RATE_EMAIL and CRM_CAMPAIGN_RATE_SMS must be 0 (no limit) or more, "
        f"not {CRM_CAMPAIGN_RATE_LIMITS}."
    )
if CRM_CAMPAIGN_MAX_RETRIES < 0 or CRM_CAMPAIGN_RETRY_BACKOFF < 0 or CRM_CAMPAIGN_CLAIM_TIMEOUT < 0:
    raise ImproperlyConfigured(
        "CRM_CAMPAIGN_MAX_RETRIES, CRM_CAMPAIGN_RETRY_BACKOFF and CRM_CAMPAIGN_CLAIM_TIMEOUT must "
        "be 0 or more."
    )
# --- End of campaigns ---------------------------------------------------------------------------

# --- Exports and big imports (docs/import-export.md) --------------------------------------------
# The admin's export formats: CSV (streamed) and XLSX, every cell that a spreadsheet would run as
# a formula prefixed with ' (core/exports/).
from core.exports.formats import EXPORT_FORMATS  # noqa: E402, F401 - tablib only

# A file with more rows than this is imported by a Celery job (core/jobs/), in batches of
# CRM_IMPORT_JOB_BATCH rows inside one transaction.
CRM_IMPORT_JOB_THRESHOLD = env.int("CRM_IMPORT_JOB_THRESHOLD", default=5000)
CRM_IMPORT_JOB_BATCH = env.int("CRM_IMPORT_JOB_BATCH", default=2000)
if CRM_IMPORT_JOB_THRESHOLD < 0:
    raise ImproperlyConfigured(
        f"CRM_IMPORT_JOB_THRESHOLD must be 0 or more, not {CRM_IMPORT_JOB_THRESHOLD}."
    )
if CRM_IMPORT_JOB_BATCH < 1:
    raise ImproperlyConfigured(
        f"CRM_IMPORT_JOB_BATCH must be 1 or more, not {CRM_IMPORT_JOB_BATCH}."
    )
# --- End of exports and big imports -------------------------------------------------------------

# --- Import and export (docs/import-export.md) ----------------------------------------------------
# Rows written per bulk INSERT/UPDATE of an import (all in one transaction).
CRM_IMPORT_BATCH_SIZE = env.int("CRM_IMPORT_BATCH_SIZE", default=2000)
if CRM_IMPORT_BATCH_SIZE < 1:
    raise ImproperlyConfigured(
        f"CRM_IMPORT_BATCH_SIZE must be 1 or more, not {CRM_IMPORT_BATCH_SIZE}."
    )
# The shop's own date format in imported files, besides ISO (2024-03-31); strftime codes.
CRM_IMPORT_DATE_FORMAT = env.str("CRM_IMPORT_DATE_FORMAT", default="%m/%d/%Y")
if not (
    "%d" in CRM_IMPORT_DATE_FORMAT
    and ("%m" in CRM_IMPORT_DATE_FORMAT or "%b" in CRM_IMPORT_DATE_FORMAT)
    and ("%Y" in CRM_IMPORT_DATE_FORMAT or "%y" in CRM_IMPORT_DATE_FORMAT)
):
    raise ImproperlyConfigured(
        "CRM_IMPORT_DATE_FORMAT must name the day, month and year (such as %d/%m/%Y), "
        f"not {CRM_IMPORT_DATE_FORMAT!r}."
    )
# The longest value one cell of an imported file may hold; a longer one refuses the file.
CRM_IMPORT_MAX_FIELD_LENGTH = env.int("CRM_IMPORT_MAX_FIELD_LENGTH", default=100_000)
if CRM_IMPORT_MAX_FIELD_LENGTH < 1:
    raise ImproperlyConfigured(
        f"CRM_IMPORT_MAX_FIELD_LENGTH must be 1 or more, not {CRM_IMPORT_MAX_FIELD_LENGTH}."
    )
# --- End of import and export -------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_403_traceback": {"()": "core.logging.PermissionDeniedWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers are dropped: its records reach the root's one handler, so an
        # error is written once.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"filters": ["no_403_traceback"]},
    },
}
