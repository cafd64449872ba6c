"""Settings. The environment is read once, here, with typed casts that fail loudly."""

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


class Env(environ.Env):
    """django-environ, strict: a boolean or integer setting that cannot be read stops start-up
    with a message naming it. (django-environ reads `DEBUG=ture` as False and `CONN_MAX_AGE=6O`
    as a bare ValueError quoting the value.) An empty value means unset."""

    TRUE_STRINGS = frozenset({"true", "1", "yes", "on"})
    FALSE_STRINGS = frozenset({"false", "0", "no", "off"})

    def _raw(self, var: str, default: Any) -> str | None:
        """The stripped value, or None when it is unset or empty and there is a default."""
        value = (self.get_value(var, cast=str, default="") or "").strip()
        if not value and default is self.NOTSET:
            raise ImproperlyConfigured(f"Set the {var} environment variable.")
        return value or None

    def bool(self, var: str, default: Any = environ.Env.NOTSET) -> Any:
        raw = self._raw(var, default)
        if raw is None:
            return default
        if raw.lower() in self.TRUE_STRINGS:
            return True
        if raw.lower() in self.FALSE_STRINGS:
            return False
        raise ImproperlyConfigured(
            f"{var} is not a boolean: set it to true or false (1/0, yes/no and on/off also work)."
        )

    def int(self, var: str, default: Any = environ.Env.NOTSET) -> Any:
        raw = self._raw(var, default)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{var} is not a whole number.") from None


env = Env()
# A local `.env` (written by `make run` on first run) fills in what the process
# environment does not set; the process environment always wins.
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (see .env.example); "
            "only DEBUG=true runs without one."
        )
    SECRET_KEY = "insecure-local-development-only"

ENCRYPTION_KEYS = env.str("ENCRYPTION_KEYS", default="")
if not ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "ENCRYPTION_KEYS is not set: variables and secrets cannot be stored without it. "
        "Set it to a comma-separated list of id:base64key (32-byte keys); see .env.example."
    )
# Parse now so that a malformed keyring or a key of the wrong length stops start-up.
from environments.crypto import Keyring, KeyringError  # noqa: E402

try:
    Keyring.parse(ENCRYPTION_KEYS) if ENCRYPTION_KEYS else None
except KeyringError as exc:
    raise ImproperlyConfigured(f"ENCRYPTION_KEYS is invalid: {exc}") from None

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "environments",
    "axes",
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The runtime fetch (a bearer-token endpoint hit by whole fleets at boot) skips the rest.
    "environments.api.runtime.RuntimeFetchMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as axes asks: it turns a locked login's response into the lock page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # The web front door's template tags: Django finds an app's libraries in
            # `<app>/templatetags/` only, and they live in environments/web/.
            "libraries": {
                "keys": "environments.web.templatetags.keys",
                "flash": "environments.web.templatetags.flash",
                "times": "environments.web.templatetags.times",
            },
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / '.data' / 'db.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASE_BEHIND_PGBOUNCER = env.bool("DATABASE_BEHIND_PGBOUNCER", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / ".data").mkdir(exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction mode (README, "Production"), a server connection serves
    # one transaction of one client at a time: no server-side cursor may outlive a
    # transaction, and no statement may be prepared on a connection the next transaction
    # may not get (PgBouncer before 1.21 does not track prepared statements).
    if DATABASE_BEHIND_PGBOUNCER:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None

