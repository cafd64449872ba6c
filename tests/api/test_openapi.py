"""GET /api/v1/openapi.json, and the document's honesty: every response it lists is one the
API really gives, and every real response matches it (the `api` fixture checks each one)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from environments import selectors, services
from environments.api import urls as api_urls
from environments.api.openapi import DOCUMENT
from environments.models import ConfigEntry, Variable
from tests.api.openapi_check import TEMPLATES
from tests.api.openapi_lint import lint
from tests.api.ratelimited import hit_every_operation_past_its_limit
from tests.api.test_change_requests_openapi import CHANGE_REQUEST_TEMPLATES
from tests.api.test_data_services_openapi import DATA_SERVICE_TEMPLATES
from tests.api.test_groups import GROUP_TEMPLATES
from tests.api.test_oidc_openapi import OIDC_TEMPLATES
from tests.api.test_openapi_ci import CI_TEMPLATES
from tests.api.test_openapi_tokens import TOKEN_TEMPLATES
from tests.api.test_rotations_openapi import ROTATION_TEMPLATES
from tests.api.test_webhooks_openapi import WEBHOOK_TEMPLATES
from tests.refuse_audit import refuse_audit_writes
from tests.stored import replace_stored


def test_the_document_is_served_as_openapi_3_1(api, db):
    response = api.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "3.1.0"
    assert body == DOCUMENT


def test_the_document_needs_no_token(client, db):
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_the_document_is_valid_openapi_3_1():
    OpenAPIV31SpecValidator(DOCUMENT).validate()


# Warnings of Redocly's recommended set that the document keeps, each with its reason.
ACCEPTED_WARNINGS = {
    # The project has not chosen a licence or a public contact for its API yet.
    ("info-license", "#/info"),
    ("info-contact", "#/info"),
    # A token cannot create tokens: the operation exists only to answer 403 session_required.
    ("operation-2xx-response", "#/paths/~1tokens/post"),
}


def test_the_document_passes_redocly_recommended_lint():
    problems = lint(DOCUMENT)
    assert [str(p) for p in problems if p.severity == "error"] == []
    assert {(p.rule, p.pointer) for p in problems if p.severity == "warn"} == ACCEPTED_WARNINGS


def test_every_schema_is_valid_json_schema():
    for schema in DOCUMENT["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_route_is_documented_and_nothing_else():
    routes = {pattern.name for pattern in api_urls.urlpatterns}
    assert routes == set(TEMPLATES)
    assert set(DOCUMENT["paths"]) == set(TEMPLATES.values())


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves():
    for ref in _refs(DOCUMENT):
        node = DOCUMENT
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def _documented() -> set[tuple[str, str, str]]:
    return {
        (template, method, status)
        for template, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
    }


def test_every_documented_response_is_really_given(
    api, deployment, production, staging, actor, role_token, runtime_token, monkeypatch, settings
):
    """Produce each documented (path, method, status); `api` validates each body."""
    seen: set[tuple[str, str, str]] = set()
    env = f"/api/v1/deployments/{deployment.pk}/env"
    key = f"{env}/API_URL"

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    owner, viewer, developer = role_token("owner"), role_token("viewer"), role_token("developer")
    rt = runtime_token(production)
    one = {"environment": "staging", "key": "API_URL", "value": "https://x"}
    base = f"/api/v1/deployments/{deployment.pk}"
    history, restore = f"{key}/history", f"{key}/restore"
    releases, apply, rollback = f"{base}/releases", f"{base}/apply", f"{base}/rollback"
    required = f"{base}/required-keys"
    for template, method, path in [
        ("/openapi.json", "get", "/api/v1/openapi.json"),
        ("/deployments", "get", "/api/v1/deployments"),
        ("/deployments/{deployment_id}/env", "get", env),
        ("/deployments/{deployment_id}/env", "post", env),
        ("/deployments/{deployment_id}/env/{key}", "delete", key),
        ("/deployments/{deployment_id}/env/{key}/history", "get", history),
        ("/deployments/{deployment_id}/env/{key}/restore", "post", restore),
        ("/deployments/{deployment_id}/releases", "get", releases),
        ("/deployments/{deployment_id}/apply", "post", apply),
        ("/deployments/{deployment_id}/rollback", "post", rollback),
        ("/deployments/{deployment_id}/required-keys", "get", required),
        ("/deployments/{deployment_id}/required-keys", "put", required),
        ("/runtime/env", "get", "/api/v1/runtime/env"),
        ("/runtime/env", "head", "/api/v1/runtime/env"),
        ("/deployments/{deployment_id}/env/import", "post", f"{env}/import"),
    ]:
        hit(template, method, path, params={"token": "x"})  # 400
        if template != "/openapi.json":
            hit(template, method, path, json=one)  # 401
    hit("/openapi.json", "get", "/api/v1/openapi.json")
    hit("/deployments", "get", "/api/v1/deployments", token=viewer)

    t = "/deployments/{deployment_id}/env"
    hit(t, "post", env, token=developer, json=one)  # 201
    hit(t, "post", env, token=developer, json=one)  # 200
    hit(t, "post", env, token=viewer, json=one)  # 403
    hit(t, "post", "/api/v1/deployments/999/env", token=viewer, json=one)  # 404
    hit(t, "post", env, token=developer, json={**one, "key": "S", "is_secret": True})
    hit(t, "post", env, token=developer, json={**one, "key": "S", "is_secret": False})  # 409
    hit(t, "post", env, token=developer, json={**one, "value": "x" * 40_000})  # 413
    hit(t, "post", env, token=developer, body="a=b", content_type="text/plain")  # 415
    hit(t, "get", env, token=viewer)  # 200
    hit(t, "get", env, token=viewer, params={"reveal": "true"})  # 403
    hit(t, "get", env, token=viewer, params={"environment": "qa"})  # 404
    hit(t, "get", env, token=owner, params={"reveal": "true"})

    t = "/deployments/{deployment_id}/env/{key}"
    hit(t, "delete", key, token=developer)  # 400: no environment
    hit(t, "delete", key, token=viewer, params={"environment": "staging"})  # 403
    hit(t, "delete", key, token=developer, params={"environment": "staging"})  # 204
    hit(t, "delete", key, token=developer, params={"environment": "staging"})  # 404

    t = "/runtime/env"
    etag = hit(t, "get", "/api/v1/runtime/env", token=rt)["ETag"]
    hit(t, "get", "/api/v1/runtime/env", token=rt, params={"format": "dotenv"})
    hit(t, "get", "/api/v1/runtime/env", token=rt, headers={"If-None-Match": etag})  # 304
    # HEAD, the shell format, import.
    hit(t, "head", "/api/v1/runtime/env", token=rt, params={"format": "shell"})  # 200
    hit(t, "head", "/api/v1/runtime/env", token=rt, headers={"If-None-Match": etag})  # 304
    t, imp = "/deployments/{deployment_id}/env/import", f"{env}/import"
    staged = {"environment": "staging"}
    hit(t, "post", imp, token=developer, params=staged, body="A=1", content_type="text/plain")
    hit(t, "post", imp, token=developer, params={**staged, "dry_run": "true"}, json={"B": "2"})
    hit(t, "post", imp, token=developer, params=staged, body="A", content_type="text/plain")
    hit(t, "post", imp, token=viewer, params=staged, body="A=1", content_type="text/plain")
    hit(t, "post", imp, token=developer, params={"environment": "qa"}, json={"A": "1"})
    hit(t, "post", imp, token=developer, params=staged, json={"A": "x" * 40_000})  # 413
    hit(t, "post", imp, token=developer, params=staged, body="A=1", content_type="text/csv")

    # Releases (SPEC §9, §10): staging and production run v1; production stages its changes.
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.deploy_version(environment=production, version=version, actor=actor)
    too_large = b'{"environment": "' + b"x" * (1024 * 1024) + b'"}'

    t = "/deployments/{deployment_id}/env/{key}/history"
    hit(t, "get", history, token=viewer, params={"environment": "staging"})  # 200
    hit(t, "get", history, token=viewer)  # 400: no environment
    hit(t, "get", f"{env}/NEVER/history", token=viewer, params={"environment": "staging"})  # 404

    t = "/deployments/{deployment_id}/env/{key}/restore"
    set_at = api.get(history, token=viewer, params={"environment": "staging"}).json()["history"]
    revision = next(row["revision"] for row in set_at if row["action"] == "set")
    back = {"environment": "staging", "revision": revision}
    hit(t, "post", restore, token=developer, json=back)  # 200
    hit(t, "post", restore, token=developer, json={**back, "revision": 0})  # 400
    hit(t, "post", restore, token=viewer, json=back)  # 403
    hit(t, "post", restore, token=developer, json={**back, "revision": 10**6})  # 404
    hit(t, "post", restore, token=developer, body=too_large)  # 413
    hit(t, "post", restore, token=developer, body="a=b", content_type="text/plain")  # 415
    # 409: the key is now a binding's.
    services.set_variable(
        environment=staging, key="DATABASE_URL", value="x", is_secret=None, actor=actor
    )
    was = staging.config_entries.get(key="DATABASE_URL").set_revision
    services.delete_variable(environment=staging, key="DATABASE_URL", actor=actor)
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://a:b@h/db", actor=actor
    )
    hit(t, "post", f"{env}/DATABASE_URL/restore", token=developer, json={**back, "revision": was})
    # 503: the earlier value cannot be decrypted.
    services.set_variable(environment=staging, key="OLD", value="1", is_secret=None, actor=actor)
    services.set_variable(environment=staging, key="OLD", value="2", is_secret=None, actor=actor)
    old = staging.config_entries.filter(key="OLD").order_by("set_revision").first()
    ConfigEntry.objects.filter(pk=old.pk).update(ciphertext=b"\x01\x02zz" + b"\x00" * 40)
    hit(t, "post", f"{env}/OLD/restore", token=developer, json={**back, "revision": was + 3})

    # importing a binding's key is a 409.
    hit(
        "/deployments/{deployment_id}/env/import",
        "post",
        f"{env}/import",
        token=developer,
        params={"environment": "staging"},
        json={"DATABASE_URL": "x"},
    )

    t = "/deployments/{deployment_id}/releases"
    hit(t, "get", releases, token=viewer, params={"environment": "staging", "limit": "1"})
    hit(t, "get", releases, token=viewer)  # 400: no environment
    hit(t, "get", releases, token=viewer, params={"environment": "qa"})  # 404

    t = "/deployments/{deployment_id}/apply"
    services.set_variable(environment=production, key="NEW", value="1", is_secret=None, actor=actor)
    hit(t, "post", apply, token=developer, json={"environment": "production"})  # 403
    hit(t, "post", apply, token=owner, json={"environment": "production", "x": 1})  # 400
    hit(t, "post", apply, token=owner, json={"environment": "qa"})  # 404
    hit(t, "post", apply, token=owner, json={"environment": "production"})  # 201
    hit(t, "post", apply, token=owner, json={"environment": "production"})  # 409
    hit(t, "post", apply, token=owner, body=too_large)  # 413
    hit(t, "post", apply, token=owner, body="a=b", content_type="text/plain")  # 415

    t = "/deployments/{deployment_id}/rollback"
    first = {"environment": "production", "release": 1}
    hit(t, "post", rollback, token=developer, json=first)  # 403
    hit(t, "post", rollback, token=owner, json={**first, "release": "1"})  # 400
    hit(t, "post", rollback, token=owner, json={**first, "release": 99})  # 404
    hit(t, "post", rollback, token=owner, json=first)  # 201
    hit(t, "post", rollback, token=owner, json=first)  # 409
    hit(t, "post", rollback, token=owner, body=too_large)  # 413
    hit(t, "post", rollback, token=owner, body="a=b", content_type="text/plain")  # 415
    # Into a protected environment a release waits for review: 202 with the request (SPEC §15).
    services.set_protection(environment=production, required_approvals=1, actor=actor)
    hit(t, "post", rollback, token=developer, json={**first, "release": 2})  # 202
    services.set_variable(
        environment=production, key="NEWER", value="1", is_secret=None, actor=actor
    )
    t = "/deployments/{deployment_id}/apply"
    hit(t, "post", apply, token=developer, json={"environment": "production", "reason": "r"})
    services.delete_variable(environment=production, key="NEWER", actor=actor)
    services.set_protection(environment=production, required_approvals=0, actor=actor)

    t = "/deployments/{deployment_id}/required-keys"
    hit(t, "get", required, token=viewer)  # 200
    hit(t, "get", f"{base}9/required-keys", token=viewer)  # 404
    hit(t, "put", required, token=owner, json={"keys": ["API_URL"]})  # 200
    hit(t, "put", required, token=owner, json={"keys": ["1BAD"]})  # 400
    hit(t, "put", required, token=developer, json={"keys": []})  # 403
    hit(t, "put", f"{base}9/required-keys", token=owner, json={"keys": []})  # 404
    hit(t, "put", required, token=owner, body=too_large)  # 413
    hit(t, "put", required, token=owner, body="a=b", content_type="text/plain")  # 415
    services.set_required_keys(deployment=deployment, keys=[], actor=actor)

    # 503: a value that cannot be decrypted.
    services.set_variable(
        environment=production, key="BROKEN", value="plain", is_secret=None, actor=actor
    )
    services.apply_changes(environment=production, actor=actor)  # production stages it
    replace_stored(Variable.objects.get(key="BROKEN"), b"\x01\x02zz" + b"\x00" * 40)
    hit("/runtime/env", "get", "/api/v1/runtime/env", token=rt)
    hit("/runtime/env", "head", "/api/v1/runtime/env", token=rt)
    hit("/deployments/{deployment_id}/env", "get", env, token=owner, params={"reveal": "true"})
    Variable.objects.filter(key="BROKEN").delete()
    # A pending change for the apply that fails below.
    services.set_variable(
        environment=production, key="LATER", value="1", is_secret=None, actor=actor
    )

    # 500: the audit trail is down (writes, reveal, runtime) or a read fails unexpectedly.
    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    refuse_audit_writes(monkeypatch, refuse)
    monkeypatch.setattr(selectors, "deployments_for_user", refuse)
    hit("/deployments", "get", "/api/v1/deployments", token=viewer)
    hit("/deployments/{deployment_id}/env", "get", env, token=owner, params={"reveal": "true"})
    hit("/deployments/{deployment_id}/env", "post", env, token=developer, json=one)
    hit(
        "/deployments/{deployment_id}/env/{key}",
        "delete",
        f"{env}/S",
        token=developer,
        params={"environment": "staging"},
    )
    hit("/runtime/env", "get", "/api/v1/runtime/env", token=rt)
    hit("/runtime/env", "head", "/api/v1/runtime/env", token=rt)
    hit(
        "/deployments/{deployment_id}/env/import",
        "post",
        f"{env}/import",
        token=developer,
        params={"environment": "staging"},
        json={"A": "2"},
    )
    hit(
        "/deployments/{deployment_id}/env/{key}/restore",
        "post",
        restore,
        token=developer,
        json={"environment": "staging", "revision": revision},
    )
    hit(
        "/deployments/{deployment_id}/apply",
        "post",
        apply,
        token=owner,
        json={"environment": "production"},
    )
    hit(
        "/deployments/{deployment_id}/rollback",
        "post",
        rollback,
        token=owner,
        json={"environment": "production", "release": 2},
    )
    hit(
        "/deployments/{deployment_id}/required-keys",
        "put",
        required,
        token=owner,
        json={"keys": ["API_URL"]},
    )
    monkeypatch.setattr(selectors, "key_history", refuse)
    monkeypatch.setattr(selectors, "releases", refuse)
    hit(
        "/deployments/{deployment_id}/env/{key}/history",
        "get",
        history,
        token=viewer,
        params={"environment": "staging"},
    )
    hit(
        "/deployments/{deployment_id}/releases",
        "get",
        releases,
        token=viewer,
        params={"environment": "staging"},
    )
    monkeypatch.setattr(selectors, "get_deployment_for_user", refuse)
    hit("/deployments/{deployment_id}/required-keys", "get", required, token=viewer)

    # 429: past the rate limit (SPEC §12).
    monkeypatch.undo()
    hit_every_operation_past_its_limit(
        hit,
        [
            t
            for t in DOCUMENT["paths"]
            if t
            not in CI_TEMPLATES
            | TOKEN_TEMPLATES
            | DATA_SERVICE_TEMPLATES
            | ROTATION_TEMPLATES
            | OIDC_TEMPLATES
            | GROUP_TEMPLATES
            | WEBHOOK_TEMPLATES
            | CHANGE_REQUEST_TEMPLATES
        ],
        personal=role_token("owner"),
        runtime=runtime_token(production),
        settings=settings,
        monkeypatch=monkeypatch,
        deployment_id=str(deployment.pk),
    )

    # The CI, token and data service endpoints have their own scenarios
    # (tests/api/test_openapi_ci.py, test_openapi_tokens.py, test_data_services_openapi.py).
    documented = {
        d
        for d in _documented()
        if d[0]
        not in CI_TEMPLATES
        | TOKEN_TEMPLATES
        | DATA_SERVICE_TEMPLATES
        | ROTATION_TEMPLATES
        | OIDC_TEMPLATES
        | GROUP_TEMPLATES
        | WEBHOOK_TEMPLATES
        | CHANGE_REQUEST_TEMPLATES
    }
    assert documented - seen == set(), "documented but never given"
    assert seen - documented == set(), "given but not documented"


@pytest.mark.parametrize("fmt", ["json", "dotenv"])
def test_both_runtime_media_types_are_documented(api, production, runtime_token, fmt):
    response = api.get(
        "/api/v1/runtime/env", token=runtime_token(production), params={"format": fmt}
    )
    media_type = response["Content-Type"].split(";")[0]
    assert media_type in DOCUMENT["paths"]["/runtime/env"]["get"]["responses"]["200"]["content"]


def test_a_batch_with_a_key_twice_is_a_400_and_writes_nothing_as_documented(
    api, env_url, staging, role_token
):
    assert (
        "once in a batch"
        in DOCUMENT["components"]["schemas"]["WriteMany"]["properties"]["variables"]["description"]
    )
    batch = [{"key": "API_URL", "value": "one"}, {"key": "API_URL", "value": "two"}]
    response = api.post(
        env_url,
        {"environment": "staging", "variables": batch},
        token=role_token("developer"),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_key"
    assert response.json()["error"]["field"] == "variables[1].key"
    assert not Variable.objects.filter(environment=staging).exists()
