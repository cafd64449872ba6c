"""GET/POST /api/v1/deployments/:id/oidc-policies and GET/DELETE …/oidc-policies/:pid (SPEC
§16): admins add and remove the trust policies; each change is audited."""

from __future__ import annotations

import pytest

from environments.models import AuditEvent, OidcPolicy
from tests.oidc_issuer import AUDIENCE, ISSUER, SUBJECT

pytest_plugins = ["tests.oidc_issuer"]


@pytest.fixture
def url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/oidc-policies"


@pytest.fixture
def body(issuer) -> dict:
    return {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "subject": SUBJECT,
        "claims": {"repository_id": "123456789"},
        "environments": ["production"],
        "role": "admin",
        "ttl_seconds": 600,
        "jwks": issuer.jwks(),
        "jwks_url": issuer.url,
    }


def test_an_admin_adds_a_policy(api, url, body, role_token):
    response = api.post(url, body, token=role_token("admin"))
    assert response.status_code == 201, response.content
    policy = response.json()["policy"]
    assert policy["subject"] == SUBJECT and policy["role"] == "admin"
    assert policy["environments"] == ["production"] and policy["ttl_seconds"] == 600
    assert policy["jwks_url"] == body["jwks_url"]
    assert [key["kid"] for key in policy["jwks"]["keys"]] == ["rsa-1", "ec-1"]
    event = AuditEvent.objects.get(action="oidc.policy_create")
    assert event.deployment_name == "shop" and event.detail["subject"] == SUBJECT
    listing = api.get(url, token=role_token("owner")).json()
    assert [p["id"] for p in listing["policies"]] == [policy["id"]]
    one = api.get(f"{url}/{policy['id']}", token=role_token("owner"))
    assert one.json()["policy"] == policy


def test_pinned_keys_are_kept_public_only(api, url, body, issuer, role_token):
    body["jwks"] = {"keys": [issuer.rsa.as_dict(private=True)]}
    response = api.post(url, body, token=role_token("owner"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "jwks"
    assert "private" in response.json()["error"]["message"]


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_below_admin_is_a_403(api, url, body, role_token, role):
    token = role_token(role)
    assert api.post(url, body, token=token).status_code == 403
    assert api.get(url, token=token).status_code == 403
    assert not OidcPolicy.objects.exists()


def test_an_outsider_gets_a_404(api, url, body, role_token):
    assert api.post(url, body, token=role_token("outsider")).status_code == 404


def test_a_wrong_method_is_a_405(api, url, role_token):
    assert api.request("PUT", url, json={}, token=role_token("owner")).status_code == 405


@pytest.mark.parametrize(
    "subject", ["*", "**", "*?", "repo:*", "repo:*/shop:*", "repo:acme*/shop:*", "*:ref:main"]
)
def test_a_subject_matching_everything_without_claims_is_too_broad(
    api, url, body, role_token, subject
):
    body |= {"subject": subject}
    del body["claims"]
    response = api.post(url, body, token=role_token("owner"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_broad"
    # With a claim that names the repository, it is a policy.
    body["claims"] = {"repository_id": "123456789"}
    assert api.post(url, body, token=role_token("owner")).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ttl_seconds": 3601}, "ttl_seconds"),
        ({"ttl_seconds": 30}, "ttl_seconds"),
        ({"role": "owner"}, "role"),
        ({"environments": ["qa"]}, "environments"),
        ({"environments": []}, "environments"),
        ({"jwks_url": "http://keys.example.com/jwks"}, "jwks_url"),
        ({"jwks_url": "ftp://127.0.0.1/jwks"}, "jwks_url"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "jwks"),
        ({"claims": {"repository_id": ""}}, "claims.repository_id"),
        ({"claims": {"sub": "x"}}, "claims"),
        ({"issuer": ""}, "issuer"),
    ],
)
def test_bad_policies_are_a_400(api, url, body, role_token, change, field):
    response = api.post(url, body | change, token=role_token("owner"))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert not OidcPolicy.objects.exists()


def test_keys_are_required(api, url, body, role_token):
    del body["jwks"], body["jwks_url"]
    response = api.post(url, body, token=role_token("owner"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "jwks_url"


def test_an_http_jwks_url_needs_loopback_and_the_setting(api, url, body, role_token, settings):
    settings.OIDC_ALLOW_INSECURE_JWKS = False
    response = api.post(url, body, token=role_token("owner"))
    assert response.status_code == 400 and response.json()["error"]["field"] == "jwks_url"
    body["jwks_url"] = "https://token.actions.githubusercontent.com/.well-known/jwks"
    assert api.post(url, body, token=role_token("owner")).status_code == 201


def test_an_admin_deletes_a_policy(api, url, body, role_token):
    created = api.post(url, body, token=role_token("owner")).json()["policy"]
    assert api.delete(f"{url}/{created['id']}", token=role_token("developer")).status_code == 403
    assert api.delete(f"{url}/{created['id']}", token=role_token("admin")).status_code == 204
    assert not OidcPolicy.objects.exists()
    assert AuditEvent.objects.filter(action="oidc.policy_delete").count() == 1
    assert api.delete(f"{url}/{created['id']}", token=role_token("owner")).status_code == 404


def test_listing_policies_takes_a_fixed_number_of_queries(
    api, url, deployment, trust, role_token, django_assert_max_num_queries
):
    token = role_token("owner")
    trust(deployment)
    with django_assert_max_num_queries(12) as few:
        api.get(url, token=token)
    for n in range(5):
        trust(deployment, subject=f"repo:acme/shop:ref:refs/heads/b{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(url, token=token).json()["policies"]) == 6


@pytest.mark.parametrize(
    "subject", ["repo:acme/*", "repo:acme/shop:*", "repo:acme/shop:environment:production"]
)
def test_a_subject_naming_the_owner_needs_no_claim(api, url, body, role_token, subject):
    body |= {"subject": subject}
    del body["claims"]
    assert api.post(url, body, token=role_token("owner")).status_code == 201


def test_another_issuer_may_use_a_glob_that_does_not_match_everything(api, url, body, role_token):
    body |= {"issuer": "https://gitlab.example.com", "subject": "project_path:acme/*"}
    del body["claims"]
    assert api.post(url, body, token=role_token("owner")).status_code == 201
    body |= {"subject": "*"}
    assert api.post(url, body, token=role_token("owner")).json()["error"]["code"] == "too_broad"
