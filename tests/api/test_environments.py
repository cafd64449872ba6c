"""GET/POST /api/v1/deployments/:id/environments and DELETE …/environments/:name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from environments import services
from environments.models import AuditEvent, Environment, RuntimeToken, Variable
from environments.services import VariableInput
from tests.conftest import CANARY


def _url(deployment, name: str = "") -> str:
    base = f"/api/v1/deployments/{deployment.pk}/environments"
    return f"{base}/{name}" if name else base


def _future(days: int = 7) -> str:
    return (timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


# List ---------------------------------------------------------------------------------------


def test_the_list_has_each_live_release_and_pending_count(
    api, deployment, production, staging, live, actor, role_token
):
    services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    services.set_variables(
        environment=production,
        items=[VariableInput("A", "1"), VariableInput("B", "2", True)],
        actor=actor,
    )
    body = api.get(_url(deployment), token=role_token("viewer")).json()
    assert body["deployment"] == {"id": deployment.pk, "name": "shop"}
    rows = {e["name"]: e for e in body["environments"]}
    assert [e["name"] for e in body["environments"]] == ["production", "staging", "preview/pr-42"]
    assert rows["production"]["release"] == {"number": 1, "version": 1, "config_revision": 1}
    assert rows["production"]["pending"] == 2 and rows["production"]["config_revision"] == 2
    assert rows["production"]["config_changes"] == "staged"
    assert rows["staging"]["pending"] == 0 and rows["staging"]["promotes_to"] == "production"
    assert rows["preview/pr-42"]["release"] is None
    assert rows["preview/pr-42"]["promotes_to"] == "staging"
    assert rows["preview/pr-42"]["expires_at"] is None


@pytest.mark.parametrize("count", [1, 50])
def test_the_list_query_count_does_not_grow(
    api, deployment, live, actor, role_token, django_assert_num_queries, count
):
    production = deployment.environments.get(name="production")
    for n in range(count):
        environment = services.create_environment(
            deployment=deployment, name=f"qa-{n}", config_changes="staged", actor=actor
        )
        services.deploy_version(environment=environment, version=live, actor=actor)
        services.set_variable(
            environment=environment, key="K", value="v", is_secret=None, actor=actor
        )
    services.set_variable(environment=production, key="K", value="v", is_secret=None, actor=actor)
    raw = role_token("viewer")
    api.get(_url(deployment), token=raw)  # token first use
    # token, membership, environments (with live releases), their states, their pending keys
    with django_assert_num_queries(5):
        body = api.get(_url(deployment), token=raw).json()
    assert len(body["environments"]) == count + 2
    assert {e["pending"] for e in body["environments"] if e["name"] != "staging"} == {1}


# Create -------------------------------------------------------------------------------------


def test_a_developer_creates_an_empty_preview_environment(api, deployment, role_token):
    expires = _future()
    response = api.post(
        _url(deployment),
        {"name": "preview/pr-7", "expires_at": expires},
        token=role_token("developer"),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "preview/pr-7" and body["expires_at"] == expires
    assert (body["promotes_to"], body["release"], body["pending"]) == ("staging", None, 0)
    assert (body["config_changes"], body["config_revision"]) == ("immediate", 1)
    environment = Environment.objects.get(name="preview/pr-7")
    assert environment.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") == expires
    assert not environment.variables.exists()
    event = AuditEvent.objects.get(action="environment.create")
    assert event.target == "preview/pr-7" and "expires_at" in event.detail


def test_expires_at_with_an_offset_is_stored_in_utc(api, deployment, role_token):
    moment = timezone.now() + timedelta(days=2)
    local = moment.astimezone(timezone.get_fixed_timezone(120)).isoformat()
    body = api.post(
        _url(deployment),
        {"name": "preview/pr-8", "expires_at": local},
        token=role_token("developer"),
    ).json()
    assert body["expires_at"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_copy_has_the_source_variables_and_secrets(
    api, deployment, staging, actor, role_token, served, runtime_token
):
    services.set_variables(
        environment=staging,
        items=[VariableInput("API_URL", "https://s"), VariableInput("SECRET", CANARY, True)],
        actor=actor,
    )
    response = api.post(
        _url(deployment),
        {
            "name": "qa",
            "copy_from": "staging",
            "promotes_to": "staging",
            "config_changes": "staged",
        },
        token=role_token("developer"),
    )
    assert response.status_code == 201
    assert CANARY.encode() not in response.content
    assert (response.json()["promotes_to"], response.json()["config_changes"]) == (
        "staging",
        "staged",
    )
    qa = Environment.objects.get(name="qa")
    assert {v.key: v.is_secret for v in qa.variables.all()} == {"API_URL": False, "SECRET": True}
    assert served(qa)["env"]["SECRET"] == CANARY
    event = AuditEvent.objects.get(action="environment.create")
    assert event.detail == {"copied_from": "staging", "variables": 2}


def test_copying_production_needs_an_admin(api, deployment, production, actor, role_token):
    services.set_variable(
        environment=production, key="SECRET", value=CANARY, is_secret=True, actor=actor
    )
    body = {"name": "preview/pr-9", "copy_from": "production"}
    response = api.post(_url(deployment), body, token=role_token("developer"))
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "copy_from"
    assert "admin" in response.json()["error"]["message"]
    assert not Environment.objects.filter(name="preview/pr-9").exists()
    assert api.post(_url(deployment), body, token=role_token("admin")).status_code == 201
    assert Variable.objects.filter(environment__name="preview/pr-9", key="SECRET").exists()


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "required", "name"),
        ({"name": "preview/a..b"}, 400, "invalid_environment_name", "name"),
        ({"name": "preview/pr-1/x"}, 400, "invalid_environment_name", "name"),
        ({"name": "q" * 128}, 400, "invalid_environment_name", "name"),
        ({"name": "QA"}, 400, "invalid_environment_name", "name"),
        ({"name": 42}, 400, "invalid", "name"),
        ({"name": "qa", "colour": "red"}, 400, "unknown_field", "colour"),
        ({"name": "qa", "copy_from": 1}, 400, "invalid", "copy_from"),
        ({"name": "qa", "copy_from": "nope"}, 404, "not_found", "copy_from"),
        ({"name": "qa", "promotes_to": "nope"}, 404, "not_found", "promotes_to"),
        ({"name": "qa", "config_changes": "later"}, 400, "invalid", "config_changes"),
        ({"name": "qa", "config_changes": True}, 400, "invalid", "config_changes"),
        ({"name": "qa", "expires_at": "tomorrow"}, 400, "invalid", "expires_at"),
        ({"name": "qa", "expires_at": 1767225600}, 400, "invalid", "expires_at"),
        ({"name": "preview/x", "expires_at": "2030-01-01T00:00:00"}, 400, "invalid", "expires_at"),
        ({"name": "preview/x", "expires_at": "2020-01-01T00:00:00Z"}, 400, "invalid", "expires_at"),
        ({"name": "qa", "expires_at": "2099-01-01T00:00:00Z"}, 400, "invalid", "expires_at"),
        (
            {"name": "preview/x", "expires_at": "9999-12-31T23:00:00-05:00"},
            400,
            "invalid",
            "expires_at",
        ),
        ({"name": "preview/x", "expires_at": "2099-01-01"}, 400, "invalid", "expires_at"),
        ({"name": "staging"}, 409, "name_taken", "name"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_created(
    api, deployment, role_token, body, status, code, field
):
    before = set(Environment.objects.values_list("name", flat=True))
    response = api.post(_url(deployment), body, token=role_token("developer"))
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert set(Environment.objects.values_list("name", flat=True)) == before
    assert not AuditEvent.objects.filter(action="environment.create").exists()


def test_an_expiry_in_the_past_says_so(api, deployment, role_token):
    response = api.post(
        _url(deployment),
        {"name": "preview/pr-1", "expires_at": "2020-01-01T00:00:00Z"},
        token=role_token("developer"),
    )
    assert response.json()["error"]["message"] == "expires_at must be in the future."


# Delete -------------------------------------------------------------------------------------


def test_a_developer_deletes_a_preview_environment_with_everything_in_it(
    api, deployment, actor, role_token, runtime_token
):
    preview = services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    services.set_variable(environment=preview, key="A", value="1", is_secret=None, actor=actor)
    runtime_token(preview)
    response = api.delete(_url(deployment, "preview/pr-42"), token=role_token("developer"))
    assert response.status_code == 204 and response.content == b""
    assert not Environment.objects.filter(name="preview/pr-42").exists()
    assert not RuntimeToken.objects.exists() and not Variable.objects.exists()
    event = AuditEvent.objects.get(action="environment.delete")
    assert event.target == "preview/pr-42" and event.detail["variables"] == 1


def test_an_encoded_slash_names_the_same_environment(api, deployment, actor, role_token):
    services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    response = api.delete(_url(deployment, "preview%2Fpr-42"), token=role_token("developer"))
    assert response.status_code == 204


@pytest.mark.parametrize("name", ["production", "staging"])
def test_production_and_staging_cannot_be_deleted(api, deployment, role_token, name):
    response = api.delete(_url(deployment, name), token=role_token("owner"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "protected_environment"
    assert Environment.objects.filter(name=name).exists()


@pytest.mark.parametrize("name", ["qa", "preview/pr-1", "a/b/c", "preview/..", "QA", "x" * 300])
def test_deleting_what_does_not_exist_is_404(api, deployment, role_token, name):
    response = api.delete(_url(deployment, name), token=role_token("developer"))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [("outsider", 404), ("viewer", 403), ("developer", 204), ("admin", 204), ("owner", 204)],
)
def test_who_may_delete_an_environment(api, deployment, actor, role_token, role, status):
    services.create_environment(deployment=deployment, name="qa", actor=actor)
    assert api.delete(_url(deployment, "qa"), token=role_token(role)).status_code == status
    assert Environment.objects.filter(name="qa").exists() == (status != 204)


@pytest.mark.parametrize(
    ("role", "get", "post"),
    [
        ("outsider", 404, 404),
        ("viewer", 200, 403),
        ("developer", 200, 201),
        ("admin", 200, 201),
        ("owner", 200, 201),
    ],
)
def test_who_may_list_and_create_environments(api, deployment, role_token, role, get, post):
    raw = role_token(role)
    assert api.get(_url(deployment), token=raw).status_code == get
    assert api.post(_url(deployment), {"name": "qa"}, token=raw).status_code == post


def test_no_token_is_401(api, deployment):
    assert api.get(_url(deployment)).status_code == 401
    assert api.post(_url(deployment), {"name": "qa"}).status_code == 401
    assert api.delete(_url(deployment, "qa")).status_code == 401


@pytest.mark.parametrize(
    ("method", "name", "allow"),
    [("PUT", "", "GET, POST"), ("DELETE", "", "GET, POST"), ("GET", "qa", "DELETE")],
)
def test_other_methods_are_405(api, deployment, role_token, method, name, allow):
    response = api.request(method, _url(deployment, name), token=role_token("owner"), json={})
    assert response.status_code == 405 and response["Allow"] == allow


def test_a_deployment_has_at_most_200_environments(api, deployment, actor, role_token):
    for n in range(198):
        services.create_environment(deployment=deployment, name=f"qa-{n}", actor=actor)
    raw = role_token("developer")
    response = api.post(_url(deployment), {"name": "preview/pr-1"}, token=raw)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_environments"
    assert Environment.objects.filter(deployment=deployment).count() == 200
    api.delete(_url(deployment, "qa-0"), token=raw)
    assert api.post(_url(deployment), {"name": "preview/pr-1"}, token=raw).status_code == 201
