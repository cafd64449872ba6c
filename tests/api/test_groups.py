"""Shared groups, links, references and explain through the API (SPEC §19): every refusal
names its chain, the roles that write a group, and what the runtime gets."""

from __future__ import annotations

import pytest

from environments import selectors, services
from environments.models import Environment, Group, GroupEntry
from tests.api.ratelimited import hit_every_operation_past_its_limit

pytestmark = pytest.mark.django_db


@pytest.fixture
def base(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}"


@pytest.fixture
def owner_token(role_token):
    return role_token("owner")


@pytest.fixture
def common(api, base, owner_token):
    assert api.post(f"{base}/groups", {"name": "common"}, token=owner_token).status_code == 201
    answer = api.post(
        f"{base}/groups/common/env",
        {"key": "SENTRY_DSN", "value": "https://key@sentry.example/1"},
        token=owner_token,
    )
    assert answer.status_code == 201
    return "common"


def link(api, base, token, environment, groups):
    return api.put(f"{base}/environments/{environment}/groups", {"groups": groups}, token=token)


def test_a_group_is_created_listed_linked_and_served(
    api, base, owner_token, common, staging, live, served
):
    assert link(api, base, owner_token, "staging", ["common"]).json()["groups"] == ["common"]
    listed = api.get(f"{base}/groups", token=owner_token).json()["groups"]
    assert [(g["name"], g["environments"], g["variables"]) for g in listed] == [
        ("common", ["staging"], 1)
    ]
    assert served(staging)["env"]["SENTRY_DSN"] == "https://key@sentry.example/1"
    rows = api.get(f"{base}/env", token=owner_token, params={"environment": "staging"}).json()
    (row,) = [r for r in rows["variables"] if r["key"] == "SENTRY_DSN"]
    assert (row["source"], row["group"], row["preview"]) == ("group", "common", "https://…")


def test_a_group_name_may_not_be_an_environments(api, base, owner_token):
    answer = api.post(f"{base}/groups", {"name": "staging"}, token=owner_token)
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "name_taken")


def env_write(api, base, token, key, value, environment="staging"):
    return api.post(
        f"{base}/env", {"environment": environment, "key": key, "value": value}, token=token
    )


def test_a_cycle_is_a_400_naming_the_chain(api, base, owner_token):
    assert env_write(api, base, owner_token, "A", "a").status_code == 201
    assert env_write(api, base, owner_token, "B", "${{ A }}-b").status_code == 201
    answer = env_write(api, base, owner_token, "A", "${{ B }}")
    error = answer.json()["error"]
    assert (answer.status_code, error["code"]) == (400, "reference_cycle")
    assert "staging.A → staging.B → staging.A" in error["message"]


def test_a_reference_to_nothing_is_a_400(api, base, owner_token, common):
    answer = env_write(api, base, owner_token, "X", "${{ common.NOPE }}")
    error = answer.json()["error"]
    assert (answer.status_code, error["code"]) == (400, "unknown_reference")
    assert "staging.X → common.NOPE" in error["message"]
    answer = env_write(api, base, owner_token, "X", "${{ nowhere.KEY }}")
    assert answer.json()["error"]["code"] == "unknown_reference"


def test_more_than_ten_deep_is_refused(api, base, owner_token):
    items = [{"key": "K0", "value": "end"}] + [
        {"key": f"K{i}", "value": f"${{{{ K{i - 1} }}}}"} for i in range(1, 11)
    ]
    body = {"environment": "staging", "variables": items}
    assert api.post(f"{base}/env", body, token=owner_token).status_code == 200
    answer = env_write(api, base, owner_token, "K11", "${{ K10 }}")
    error = answer.json()["error"]
    assert (answer.status_code, error["code"]) == (400, "reference_too_deep")
    assert "staging.K11 → staging.K10" in error["message"] and "staging.K0" in error["message"]


def test_a_resolved_value_over_32_kib_is_refused(api, base, owner_token):
    assert env_write(api, base, owner_token, "BIG", "x" * 20_000).status_code == 201
    answer = env_write(api, base, owner_token, "TWICE", "${{ BIG }}${{ BIG }}")
    assert (answer.status_code, answer.json()["error"]["code"]) == (
        400,
        "resolved_value_too_large",
    )


