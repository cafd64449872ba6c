"""The 400/403/404/500 handlers: JSON on /api/ URLs, the site's HTML pages elsewhere."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from project import handlers
from tests.api.openapi_check import validate_schema


def call(handler, path: str):
    # PATH_INFO as a server passes it on (RequestFactory would read "//api/…" as a host).
    request = RequestFactory().get("/", PATH_INFO=path)
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


# Every spelling of the /api/ prefix a client or proxy may send: doubled slashes, any case.
API_SPELLINGS = [
    "//api/v1/runtime/env",
    "///api/v1/deployments",
    "/API/v1/runtime/env",
    "/Api/v1/deployments",
    "/api//v1/deployments",
    "//API/v1/tokens",
]


@pytest.mark.parametrize(("handler", "status", "code"), HANDLERS)
@pytest.mark.parametrize("path", API_SPELLINGS)
def test_every_handler_answers_json_on_any_spelling_of_the_api_prefix(
    db, handler, status, code, path
):
    response = call(handler, path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"]["code"] == code


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "HEAD"])
@pytest.mark.parametrize("path", API_SPELLINGS)
def test_an_unmatched_api_spelling_is_a_json_404_through_the_stack(
    client, db, settings, debug, method, path
):
    settings.DEBUG = debug
    # PATH_INFO as a server passes it on (the test client would read "//api" as a host).
    response = client.generic(method, "/", PATH_INFO=path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    if method != "HEAD":
        body = json.loads(response.content)
        validate_schema(body, "Error")
        assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/apiary/", "/API", "/no-such-page/"])
def test_other_pages_stay_html(client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
