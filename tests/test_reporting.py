from __future__ import annotations

import sys

from django.test import Client, RequestFactory, override_settings
from django.views.debug import ExceptionReporter

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
