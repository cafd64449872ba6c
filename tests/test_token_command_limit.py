"""manage.py create_api_token respects the limit of live personal tokens a user holds."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from environments import services
from environments.actors import Actor
from environments.models import ApiToken

pytestmark = pytest.mark.django_db


def test_the_51st_live_token_is_refused_with_a_message_not_a_traceback(make_user):
    user = make_user("ci-bot")
    for n in range(ApiToken.MAX_LIVE_PER_USER):
        services.create_api_token(user=user, name=f"t{n}", actor=Actor.system())
    with pytest.raises(CommandError, match="50 live personal tokens"):
        call_command("create_api_token", "ci-bot")
    assert ApiToken.objects.filter(user=user).count() == 50
