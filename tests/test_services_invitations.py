"""Invitation emails through a real SMTP server (aiosmtpd on loopback): the message arrives
after the commit and its link works; a server that refuses leaves the link to the inviter."""

import re
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

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
