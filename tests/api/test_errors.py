"""Errors answer JSON on every /api/ URL, never Django's HTML pages, and never leak detail."""

from __future__ import annotations

import logging

import pytest
from django.test import Client, override_settings

from environments import selectors
from tests.api.openapi_check import validate_schema
from tests.conftest import CANARY


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v2/deployments",
        "/api/v1/deployments/",
        "/api/v1/deployments/abc/env",
        "/api/v1/deployments/1/env/",
        "/api/v1/runtime/env/extra",
        "/api/",
    ],
)
def test_an_unknown_api_url_is_a_json_404(client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
    validate_schema(response.json(), "Error")


@override_settings(DEBUG=True)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v1/nope/",
        "/api/v1/deployments/",
        "/api/v1/runtime/env/x",
        "/api/v2/x",
        "/api/",
    ],
)
def test_an_unknown_api_url_is_a_json_404_even_under_debug(db, method, path):
    # Under DEBUG Django would answer its HTML 404 page, and APPEND_SLASH would redirect.
    response = Client(enforce_csrf_checks=True).generic(method, path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    validate_schema(response.json(), "Error")


def test_a_wrong_method_is_a_json_405_with_allow(api, db):
    response = api.request("PATCH", "/api/v1/runtime/env")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, HEAD"  # HEAD answers as GET (SPEC §11)


def test_an_unexpected_error_in_an_endpoint_is_a_json_500_without_detail(
    api, role_token, monkeypatch, caplog
):
    raw = role_token("owner")

    def explode(user):
        raise RuntimeError(f"boom {CANARY}")

    monkeypatch.setattr(selectors, "deployments_for_user", explode)
    with caplog.at_level(logging.DEBUG):
        response = api.get("/api/v1/deployments", token=raw)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "server_error"
    assert CANARY.encode() not in response.content and b"boom" not in response.content
    # Logged for the operator by type and frames; the message (which may quote a value) is not.
    assert "RuntimeError" in caplog.text and "deployments_for_user" in caplog.text
    assert CANARY not in caplog.text


@override_settings(ROOT_URLCONF="tests.api.broken_urls")
def test_an_error_outside_the_api_views_is_still_a_json_500(db):
    response = Client(raise_request_exception=False).get("/api/v1/explode")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b"kaboom" not in response.content
    validate_schema(response.json(), "Error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/deployments"),
        ("POST", "/api/v1/deployments/1/env"),
        ("DELETE", "/api/v1/deployments/1/env/K"),
        ("GET", "/api/v1/runtime/env"),
    ],
)
def test_every_error_body_is_json_and_no_store(api, db, method, path):
    response = api.request(method, path, json={})
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"


def test_too_many_query_parameters_is_a_json_400(api, role_token):
    params = "&".join(f"a{i}=1" for i in range(1100))
    response = api.get(f"/api/v1/deployments?{params}", token=role_token("owner"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    validate_schema(response.json(), "Error")


def test_a_bad_host_header_on_an_api_url_is_a_json_400(db):
    response = Client().get("/api/v1/deployments", HTTP_HOST="evil.example.net")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    validate_schema(response.json(), "Error")


def test_a_bad_host_header_on_a_page_is_not_json(db):
    response = Client().get("/login/", HTTP_HOST="evil.example.net")
    assert response.status_code == 400
    assert response["Content-Type"] != "application/json"


def test_a_token_in_the_query_of_an_unknown_api_url_is_still_400(client, db):
    response = client.get("/api/v1/nope", {"token": "mio_pat_abc"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_in_query"


ODD_PATHS = [
    "/api/v1/x%0A",
    "/api/v1/x%0a/deployments",
    "/api/v1/deployments%0D%0A",
    "/api/v1/x%00",
    "/api/v1/%E2%80%AEunicode-%C3%BC",
    "/api/v1/x%FF",
    "/api/%0A",
]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ODD_PATHS)
def test_an_api_url_with_a_newline_nul_or_unicode_is_a_json_404(db, settings, debug, path):
    # `.*` stops at a newline: a catch-all written `^api/(?P<path>.*)$` let these through to
    # Django's HTML 404 page under DEBUG.
    settings.DEBUG = debug
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    validate_schema(response.json(), "Error")
