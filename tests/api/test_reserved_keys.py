"""Keys a process needs from its own machine (PATH, HOME, LD_PRELOAD, …) are refused with 400
reserved_key on every write path (single, batch, import, binding); one stored before the rule
is still listed and can be deleted (SPEC §18)."""

from __future__ import annotations

import pytest

from environments import rules, services
from environments.models import Variable
from tests.runtime import runtime_env

REFUSED = [
    "PATH",
    "HOME",
    "SHELL",
    "USER",
    "LOGNAME",
    "PWD",
    "OLDPWD",
    "IFS",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "DYLD_INSERT_LIBRARIES",
]


@pytest.mark.parametrize("key", REFUSED)
def test_a_single_write_is_refused(api, env_url, staging, role_token, key):
    response = api.post(
        env_url,
        {"environment": "staging", "key": key, "value": "/nonexistent"},
        token=role_token("developer"),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "reserved_key"
    assert response.json()["error"]["field"] == "key"
    assert not Variable.objects.filter(key=key).exists()


def test_a_batch_names_the_item_and_writes_nothing(api, env_url, staging, role_token):
    body = {
        "environment": "staging",
        "variables": [
            {"key": "API_URL", "value": "https://api.example.com"},
            {"key": "LD_PRELOAD", "value": "/tmp/evil.so"},
        ],
    }
    response = api.post(env_url, body, token=role_token("developer"))
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "reserved_key",
        "message": response.json()["error"]["message"],
        "field": "variables[1].key",
    }
    assert not Variable.objects.filter(environment=staging).exists()


def test_an_import_is_refused_on_its_line(api, deployment, staging, role_token):
    response = api.request(
        "POST",
        f"/api/v1/deployments/{deployment.pk}/env/import?environment=staging",
        body="API_URL=https://x\nHOME=/root\n",
        content_type="text/plain",
        token=role_token("developer"),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "reserved_key"
    assert "Line 2" in response.json()["error"]["message"]
    assert not Variable.objects.filter(environment=staging).exists()


def test_a_binding_cannot_be_named_path(staging, actor):
    from environments.errors import Invalid

    with pytest.raises(Invalid) as refused:
        services.create_binding(
            environment=staging,
            kind="postgres",
            name="db",
            variable_name="PATH",
            url="postgres://app:pw@db.internal:5432/shop",
            actor=actor,
        )
    assert refused.value.code == "reserved_key"


def test_one_stored_before_the_rule_is_listed_and_deletable(
    api, env_url, staging, role_token, actor, monkeypatch
):
    with monkeypatch.context() as before_the_rule:
        before_the_rule.setattr(rules, "is_process_key", lambda key: False)
        services.set_variable(
            environment=staging, key="PATH", value="/x", is_secret=False, actor=actor
        )
    raw = role_token("developer")
    listed = api.get(f"{env_url}?environment=staging", token=raw).json()["variables"]
    assert [row["key"] for row in listed] == ["PATH"]
    assert runtime_env(staging)["PATH"] == "/x"
    response = api.delete(f"{env_url}/PATH?environment=staging", token=raw)
    assert response.status_code == 204
    assert not Variable.objects.filter(environment=staging, key="PATH").exists()


def test_similar_names_are_fine(api, env_url, staging, role_token):
    raw = role_token("developer")
    for key in ("PATHS", "MY_PATH", "HOMEPAGE", "LDAP_URL", "USERNAME"):
        response = api.post(
            env_url,
            {"environment": "staging", "key": key, "value": "x"},
            token=raw,
        )
        assert response.status_code == 201, (key, response.json())
