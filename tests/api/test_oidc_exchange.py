"""POST /api/v1/oidc/token (SPEC §16): an ID token from a CI provider, checked against the
deployment's trust policies, for a short-lived mio_oidc_ token. Every refusal is a 401
invalid_oidc_token with its reason and an oidc.refused event, never holding the token."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from joserfc.jwk import RSAKey

from environments import services
from environments.actors import Actor
from environments.models import AuditEvent, OidcToken
from environments.services.oidc import REASONS
from tests.oidc_issuer import AUDIENCE, ISSUER, SUBJECT, b64json

pytest_plugins = ["tests.oidc_issuer"]

URL = "/api/v1/oidc/token"


def exchange(api, deployment, id_token, **extra):
    return api.post(URL, {"deployment": deployment, "token": id_token}, **extra)


def assert_refused(api, deployment, token, reason):
    response = exchange(api, deployment, token)
    assert response.status_code == 401, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_oidc_token"
    assert error["message"] == REASONS[reason]
    for part in token.split("."):
        if part:
            assert part not in response.content.decode()
    event = AuditEvent.objects.filter(action="oidc.refused").order_by("-id").first()
    assert event is not None and event.detail == {"reason": reason}
    assert event.outcome == AuditEvent.Outcome.DENIED
    stored = json.dumps(
        [event.actor_label, event.target, event.detail, event.user_agent, event.environment_name]
    )
    for part in token.split("."):
        if part:
            assert part not in stored
    assert not OidcToken.objects.exists()
    return event


# Accepted ---------------------------------------------------------------------------------


def test_an_rs256_token_from_the_jwks_url_is_exchanged(api, deployment, issuer, trust):
    trust(deployment)
    before = datetime.now(UTC)
    response = exchange(api, "shop", issuer.token())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token"].startswith("mio_oidc_")
    assert body["role"] == "admin"
    assert body["environments"] == ["production"]
    assert body["deployment"] == {"id": deployment.pk, "name": "shop"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(seconds=899) <= expires <= before + timedelta(seconds=902)
    token = OidcToken.objects.get()
    assert token.subject == SUBJECT and token.issuer == ISSUER
    assert body["token"] not in json.dumps(list(OidcToken.objects.values()), default=str)
    event = AuditEvent.objects.get(action="oidc.exchange")
    assert event.actor_label == f"oidc {SUBJECT}"
    assert event.deployment_name == "shop" and event.target == SUBJECT
    assert body["token"] not in json.dumps(event.detail)
    assert issuer.hits == ["/.well-known/jwks"]


def test_an_es256_token_is_checked_against_pinned_keys_without_fetching(
    api, deployment, issuer, trust
):
    trust(deployment, jwks=issuer.jwks(issuer.ec), jwks_url="")
    response = exchange(api, deployment.pk, issuer.token(key="ec"))
    assert response.status_code == 201, response.content
    assert issuer.hits == []


def test_the_deployment_may_be_named_by_its_id_as_a_string(api, deployment, issuer, trust):
    trust(deployment)
    assert exchange(api, str(deployment.pk), issuer.token()).status_code == 201


def test_the_token_expires_with_the_id_token_when_that_is_sooner(api, deployment, issuer, trust):
    trust(deployment, ttl_seconds=3600)
    exp = int(time.time()) + 120
    body = exchange(api, "shop", issuer.token(exp=exp)).json()
    assert datetime.fromisoformat(body["expires_at"]) == datetime.fromtimestamp(exp, UTC)


def test_a_subject_glob_matches(api, deployment, issuer, trust):
    trust(deployment, subject="repo:acme/shop:*")
    response = exchange(api, "shop", issuer.token(sub="repo:acme/shop:ref:refs/heads/main"))
    assert response.status_code == 201


def test_exp_within_the_skew_is_still_accepted(api, deployment, issuer, trust):
    trust(deployment)
    now = int(time.time())
    assert exchange(api, "shop", issuer.token(exp=now - 30, iat=now + 30)).status_code == 201


def test_an_audience_list_holding_the_policys_is_accepted(api, deployment, issuer, trust):
    trust(deployment)
    assert exchange(api, "shop", issuer.token(aud=["other", AUDIENCE])).status_code == 201


def test_no_authorization_header_is_needed_and_one_is_ignored(api, deployment, issuer, trust):
    trust(deployment)
    response = exchange(api, "shop", issuer.token(), token="mio_pat_whatever")
    assert response.status_code == 201


# Refused ----------------------------------------------------------------------------------


def test_a_bad_signature_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    impostor = RSAKey.generate_key(2048, parameters={"kid": issuer.rsa.kid})
    issuer.rsa, real = impostor, issuer.rsa
    forged = issuer.token()
    issuer.rsa = real
    assert_refused(api, "shop", forged, "signature")


def test_a_tampered_payload_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    header, _, signature = issuer.token().split(".")
    tampered = f"{header}.{b64json(issuer.claims(role='admin'))}.{signature}"
    assert_refused(api, "shop", tampered, "signature")


def test_alg_none_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.unsigned(), "algorithm")


def test_hs256_keyed_with_the_public_key_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.hs256_with_public_key(), "algorithm")


def test_a_wrong_issuer_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.token(iss="https://evil.example"), "issuer")


def test_a_wrong_audience_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.token(aud="someone-else"), "audience")


def test_an_expired_token_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    now = int(time.time())
    assert_refused(api, "shop", issuer.token(exp=now - 61, iat=now - 400), "expired")


def test_a_token_without_exp_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.token(exp=None), "no_expiry")


def test_a_token_not_valid_yet_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.token(nbf=int(time.time()) + 120), "not_yet_valid")


def test_a_token_issued_in_the_future_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.token(iat=int(time.time()) + 120), "issued_in_future")


def test_a_replayed_jti_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    token = issuer.token()
    assert exchange(api, "shop", token).status_code == 201
    OidcToken.objects.all().delete()  # assert_refused checks that nothing is minted
    event = assert_refused(api, "shop", token, "replayed")
    # Its signature verified: the subject is on record (the token is not).
    assert event.actor_label == f"oidc {SUBJECT}"
    other = issuer.token(jti="another")
    assert exchange(api, "shop", other).status_code == 201


def test_a_token_without_jti_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.token(jti=None), "no_jti")


def test_an_unknown_kid_is_refused_after_one_refetch(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.token(kid="rotated-away"), "unknown_kid")
    # The first fetch does not count: one refetch at once.
    assert issuer.hits == ["/.well-known/jwks", "/.well-known/jwks"]
    # Within the minute, another unknown kid fetches nothing.
    assert_refused(api, "shop", issuer.token(kid="still-unknown"), "unknown_kid")
    assert len(issuer.hits) == 2


def test_a_subject_matching_no_policy_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(
        api, "shop", issuer.token(sub="repo:evil/shop:environment:production"), "subject"
    )


def test_a_claim_mismatch_is_refused(api, deployment, issuer, trust):
    trust(deployment, claims={"repository_id": "123456789"})
    assert_refused(api, "shop", issuer.token(repository_id="987654321"), "claims")
    # The same value as a number is not the same claim.
    assert_refused(api, "shop", issuer.token(repository_id=123456789), "claims")


def test_a_policy_of_another_deployment_does_not_count(api, deployment, owner, issuer, trust):
    other = services.create_deployment(
        name="other", actor=Actor(user=owner, label=owner.get_username())
    )
    trust(other)
    event = assert_refused(api, "shop", issuer.token(), "issuer")
    assert event.deployment_name == "shop"
    assert exchange(api, "other", issuer.token()).status_code == 201


def test_an_unknown_deployment_is_refused_like_one_without_a_policy(api, db, issuer):
    event = assert_refused(api, "nowhere", issuer.token(), "issuer")
    assert event.deployment_name == ""


def test_a_token_whose_environment_is_outside_the_policy_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", issuer.token(environment="staging"), "environment")


def test_a_malformed_token_is_refused(api, deployment, issuer, trust):
    trust(deployment)
    assert_refused(api, "shop", "not-a-jwt-at-all", "malformed")


def test_an_unverified_subject_is_not_put_on_record(api, deployment, issuer, trust):
    trust(deployment)
    event = assert_refused(
        api, "shop", issuer.hs256_with_public_key(sub="repo:evil/x"), "algorithm"
    )
    assert "evil" not in event.actor_label
    assert event.actor_label == "oidc (unverified token)"


def test_a_body_without_a_token_is_a_400(api, deployment):
    response = api.post(URL, {"deployment": "shop"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "token"
