"""Change requests for protected environments (SPEC §15), through the JSON API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from environments import services
from environments.actors import Actor
from environments.errors import Conflict
from environments.models import AuditEvent, ChangeRequest, Release
from tests.conftest import CANARY

FIELDS = {
    "id",
    "environment",
    "kind",
    "base_release",
    "base_revision",
    "target",
    "author",
    "reason",
    "state",
    "approvals",
    "required_approvals",
    "expires_at",
}


@pytest.fixture
def people(member, owner, token_for):
    """Tokens of the owner, two admins, a developer and a viewer."""
    return {
        "owner": token_for(owner),
        "ann": token_for(member("admin", "ann")),
        "bob": token_for(member("admin", "bob")),
        "dev": token_for(member("developer", "dev")),
        "viewer": token_for(member("viewer", "vic")),
    }


@pytest.fixture
def pipeline(deployment, staging, production, actor):
    """production runs v1; staging runs v2."""
    v1 = services.create_version(deployment=deployment, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.deploy_version(environment=production, version=v1, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    return v1, v2


def base(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}"


def protect(api, deployment, token, approvals=2, **policy):
    return api.put(
        f"{base(deployment)}/environments/production/protection",
        {"required_approvals": approvals, **policy},
        token=token,
    )


def open_promotion(api, deployment, token, reason="ship the new checkout") -> dict:
    response = api.post(
        f"{base(deployment)}/promote", {"from": "staging", "reason": reason}, token=token
    )
    assert response.status_code == 202, response.content
    return response.json()["change_request"]


def act(api, deployment, cid, verb, token, body=None):
    return api.post(f"{base(deployment)}/change-requests/{cid}/{verb}", body or {}, token=token)


# Protection -------------------------------------------------------------------------------------


def test_only_an_owner_protects_an_environment(api, deployment, people):
    assert protect(api, deployment, people["ann"]).status_code == 403
    response = protect(api, deployment, people["owner"], 2)
    assert response.status_code == 200
    assert response.json()["protection"] == {
        "environment": "production",
        "required_approvals": 2,
        "allow_self_approval": False,
        "break_glass": True,
    }
    got = api.get(f"{base(deployment)}/environments/production/protection", token=people["dev"])
    assert got.json()["protection"]["required_approvals"] == 2
    assert AuditEvent.objects.filter(action="environment.protection").count() == 1
    assert protect(api, deployment, people["owner"], 6).status_code == 400


# Opening ----------------------------------------------------------------------------------------


def test_a_promotion_into_a_protected_environment_opens_a_request(
    api, deployment, production, pipeline, people
):
    protect(api, deployment, people["owner"], 2)
    request = open_promotion(api, deployment, people["dev"])
    assert set(request) == FIELDS
    assert request["state"] == "open" and request["approvals"] == []
    assert request["kind"] == "promote" and request["environment"] == "production"
    assert request["base_release"] == 1 and request["base_revision"] == 1
    assert request["target"] == {"version": 2, "config_revision": 1, "source": "staging"}
    assert request["author"] == "dev" and request["reason"] == "ship the new checkout"
    assert request["required_approvals"] == 2
    production.refresh_from_db()
    assert production.active_version.number == 1  # nothing released
    assert Release.objects.filter(environment=production).count() == 1
    assert AuditEvent.objects.filter(action="change_request.open").count() == 1


def test_deploy_apply_and_rollback_open_requests_too(
    api, deployment, production, pipeline, people, actor
):
    protect(api, deployment, people["owner"], 1)
    owner = people["owner"]
    deployed = api.post(
        f"{base(deployment)}/deploy", {"environment": "production", "version": 2}, token=owner
    )
    assert deployed.status_code == 202 and deployed.json()["change_request"]["kind"] == "deploy"
    services.set_variable(
        environment=production, key="LOG_LEVEL", value="debug", is_secret=False, actor=actor
    )
    applied = api.post(
        f"{base(deployment)}/apply", {"environment": "production", "reason": "x"}, token=owner
    )
    assert applied.status_code == 202
    assert applied.json()["change_request"]["base_revision"] == 2
    rolled = api.post(
        f"{base(deployment)}/rollback", {"environment": "production", "release": 1}, token=owner
    )
    assert rolled.status_code == 409  # release 1 is live already: checked before asking
    listed = api.get(f"{base(deployment)}/change-requests?state=open", token=people["viewer"])
    assert [r["kind"] for r in listed.json()["change_requests"]] == ["apply", "deploy"]


def test_a_developer_may_ask_for_production_only_when_it_is_protected(
    api, deployment, pipeline, people
):
    refused = api.post(f"{base(deployment)}/promote", {"from": "staging"}, token=people["dev"])
    assert refused.status_code == 403
    protect(api, deployment, people["owner"], 1)
    open_promotion(api, deployment, people["dev"])
    viewer = api.post(f"{base(deployment)}/promote", {"from": "staging"}, token=people["viewer"])
    assert viewer.status_code == 403


# Reviews ---------------------------------------------------------------------------------------


def test_approvals_count_distinct_reviewers_and_not_the_author(
    api, deployment, production, pipeline, people
):
    protect(api, deployment, people["owner"], 2)
    cid = open_promotion(api, deployment, people["ann"])["id"]
    assert act(api, deployment, cid, "approve", people["dev"]).status_code == 403
    own = act(api, deployment, cid, "approve", people["ann"])
    assert (own.status_code, own.json()["error"]["code"]) == (409, "self_approval")
    assert (
        act(api, deployment, cid, "approve", people["bob"], {"comment": "lgtm"}).status_code == 200
    )
    again = act(api, deployment, cid, "approve", people["bob"])
    assert again.status_code == 409
    early = act(api, deployment, cid, "apply", people["bob"])
    assert (early.status_code, early.json()["error"]["code"]) == (409, "not_approved")
    approved = act(api, deployment, cid, "approve", people["owner"])
    assert [a["reviewer"] for a in approved.json()["change_request"]["approvals"]] == [
        "bob",
        "olivia",
    ]
    applied = act(api, deployment, cid, "apply", people["bob"])
    assert applied.status_code == 200
    body = applied.json()
    assert body["change_request"]["state"] == "applied"
    assert (body["release"]["number"], body["release"]["version"]) == (2, 2)
    assert body["release"]["kind"] == "promote"
    production.refresh_from_db()
    assert production.active_version.number == 2
    assert AuditEvent.objects.filter(action="change_request.approve").count() == 2
    assert AuditEvent.objects.filter(action="change_request.apply").count() == 1
    twice = act(api, deployment, cid, "apply", people["bob"])
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "not_open")


def test_self_approval_counts_where_the_policy_allows_it(
    api, deployment, production, pipeline, people
):
    protect(api, deployment, people["owner"], 1, allow_self_approval=True)
    cid = open_promotion(api, deployment, people["ann"])["id"]
    assert act(api, deployment, cid, "approve", people["ann"]).status_code == 200
    assert act(api, deployment, cid, "apply", people["ann"]).status_code == 200


def test_a_rejection_closes_the_request(api, deployment, production, pipeline, people):
    protect(api, deployment, people["owner"], 1)
    cid = open_promotion(api, deployment, people["dev"])["id"]
    rejected = act(api, deployment, cid, "reject", people["ann"], {"comment": "not on Friday"})
    assert rejected.json()["change_request"]["state"] == "rejected"
    assert rejected.json()["change_request"]["approvals"][0]["comment"] == "not on Friday"
    assert act(api, deployment, cid, "approve", people["bob"]).status_code == 409
    assert act(api, deployment, cid, "apply", people["owner"]).status_code == 409
    assert AuditEvent.objects.filter(action="change_request.reject").count() == 1


def test_the_author_cancels_their_request(api, deployment, pipeline, people):
    protect(api, deployment, people["owner"], 1)
    cid = open_promotion(api, deployment, people["dev"])["id"]
    assert act(api, deployment, cid, "cancel", people["ann"]).status_code == 403
    cancelled = act(api, deployment, cid, "cancel", people["dev"])
    assert cancelled.json()["change_request"]["state"] == "cancelled"
    assert AuditEvent.objects.filter(action="change_request.cancel").count() == 1


# Stale-safe apply -----------------------------------------------------------------------------


def test_an_approved_request_is_stale_after_another_release(
    api, deployment, production, pipeline, people, actor
):
    protect(api, deployment, people["owner"], 1)
    cid = open_promotion(api, deployment, people["dev"])["id"]
    act(api, deployment, cid, "approve", people["ann"])
    # Meanwhile a config change is committed (pending, staged): the base's revision moved on.
    services.set_variable(
        environment=production, key="FEATURE", value="on", is_secret=False, actor=actor
    )
    stale = act(api, deployment, cid, "apply", people["ann"])
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "stale")
    assert ChangeRequest.objects.get(pk=cid).state == "stale"
    assert AuditEvent.objects.filter(action="change_request.stale").count() == 1
    production.refresh_from_db()
    assert production.active_version.number == 1


def test_two_requests_from_one_base_release_only_once(api, deployment, production, people, actor):
    v1 = services.create_version(deployment=deployment, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    staging = deployment.environments.get(name="staging")
    for version in (v1, v2):
        services.deploy_version(environment=staging, version=version, actor=actor)
    services.deploy_version(environment=production, version=v1, actor=actor)
    protect(api, deployment, people["owner"], 1)
    first = open_promotion(api, deployment, people["dev"])["id"]
    second = api.post(
        f"{base(deployment)}/deploy",
        {"environment": "production", "version": 2},
        token=people["dev"],
    ).json()["change_request"]["id"]
    for cid in (first, second):
        act(api, deployment, cid, "approve", people["ann"])
    assert act(api, deployment, first, "apply", people["ann"]).status_code == 200
    assert act(api, deployment, second, "apply", people["ann"]).json()["error"]["code"] == "stale"


# Break-glass ----------------------------------------------------------------------------------


def test_break_glass_is_for_owners_with_a_reason_and_is_audited(
    api, deployment, production, pipeline, people
):
    protect(api, deployment, people["owner"], 2)
    cid = open_promotion(api, deployment, people["dev"])["id"]
    glass = {"break_glass": True, "reason": "checkout is down for everyone"}
    assert act(api, deployment, cid, "apply", people["ann"], glass).status_code == 403
    short = act(
        api, deployment, cid, "apply", people["owner"], {"break_glass": True, "reason": "now"}
    )
    assert short.status_code == 400
    applied = act(api, deployment, cid, "apply", people["owner"], glass)
    assert applied.status_code == 200 and applied.json()["change_request"]["state"] == "applied"
    event = AuditEvent.objects.get(action="change_request.break_glass")
    assert event.detail["reason"] == "checkout is down for everyone"
    assert event.actor_label == "olivia (token ci)"
    assert not AuditEvent.objects.filter(action="change_request.apply").exists()


def test_break_glass_is_refused_where_the_policy_forbids_it(api, deployment, pipeline, people):
    protect(api, deployment, people["owner"], 1, break_glass=False)
    cid = open_promotion(api, deployment, people["dev"])["id"]
    glass = {"break_glass": True, "reason": "checkout is down for everyone"}
    refused = act(api, deployment, cid, "apply", people["owner"], glass)
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "break_glass_not_allowed",
    )


def test_turning_protection_off_leaves_open_requests_needing_approval(
    api, deployment, pipeline, people
):
    protect(api, deployment, people["owner"], 1)
    cid = open_promotion(api, deployment, people["dev"])["id"]
    protect(api, deployment, people["owner"], 0)
    assert (
        api.get(f"{base(deployment)}/change-requests/{cid}", token=people["dev"]).json()[
            "change_request"
        ]["state"]
        == "open"
    )
    assert act(api, deployment, cid, "apply", people["ann"]).json()["error"]["code"] == (
        "not_approved"
    )
    glass = {"break_glass": True, "reason": "protection is off, ship it"}
    assert act(api, deployment, cid, "apply", people["owner"], glass).status_code == 200


# Expiry --------------------------------------------------------------------------------------


def test_open_requests_expire_after_seven_days(api, deployment, pipeline, people):
    protect(api, deployment, people["owner"], 1)
    request = open_promotion(api, deployment, people["dev"])
    row = ChangeRequest.objects.get(pk=request["id"])
    assert timedelta(days=6, hours=23) < row.expires_at - timezone.now() <= timedelta(days=7)
    call_command("expire_change_requests", stdout=open_null())
    assert ChangeRequest.objects.get(pk=row.pk).state == "open"
    ChangeRequest.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.expire_change_requests() == 1
    assert ChangeRequest.objects.get(pk=row.pk).state == "expired"
    assert AuditEvent.objects.filter(action="change_request.expire").count() == 1
    assert act(api, deployment, row.pk, "approve", people["ann"]).status_code == 409


def test_an_expired_request_is_refused_even_before_the_periodic_run(
    api, deployment, pipeline, people
):
    protect(api, deployment, people["owner"], 1)
    cid = open_promotion(api, deployment, people["dev"])["id"]
    ChangeRequest.objects.filter(pk=cid).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = act(api, deployment, cid, "approve", people["ann"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "expired")
    assert ChangeRequest.objects.get(pk=cid).state == "expired"


# Access and values ------------------------------------------------------------------------------


def test_outsiders_get_404_and_wrong_methods_405(api, deployment, pipeline, people, role_token):
    protect(api, deployment, people["owner"], 1)
    cid = open_promotion(api, deployment, people["dev"])["id"]
    stranger = role_token("outsider")
    assert api.get(f"{base(deployment)}/change-requests/{cid}", token=stranger).status_code == 404
    assert act(api, deployment, cid, "approve", stranger).status_code == 404
    assert (
        api.get(
            f"{base(deployment)}/change-requests/{cid}/approve", token=people["ann"]
        ).status_code
        == 405
    )
    assert (
        api.get(f"{base(deployment)}/change-requests/999", token=people["ann"]).status_code == 404
    )


def test_no_value_is_in_a_request(api, deployment, production, pipeline, people, actor):
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    services.set_variable(
        environment=production, key="API_URL", value=CANARY, is_secret=False, actor=actor
    )
    protect(api, deployment, people["owner"], 1)
    open_promotion(api, deployment, people["dev"])
    listed = api.get(f"{base(deployment)}/change-requests", token=people["ann"])
    assert CANARY not in listed.content.decode()
    assert CANARY[:8] not in listed.content.decode()


def open_null():
    import io

    return io.StringIO()


def test_the_service_refuses_a_developer_release_when_protection_went_off(
    deployment, production, pipeline, member
):
    developer = member("developer", "dee")
    with pytest.raises(Exception) as refused:
        services.promote(
            source=deployment.environments.get(name="staging"),
            version_number=2,
            expected_target_version=services.ANY_VERSION,
            actor=Actor(user=developer, label="dee"),
            may_release=False,
        )
    assert "not protected" in str(refused.value)
    production.refresh_from_db()
    assert production.active_version.number == 1


def test_deleting_an_environment_or_the_deployment_takes_its_requests(
    deployment, production, pipeline, actor
):
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    services.deploy_version(environment=qa, version=pipeline[0], actor=actor)
    for environment in (qa, production):
        services.set_protection(environment=environment, required_approvals=1, actor=actor)
    assert isinstance(
        services.deploy_version(environment=qa, version=pipeline[1], actor=actor), ChangeRequest
    )
    services.deploy_version(environment=production, version=pipeline[1], actor=actor)
    services.delete_environment(environment=qa, actor=actor)
    assert list(ChangeRequest.objects.values_list("environment__name", flat=True)) == ["production"]
    services.delete_deployment(deployment=deployment, actor=actor)
    assert not ChangeRequest.objects.exists()


# A protected environment's config changes are staged ------------------------------------------


def test_protecting_an_immediate_environment_stages_its_changes(
    api, deployment, staging, people, actor, client, owner
):
    """In an immediate environment each committed change would be a release no one approved:
    protecting it makes it staged, a change then waits, and its apply opens a request."""
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=qa, version=version, actor=actor)
    assert not qa.is_staged
    response = api.put(
        f"{base(deployment)}/environments/qa/protection",
        {"required_approvals": 1},
        token=people["owner"],
    )
    assert response.status_code == 200, response.content
    qa.refresh_from_db()
    assert qa.is_staged
    switch = AuditEvent.objects.get(action="environment.config_changes")
    assert (switch.target, switch.detail) == ("staged", {"because": "protected"})
    releases = Release.objects.filter(environment=qa).count()
    services.set_variable(environment=qa, key="FEATURE", value="on", is_secret=False, actor=actor)
    assert Release.objects.filter(environment=qa).count() == releases  # pending, not live
    applied = api.post(
        f"{base(deployment)}/apply",
        {"environment": "qa", "reason": "turn it on"},
        token=people["dev"],
    )
    assert applied.status_code == 202, applied.content
    assert applied.json()["change_request"]["kind"] == "apply"
    assert Release.objects.filter(environment=qa).count() == releases

    # Back to immediate while protected: refused, on the page as in the service.
    with pytest.raises(Conflict) as refused:
        services.set_config_changes(environment=qa, mode="immediate", actor=actor)
    assert refused.value.code == "protected"
    client.force_login(owner)
    page = client.post(
        f"/deployments/{deployment.pk}/env/qa/-/config-changes/", {"config_changes": "immediate"}
    )
    assert page.status_code == 409 and b"is protected" in page.content
    qa.refresh_from_db()
    assert qa.is_staged

    # Protection off: it stays staged, and may be switched back.
    protect_off = api.put(
        f"{base(deployment)}/environments/qa/protection",
        {"required_approvals": 0},
        token=people["owner"],
    )
    assert protect_off.status_code == 200
    qa.refresh_from_db()
    assert qa.is_staged
    assert AuditEvent.objects.filter(action="environment.config_changes").count() == 1
