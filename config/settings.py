"""Settings, all read from the environment (twelve-factor).

Every variable has a development default so that a fresh clone runs with no
configuration: SQLite in ``var/``, and the Redis that ``run.py`` embeds when
``REDIS_URL`` is not set.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import env, versions
from config.env import (
    env_bool,
    env_days,
    env_int,
    env_list,
    env_parts,
    env_proxy_header,
    env_rate,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("INGEST_VAR_DIR", BASE_DIR / "var"))

DEBUG = env_bool("DEBUG", True)

# The parts of the web tier that lean on private Django, DRF and psycopg APIs
# for speed, each listed in docs/internals.md with what it relies on and what
# it buys (bench/internals.py): "all" (the default), "none" (stock Django:
# get_asgi_application(), plain querysets, the ORM's writes, DRF's throttles
# on Django's Redis cache), or a comma-separated list of these parts:
PRIVATE_API_PARTS = env.PRIVATE_API_PARTS
PRIVATE_APIS = env_parts("PRIVATE_APIS")
versions.check(PRIVATE_APIS)  # refuses untested versions of what those parts rely on
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: the development key is refused when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])


# HTTPS. With DEBUG off every default is the safe one (HTTPS only, HSTS for a
# year, secure cookies); each can be set from the environment. Behind a
# TLS-terminating proxy set SECURE_PROXY_SSL_HEADER to the header it sets,
# and only then: trusted without such a proxy, the header could be forged.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers probe these over plain HTTP: they answer without a redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_PROXY_SSL_HEADER = env_proxy_header("SECURE_PROXY_SSL_HEADER")

INSTALLED_APPS = [
    "config.admin_site.IngestAdminConfig",  # django.contrib.admin, see there
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_rq",
    "django_htmx",
    "jobs",
    "ingest",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the query: a NUL in it is a 400, not a 500.
    "config.middleware.QueryCharacters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "ingest.context_processors.dashboard",
            ],
        },
    },
]

# Database. The worker keeps everything about the job row (heartbeat, progress,
# the cancel check, transitions) on a second connection in autocommit, so a
# file's write transaction on "default" never holds a lock an API request waits
# on, and a cancel committed by the API is seen at once.
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
_default_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_default_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # SQLite allows one writer: wait for the lock rather than fail at once, and
    # use WAL so readers (the cancel check) never block on the writer.
    _default_db["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    _default_db["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
# A pool of open connections, for the web processes (config/asgi.py turns it
# on there). Under ASGI a request runs its sync code on a thread taken for it,
# and threads come and go with the load (config/asgi.py), so CONN_MAX_AGE's
# per-thread connections would leak with the threads that stop; without
# either, every request paid a new PostgreSQL connection
# (see bench/api_latency.py). Off elsewhere: the rqworker forks a work
# horse per job, and a pool's sockets and threads must not cross a fork.
DATABASE_POOL = env_bool("DATABASE_POOL", False)
if DATABASE_POOL and _default_db["ENGINE"] == "django.db.backends.postgresql":
    _default_db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 8),
        "timeout": 10,
    }
# Server-side prepared statements: psycopg prepares a statement on a
# connection once it has run DATABASE_PREPARE_THRESHOLD times there, and
# PostgreSQL then skips parsing and planning it again. Every hot read is the
# same SQL each time (ingest.prepared; bench.api_latency). It needs server-side
# parameter binding, on everywhere so that the tests run the SQL production
# runs. "off" for a pooler that cannot keep a session's statements (PgBouncer
# in transaction mode before 1.21).
DATABASE_PREPARE_THRESHOLD = (
    None
    if os.environ.get("DATABASE_PREPARE_THRESHOLD") == "off"
    else env_int("DATABASE_PREPARE_THRESHOLD", 5)
)
if _default_db["ENGINE"] == "django.db.backends.postgresql":
    _options = _default_db.setdefault("OPTIONS", {})
    # No JIT: it compiles any query the planner thinks costly, and a search
    # estimated on a large table spent longer compiling than searching
    # (bench.api_latency's search phases).
    _options.setdefault("options", "-c jit=off")
    _options.setdefault("server_side_binding", True)
    _options.setdefault("prepare_threshold", DATABASE_PREPARE_THRESHOLD)
JOB_STATE_DB = "jobstate"
DATABASES = {
    "default": _default_db,
    JOB_STATE_DB: {**_default_db, "TEST": {**_default_db.get("TEST", {}), "MIRROR": "default"}},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# django-axes first (it refuses a locked-out login before any password is
# checked), then Django's backend, refusing the demo login when DEBUG is off.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "config.auth.DemoAwareBackend"]
# Failed logins on the dashboard's and the admin's forms: after
# LOGIN_FAILURE_LIMIT failures for one username from one address, that pair is
# locked out for LOGIN_LOCKOUT_MINUTES (429). Per pair, so that nobody can
# lock another person out from elsewhere; the address is the connection's own
# (REMOTE_ADDR), never a forwarded header a client could forge.
AXES_ENABLED = env_bool("LOGIN_LOCKOUT", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
LOGIN_URL = "ingest:login"
LOGIN_REDIRECT_URL = "ingest:project-list"
LOGOUT_REDIRECT_URL = "ingest:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# Uploads stream to temporary files on disk, never whole into memory; on
# object storage they stream to the bucket, one multipart part at a time.
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
FILE_UPLOAD_HANDLERS = ["ingest.upload_handlers.LimitedUploadHandler"]
MEDIA_ROOT = Path(os.environ.get("INGEST_UPLOAD_DIR", VAR_DIR / "uploads"))
INGEST_UPLOAD_STORAGE = os.environ.get("INGEST_UPLOAD_STORAGE", "local").strip().lower() or "local"
if INGEST_UPLOAD_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured(
        f"INGEST_UPLOAD_STORAGE must be local or s3, not {INGEST_UPLOAD_STORAGE!r}."
    )
# django-storages' own settings, read by its S3Storage (AWS S3, MinIO, Ceph, R2).
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None
AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID") or None
AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY") or None
AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME") or None
AWS_DEFAULT_ACL = None
AWS_S3_FILE_OVERWRITE = False
if INGEST_UPLOAD_STORAGE == "s3":
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("INGEST_UPLOAD_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    STORAGES = {
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

# Redis: the queue and live events. The job row in the database is the source
# of truth, so losing Redis loses no job state.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {"ingest": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 24 * 3600}}
RQ = {"WORKER_CLASS": "jobs.worker.Worker"}
RQ_SHOW_ADMIN_LINK = True

# Ingest limits and defaults.
INGEST_WORK_DIR = Path(os.environ.get("INGEST_WORK_DIR", VAR_DIR / "work"))
INGEST_MAX_FILE_BYTES = env_int("INGEST_MAX_FILE_BYTES", 200 * 1024 * 1024)
INGEST_MAX_FILES = env_int("INGEST_MAX_FILES", 100)
# Django's own count of a request's file parts stops parsing past it. The
# upload handler refuses the file after INGEST_MAX_FILES first, with the
# product's sentence (ingest.upload_handlers); this one more is the backstop
# for parts it never sees (a file named "." or "..").
DATA_UPLOAD_MAX_NUMBER_FILES = INGEST_MAX_FILES + 1
INGEST_MAX_TOTAL_BYTES = env_int("INGEST_MAX_TOTAL_BYTES", 1024 * 1024 * 1024)
# No request's body may be larger: the largest upload and its form's own
# parts. Refused before Django reads it to disk (config.bodies).
INGEST_MAX_REQUEST_BYTES = env_int(
    "INGEST_MAX_REQUEST_BYTES", INGEST_MAX_TOTAL_BYTES + 8 * 1024 * 1024
)
INGEST_MAX_MEMBERS = env_int("INGEST_MAX_MEMBERS", 10_000)  # files in one zip or message
# /mcp/ takes files inline in JSON, held in memory while a call is read:
# larger uploads belong on the API's streamed multipart.
INGEST_MCP_MAX_BODY_BYTES = env_int("INGEST_MCP_MAX_BODY_BYTES", 16 * 1024 * 1024)
# What reading one PDF or Office file may add to a work horse's memory; past
# it, that file fails and the next is read (ingest.pipeline.isolation). 0: unbounded.
INGEST_READ_MEMORY_MB = env_int("INGEST_READ_MEMORY_MB", 1024)
# Live event streams one user may hold open in one web process; 0: unbounded.
INGEST_MAX_STREAMS_PER_USER = env_int("INGEST_MAX_STREAMS_PER_USER", 8)
INGEST_CHUNK_SIZE = env_int("INGEST_CHUNK_SIZE", 1000)
INGEST_CHUNK_OVERLAP = env_int("INGEST_CHUNK_OVERLAP", 100)
INGEST_CANCEL_GRACE_SECONDS = env_int("INGEST_CANCEL_GRACE_SECONDS", 10)
INGEST_HEARTBEAT_TIMEOUT_SECONDS = env_int("INGEST_HEARTBEAT_TIMEOUT_SECONDS", 30)
INGEST_JOB_TIMEOUT_SECONDS = env_int("INGEST_JOB_TIMEOUT_SECONDS", 24 * 3600)
# The reaper purges soft-deleted jobs this many days after their deletion;
# an empty value leaves them until someone purges them.
INGEST_PURGE_AFTER_DAYS = env_days("INGEST_PURGE_AFTER_DAYS", 30)
# When set, GET /metrics asks for "Authorization: Bearer <this token>".
INGEST_METRICS_TOKEN = os.environ.get("INGEST_METRICS_TOKEN", "")


# The API's rate limits are counted in Redis, shared by every web process
# (ingest/api/throttling.py); a Redis slower than TIMEOUT seconds is skipped.
API_THROTTLE_REDIS = {"URL": REDIS_URL, "KEY_PREFIX": "throttle", "TIMEOUT": 0.5}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Where DRF's own throttles count, with PRIVATE_APIS off for "throttle".
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": API_THROTTLE_REDIS["KEY_PREFIX"],
        "TIMEOUT": None,
        "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    },
}
_THROTTLES = (
    "ingest.api.throttling" if "throttle" in PRIVATE_APIS else "ingest.api.stock_throttling"
)

# The API has one version. drf-spectacular's schema view takes ?version= only
# when DRF's ALLOWED_VERSIONS lists it, and put any other value into the
# schema's info and its Content-Disposition file name as sent.
API_VERSION = "1.0.0"
REST_FRAMEWORK = {
    "ALLOWED_VERSIONS": [API_VERSION],
    # A caller's address is REMOTE_ADDR, which the web server sets from
    # X-Forwarded-For only when the request comes from a proxy it was told to
    # trust (FORWARDED_ALLOW_IPS, see the Procfile). DRF's default (None)
    # would read the header from anyone, so a caller could pick its address.
    "NUM_PROXIES": 0,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "ingest.api.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "ingest.api.pagination.PageNumbers",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ingest.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        f"{_THROTTLES}.AnonRateThrottle",
        f"{_THROTTLES}.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("API_THROTTLE_ANON", "60/minute"),
        "user": env_rate("API_THROTTLE_USER", "1200/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ingest jobs API",
    "DESCRIPTION": "Upload documents, follow their ingestion, cancel, clean up and delete jobs.",
    "VERSION": API_VERSION,
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets are called "status": each gets a stable name of its own.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.JobStatus",
        "FileResultStatusEnum": "ingest.results.FILE_STATES",
        "MemberResultStatusEnum": "ingest.results.MEMBER_STATES",
        "JobActionEnum": "ingest.actions.ACTIONS",
    },
    # The schema describes the API; the schema endpoint itself is not part of it.
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",  # the default hook, kept
        "ingest.api.schema.closed_request_bodies",
    ],
    # Swagger UI's script and styles from the app's own static files, not a
    # CDN: the API docs work offline and behind a strict firewall.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOG_FORMAT = os.environ.get("LOG_FORMAT", "logfmt")
if LOG_FORMAT not in ("logfmt", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be logfmt or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"job_context": {"()": "jobs.logs.ContextFilter"}},
    "formatters": {
        "logfmt": {"()": "jobs.logs.LogfmtFormatter"},
        "json": {"()": "jobs.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["job_context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every login at INFO; its lockouts are warnings.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
