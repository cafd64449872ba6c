"""manage.py create_api_token / create_runtime_token: --expires-in-days N, --no-expiry."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from environments import services
from environments.actors import Actor
from environments.models import ApiToken, RuntimeToken

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def _days(token) -> int:
    return round((token.expires_at - timezone.now()) / timedelta(days=1))


@pytest.fixture
def shop(make_user):
    owner = make_user("ci-bot")
    services.create_deployment(name="shop", actor=Actor(user=owner, label="ci-bot"))


def test_a_personal_token_expires_in_90_days_by_default(shop):
    raw = run("create_api_token", "ci-bot")
    assert raw.startswith("mio_pat_") and "\n" not in raw
    assert _days(ApiToken.objects.get()) == 90


@pytest.mark.parametrize(("days", "expected"), [("1", 1), ("30", 30), ("365", 365)])
def test_a_personal_token_takes_its_lifetime(shop, days, expected):
    run("create_api_token", "ci-bot", "--expires-in-days", days)
    assert _days(ApiToken.objects.get()) == expected


def test_a_personal_token_may_never_expire(shop):
    run("create_api_token", "ci-bot", "--no-expiry")
    assert ApiToken.objects.get().expires_at is None


def test_a_runtime_token_never_expires_unless_told(shop):
    run("create_runtime_token", "shop", "production")
    run("create_runtime_token", "shop", "production", "--name", "short", "--expires-in-days", "7")
    assert RuntimeToken.objects.get(name="production runtime").expires_at is None
    assert _days(RuntimeToken.objects.get(name="short")) == 7


@pytest.mark.parametrize(
    "args",
    [
        ("create_api_token", "ci-bot", "--expires-in-days", "0"),
        ("create_api_token", "ci-bot", "--expires-in-days", "366"),
        ("create_runtime_token", "shop", "production", "--expires-in-days", "-3"),
    ],
)
def test_an_expiry_out_of_bounds_is_a_clear_error_and_creates_nothing(shop, args):
    with pytest.raises(CommandError, match="expires in 1 to 365 days"):
        run(*args)
    assert not ApiToken.objects.exists() and not RuntimeToken.objects.exists()


@pytest.mark.parametrize(
    "args",
    [
        ("create_api_token", "ci-bot", "--expires-in-days", "ten"),
        ("create_api_token", "ci-bot", "--expires-in-days", "30", "--no-expiry"),
        ("create_runtime_token", "shop", "production", "--no-expiry"),
    ],
)
def test_malformed_options_are_refused(shop, args):
    with pytest.raises(CommandError):
        run(*args)
    assert not ApiToken.objects.exists() and not RuntimeToken.objects.exists()
