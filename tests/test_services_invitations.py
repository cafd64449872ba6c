"""Invitation emails through a real SMTP server (aiosmtpd on loopback): the message arrives
after the commit and its link works; a server that refuses leaves the link to the inviter."""

import re
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from django.contrib.auth import get_user_model

from environments import services
from environments.actors import Actor
from environments.models import Invitation, Membership, Role


class Inbox(Message):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


@pytest.fixture
def smtp_server(settings):
    """An SMTP server on a free loopback port, as the default mailer; stopped after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 5},
        }
    }
    try:
        yield inbox
    finally:
        controller.stop()


def _base_url(raw: str) -> str:
    return f"http://127.0.0.1/invitations/{raw}/"


@pytest.mark.django_db(transaction=True)
def test_the_email_goes_out_after_commit_and_its_link_is_followed(smtp_server, client, owner):
    deployment = services.create_deployment(
        name="shop", actor=Actor(user=owner, label="olivia"), owner=owner
    )
    sent = services.invite_member(
        deployment=deployment,
        email="Newbie@Example.COM",
        role=Role.VIEWER,
        actor=Actor(user=owner, label="olivia"),
        accept_url=lambda raw: f"http://testserver/invitations/{raw}/",
    )
    assert sent.delivered is True and sent.link == ""
    (message,) = smtp_server.messages
    assert message["To"] == "Newbie@example.com"
    assert message["Subject"] == "Join shop on MIOSA Environments"
    body = message.get_payload(decode=True).decode()
    link = re.search(r"http://testserver(/invitations/mio_inv_[A-Za-z0-9_-]+/)", body).group(1)
    assert "olivia invited you" in body and "viewer" in body
    password = "a-long-enough-passphrase-7"
    response = client.post(
        link, {"username": "newbie", "password1": password, "password2": password}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user__username="newbie").role == "viewer"


@pytest.mark.django_db(transaction=True)
def test_a_refused_email_keeps_the_invitation_and_gives_the_link_back(settings, owner, caplog):
    with socket.socket() as probe:  # a port nothing listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2},
        }
    }
    actor = Actor(user=owner, label="olivia")
    deployment = services.create_deployment(name="shop", actor=actor, owner=owner)
    sent = services.invite_member(
        deployment=deployment,
        email="new@example.com",
        role=Role.DEVELOPER,
        actor=actor,
        accept_url=lambda raw: f"http://testserver/invitations/{raw}/",
    )
    assert sent.delivered is False and "/invitations/mio_inv_" in sent.link
    assert Invitation.objects.get().is_pending
    raw = sent.link.rsplit("/", 2)[1]
    assert raw not in caplog.text and "ConnectionRefusedError" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_no_audit_event_no_invitation_and_no_email(smtp_server, owner, monkeypatch):
    """Fail-closed (SPEC §7): an event that cannot be written rolls the invitation back, and the
    email, sent only after a commit, never leaves."""
    from django.db import DatabaseError

    from tests.refuse_audit import refuse_audit_writes

    actor = Actor(user=owner, label="olivia")
    deployment = services.create_deployment(name="shop", actor=actor, owner=owner)

    def refuse(*args, **kwargs):
        raise DatabaseError("audit store unavailable")

    refuse_audit_writes(monkeypatch, refuse)
    with pytest.raises(DatabaseError):
        services.invite_member(
            deployment=deployment,
            email="new@example.com",
            role=Role.VIEWER,
            actor=actor,
            accept_url=lambda raw: f"http://testserver/invitations/{raw}/",
        )
    assert not Invitation.objects.exists()
    assert smtp_server.messages == []


@pytest.mark.django_db(transaction=True)
def test_a_link_accepted_at_once_by_several_visitors_makes_one_member(owner):
    """PostgreSQL: 6 visitors post the same link at the same instant; the deployment's row is
    the lock, so one account is made and joins, the others are told it was used."""
    from tests.concurrently import run_concurrently, skip_unless_postgres

    skip_unless_postgres()
    actor = Actor(user=owner, label="olivia")
    deployment = services.create_deployment(name="shop", actor=actor, owner=owner)
    links = []
    services.invite_member(
        deployment=deployment,
        email="new@example.com",
        role=Role.VIEWER,
        actor=actor,
        accept_url=lambda raw: links.append(raw) or raw,
    )
    (raw,) = links

    def accept(i: int):
        return lambda: services.accept_invitation_with_new_account(
            raw=raw,
            username=f"visitor{i}",
            password="a-long-enough-passphrase-7",
            actor=Actor.system(),
        )

    results = run_concurrently([accept(i) for i in range(6)])
    accepted = [r for r in results if isinstance(r, services.Acceptance)]
    refused = [r for r in results if isinstance(r, services.InvitationUnusable)]
    assert len(accepted) == 1 and len(refused) == 5, results
    assert Membership.objects.filter(deployment=deployment, role=Role.VIEWER).count() == 1
    assert (
        not get_user_model()
        .objects.filter(username__startswith="visitor")
        .exclude(pk=accepted[0].membership.user_id)
    )
