"""The OpenAPI document's honesty for the CI endpoints (SPEC §10): every response it lists for
them is one the API really gives (the `api` fixture validates each body against it)."""

from __future__ import annotations

from environments import selectors, services
from environments.api.openapi import DOCUMENT
from environments.models import Variable
from tests.api.ratelimited import hit_every_operation_past_its_limit
from tests.refuse_audit import refuse_audit_writes
from tests.stored import replace_stored

CI_TEMPLATES = frozenset(
    {
        "/deployments/{deployment_id}/versions",
        "/deployments/{deployment_id}/environments",
        "/deployments/{deployment_id}/environments/{name}",
        "/deployments/{deployment_id}/deploy",
        "/deployments/{deployment_id}/promote",
        "/deployments/{deployment_id}/bindings",
        "/deployments/{deployment_id}/bindings/{binding_id}",
        "/deployments/{deployment_id}/domains",
        "/deployments/{deployment_id}/domains/{hostname}",
    }
)
TOO_LARGE = b'{"environment": "' + b"x" * (1024 * 1024) + b'"}'


def _documented() -> set[tuple[str, str, str]]:
    return {
        (template, method, status)
        for template, item in DOCUMENT["paths"].items()
        if template in CI_TEMPLATES
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
    }


def test_every_documented_ci_response_is_really_given(
    api, deployment, production, staging, actor, role_token, runtime_token, monkeypatch, settings
):
    seen: set[tuple[str, str, str]] = set()

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    owner, viewer, developer = role_token("owner"), role_token("viewer"), role_token("developer")
    base = f"/api/v1/deployments/{deployment.pk}"
    missing = "/api/v1/deployments/999999"
    versions, environments = f"{base}/versions", f"{base}/environments"
    deploy, promote = f"{base}/deploy", f"{base}/promote"
    bindings, domains = f"{base}/bindings", f"{base}/domains"
    services.create_environment(deployment=deployment, name="qa", actor=actor)
    routes = [
        ("/deployments/{deployment_id}/versions", "get", versions),
        ("/deployments/{deployment_id}/versions", "post", versions),
        ("/deployments/{deployment_id}/environments", "get", environments),
        ("/deployments/{deployment_id}/environments", "post", environments),
        ("/deployments/{deployment_id}/environments/{name}", "delete", f"{environments}/qa"),
        ("/deployments/{deployment_id}/deploy", "post", deploy),
        ("/deployments/{deployment_id}/promote", "post", promote),
        ("/deployments/{deployment_id}/bindings", "get", bindings),
        ("/deployments/{deployment_id}/bindings", "post", bindings),
        ("/deployments/{deployment_id}/bindings/{binding_id}", "delete", f"{bindings}/1"),
        ("/deployments/{deployment_id}/domains", "get", domains),
        ("/deployments/{deployment_id}/domains", "post", domains),
        ("/deployments/{deployment_id}/domains/{hostname}", "delete", f"{domains}/a.example"),
    ]
    for template, method, path in routes:
        hit(template, method, path, params={"token": "x"})  # 400
        hit(template, method, path, json={})  # 401
        hit(template, method, path.replace(base, missing), token=owner, json={})  # 404
        if method != "get":
            hit(template, method, path, token=viewer, json={})  # 403
        if method == "post":
            hit(template, method, path, token=owner, body=TOO_LARGE)  # 413
            hit(template, method, path, token=owner, body="a=b", content_type="text/plain")  # 415

    t = "/deployments/{deployment_id}/versions"
    hit(t, "post", versions, token=developer, json={"label": "sha1", "notes": "first"})  # 201
    hit(t, "post", versions, token=developer, json={"notes": "x" * 5000})  # 413 notes
    hit(t, "get", versions, token=viewer, params={"limit": "1"})  # 200

    t = "/deployments/{deployment_id}/environments"
    hit(t, "get", environments, token=viewer)  # 200
    hit(t, "post", environments, token=developer, json={"name": "preview/pr-1"})  # 201
    hit(t, "post", environments, token=developer, json={"name": "preview/pr-1"})  # 409
    hit(t, "post", environments, token=developer, json={"name": "a..b"})  # 400
    hit(t, "post", environments, token=developer, json={"name": "x", "copy_from": "nope"})  # 404
    services.set_variable(environment=staging, key="BROKEN", value="v", is_secret=None, actor=actor)
    replace_stored(Variable.objects.get(key="BROKEN"), b"\x01\x02zz" + b"\x00" * 40)
    hit(t, "post", environments, token=developer, json={"name": "y", "copy_from": "staging"})
    Variable.objects.filter(key="BROKEN").delete()

    t = "/deployments/{deployment_id}/environments/{name}"
    hit(t, "delete", f"{environments}/preview/pr-1", token=developer)  # 204
    hit(t, "delete", f"{environments}/staging", token=developer)  # 409

    t = "/deployments/{deployment_id}/deploy"
    hit(t, "post", deploy, token=developer, json={"environment": "staging", "version": 1})  # 201
    hit(t, "post", deploy, token=developer, json={"environment": "staging", "version": 1})  # 409
    hit(t, "post", deploy, token=developer, json={"environment": "staging", "version": "1"})

    t = "/deployments/{deployment_id}/deploy"
    hit(t, "post", deploy, token=viewer, json={"environment": "staging", "version": 1})  # 403
    t = "/deployments/{deployment_id}/promote"
    hit(t, "post", promote, token=developer, json={"from": "staging"})  # 403 (production)
    hit(t, "post", promote, token=owner, json={"from": "staging", "expected_version": 1})  # 409
    hit(t, "post", promote, token=owner, json={"from": "staging", "expected_version": None})
    hit(t, "post", promote, token=owner, json={"from": 1})  # 400
    # Into a protected environment a release waits for review: 202 with the request (SPEC §15).
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.set_protection(environment=production, required_approvals=1, actor=actor)
    hit(t, "post", promote, token=developer, json={"from": "staging"})  # 409 already_active
    services.deploy_version(environment=staging, version=v2, actor=actor)
    hit(t, "post", promote, token=developer, json={"from": "staging", "reason": "go"})  # 202
    t = "/deployments/{deployment_id}/deploy"
    hit(t, "post", deploy, token=developer, json={"environment": "production", "version": 2})
    services.set_protection(environment=production, required_approvals=0, actor=actor)

    t = "/deployments/{deployment_id}/bindings"
    url = "postgres://app:pw@db.internal:5432/shop"
    binding = {"environment": "staging", "kind": "postgres", "url": url}
    created = hit(t, "post", bindings, token=owner, json=binding)  # 201
    hit(t, "post", bindings, token=owner, json=binding)  # 409
    hit(t, "post", bindings, token=owner, json={**binding, "kind": "mysql"})  # 400
    hit(t, "get", bindings, token=viewer)  # 200

    t = "/deployments/{deployment_id}/bindings/{binding_id}"
    hit(t, "delete", f"{bindings}/{created.json()['id']}", token=owner)  # 204

    t = "/deployments/{deployment_id}/domains"
    domain = {"environment": "staging", "hostname": "staging.shop.example"}
    hit(t, "post", domains, token=owner, json=domain)  # 201
    hit(t, "post", domains, token=owner, json=domain)  # 409
    hit(t, "post", domains, token=owner, json={**domain, "hostname": "no_dots"})  # 400
    hit(t, "get", domains, token=viewer)  # 200

    t = "/deployments/{deployment_id}/domains/{hostname}"
    hit(t, "delete", f"{domains}/staging.shop.example", token=owner)  # 204

    # 500: the audit trail is down (writes) or a read fails unexpectedly.
    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    services.create_environment(deployment=deployment, name="gone", actor=actor)
    services.create_binding(
        environment=staging, kind="redis", name="r", url="redis://h", actor=actor
    )
    services.add_domain(environment=staging, hostname="b.shop.example", actor=actor)
    binding_id = staging.bindings.get().pk
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    refuse_audit_writes(monkeypatch, refuse)
    for method, template, path, body in [
        ("post", "/deployments/{deployment_id}/versions", versions, {}),
        ("post", "/deployments/{deployment_id}/environments", environments, {"name": "z"}),
        (
            "delete",
            "/deployments/{deployment_id}/environments/{name}",
            f"{environments}/gone",
            None,
        ),
        (
            "post",
            "/deployments/{deployment_id}/deploy",
            deploy,
            {"environment": "qa", "version": 1},
        ),
        ("post", "/deployments/{deployment_id}/promote", promote, {"from": "staging"}),
        ("post", "/deployments/{deployment_id}/bindings", bindings, binding),
        (
            "delete",
            "/deployments/{deployment_id}/bindings/{binding_id}",
            f"{bindings}/{binding_id}",
            None,
        ),
        ("post", "/deployments/{deployment_id}/domains", domains, domain),
        (
            "delete",
            "/deployments/{deployment_id}/domains/{hostname}",
            f"{domains}/b.shop.example",
            None,
        ),
    ]:
        hit(template, method, path, token=owner, json=body)
    for name in ("versions", "environments_with_releases", "binding_rows", "deployment_domains"):
        monkeypatch.setattr(selectors, name, refuse)
    hit("/deployments/{deployment_id}/versions", "get", versions, token=viewer)
    hit("/deployments/{deployment_id}/environments", "get", environments, token=viewer)
    hit("/deployments/{deployment_id}/bindings", "get", bindings, token=viewer)
    hit("/deployments/{deployment_id}/domains", "get", domains, token=viewer)

    # 429: past the rate limit (SPEC §12).
    monkeypatch.undo()
    hit_every_operation_past_its_limit(
        hit,
        sorted(CI_TEMPLATES),
        personal=role_token("owner"),
        runtime=runtime_token(production),
        settings=settings,
        monkeypatch=monkeypatch,
        deployment_id=str(deployment.pk),
    )

    assert _documented() - seen == set(), "documented but never given"
    assert seen - _documented() == set(), "given but not documented"