def test_a_reference_into_production_is_a_409(api, base, owner_token, deployment):
    assert env_write(api, base, owner_token, "K", "v", environment="production").status_code
    answer = env_write(api, base, owner_token, "X", "${{ production.K }}")
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "production_reference")
    # Nor through a group.
    api.post(f"{base}/groups", {"name": "leaky"}, token=owner_token)
    answer = api.post(
        f"{base}/groups/leaky/env", {"key": "K", "value": "${{ production.K }}"}, token=owner_token
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "production_reference")
    # Production itself may.
    assert (
        env_write(api, base, owner_token, "Y", "${{ production.K }}", "production").status_code
        == 201
    )


def test_deleting_a_referenced_group_key_is_refused(api, base, owner_token, common):
    assert env_write(api, base, owner_token, "DSN", "${{ common.SENTRY_DSN }}").status_code == 201
    answer = api.delete(f"{base}/groups/common/env/SENTRY_DSN", token=owner_token)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "unknown_reference")


def test_writing_a_group_production_links_needs_admin(api, base, owner_token, role_token, common):
    developer, admin = role_token("developer"), role_token("admin")
    write = {"key": "SENTRY_DSN", "value": "https://new@sentry.example/1"}
    assert api.post(f"{base}/groups/common/env", write, token=developer).status_code == 200
    assert link(api, base, developer, "production", ["common"]).status_code == 403
    assert link(api, base, admin, "production", ["common"]).status_code == 200
    assert api.post(f"{base}/groups/common/env", write, token=developer).status_code == 403
    assert api.delete(f"{base}/groups/common/env/SENTRY_DSN", token=developer).status_code == 403
    assert api.post(f"{base}/groups/common/env", write, token=admin).status_code == 200


def test_a_secret_stays_secret_through_a_reference(api, base, owner_token, staging, live, served):
    api.post(
        f"{base}/env",
        {"environment": "staging", "key": "PASSWORD", "value": "hunter2", "is_secret": True},
        token=owner_token,
    )
    assert env_write(api, base, owner_token, "URL", "pg://u:${{ PASSWORD }}@h").status_code == 201
    rows = api.get(
        f"{base}/env", token=owner_token, params={"environment": "staging", "reveal": "true"}
    ).json()["variables"]
    (url,) = [r for r in rows if r["key"] == "URL"]
    assert (url["is_secret"], url["preview"], "value" in url) == (True, "••••", False)
    explained = api.get(
        f"{base}/env/URL/explain",
        token=owner_token,
        params={"environment": "staging", "reveal": "true"},
    ).json()
    assert "value" not in explained and explained["preview"] == "••••"
    assert served(staging)["env"]["URL"] == "pg://u:hunter2@h"


def test_explain_names_each_step_and_its_revision(api, base, owner_token, common):
    link(api, base, owner_token, "staging", ["common"])
    env_write(api, base, owner_token, "ENV", "staging")
    env_write(api, base, owner_token, "DSN", "${{ common.SENTRY_DSN }}?env=${{ ENV }}")
    answer = api.get(
        f"{base}/env/DSN/explain", token=owner_token, params={"environment": "staging"}
    ).json()
    assert [(s["depth"], s["source"], s["scope"], s["key"]) for s in answer["steps"]] == [
        (0, "own", "staging", "DSN"),
        (1, "group", "common", "SENTRY_DSN"),
        (1, "own", "staging", "ENV"),
    ]
    assert all("value" not in s for s in answer["steps"])
    revealed = api.get(
        f"{base}/env/DSN/explain",
        token=owner_token,
        params={"environment": "staging", "reveal": "true"},
    ).json()
    assert revealed["value"] == "https://key@sentry.example/1?env=staging"
    assert revealed["steps"][0]["value"] == "${{ common.SENTRY_DSN }}?env=${{ ENV }}"


def test_a_group_change_propagates_live_in_staging_and_pending_in_production(
    api, base, owner_token, common, staging, production, live, served
):
    link(api, base, owner_token, "staging", ["common"])
    link(api, base, owner_token, "production", ["common"])
    api.post(f"{base}/apply", {"environment": "production"}, token=owner_token)
    api.post(
        f"{base}/groups/common/env",
        {"key": "SENTRY_DSN", "value": "https://v2@sentry.example/1"},
        token=owner_token,
    )
    assert served(staging)["env"]["SENTRY_DSN"] == "https://v2@sentry.example/1"
    assert served(production)["env"]["SENTRY_DSN"] == "https://key@sentry.example/1"
    listed = api.get(f"{base}/environments", token=owner_token).json()["environments"]
    assert {e["name"]: e["pending"] for e in listed}["production"] == 1
    assert Environment.objects.get(pk=production.pk).resolved_from["cause"] == ("common.SENTRY_DSN")


