"""The 400/403/404/500 handlers: JSON on /api/ URLs, the site's HTML pages elsewhere."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from project import handlers
from tests.api.openapi_check import validate_schema


def call(handler, path: str):
    request = RequestFactory().get(path)
    if handler is handlers.server_error:
        return handler(request)
    return handler(request, PermissionDenied() if handler is handlers.permission_denied else None)


HANDLERS = [
    (handlers.bad_request, 400, "bad_request"),
    (handlers.permission_denied, 403, "forbidden"),
    (handlers.not_found, 404, "not_found"),
    (handlers.server_error, 500, "server_error"),
]


@pytest.mark.parametrize(("handler", "status", "code"), HANDLERS)
def test_every_handler_answers_json_on_an_api_url(db, handler, status, code):
    response = call(handler, "/api/v1/anything")
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = json.loads(response.content)
    validate_schema(body, "Error")
    assert body["error"]["code"] == code


@pytest.mark.parametrize(("handler", "status", "code"), HANDLERS)
@pytest.mark.parametrize("path", ["/deployments/1/", "/api", "/apiary/"])
def test_every_handler_answers_html_elsewhere(db, handler, status, code, path):
    response = call(handler, path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert b"<" in response.content


def test_a_page_url_that_matches_nothing_is_the_sites_html_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "404.html" in [t.name for t in response.templates]
