"""Settings for loancrm. Everything a deployment changes comes from the environment (see README)."""

import os
import secrets
import time
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

# The address customers reach this server at: links in SMS/e-mail notices (upload, survey) start with it.
PUBLIC_BASE_URL = os.environ.get("LOANCRM_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

# onnxruntime (the offline OCR) reports telemetry unless told not to: this product never calls out.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("LOANCRM_DATA_DIR", "./var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_from_env_or_file(env_name: str, filename: str, nbytes: int = 50) -> str:
    """A key from the environment, else one generated once and kept (0600) in the data dir."""
    value = os.environ.get(env_name)
    if value:
        return value
    path = DATA_DIR / filename
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(nbytes))
    for _attempt in range(50):  # the other process may still be writing
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"{path} is empty")


SECRET_KEY = _secret_from_env_or_file("LOANCRM_SECRET_KEY", "secret_key")
DEBUG = os.environ.get("LOANCRM_DEBUG", "") == "1"
ALLOWED_HOSTS = [
    h for h in os.environ.get("LOANCRM_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("LOANCRM_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_filters",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "huey.contrib.djhuey",
    "simple_history",
    "loancrm.core",
    "loancrm.accounts",
    "loancrm.audit",
    "loancrm.dictionaries",
    "loancrm.customers",
    "loancrm.imports",
    "loancrm.exports",
    "loancrm.intake",
    "loancrm.loans",
    "loancrm.notifications",
    "loancrm.rules",
    "loancrm.reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "loancrm.accounts.middleware.IdleTimeoutMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "loancrm.audit.middleware.RequestContextMiddleware",
    "loancrm.accounts.middleware.TwoFactorMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "loancrm.urls"
WSGI_APPLICATION = "loancrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "loancrm.core.context_processors.navigation",
            ],
        },
    },
]

# SQLite by default (zero set-up); PostgreSQL when DATABASE_URL is set.
_sqlite_path = DATA_DIR / "loancrm.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{_sqlite_path}", conn_max_age=int(os.environ.get("LOANCRM_CONN_MAX_AGE", "60"))
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Persistent connections: opening SQLite and running the PRAGMAs on every request costs ~2 ms.
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers and one writer work at once; IMMEDIATE avoids lock-upgrade deadlocks.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:workbench"
LOGOUT_REDIRECT_URL = "accounts:login"

# Account lock: 5 wrong passwords lock the account (by username, from any IP) for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("LOANCRM_LOCK_FAILURES", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("LOANCRM_LOCK_MINUTES", "15")) / 60
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "loancrm.accounts.views.locked_out"
AXES_VERBOSE = False
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# The account itself is locked, whichever IP the guesses come from (seed 000/003: protect the account).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# Idle timeout: the session ends after N minutes without a request.
SESSION_IDLE_MINUTES = int(os.environ.get("LOANCRM_SESSION_IDLE_MINUTES", "30"))
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = False  # IdleTimeoutMiddleware refreshes the expiry once a minute instead
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = os.environ.get("LOANCRM_HTTPS", "") == "1"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

OTP_TOTP_ISSUER = "loancrm"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["loancrm.formats"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Private files (attachments, exports, backups) live here, outside any served root.
PRIVATE_FILES_DIR = DATA_DIR / "files"

REST_FRAMEWORK = {
    # Token first so that an anonymous API call answers 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "loancrm.core.api.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "loancrm.core.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "EXCEPTION_HANDLER": "loancrm.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "loancrm API",
    "DESCRIPTION": "助贷客户管理系统 API. Authenticate with `Authorization: Token <token>` "
    "(obtain one at POST /api/v1/auth/token/).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema describes the API, not data; clients need it before they hold a token.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {"DeliveryStatusEnum": "loancrm.notifications.models.DeliveryStatus"},
}

# Background jobs: Huey on SQLite in the data dir, or Redis when REDIS_URL is set.
_redis_url = os.environ.get("REDIS_URL")
if _redis_url:
    HUEY = {"huey_class": "huey.RedisHuey", "name": "loancrm", "url": _redis_url, "immediate": False}
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "loancrm",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": False,
    }

# E-mail: SMTP when LOANCRM_EMAIL_HOST is set, else files in <data dir>/mail (the demo reads them there).
EMAIL_HOST = os.environ.get("LOANCRM_EMAIL_HOST", "")
EMAIL_PORT = int(
    os.environ.get("LOANCRM_EMAIL_PORT", "465" if os.environ.get("LOANCRM_EMAIL_SSL") == "1" else "25")
)
EMAIL_HOST_USER = os.environ.get("LOANCRM_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("LOANCRM_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("LOANCRM_EMAIL_TLS", "") == "1"
EMAIL_USE_SSL = os.environ.get("LOANCRM_EMAIL_SSL", "") == "1"
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = os.environ.get("LOANCRM_EMAIL_FROM", "loancrm@localhost")
EMAIL_BACKEND = os.environ.get(
    "LOANCRM_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = DATA_DIR / "mail"

# SMS: "dev" records messages in <data dir>/sms/outbox.jsonl; "aliyun" sends through Alibaba Cloud.
LOANCRM_SMS = {
    "backend": os.environ.get("LOANCRM_SMS_BACKEND", "dev"),
    "access_key_id": os.environ.get("LOANCRM_SMS_ACCESS_KEY_ID", ""),
    "access_key_secret": os.environ.get("LOANCRM_SMS_ACCESS_KEY_SECRET", ""),
    "sign_name": os.environ.get("LOANCRM_SMS_SIGN_NAME", ""),
    "endpoint": os.environ.get("LOANCRM_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com/"),
}
# WeCom group robots live at this address; a rule's webhook must start with one of these prefixes.
LOANCRM_WECOM_WEBHOOK_PREFIXES = [
    p
    for p in os.environ.get(
        "LOANCRM_WECOM_WEBHOOK_PREFIXES", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    ).split(",")
    if p
]
# Customer messages wait out the quiet hours (default 21:00–08:00, local time).
LOANCRM_QUIET_HOURS = os.environ.get("LOANCRM_QUIET_HOURS", "21:00-08:00")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOANCRM_LOG_LEVEL", "WARNING")},
}
