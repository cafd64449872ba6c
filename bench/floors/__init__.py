"""The floors the runtime fetch is measured against (docs/performance.md). Each module is a
bare Django project of its own (it configures settings on import): import only
bench.floors itself from the product's process."""

# The product floor's audit chain (bench/floors/product.py, seeded by bench/load.py): far from
# any deployment's id (a deployment's chain is its id), so its events never join one.
FLOOR_CHAIN = 10**15


def configure(urlconf: str, *, database: bool = True) -> None:
    """A floor's settings: a bare Django project (no middleware, no apps), serving `urlconf`,
    with the database of BENCH_FLOOR_DATABASE_URL kept open as the app keeps its own (no health
    check: that is the app's choice), and behind PgBouncer (DATABASE_BEHIND_PGBOUNCER=true)
    preparing nothing, as the app's settings do."""
    import os
    from urllib.parse import urlsplit

    from django.conf import settings

    databases = {}
    if database:
        url = urlsplit(os.environ["BENCH_FLOOR_DATABASE_URL"])
        behind_pgbouncer = os.environ.get("DATABASE_BEHIND_PGBOUNCER") == "true"
        databases["default"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/"),
            "USER": url.username or "",
            "PASSWORD": url.password or "",
            "HOST": url.hostname or "",
            "PORT": url.port or "",
            "CONN_MAX_AGE": 60,
            "OPTIONS": {"prepare_threshold": None} if behind_pgbouncer else {},
        }
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-floor-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=urlconf,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES=databases,
        USE_TZ=True,
    )
