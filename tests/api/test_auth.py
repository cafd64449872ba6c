"""Bearer authentication, shared by every endpoint (environments/api/auth.py)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from environments import services
from environments.models import ApiToken, AuditEvent, RuntimeToken
from tests.api import endpoints

# Every operation behind a personal token, with the query string it requires ({id}: the
# deployment's id), from the document and the URL resolver.
DEPLOYMENT_ENDPOINTS = [(op.method, op.path() + op.query()) for op in endpoints.PERSONAL]


def _url(deployment, path: str) -> str:
    return path.format(id=deployment.pk)


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


# Every operation ({id}: the deployment's id); HEAD answers without the body that would say why.
ALL_ENDPOINTS = [(op.method, op.path()) for op in endpoints.WITHOUT_HEAD]


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