# The cache: Redis when REDIS_URL is set (shared by every app server: the API rate limits count
# there), else local memory, per process (each process then counts on its own).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://.")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "miosa",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# API rate limits per token, in requests a minute (SPEC §12); 0 means no limit. Runtime tokens
# have none by default: a whole fleet booting at once shares one token. A user's personal tokens
# together also share a budget (default: twice a token's), so more tokens are not more requests.
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=1200)
API_RATE_LIMIT_PER_USER_PER_MINUTE = env.int(
    "API_RATE_LIMIT_PER_USER_PER_MINUTE", default=2 * API_RATE_LIMIT_PER_MINUTE
)
RUNTIME_RATE_LIMIT_PER_MINUTE = env.int("RUNTIME_RATE_LIMIT_PER_MINUTE", default=0)
for _name in (
    "API_RATE_LIMIT_PER_MINUTE",
    "API_RATE_LIMIT_PER_USER_PER_MINUTE",
    "RUNTIME_RATE_LIMIT_PER_MINUTE",
):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} is a number of requests a minute, 0 for no limit.")

# Data services (SPEC §13): each PostgreSQL login role's connection limit, and the prefix of
# every name MIOSA makes on a data server (databases, roles, ACL users, buckets).
DATA_POSTGRES_CONNECTION_LIMIT = env.int("DATA_POSTGRES_CONNECTION_LIMIT", default=20)
DATA_SERVICE_NAME_PREFIX = env.str("DATA_SERVICE_NAME_PREFIX", default="miosa")
if DATA_POSTGRES_CONNECTION_LIMIT < 1:
    raise ImproperlyConfigured("DATA_POSTGRES_CONNECTION_LIMIT is a number of connections, >= 1.")
if not re.fullmatch(r"[a-z0-9]+([_-][a-z0-9]+)*", DATA_SERVICE_NAME_PREFIX):
    raise ImproperlyConfigured(
        "DATA_SERVICE_NAME_PREFIX is lower-case letters and digits joined by _ or -."
    )

# Rotation of data services' credentials (SPEC §14): instances seen within the window count
# toward convergence; the old Postgres login's sessions are ended this long after its
# revocation; a rotation still converging this long after it started is stuck (nothing is
# revoked; an admin forces or cancels). ROTATION_CHECK_SECONDS: how often a converging
# rotation counts again.
ROTATION_INSTANCE_WINDOW_SECONDS = env.int("ROTATION_INSTANCE_WINDOW_SECONDS", default=900)
ROTATION_DRAIN_SECONDS = env.int("ROTATION_DRAIN_SECONDS", default=60)
ROTATION_REVOKE_AFTER_HOURS = env.float("ROTATION_REVOKE_AFTER_HOURS", default=24.0)
ROTATION_CHECK_SECONDS = env.float("ROTATION_CHECK_SECONDS", default=15.0)
for _name in (
    "ROTATION_INSTANCE_WINDOW_SECONDS",
    "ROTATION_DRAIN_SECONDS",
    "ROTATION_REVOKE_AFTER_HOURS",
    "ROTATION_CHECK_SECONDS",
):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} is a duration, >= 0.")

# CI's OIDC exchange (SPEC §16): a trust policy's jwks_url must be https://, except an
# http:// loopback address when this is true (tests serve their issuer's keys on 127.0.0.1).
OIDC_ALLOW_INSECURE_JWKS = env.bool("OIDC_ALLOW_INSECURE_JWKS", default=False)
# Webhooks (SPEC §17): how long a delivery may take, the first retry's delay (doubling, with
# jitter, up to a day), and whether receivers on private networks (loopback, RFC 1918,
# link-local, metadata) or on plain http:// are allowed (tests and local development only).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
if not 0 < WEBHOOK_TIMEOUT_SECONDS <= 60:
    raise ImproperlyConfigured("WEBHOOK_TIMEOUT_SECONDS is a number of seconds, above 0, <= 60.")
if not 0 < WEBHOOK_RETRY_BASE_SECONDS <= 3600:
    raise ImproperlyConfigured("WEBHOOK_RETRY_BASE_SECONDS is a number of seconds, 0 to 3600.")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2 first (SPEC §12); the PBKDF2 hashers stay so older hashes still verify, and Django
