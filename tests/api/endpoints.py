"""The API's endpoints, in one place: read from the URL resolver (environments/api/urls.py) and
the OpenAPI document, never copied by hand. A new endpoint is in every test that iterates
these as soon as it has a URL and a documented operation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern

from environments.api import urls
from environments.api.openapi import DOCUMENT

PREFIX = "/api/v1"
# A value for each path parameter, for tests that only need a well-formed URL.
EXAMPLE_ARGUMENTS = {
    "deployment_id": "{id}",
    "key": "API_URL",
    "name": "preview/pr-42",
    "binding_id": "1",
    "hostname": "a.example",
    "token_id": "1",
    "service_id": "1",
    "rotation_id": "1",
    "policy_id": "1",
    "group": "common",
    "webhook_id": "1",
    "delivery_id": "1",
    "cid": "1",
}
# The query string an operation needs to get past its own checks to the body.
EXAMPLE_QUERIES = {"environment": "staging"}


def template_of(pattern: URLPattern) -> str:
    """deployments/<int:deployment_id>/env/<str:key> -> /deployments/{deployment_id}/env/{key}"""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))


# url name -> the document's path template.
TEMPLATES: dict[str, str] = {
    pattern.name: template_of(pattern)
    for pattern in urls.urlpatterns
    if isinstance(pattern, URLPattern)
}
VIEWS: dict[str, Any] = {
    template_of(pattern): pattern.callback
    for pattern in urls.urlpatterns
    if isinstance(pattern, URLPattern)
}


@dataclass(frozen=True)
class Operation:
    method: str  # GET, POST…
    template: str  # /deployments/{deployment_id}/env
    spec: dict[str, Any]  # the document's operation

    @property
    def public(self) -> bool:
        return self.spec.get("security") == []

    @property
    def runtime(self) -> bool:
        return self.spec.get("security") == [{"runtimeToken": []}]

    @property
    def personal(self) -> bool:
        return not (self.public or self.runtime)

    @property
    def on_deployment(self) -> bool:
        return self.template.startswith("/deployments/{deployment_id}")

    def path(self, **arguments: Any) -> str:
        """The URL (without query string), with example arguments unless given."""
        values = {**EXAMPLE_ARGUMENTS, **{k: str(v) for k, v in arguments.items()}}
        return PREFIX + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], self.template)

    def query(self) -> str:
        """?environment=staging when the operation requires the parameter."""
        required = [
            parameter["name"]
            for parameter in self.spec.get("parameters", [])
            if parameter["in"] == "query" and parameter.get("required")
        ]
        return "".join(
            f"{'&' if i else '?'}{name}={EXAMPLE_QUERIES[name]}" for i, name in enumerate(required)
        )

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


OPERATIONS: list[Operation] = [
    Operation(method.upper(), template, spec)
    for template, item in DOCUMENT["paths"].items()
    for method, spec in item.items()
    if method != "parameters"
]
# What most access tests iterate: HEAD is GET without a body.
WITHOUT_HEAD = [operation for operation in OPERATIONS if operation.method != "HEAD"]
PERSONAL = [operation for operation in WITHOUT_HEAD if operation.personal]
ON_DEPLOYMENT = [operation for operation in PERSONAL if operation.on_deployment]
