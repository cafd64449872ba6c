from __future__ import annotations

import sys

from django.test import RequestFactory
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