def test_group_history_and_restore(api, base, owner_token, common):
    api.post(
        f"{base}/groups/common/env", {"key": "SENTRY_DSN", "value": "second"}, token=owner_token
    )
    history = api.get(f"{base}/groups/common/env/SENTRY_DSN/history", token=owner_token).json()
    assert [(h["revision"], h["action"]) for h in history["history"]] == [(3, "set"), (2, "set")]
    answer = api.post(
        f"{base}/groups/common/env/SENTRY_DSN/restore", {"revision": 2}, token=owner_token
    )
    assert answer.status_code == 200
    history = api.get(f"{base}/groups/common/env/SENTRY_DSN/history", token=owner_token).json()
    assert history["history"][0]["same_as"] == 2


def test_a_linked_group_cannot_be_deleted(api, base, owner_token, common):
    link(api, base, owner_token, "staging", ["common"])
    answer = api.delete(f"{base}/groups/common", token=owner_token)
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "group_in_use")
    link(api, base, owner_token, "staging", [])
    assert api.delete(f"{base}/groups/common", token=owner_token).status_code == 204


GROUP_TEMPLATES = frozenset(
    {
        "/deployments/{deployment_id}/groups",
        "/deployments/{deployment_id}/groups/{group}",
        "/deployments/{deployment_id}/groups/{group}/env",
        "/deployments/{deployment_id}/groups/{group}/env/{key}",
        "/deployments/{deployment_id}/groups/{group}/env/{key}/history",
        "/deployments/{deployment_id}/groups/{group}/env/{key}/restore",
        "/deployments/{deployment_id}/environments/{name}/groups",
        "/deployments/{deployment_id}/env/{key}/explain",
    }
)


