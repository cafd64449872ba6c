"""Two approvers apply one change request at the same instant, through the HTTP stack: one
release is made, the other is told 409 (SPEC §15). PostgreSQL only: SQLite serializes writers."""

from __future__ import annotations

import pytest
from django.test import Client

from environments import services
from environments.actors import Actor
from environments.models import ChangeRequest, Environment, Release
from tests.concurrently import run_concurrently, skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def needs_postgres():
    skip_unless_postgres()


def test_two_approvers_applying_at_once_make_one_release(deployment, owner, member, actor):
    staging = Environment.objects.get(deployment=deployment, name="staging")
    production = Environment.objects.get(deployment=deployment, name="production")
    v1 = services.create_version(deployment=deployment, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.deploy_version(environment=production, version=v1, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    services.set_protection(environment=production, required_approvals=2, actor=actor)
    developer = member("developer", "dev")
    request = services.promote(
        source=staging,
        version_number=2,
        expected_target_version=1,
        actor=Actor(user=developer, label="dev"),
        may_release=False,
    )
    assert isinstance(request, ChangeRequest)
    admins = [member("admin", "ann"), member("admin", "bob")]
    tokens = []
    for admin in admins:
        services.approve_change_request(
            change_request=request, actor=Actor(user=admin, label=admin.get_username())
        )
        tokens.append(services.create_api_token(user=admin, name="ci", actor=actor)[1])
    url = f"/api/v1/deployments/{deployment.pk}/change-requests/{request.pk}/apply"

    def apply(token: str):
        return Client().post(
            url, {}, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
        )

    responses = run_concurrently([lambda t=t: apply(t) for t in tokens], timeout=60)
    assert sorted(r.status_code for r in responses) == [200, 409], responses
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["error"]["code"] == "not_open"
    releases = list(Release.objects.filter(environment=production).order_by("number"))
    assert [(r.number, r.kind, r.version_id) for r in releases] == [
        (1, "deploy", v1.pk),
        (2, "promote", v2.pk),
    ]
    assert ChangeRequest.objects.get(pk=request.pk).state == "applied"
