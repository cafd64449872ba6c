"""What a token minted by an OIDC exchange may do (SPEC §16): the policy's role on its
environments of its deployment, on the CI endpoints; 403 elsewhere, 404 on other
deployments; never create tokens; nothing once expired or revoked. Every event it causes
names the subject."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from environments import services
from environments.actors import Actor
from environments.models import AuditEvent, OidcToken
from tests.oidc_issuer import SUBJECT

pytest_plugins = ["tests.oidc_issuer"]


@pytest.fixture
def mint(api, deployment, issuer, trust):
    """mint(**policy) -> a raw mio_oidc_ token from a policy on `deployment`."""

    def make(**policy) -> str:
        trust(deployment, **policy)
        claims = {"environment": None} if "environments" in policy else {}
        response = api.post(
            "/api/v1/oidc/token", {"deployment": "shop", "token": issuer.token(**claims)}
        )
        assert response.status_code == 201, response.content
        return response.json()["token"]

    return make


@pytest.fixture
def version(deployment, actor):
    return services.create_version(deployment=deployment, label="abc123", actor=actor)


def base(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}"


def test_it_deploys_to_its_environment_as_the_subject(api, deployment, mint, version, actor):
    services.deploy_version(
        environment=deployment.environments.get(name="staging"), version=version, actor=actor
    )
    token = mint()
    response = api.post(
        f"{base(deployment)}/deploy",
        {"environment": "production", "version": version.number},
        token=token,
    )
    assert response.status_code == 201, response.content
    assert response.json()["actor"] == f"oidc {SUBJECT}"
    event = AuditEvent.objects.filter(action="version.deploy").latest("id")
    assert event.actor_label == f"oidc {SUBJECT}" and event.actor is None
    assert OidcToken.objects.get().last_used_at is not None


def test_it_registers_versions(api, deployment, mint):
    token = mint(environments=["staging"], role="developer")
    response = api.post(f"{base(deployment)}/versions", {"label": "ci-1"}, token=token)
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.filter(action="version.create").latest("id").actor_label == (
        f"oidc {SUBJECT}"
    )


def test_other_environments_are_a_403(api, deployment, mint, version, staging):
    token = mint()
    deploy = api.post(
        f"{base(deployment)}/deploy",
        {"environment": "staging", "version": version.number},
        token=token,
    )
    assert deploy.status_code == 403
    assert deploy.json()["error"]["code"] == "environment_not_allowed"
    # Reading outside: not visible to this token.
    read = api.get(f"{base(deployment)}/env", params={"environment": "staging"}, token=token)
    assert read.status_code == 404
    write = api.post(
        f"{base(deployment)}/env",
        {"environment": "staging", "key": "API_URL", "value": "x"},
        token=token,
    )
    assert write.status_code == 403


def test_listings_show_only_its_environments(api, deployment, mint, actor, staging, production):
    for environment in (staging, production):
        services.set_variable(
            environment=environment, key="API_URL", value="https://x", is_secret=False, actor=actor
        )
    token = mint()
    rows = api.get(f"{base(deployment)}/env", token=token).json()["variables"]
    assert {row["environment"] for row in rows} == {"production"}
    listing = api.get("/api/v1/deployments", token=token).json()["deployments"]
    assert [d["name"] for d in listing] == ["shop"]
    assert [e["name"] for e in listing[0]["environments"]] == ["production"]


def test_promoting_into_an_environment_outside_is_a_403(api, deployment, mint, actor, version):
    staging = deployment.environments.get(name="staging")
    services.deploy_version(environment=staging, version=version, actor=actor)
    token = mint(environments=["staging"], role="developer")
    response = api.post(f"{base(deployment)}/promote", {"from": "staging"}, token=token)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "environment_not_allowed"


def test_its_role_is_the_policys(api, deployment, mint, version, actor):
    services.deploy_version(
        environment=deployment.environments.get(name="staging"), version=version, actor=actor
    )
    token = mint(role="developer")
    response = api.post(
        f"{base(deployment)}/deploy",
        {"environment": "production", "version": version.number},
        token=token,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_another_deployment_is_a_404(api, deployment, owner, mint):
    other = services.create_deployment(
        name="other", actor=Actor(user=owner, label=owner.get_username())
    )
    token = mint()
    response = api.get(
        f"/api/v1/deployments/{other.pk}/releases?environment=production", token=token
    )
    assert response.status_code == 404


def test_it_cannot_create_tokens(api, mint):
    token = mint()
    for response in (
        api.post("/api/v1/tokens", {}, token=token),
        api.get("/api/v1/tokens", token=token),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "wrong_token_kind"
    assert OidcToken.objects.count() == 1


def test_endpoints_ci_has_no_use_for_want_a_personal_token(api, deployment, mint):
    token = mint()
    for path in ("bindings", "domains", "oidc-policies", "environments", "data-services"):
        response = api.get(f"{base(deployment)}/{path}", token=token)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "wrong_token_kind"
    assert api.post(f"{base(deployment)}/oidc-policies", {}, token=token).status_code == 401


def test_it_stops_after_its_expiry(api, deployment, mint):
    token = mint()
    url = f"{base(deployment)}/releases?environment=production"
    assert api.get(url, token=token).status_code == 200
    OidcToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api.get(url, token=token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


def test_a_revoked_token_is_refused(api, deployment, mint, actor):
    token = mint()
    services.revoke_oidc_token(token=OidcToken.objects.get(), actor=actor)
    url = f"{base(deployment)}/releases?environment=production"
    assert api.get(url, token=token).status_code == 401
    assert AuditEvent.objects.filter(action="oidc.token_revoke").exists()


def test_deleting_the_policy_revokes_its_tokens(api, deployment, mint, actor):
    token = mint()
    services.delete_oidc_policy(policy=deployment.oidc_policies.get(), actor=actor)
    url = f"{base(deployment)}/releases?environment=production"
    assert api.get(url, token=token).status_code == 401


def test_a_malformed_oidc_token_is_a_401(api, deployment):
    url = f"{base(deployment)}/releases?environment=production"
    response = api.get(url, token="mio_oidc_" + "x" * 43)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_browser_session_alongside_does_not_act(api, client, deployment, owner, mint, version):
    client.force_login(owner)
    token = mint(environments=["staging"], role="developer")
    response = api.post(
        f"{base(deployment)}/deploy",
        {"environment": "staging", "version": version.number},
        token=token,
    )
    assert response.status_code == 201
    event = AuditEvent.objects.filter(action="version.deploy").latest("id")
    assert event.actor is None and event.actor_label == f"oidc {SUBJECT}"
    assert AuditEvent.objects.get(action="oidc.exchange").actor is None