def test_every_documented_group_response_is_really_given(
    api, deployment, staging, production, role_token, runtime_token, monkeypatch, settings, actor
):
    from environments.api.openapi import DOCUMENT

    seen: set[tuple[str, str, str]] = set()

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    owner, viewer, developer = role_token("owner"), role_token("viewer"), role_token("developer")
    b = f"/api/v1/deployments/{deployment.pk}"
    g, ge = f"{b}/groups", f"{b}/groups/common/env"
    key, hist, rest = f"{ge}/K", f"{ge}/K/history", f"{ge}/K/restore"
    links, explain = f"{b}/environments/staging/groups", f"{b}/env/K/explain"
    paths = {
        "/deployments/{deployment_id}/groups": g,
        "/deployments/{deployment_id}/groups/{group}": f"{g}/common",
        "/deployments/{deployment_id}/groups/{group}/env": ge,
        "/deployments/{deployment_id}/groups/{group}/env/{key}": key,
        "/deployments/{deployment_id}/groups/{group}/env/{key}/history": hist,
        "/deployments/{deployment_id}/groups/{group}/env/{key}/restore": rest,
        "/deployments/{deployment_id}/environments/{name}/groups": links,
        "/deployments/{deployment_id}/env/{key}/explain": explain,
    }
    for template, path in paths.items():
        for method in DOCUMENT["paths"][template]:
            if method == "parameters":
                continue
            hit(template, method, path, params={"token": "x"})  # 400
            hit(template, method, path, json={})  # 401
            hit(template, method, path.replace(f"/{deployment.pk}/", "/999999/"), token=owner)
    t = "/deployments/{deployment_id}/groups"
    hit(t, "get", g, token=viewer)  # 200
    hit(t, "post", g, token=viewer, json={"name": "common"})  # 403
    hit(t, "post", g, token=developer, json={"name": "common"})  # 201
    hit(t, "post", g, token=developer, json={"name": "common"})  # 409
    hit(t, "post", g, token=developer, json={"name": "Bad Name"})  # 400
    hit(t, "post", g, token=developer, body=b'{"name": "' + b"x" * (1024 * 1024) + b'"}')  # 413
    hit(t, "post", g, token=developer, body="a", content_type="text/plain")  # 415
    t = "/deployments/{deployment_id}/groups/{group}/env"
    one = {"key": "K", "value": "v"}
    hit(t, "post", ge, token=viewer, json=one)  # 403
    hit(t, "post", ge, token=developer, json=one)  # 201
    hit(t, "post", ge, token=developer, json={"variables": [{"key": "K", "value": "w"}]})  # 200
    hit(t, "post", ge, token=developer, json={"key": "S", "value": "s", "is_secret": True})
    hit(t, "post", ge, token=developer, json={"key": "S", "value": "s", "is_secret": False})
    hit(t, "post", ge, token=developer, json={"key": "K", "value": "x" * 40_000})  # 413
    hit(t, "post", ge, token=developer, body="a", content_type="text/plain")  # 415
    hit(t, "post", ge, token=developer, json={"key": "K", "value": "${{ NOPE }}"})  # 400
    hit(t, "get", ge, token=viewer)  # 200
    hit(t, "get", ge, token=viewer, params={"reveal": "true"})  # 403
    hit(t, "get", f"{g}/nope/env", token=viewer)  # 404
    t = "/deployments/{deployment_id}/groups/{group}"
    hit(t, "get", f"{g}/common", token=viewer)  # 200
    t = "/deployments/{deployment_id}/groups/{group}/env/{key}/history"
    hit(t, "get", hist, token=viewer)  # 200
    hit(t, "get", f"{ge}/NEVER/history", token=viewer)  # 404
    t = "/deployments/{deployment_id}/groups/{group}/env/{key}/restore"
    hit(t, "post", rest, token=developer, json={"revision": 2})  # 200
    hit(t, "post", rest, token=viewer, json={"revision": 2})  # 403
    hit(t, "post", rest, token=developer, json={"revision": 0})  # 400
    hit(t, "post", rest, token=developer, json={"revision": 10**6})  # 404
    hit(t, "post", rest, token=developer, body=b'{"revision": "' + b"x" * (1024 * 1024) + b'"}')
    hit(t, "post", rest, token=developer, body="a", content_type="text/plain")  # 415
    t = "/deployments/{deployment_id}/environments/{name}/groups"
    hit(t, "get", links, token=viewer)  # 200
    hit(t, "put", links, token=viewer, json={"groups": ["common"]})  # 403
    hit(t, "put", links, token=developer, json={"groups": ["common"]})  # 200
    hit(t, "put", links, token=developer, json={"groups": ["nope"]})  # 400
    hit(t, "put", f"{b}/environments/qa/groups", token=developer, json={"groups": []})  # 404
    hit(t, "put", links, token=developer, body=b'{"groups": "' + b"x" * (1024 * 1024) + b'"}')
    hit(t, "put", links, token=developer, body="a", content_type="text/plain")  # 415
    services.set_variable(environment=production, key="P", value="p", is_secret=False, actor=actor)
    services.set_variable(
        environment=staging, key="K", value="${{ common.K }}", is_secret=None, actor=actor
    )
    hit(t, "put", links, token=developer, json={"groups": []})  # 400: K references common.K
    t = "/deployments/{deployment_id}/groups/{group}/env"
    hit(t, "post", ge, token=developer, json={"key": "L", "value": "${{ production.P }}"})  # 409
    t = "/deployments/{deployment_id}/env/{key}/explain"
    hit(t, "get", explain, token=viewer, params={"environment": "staging"})  # 200
    hit(t, "get", explain, token=viewer)  # 400
    hit(t, "get", explain, token=viewer, params={"environment": "staging", "reveal": "true"})
    hit(t, "get", f"{b}/env/NOPE/explain", token=viewer, params={"environment": "staging"})
    services.set_variable(
        environment=production, key="Q", value="${{ P }}", is_secret=None, actor=actor
    )
    # 409: a production key read from production is fine; a broken chain is not reachable
    # through the API, so the 409 and 503 of explain come from the resolver's refusals.
    t = "/deployments/{deployment_id}/groups/{group}/env/{key}"
    hit(t, "delete", key, token=viewer)  # 403
    hit(t, "delete", key, token=developer)  # 400: staging.K references it
    services.set_variable(environment=staging, key="K", value="own", is_secret=None, actor=actor)
    hit(t, "delete", key, token=developer)  # 204
    hit(t, "delete", key, token=developer)  # 404
    t = "/deployments/{deployment_id}/groups/{group}"
    services.set_environment_groups(environment=staging, groups=["common"], actor=actor)
    hit(t, "delete", f"{g}/common", token=viewer)  # 403
    hit(t, "delete", f"{g}/common", token=developer)  # 409: staging links it
    services.set_environment_groups(environment=staging, groups=[], actor=actor)
    common = Group.objects.get(name="common")
    services.set_group_variables(
        group=common, items=[services.VariableInput("M", "m")], actor=actor
    )
    services.set_variable(
        environment=staging, key="M", value="${{ common.M }}", is_secret=None, actor=actor
    )
    hit(t, "delete", f"{g}/common", token=developer)  # 400: staging.M references it
    services.delete_variable(environment=staging, key="M", actor=actor)
    hit(t, "delete", f"{g}/common", token=developer)  # 204

    # 409: unlinking would leave a release in immediate staging without a required key.
    services.set_group_variables(
        group=services.create_group(deployment=deployment, name="common", actor=actor),
        items=[services.VariableInput("REQ", "r")],
        actor=actor,
    )
    services.set_environment_groups(environment=staging, groups=["common"], actor=actor)
    services.deploy_version(
        environment=staging,
        version=services.create_version(deployment=deployment, actor=actor),
        actor=actor,
    )
    services.set_required_keys(deployment=deployment, keys=["REQ"], actor=actor)
    t = "/deployments/{deployment_id}/environments/{name}/groups"
    hit(t, "put", links, token=developer, json={"groups": []})  # 409
    hit(
        "/deployments/{deployment_id}/groups/{group}/env/{key}",
        "delete",
        f"{ge}/REQ",
        token=developer,
    )  # 409
    services.set_required_keys(deployment=deployment, keys=[], actor=actor)
    services.set_group_variables(
        group=Group.objects.get(name="common"),
        items=[services.VariableInput("REQ", "r2")],
        actor=actor,
    )

    # 503: a group value that cannot be decrypted.
    GroupEntry.objects.filter(key="REQ").update(ciphertext=b"\x01\x02zz" + b"\x00" * 40)
    hit(
        "/deployments/{deployment_id}/groups/{group}/env",
        "get",
        ge,
        token=owner,
        params={"reveal": "true"},
    )
    hit(
        "/deployments/{deployment_id}/groups/{group}/env",
        "post",
        ge,
        token=owner,
        json={"key": "OTHER", "value": "o"},
    )
    hit(t, "put", links, token=owner, json={"groups": ["common"]})  # already linked: 200
    hit(t, "put", f"{b}/environments/production/groups", token=owner, json={"groups": ["common"]})
    hit(
        "/deployments/{deployment_id}/env/{key}/explain",
        "get",
        f"{b}/env/REQ/explain",
        token=viewer,
        params={"environment": "staging"},
    )
    rev = GroupEntry.objects.filter(key="REQ").order_by("set_revision").first().set_revision
    hit(
        "/deployments/{deployment_id}/groups/{group}/env/{key}/restore",
        "post",
        f"{ge}/REQ/restore",
        token=owner,
        json={"revision": rev},
    )

    # 500: a read fails unexpectedly.
    def refuse(*args, **kwargs):
        raise RuntimeError("the database is down")

    monkeypatch.setattr(selectors, "get_deployment_for_user", refuse)
    for template, path in paths.items():
        for method in DOCUMENT["paths"][template]:
            if method != "parameters":
                hit(template, method, path, token=owner, json={})
    monkeypatch.undo()

    hit_every_operation_past_its_limit(
        hit,
        sorted(GROUP_TEMPLATES),
        personal=role_token("owner"),
        runtime=runtime_token(production),
        settings=settings,
        monkeypatch=monkeypatch,
        deployment_id=str(deployment.pk),
        group="common",
        key="K",
        name="staging",
    )
    documented = {
        (template, method, status)
        for template, item in DOCUMENT["paths"].items()
        if template in GROUP_TEMPLATES
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
    }
    assert documented - seen == set(), "documented but never given"
    assert seen - documented == set(), "given but not documented"
