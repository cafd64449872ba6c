"""Validate a real API response against the OpenAPI document it is served with."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.urls import Resolver404, resolve
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from environments.api.openapi import DOCUMENT
from tests.api.endpoints import TEMPLATES

ROOT = "urn:miosa-openapi"
REGISTRY = Registry().with_resource(
    ROOT, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _validate(instance, pointer: str) -> None:
    Draft202012Validator({"$ref": f"{ROOT}#/{pointer}"}, registry=REGISTRY).validate(instance)


def validate_schema(instance, name: str) -> None:
    _validate(instance, _pointer("components", "schemas", name))


def operation_for(path: str, method: str) -> tuple[str, dict] | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    template = TEMPLATES.get(match.url_name)
    if template is None:
        return None
    operation = DOCUMENT["paths"][template].get(method.lower())
    return (template, operation) if operation else None


def check_response(response: HttpResponse, method: str) -> None:
    """Fail unless the response is documented: its status, its media type and its body."""
    path = response.request["PATH_INFO"]
    found = operation_for(path, method)
    if method == "HEAD":
        # Whatever the status, HEAD answers without a body.
        assert response.content == b""
    if found is None:
        if method == "HEAD":
            assert response.status_code in (400, 404, 405), response.status_code
            return
        # Unknown URL (404) or undocumented method (405; 400 first if a token is in the URL,
        # as on every endpoint): the generic JSON error.
        body = json.loads(response.content)
        assert response["Content-Type"] == "application/json"
        validate_schema(body, "Error")
        if response.status_code == 400:
            assert body["error"]["code"] == "token_in_query"
        else:
            assert response.status_code in (404, 405), response.status_code
        return
    template, operation = found
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method} {template} answered {status}, which the document does not list"
    )
    documented = operation["responses"][status]
    pointer = _pointer("paths", template, method.lower(), "responses", status)
    if "$ref" in documented:
        pointer = documented["$ref"].removeprefix("#/")
        documented = DOCUMENT
        for part in pointer.split("/"):
            documented = documented[part.replace("~1", "/").replace("~0", "~")]
    content = documented.get("content")
    if not content:
        assert response.content == b"", f"{status} has a body the document does not describe"
        return
    media_type = response["Content-Type"].split(";")[0].strip()
    assert media_type in content, f"{status} answered {media_type}, not documented"
    if media_type == "application/json":
        _validate(json.loads(response.content), f"{pointer}/content/{_pointer(media_type)}/schema")
    else:
        response.content.decode("utf-8")
