from __future__ import annotations

import sys

import pytest
from django.conf import settings
from django.test import Client, RequestFactory, override_settings
from django.views.debug import ExceptionReporter

from project.reporting import NoValuesExceptionReporterFilter, mask_credentials
from tests.conftest import CANARY


def test_error_reports_mask_every_local_and_post_field(settings):
    settings.DEBUG = True
    request = RequestFactory().post("/x", {"value": CANARY, "key": "API_URL"})

    def fails(value: str) -> None:
        raise ValueError("boom")

    try:
        fails(CANARY)
    except ValueError:
        reporter = ExceptionReporter(request, *sys.exc_info())
    html = reporter.get_traceback_html()
    text = reporter.get_traceback_text()
    assert "boom" in text
    assert CANARY not in html and CANARY not in text


SENSITIVE_META = {
    "DATABASE_URL": f"postgres://app:{CANARY}@db.internal:5432/shop",
    "REDIS_URL": f"redis://:{CANARY}@cache:6379/0",
    "database_host": f"{CANARY}.internal",
    "ENCRYPTION_KEYS": f"k1:{CANARY}",
    "GITHUB_TOKEN": CANARY,
    "db_password": CANARY,
    "AWS_SECRET_ACCESS_KEY": CANARY,
    "HTTP_AUTHORIZATION": f"Bearer {CANARY}",
    "HTTP_COOKIE": f"sessionid={CANARY}",
}


def report(request) -> tuple[str, str]:
    def fails() -> None:
        raise ValueError("boom")

    try:
        fails()
    except ValueError:
        reporter = ExceptionReporter(request, *sys.exc_info())
    return reporter.get_traceback_html(), reporter.get_traceback_text()


def test_error_reports_mask_environment_style_entries_of_the_request_meta(settings):
    settings.DEBUG = True
    request = RequestFactory().get("/x", HTTP_USER_AGENT="shown-agent/1.0", **SENSITIVE_META)
    html, text = report(request)
    assert CANARY not in html and CANARY not in text
    # The rest of META is still there to debug with, and the masked names are listed.
    for page in (html, text):
        assert "shown-agent/1.0" in page
        assert "DATABASE_URL" in page and "GITHUB_TOKEN" in page


def test_error_reports_mask_every_entry_from_the_process_environment(settings, monkeypatch):
    # The development server copies the process environment into META, whatever the names.
    settings.DEBUG = True
    monkeypatch.setenv("SENTRY_ENDPOINT", CANARY)
    request = RequestFactory().get("/x", SENTRY_ENDPOINT=CANARY)
    html, text = report(request)
    assert "SENTRY_ENDPOINT" in text
    assert CANARY not in html and CANARY not in text


@override_settings(ROOT_URLCONF="tests.api.broken_urls", DEBUG=True)
def test_the_debug_500_page_does_not_show_the_database_url(db):
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/explode", **SENSITIVE_META)
    assert response.status_code == 500
    assert b"kaboom" in response.content  # the DEBUG page indeed
    assert b"DATABASE_URL" in response.content
    assert CANARY.encode() not in response.content


# Settings on the DEBUG pages: Django hides settings by name (KEY, TOKEN, PASS…), not URLs with
# credentials in them, wherever they sit (REDIS_URL, CACHES' LOCATION, a DSN in a list).
CANARY_SETTINGS = {
    "REDIS_URL": f"redis://:{CANARY}@cache.internal:6379/0",
    "CACHES": {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"redis://miosa:{CANARY}@cache.internal:6379/0",
        }
    },
    "DATABASE_URL": f"postgres://app:{CANARY}@db.internal:5432/shop",
    "REPLICA_DATABASES": [
        {"HOST": "replica.internal", "DSN": f"host=replica user=app password={CANARY}"},
        (f"postgresql://app:{CANARY}@replica-2.internal/shop", "spare"),
    ],
    "BROKER": f"amqp://guest:{CANARY}@rabbit.internal:5672//",
    "CACHE_WITH_QUERY": f"redis://cache.internal:6379/0?password={CANARY}&db=1",
    "WEBHOOK_ENDPOINT": f"https://{CANARY}@hooks.example/x",
}


@override_settings(DEBUG=True, ALLOWED_HOSTS=["testserver"], **CANARY_SETTINGS)
def test_the_debug_400_page_for_a_foreign_host_shows_no_url_password(db):
    client = Client(raise_request_exception=False)
    for path in ("/", "/api/v1/deployments", "/account/tokens/"):
        response = client.get(path, HTTP_HOST="attacker.example")
        assert response.status_code == 400
        page = response.content.decode()
        assert "DisallowedHost" in page and "REDIS_URL" in page  # the technical page indeed
        assert CANARY not in page
        # What the URLs point at is still there to debug with.
        assert "cache.internal:6379" in page and "db.internal:5432/shop" in page


@override_settings(DEBUG=True, **CANARY_SETTINGS)
def test_settings_in_error_reports_keep_urls_but_not_their_credentials():
    html, text = report(RequestFactory().get("/x"))
    for page in (html, text):
        assert CANARY not in page
    safe = NoValuesExceptionReporterFilter().get_safe_settings()
    assert safe["REDIS_URL"] == "redis://:********************@cache.internal:6379/0"
    assert safe["DATABASE_URL"] == "postgres://app:********************@db.internal:5432/shop"
    assert safe["CACHES"]["default"]["LOCATION"].startswith("redis://miosa:*")
    assert safe["WEBHOOK_ENDPOINT"] == "https://********************@hooks.example/x"
    assert safe["REPLICA_DATABASES"][0]["HOST"] == "replica.internal"
    # URLs without credentials are untouched.
    assert safe["STATIC_URL"] == settings.STATIC_URL


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgres://app:p@ss/w,rd@db:5432/shop", "postgres://app:***@db:5432/shop"),
        ("https://ghp_token@github.com/x.git", "https://***@github.com/x.git"),
        ("rediss://cache:6379/0?password=pw&db=1", "rediss://cache:6379/0?password=***&db=1"),
        (
            "host=db user=app password=pw sslmode=require",
            "host=db user=app password=*** sslmode=require",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("mailto:ops@example.com", "mailto:ops@example.com"),
    ],
)
def test_mask_credentials(text, masked):
    assert mask_credentials(text, "***") == masked
