"""Settings, all read from the environment (twelve-factor).

Every variable has a development default so that a fresh clone runs with no
configuration: SQLite in ``var/``, and the Redis that ``run.py`` embeds when
``REDIS_URL`` is not set.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("INGEST_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: the development key is refused when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_rq",
    "django_htmx",
    "jobs",
    "ingest",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
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
LOGIN_URL = "ingest:login"
LOGIN_REDIRECT_URL = "ingest:project-list"
LOGOUT_REDIRECT_URL = "ingest:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# Uploads stream to temporary files on disk, never whole into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
FILE_UPLOAD_HANDLERS = ["ingest.uploads.LimitedUploadHandler"]
DATA_UPLOAD_MAX_NUMBER_FILES = 10_000
MEDIA_ROOT = Path(os.environ.get("INGEST_UPLOAD_DIR", VAR_DIR / "uploads"))

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
INGEST_MAX_TOTAL_BYTES = env_int("INGEST_MAX_TOTAL_BYTES", 1024 * 1024 * 1024)
INGEST_CHUNK_SIZE = env_int("INGEST_CHUNK_SIZE", 1000)
INGEST_CHUNK_OVERLAP = env_int("INGEST_CHUNK_OVERLAP", 100)
INGEST_CANCEL_GRACE_SECONDS = env_int("INGEST_CANCEL_GRACE_SECONDS", 10)
INGEST_HEARTBEAT_TIMEOUT_SECONDS = env_int("INGEST_HEARTBEAT_TIMEOUT_SECONDS", 30)
INGEST_JOB_TIMEOUT_SECONDS = env_int("INGEST_JOB_TIMEOUT_SECONDS", 24 * 3600)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "ingest.api.pagination.PageNumbers",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ingest.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ingest jobs API",
    "DESCRIPTION": "Upload documents, follow their ingestion, cancel, clean up and delete jobs.",
    "VERSION": "1.0.0",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema describes the API; the schema endpoint itself is not part of it.
    "SERVE_INCLUDE_SCHEMA": False,
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
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
