"""Headers stored in the audit log lose their control characters: PostgreSQL refuses a NUL in a
text column (a DataError, so a 500 for the request that carried it)."""

from __future__ import annotations

import pytest
from django.db import connection

from environments.models import AuditEvent

HOSTILE_AGENT = "curl/8.5\x00 evil\r\nX-Injected: 1\x1b[31m\x7f\x85 end"
CLEAN_AGENT = "curl/8.5 evilX-Injected: 1[31m end"


def fetch(api, production, runtime_token):
    return api.get(
        "/api/v1/runtime/env", token=runtime_token(production), HTTP_USER_AGENT=HOSTILE_AGENT
    )


def write(api, env_url, role_token):
    return api.post(
        env_url,
        {"environment": "staging", "key": "API_URL", "value": "https://api.example.com"},
        token=role_token("developer"),
        HTTP_USER_AGENT=HOSTILE_AGENT,
    )


def test_a_runtime_fetch_with_control_characters_in_its_user_agent_is_audited(
    api, production, runtime_token
):
    assert fetch(api, production, runtime_token).status_code == 200
    event = AuditEvent.objects.get(action="runtime.fetch")
    assert event.user_agent == CLEAN_AGENT


def test_an_api_write_with_control_characters_in_its_user_agent_is_audited(
    api, env_url, role_token
):
    assert write(api, env_url, role_token).status_code == 201
    assert AuditEvent.objects.get(action="variable.create").user_agent == CLEAN_AGENT


@pytest.mark.postgres
def test_a_nul_in_the_user_agent_is_no_500_on_postgresql(
    api, production, runtime_token, env_url, role_token
):
    if connection.vendor != "postgresql":
        pytest.skip("the NUL DataError is PostgreSQL's (DATABASE_URL=postgres://…)")
    assert fetch(api, production, runtime_token).status_code == 200
    assert write(api, env_url, role_token).status_code == 201
    agents = AuditEvent.objects.filter(action__in=["runtime.fetch", "variable.create"])
    assert list(agents.values_list("user_agent", flat=True)) == [CLEAN_AGENT, CLEAN_AGENT]
