"""The login page: passwords are hashed with Argon2 (SPEC §12)."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.test import override_settings
from django.urls import reverse

from project import settings as project_settings

pytestmark = pytest.mark.django_db


def test_argon2_is_the_first_password_hasher():
    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


@override_settings(PASSWORD_HASHERS=project_settings.PASSWORD_HASHERS)
def test_a_pbkdf2_hash_is_upgraded_to_argon2_at_login(client, make_user):
    user = make_user("alice")
    user.password = make_password("an-old-password", hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])
    assert user.password.startswith("pbkdf2_sha256$")

    response = client.post(reverse("login"), {"username": "alice", "password": "an-old-password"})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2")
    assert user.check_password("an-old-password")
