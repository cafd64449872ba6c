"""Invitations by email: the members page invites and revokes (asked in place), the one-time
link makes the account or adds the membership; used, revoked and expired links say so."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from environments import services
from environments.models import AuditEvent, Invitation, Membership, Role

from .conftest import HX

LINK = re.compile(r"http://testserver/invitations/(mio_inv_[A-Za-z0-9_-]+)/")


@pytest.fixture
def owner_client(as_role):
    return as_role(Role.OWNER)


def _members(deployment):
    return reverse("members", kwargs={"deployment_id": deployment.pk})


def _invite(client, deployment, email="new@example.com", role="developer"):
    url = reverse("member_invite", kwargs={"deployment_id": deployment.pk})
    return client.post(url, {"email": email, "role": role})


def _sent_link(django_capture_on_commit_callbacks, client, deployment, **kw) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(client, deployment, **kw)
    assert response.status_code == 302, response.content.decode()[:2000]
    (message,) = mail.outbox
    return LINK.search(message.body).group(0)


def test_invite_sends_a_one_time_link_and_stores_only_its_hash(
    owner_client, deployment, django_capture_on_commit_callbacks
):
    link = _sent_link(django_capture_on_commit_callbacks, owner_client, deployment)
    raw = LINK.search(link).group(1)
    invitation = Invitation.objects.get()
    assert invitation.email == "new@example.com" and invitation.role == "developer"
    assert invitation.token_hash == services.hash_token(raw)
    assert raw not in str(list(Invitation.objects.values()))
    assert timedelta(days=6, hours=23) < invitation.expires_at - timezone.now() <= timedelta(7)
    event = AuditEvent.objects.get(action="member.invite")
    assert event.target == "new@example.com" and event.detail["role"] == "developer"
    assert raw not in str(event.detail) and raw not in event.target
    page = owner_client.get(_members(deployment)).content.decode()
    assert "Pending invitations" in page and "new@example.com" in page and raw not in page
    (message,) = mail.outbox
    assert message.to == ["new@example.com"] and "shop" in message.subject


def test_a_visitor_makes_an_account_and_joins(
    owner_client, client, deployment, django_capture_on_commit_callbacks
):
    link = _sent_link(django_capture_on_commit_callbacks, owner_client, deployment)
    client.logout()
    page = client.get(link)
    assert page.status_code == 200 and "Create your account" in page.content.decode()
    assert page["Cache-Control"].count("no-store")
    weak = client.post(link, {"username": "newbie", "password1": "abc", "password2": "abc"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    assert not Membership.objects.filter(user__username="newbie").exists()
    password = "a-long-enough-passphrase-7"
    done = client.post(link, {"username": "newbie", "password1": password, "password2": password})
    assert done.status_code == 302
    assert done["Location"] == reverse("deployment", kwargs={"deployment_id": deployment.pk})
    membership = Membership.objects.select_related("user").get(user__username="newbie")
    assert membership.role == "developer" and membership.user.email == "new@example.com"
    assert client.get(done["Location"]).status_code == 200  # logged in
    assert AuditEvent.objects.filter(action="member.invite_accept", target="newbie").exists()
    used = client.get(link)
    assert used.status_code == 410 and "already used" in used.content.decode()


def test_a_signed_in_user_joins_with_their_account(
    owner_client, client, deployment, make_user, django_capture_on_commit_callbacks
):
    link = _sent_link(django_capture_on_commit_callbacks, owner_client, deployment)
    dana = make_user("dana")  # another address: the link is the credential (as on Railway)
    client.force_login(dana)
    assert "Join shop as dana" in client.get(link).content.decode()
    response = client.post(link)
    assert response.status_code == 302
    assert Membership.objects.get(user=dana).role == "developer"
    assert Invitation.objects.get().accepted_by == dana


def test_an_existing_member_keeps_their_role(
    owner_client, client, deployment, member, django_capture_on_commit_callbacks
):
    admin = member(Role.ADMIN, "ada")
    link = _sent_link(django_capture_on_commit_callbacks, owner_client, deployment, role="viewer")
    client.force_login(admin)
    client.post(link)
    assert Membership.objects.get(user=admin).role == "admin"


def test_revoke_is_asked_in_place_then_the_link_is_dead(
    owner_client, deployment, django_capture_on_commit_callbacks
):
    link = _sent_link(django_capture_on_commit_callbacks, owner_client, deployment)
    invitation = Invitation.objects.get()
    asked = owner_client.get(_members(deployment), {"revoke": invitation.pk}, **HX)
    html = asked.content.decode()
    assert "Revoke the invitation of new@example.com?" in html
    assert "hx-confirm" not in html and html.count("data-escape") == 1
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    url = reverse("invitation_revoke", kwargs={"deployment_id": deployment.pk, "pk": invitation.pk})
    owner_client.post(url, {"confirmed": "yes"})
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert AuditEvent.objects.filter(action="member.invite_revoke").exists()
    owner_client.logout()
    dead = owner_client.get(link)
    assert dead.status_code == 410 and "was revoked" in dead.content.decode()
    assert "olivia" in dead.content.decode()  # who can send a new one
    refused = owner_client.post(
        link, {"username": "x", "password1": "a-long-pass-99", "password2": "a-long-pass-99"}
    )
    assert refused.status_code == 410 and not Membership.objects.filter(user__username="x")


def test_an_expired_or_unknown_link_says_so(
    owner_client, client, deployment, django_capture_on_commit_callbacks
):
    link = _sent_link(django_capture_on_commit_callbacks, owner_client, deployment)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client.logout()
    expired = client.get(link)
    assert expired.status_code == 410 and "has expired" in expired.content.decode()
    unknown = client.get(reverse("invitation", kwargs={"token": "mio_inv_nothing"}))
    assert unknown.status_code == 404 and "not valid" in unknown.content.decode()


def test_inviting_twice_or_a_member_is_refused_next_to_the_field(
    owner_client, deployment, member, django_capture_on_commit_callbacks
):
    _sent_link(django_capture_on_commit_callbacks, owner_client, deployment)
    again = _invite(owner_client, deployment, email="NEW@example.com")
    assert again.status_code == 409 and "already has a pending invitation" in again.content.decode()
    user = member(Role.VIEWER, "vic")
    user.email = "vic@example.com"
    user.save()
    taken = _invite(owner_client, deployment, email="vic@example.com")
    assert taken.status_code == 409 and "already a member" in taken.content.decode()
    bad = _invite(owner_client, deployment, email="not-an-email")
    assert bad.status_code == 400 and Invitation.objects.count() == 1


@pytest.mark.parametrize("role", ["outsider", Role.VIEWER, Role.DEVELOPER, Role.ADMIN])
def test_only_owners_invite(as_role, deployment, role):
    response = _invite(as_role(role), deployment)
    assert response.status_code == (404 if role == "outsider" else 403)
    assert not Invitation.objects.exists()


def test_the_members_page_costs_the_same_with_many_invitations(owner_client, deployment, owner):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from environments.actors import Actor

    def invite(n: int) -> None:
        services.invite_member(
            deployment=deployment,
            email=f"p{n}@example.com",
            role=Role.VIEWER,
            actor=Actor(user=owner, label="olivia"),
            accept_url=lambda raw: raw,
        )

    invite(0)
    with CaptureQueriesContext(connection) as one:
        owner_client.get(_members(deployment))
    for n in range(1, 30):
        invite(n)
    with CaptureQueriesContext(connection) as many:
        html = owner_client.get(_members(deployment)).content.decode()
    assert "p29@example.com" in html
    assert len(many) == len(one)