# rehashes them with Argon2 at the next successful login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Axes' backend first: it refuses a locked login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Login throttling (SPEC §12), for the login page and the Django admin's: failures are counted in
# the database (axes' database handler), so every app server sees the same count and lock. Five
# failures for one username from one address, or thirty from one address, within 15 minutes lock
# that pair (or address) for 15 minutes from the failure that set the lock; attempts meanwhile,
# the right password included, get the lock page (429) and neither count nor extend the lock.
# `manage.py axes_reset` (or axes_reset_username, axes_reset_ip) clears locks.
LOGIN_FAILURE_LIMIT_PER_USERNAME_AND_IP = 5
LOGIN_FAILURE_LIMIT_PER_IP = 30
AXES_HANDLER = "environments.login_throttle.LoginThrottleHandler"
# In this order: the handler reads the pair's count first, then the address's.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT_PER_IP
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The address the audit log records (it honours TRUSTED_PROXY_HOPS).
AXES_CLIENT_IP_CALLABLE = "environments.actors.client_ip"
AXES_USERNAME_CALLABLE = "environments.login_throttle.attempted_username"
AXES_LOCKOUT_CALLABLE = "environments.login_throttle.lockout_response"
# Successful logins are not logged twice; failed and locked ones are audited (auth_audit.py).
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # no start-up line in every management command's output

# Background work (data services, rotation, webhooks) runs on Django's Tasks framework with a
# database-backed queue; `manage.py db_worker` is the worker (`make run` starts one).
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "deployment_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "staticfiles"
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
WHITENOISE_USE_FINDERS = DEBUG

# Request bodies: the API refuses anything over 1 MiB with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# Security. Secure-by-default; local development over plain HTTP relaxes only the
# transport-bound settings.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# How many proxies (load balancers) in front of the app servers append to X-Forwarded-For;
# the audit log records the client address the outermost one saw. 0: use the TCP peer.
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Email (invitations), as Django's MAILERS. EMAIL_URL (smtp://, smtp+tls://, smtp+ssl://)
# wins; else SMTP to EMAIL_HOST with EMAIL_PORT/USER/PASSWORD/USE_TLS. With DEBUG and neither
# set, the console (the message, link included, is printed: local development only). A send
# that fails keeps the invitation and shows its link to the inviter.
EMAIL_URL = env.str("EMAIL_URL", default="")
_email_host = env.str("EMAIL_HOST", default="")
_email_options = {
    "host": _email_host or "localhost",
    "port": env.int("EMAIL_PORT", default=587),
    "username": env.str("EMAIL_HOST_USER", default=""),
    "password": env.str("EMAIL_HOST_PASSWORD", default=""),
    "use_tls": env.bool("EMAIL_USE_TLS", default=True),
    "timeout": env.int("EMAIL_TIMEOUT", default=10),
}
if EMAIL_URL:
    _parsed = Env.email_url_config(EMAIL_URL)
    if _parsed["EMAIL_BACKEND"] != "django.core.mail.backends.smtp.EmailBackend":
        raise ImproperlyConfigured("EMAIL_URL must be an smtp://, smtp+tls:// or smtp+ssl:// URL.")
    _email_options |= {
        "host": _parsed["EMAIL_HOST"],
        "port": _parsed.get("EMAIL_PORT") or 25,
        "username": _parsed.get("EMAIL_HOST_USER") or "",
        "password": _parsed.get("EMAIL_HOST_PASSWORD") or "",
        "use_tls": bool(_parsed.get("EMAIL_USE_TLS")),
        "use_ssl": bool(_parsed.get("EMAIL_USE_SSL")),
    }
if EMAIL_URL or _email_host or not DEBUG:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": _email_options,
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="MIOSA Environments <noreply@localhost>")

DEFAULT_EXCEPTION_REPORTER_FILTER = "project.reporting.NoValuesExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Request bodies never reach the log: Django's request logger logs only the path.
        "django.request": {"level": "ERROR"},
        # SQL logging would print ciphertexts as query parameters: never, whatever LOG_LEVEL says.
        "django.db.backends": {"level": "WARNING", "propagate": False, "handlers": ["console"]},
    },
}
