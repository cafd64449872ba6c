"""Change requests on the pages (SPEC §15): a promotion into a protected production asks, the
review page shows what goes live by name (values only after an audited reveal), reviewers
approve and apply in place, and the pipeline says so."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from environments import services
from environments.actors import Actor
from environments.models import AuditEvent, ChangeRequest, Role
from tests.conftest import CANARY
from tests.web.conftest import HX


@pytest.fixture
def protected(deployment, production, versions, actor):
    services.set_protection(environment=production, required_approvals=1, actor=actor)
    return production


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def promote_url(deployment) -> str:
    return reverse("promote", kwargs={"deployment_id": deployment.pk, "name": "staging"})


def request_url(deployment, cid: int, view: str = "change_request") -> str:
    return reverse(view, kwargs={"deployment_id": deployment.pk, "pk": cid})


def test_the_pipeline_shows_protection_and_asks_developers_to_request(
    deployment, protected, member
):
    developer = login(member("developer", "dev"))
    page = developer.get(reverse("deployment", kwargs={"deployment_id": deployment.pk}))
    html = page.content.decode()
    assert "protected: 1 approval" in html
    assert "Request to promote v2 to production" in html
    confirm = developer.get(promote_url(deployment)).content.decode()
    assert "Request to promote v2 from staging to production?" in confirm
    assert 'name="reason"' in confirm


def test_a_developer_requests_a_promotion_and_lands_on_its_review_page(
    deployment, production, protected, member
):
    developer = login(member("developer", "dev"))
    response = developer.post(
        promote_url(deployment), {"version": 2, "target_version": 1, "reason": "new checkout"}
    )
    request = ChangeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == request_url(
        deployment, request.pk
    )
    assert (request.kind, request.author_label, request.reason) == (
        "promote",
        "dev",
        "new checkout",
    )
    production.refresh_from_db()
    assert production.active_version.number == 1
    page = developer.get(response["Location"]).content.decode()
    assert "Request to promote v2 to production" in page
    assert "new checkout" in page and "0 of 1 approval" in page
    assert "Approve" not in page  # a developer may ask, not review
    pipeline = developer.get(reverse("deployment", kwargs={"deployment_id": deployment.pk}))
    assert "1 open request" in pipeline.content.decode()
    assert developer.post(request_url(deployment, request.pk, "change_request_review"), {
        "decision": "approve"
    }).status_code == 403  # fmt: skip


def test_an_admin_approves_and_applies_in_place(deployment, production, protected, member, actor):
    author = member("developer", "dev")
    request = services.promote(
        source=deployment.environments.get(name="staging"),
        version_number=2,
        expected_target_version=1,
        actor=Actor(user=author, label="dev"),
        may_release=False,
    )
    admin = login(member(Role.ADMIN, "ann"))
    approved = admin.post(
        request_url(deployment, request.pk, "change_request_review"),
        {"decision": "approve", "comment": "looks right"},
        **HX,
    )
    html = approved.content.decode()
    assert approved.status_code == 200 and 'id="review"' in html and "<html" not in html
    assert "looks right" in html and "1 of 1 approval" in html
    applied = admin.post(request_url(deployment, request.pk, "change_request_apply"), {}, **HX)
    assert "Applied: production runs release 2 · v2" in applied.content.decode()
    production.refresh_from_db()
    assert production.active_version.number == 2


def test_a_stale_request_offers_to_ask_again(deployment, production, protected, member, actor):
    request = services.promote(
        source=deployment.environments.get(name="staging"),
        version_number=2,
        expected_target_version=1,
        actor=Actor(user=member("developer", "dev"), label="dev"),
        may_release=False,
    )
    services.set_variable(
        environment=production, key="LATE", value="1", is_secret=False, actor=actor
    )
    admin = login(member(Role.ADMIN, "ann"))
    admin.post(
        request_url(deployment, request.pk, "change_request_review"), {"decision": "approve"}
    )
    refused = admin.post(request_url(deployment, request.pk, "change_request_apply"), {})
    assert refused.status_code == 409
    assert "Request again from the current state" in refused.content.decode()
    again = admin.post(request_url(deployment, request.pk, "change_request_again"))
    fresh = ChangeRequest.objects.exclude(pk=request.pk).get()
    assert again["Location"] == request_url(deployment, fresh.pk)
    assert (fresh.state, fresh.base_revision) == ("open", production.config_revision + 1)


def test_owners_protect_an_environment_on_its_page(deployment, production, owner, member):
    url = reverse(
        "environment_protection", kwargs={"deployment_id": deployment.pk, "name": "production"}
    )
    admin = login(member(Role.ADMIN, "ann"))
    assert admin.post(url, {"required_approvals": 2}).status_code == 403
    saved = login(owner).post(url, {"required_approvals": 2, "break_glass": "on"}, **HX)
    assert "production is protected: a release needs 2 approvals." in saved.content.decode()
    assert production.protection.required_approvals == 2


def test_break_glass_shows_on_the_pipeline_and_history(deployment, production, protected, owner):
    request = services.promote(
        source=deployment.environments.get(name="staging"),
        version_number=2,
        expected_target_version=1,
        actor=Actor(user=owner, label="olivia"),
    )
    client = login(owner)
    client.post(
        request_url(deployment, request.pk, "change_request_apply"),
        {"break_glass": "on", "reason": "checkout is down for everyone"},
    )
    pipeline = client.get(reverse("deployment", kwargs={"deployment_id": deployment.pk}))
    assert "Applied without approval by olivia: checkout is down for everyone" in (
        pipeline.content.decode()
    )
    history = client.get(
        reverse(
            "environment_history", kwargs={"deployment_id": deployment.pk, "name": "production"}
        )
    )
    assert "applied without approval by" in history.content.decode()
    assert AuditEvent.objects.filter(action="change_request.break_glass").count() == 1


def test_no_value_on_the_review_page_until_an_admin_reveals(
    deployment, production, protected, member, actor
):
    services.set_variable(
        environment=production, key="API_URL", value=CANARY, is_secret=False, actor=actor
    )
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY + "-s", is_secret=True, actor=actor
    )
    request = services.apply_changes(
        environment=production, actor=Actor(user=member("developer", "dev"), label="dev"),
        may_release=False,
    )  # fmt: skip
    admin = login(member(Role.ADMIN, "ann"))
    page = admin.get(request_url(deployment, request.pk)).content.decode()
    assert "API_URL" in page and "STRIPE_KEY" in page
    assert CANARY[:8] not in page
    revealed = admin.post(request_url(deployment, request.pk, "change_request_reveal"), **HX)
    html = revealed.content.decode()
    assert CANARY in html and CANARY + "-s" not in html
    assert AuditEvent.objects.filter(action="variable.reveal").count() == 1


@pytest.mark.parametrize("role", ["outsider", Role.VIEWER])
def test_access(deployment, protected, member, make_user, actor, role):
    request = services.promote(
        source=deployment.environments.get(name="staging"),
        version_number=2,
        expected_target_version=1,
        actor=actor,
    )
    user = make_user("outsider") if role == "outsider" else member(role)
    client = login(user)
    page = client.get(request_url(deployment, request.pk))
    assert page.status_code == (404 if role == "outsider" else 200)
    review = client.post(request_url(deployment, request.pk, "change_request_review"), {})
    assert review.status_code == (404 if role == "outsider" else 403)
    assert client.get(request_url(deployment, request.pk, "change_request_apply")).status_code in (
        404,
        405,
    )


def test_a_developer_requests_to_apply_pending_changes_in_a_protected_environment(
    deployment, production, protected, member, actor
):
    """Pending changes in a protected production: its Apply is a request, which a developer
    (who may not release there) may make, with a reason, and which releases nothing."""
    services.set_variable(
        environment=production, key="FEATURE", value="on", is_secret=False, actor=actor
    )
    developer = login(member("developer", "dev"))
    env_url = reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "production"})
    apply_url = reverse(
        "apply_changes", kwargs={"deployment_id": deployment.pk, "name": "production"}
    )
    assert "Request to apply 1 change" in " ".join(developer.get(env_url).content.decode().split())
    confirm = " ".join(developer.get(apply_url, headers=HX).content.decode().split())
    assert "Request to apply 1 pending change to production?" in confirm
    assert 'name="reason"' in confirm and "opens a change request" in confirm
    releases = production.releases.count()
    response = developer.post(apply_url, {"expected_revision": 2, "reason": "feature on"})
    request = ChangeRequest.objects.get()
    assert (request.kind, request.reason) == ("apply", "feature on")
    assert response.status_code == 302 and response["Location"] == request_url(
        deployment, request.pk
    )
    assert production.releases.count() == releases

    # Without protection the developer is not offered the Apply of production at all.
    services.set_protection(environment=production, required_approvals=0, actor=actor)
    page = " ".join(developer.get(env_url).content.decode().split())
    assert "1 pending change" in page and "Request to apply" not in page
    assert "Apply 1 change" not in page


def test_the_deploy_page_asks_for_a_request_with_a_reason(
    deployment, production, protected, member
):
    """Deploying into a protected environment from its page opens a request: the confirmation
    says so and takes the reviewers' reason, which the request keeps."""
    admin = login(member("admin", "ann"))
    url = reverse("deploy_version", kwargs={"deployment_id": deployment.pk, "name": "production"})
    confirm = " ".join(admin.get(url, {"version": 2}).content.decode().split())
    assert "Request to deploy v2 to production?" in confirm
    assert "opens a change request" in confirm and 'name="reason"' in confirm
    response = admin.post(url, {"version": 2, "confirmed": "on", "reason": "hotfix for checkout"})
    request = ChangeRequest.objects.get()
    assert (request.kind, request.reason) == ("deploy", "hotfix for checkout")
    assert response.status_code == 302 and response["Location"] == request_url(
        deployment, request.pk
    )


