"""Bearer authentication, shared by every endpoint (environments/api/auth.py)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from environments import services
from environments.models import ApiToken, AuditEvent, RuntimeToken

DEPLOYMENT_ENDPOINTS = [
    ("GET", "/deployments"),
    ("GET", "/env"),
    ("POST", "/env"),
    ("DELETE", "/env/API_URL?environment=staging"),
    ("GET", "/env/API_URL/history?environment=staging"),
    ("POST", "/env/API_URL/restore"),
    ("GET", "/releases?environment=staging"),
    ("POST", "/apply"),
    ("POST", "/rollback"),
    ("GET", "/required-keys"),
    ("PUT", "/required-keys"),
    # --- G ---
    ("POST", "/env/import?environment=staging"),
]
# The JSON API for CI (SPEC §10).
CI_ENDPOINTS = [
    ("GET", "/versions"),
    ("POST", "/versions"),
    ("GET", "/environments"),
    ("POST", "/environments"),
    ("DELETE", "/environments/preview/pr-42"),
    ("POST", "/deploy"),
    ("POST", "/promote"),
    ("GET", "/bindings"),
    ("POST", "/bindings"),
    ("DELETE", "/bindings/1"),
    ("GET", "/domains"),
    ("POST", "/domains"),
    ("DELETE", "/domains/a.example"),
]
DEPLOYMENT_ENDPOINTS += CI_ENDPOINTS


def _url(deployment, suffix: str) -> str:
    if suffix == "/deployments":
        return "/api/v1/deployments"
    return f"/api/v1/deployments/{deployment.pk}{suffix}"


@pytest.mark.parametrize(("method", "suffix"), DEPLOYMENT_ENDPOINTS)
def test_no_token_is_401_with_the_error_body(api, deployment, method, suffix):
    response = api.request(method, _url(deployment, suffix), json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "mio_pat_abcdefghijklmnopqrstuvwxyz",  # no scheme
        "Basic dXNlcjpwdw==",
        "Bearer",
        "Bearer mio_pat_short",
        "Bearer mio_pat_" + "a" * 43 + "!",
        "Bearer ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ],
)
def test_a_malformed_authorization_header_is_401(api, deployment, header):
    response = api.get("/api/v1/deployments", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_an_unknown_token_is_401(api, deployment):
    response = api.get("/api/v1/deployments", token="mio_pat_" + "x" * 43)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_revoked_token_is_401(api, owner, token_for, actor):
    raw = token_for(owner)
    services.revoke_api_token(token=ApiToken.objects.get(user=owner), actor=actor)
    response = api.get("/api/v1/deployments", token=raw)
    assert response.status_code == 401


def test_a_token_of_a_deactivated_user_is_401(api, owner, token_for):
    raw = token_for(owner)
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert api.get("/api/v1/deployments", token=raw).status_code == 401


def test_the_bearer_scheme_is_case_insensitive(api, owner, token_for):
    raw = token_for(owner)
    response = api.get("/api/v1/deployments", headers={"Authorization": f"bearer {raw}"})
    assert response.status_code == 200


def test_a_runtime_token_does_not_open_deployment_endpoints(
    api, deployment, production, runtime_token
):
    raw = runtime_token(production)
    for method, suffix in DEPLOYMENT_ENDPOINTS:
        response = api.request(method, _url(deployment, suffix), token=raw, json={})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "wrong_token_kind"


def test_a_personal_token_does_not_open_the_runtime_endpoint(api, owner, token_for):
    response = api.get("/api/v1/runtime/env", token=token_for(owner))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "wrong_token_kind"


def test_a_revoked_runtime_token_is_401(api, production, runtime_token, actor):
    raw = runtime_token(production)
    services.revoke_runtime_token(token=RuntimeToken.objects.get(), actor=actor)
    assert api.get("/api/v1/runtime/env", token=raw).status_code == 401


def test_a_browser_session_does_not_authenticate_the_api(api, client, owner, deployment):
    client.force_login(owner)
    assert api.get("/api/v1/deployments").status_code == 401
    assert api.get(f"/api/v1/deployments/{deployment.pk}/env").status_code == 401


ALL_ENDPOINTS = [
    ("GET", "/api/v1/deployments"),
    ("GET", "/api/v1/deployments/{id}/env"),
    ("POST", "/api/v1/deployments/{id}/env"),
    ("DELETE", "/api/v1/deployments/{id}/env/API_URL"),
    ("GET", "/api/v1/deployments/{id}/env/API_URL/history"),
    ("POST", "/api/v1/deployments/{id}/env/API_URL/restore"),
    ("GET", "/api/v1/deployments/{id}/releases"),
    ("POST", "/api/v1/deployments/{id}/apply"),
    ("POST", "/api/v1/deployments/{id}/rollback"),
    ("GET", "/api/v1/deployments/{id}/required-keys"),
    ("PUT", "/api/v1/deployments/{id}/required-keys"),
    ("GET", "/api/v1/runtime/env"),
    ("GET", "/api/v1/openapi.json"),
    # --- G ---
    ("POST", "/api/v1/deployments/{id}/env/import"),
    # Personal API tokens (SPEC §12).
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/1"),
]
# The JSON API for CI (SPEC §10).
ALL_ENDPOINTS += [
    (method, f"/api/v1/deployments/{{id}}{suffix}") for method, suffix in DEPLOYMENT_ENDPOINTS[-13:]
]


def test_head_on_the_runtime_endpoint_refuses_a_token_in_the_query_string(
    api, production, runtime_token
):
    # HEAD answers without a body: the status and the missing audit event say it.
    response = api.request(
        "HEAD", "/api/v1/runtime/env", token=runtime_token(production), params={"token": "x"}
    )
    assert response.status_code == 400 and response.content == b""
    assert not AuditEvent.objects.filter(action="runtime.fetch").exists()


@pytest.mark.parametrize(("method", "path"), ALL_ENDPOINTS)
@pytest.mark.parametrize(
    "params",
    [
        {"token": "anything"},
        {"access_token": "x"},
        {"api_key": "x"},
        {"environment": "staging", "t": "mio_pat_abcdefghijklmnopqrstuvwxyz"},
        {"q": "mio_rt_abcdefghijklmnopqrstuvwxyz"},
    ],
)
def test_a_token_in_the_query_string_is_400_on_every_endpoint(
    api, deployment, owner, token_for, method, path, params
):
    # Even alongside a valid header: only the header counts, and the URL has leaked.
    response = api.request(
        method, path.format(id=deployment.pk), token=token_for(owner), params=params, json={}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_in_query"


def test_use_updates_last_used_at_at_most_once_a_minute(api, owner, token_for):
    raw = token_for(owner)
    token = ApiToken.objects.get(user=owner)
    assert token.last_used_at is None
    api.get("/api/v1/deployments", token=raw)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    api.get("/api/v1/deployments", token=raw)
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    api.get("/api/v1/deployments", token=raw)
    token.refresh_from_db()
    assert token.last_used_at > first


def test_runtime_use_updates_last_used_at(api, production, runtime_token):
    raw = runtime_token(production)
    api.get("/api/v1/runtime/env", token=raw)
    assert RuntimeToken.objects.get().last_used_at is not None