def test_a_developer_requests_a_rollback_with_a_reason(
    deployment, production, protected, member, actor
):
    """In a protected environment a developer may ask for a rollback from the history page:
    the row's confirmation says it is a request and takes a reason."""
    services.set_protection(environment=production, required_approvals=0, actor=actor)
    services.set_variable(
        environment=production, key="FEATURE", value="on", is_secret=False, actor=actor
    )
    services.apply_changes(environment=production, expected_revision=2, actor=actor)
    services.set_protection(environment=production, required_approvals=1, actor=actor)
    developer = login(member("developer", "dev"))
    url = reverse(
        "environment_history", kwargs={"deployment_id": deployment.pk, "name": "production"}
    )
    asked = " ".join(
        developer.get(url, {"release": 1, "config": "restore"}, headers=HX).content.decode().split()
    )
    assert "Request to roll production back to release 1" in asked
    assert 'name="reason"' in asked
    rollback = reverse("rollback", kwargs={"deployment_id": deployment.pk, "name": "production"})
    response = developer.post(
        rollback,
        {"release": 1, "config": "restore", "confirmed": "yes", "reason": "bad config"},
    )
    request = ChangeRequest.objects.get()
    assert (request.kind, request.reason) == ("rollback", "bad config")
    assert response.status_code == 302
