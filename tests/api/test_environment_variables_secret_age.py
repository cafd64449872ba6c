"""GET /api/v1/deployments/:id/env, any secret's age and convergence (SPEC §14): rows of secrets
(and bindings) carry set_at, instances_on_older_value and, when the deployment sets
max_secret_age_days, overdue. Names and counts only. `api` validates each answer against the
OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from environments import services
from environments.models import ConfigEntry, Deployment
from environments.services import VariableInput
from tests.conftest import CANARY

RUNTIME = "/api/v1/runtime/env"


@pytest.fixture
def secrets(deployment, staging, actor):
    services.set_variables(
        environment=staging,
        items=[
            VariableInput("STRIPE_KEY", "sk-old", True),
            VariableInput("API_URL", "https://api.example.com", False),
        ],
        actor=actor,
    )
    services.create_binding(
        environment=staging, kind="redis", name="cache", url="redis://:pw@c:6379", actor=actor
    )
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    return staging


@pytest.fixture
def boot(api, secrets, runtime_token):
    raw = runtime_token(secrets, "web")

    def fetch(instance: str | None = None):
        headers = {"X-Miosa-Instance": instance} if instance else {}
        assert api.get(RUNTIME, token=raw, headers=headers).status_code == 200

    return fetch


def _rows(api, env_url, token) -> dict[str, dict]:
    response = api.get(env_url, token=token, params={"environment": "staging"})
    assert response.status_code == 200
    return {row["key"]: row for row in response.json()["variables"]}


def test_secret_rows_carry_their_age_and_plain_rows_nothing(api, env_url, secrets, role_token):
    rows = _rows(api, env_url, role_token("viewer"))
    for key in ("STRIPE_KEY", "REDIS_URL"):
        set_at = datetime.strptime(rows[key]["set_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert timezone.now() - set_at < timedelta(minutes=1)
        assert rows[key]["instances_on_older_value"] == 0
        assert "overdue" not in rows[key]  # no maximum is set
    assert not {"set_at", "instances_on_older_value", "overdue"} & set(rows["API_URL"])


def test_rotating_a_secret_counts_instances_until_they_restart(
    api, env_url, secrets, boot, actor, role_token
):
    viewer = role_token("viewer")
    boot("web-1")
    boot("web-2")
    boot()  # no X-Miosa-Instance: one instance named by its token
    services.set_variable(
        environment=secrets, key="STRIPE_KEY", value="sk-new", is_secret=None, actor=actor
    )
    rows = _rows(api, env_url, viewer)
    assert rows["STRIPE_KEY"]["instances_on_older_value"] == 3
    assert rows["REDIS_URL"]["instances_on_older_value"] == 0
    boot("web-1")
    boot()
    assert _rows(api, env_url, viewer)["STRIPE_KEY"]["instances_on_older_value"] == 1


def test_overdue_is_said_once_the_deployment_sets_a_maximum(
    api, env_url, deployment, secrets, actor, role_token
):
    services.set_max_secret_age(deployment=deployment, days=30, actor=actor)
    ConfigEntry.objects.filter(key="STRIPE_KEY").update(set_at=timezone.now() - timedelta(days=31))
    viewer = role_token("viewer")
    rows = _rows(api, env_url, viewer)
    assert rows["STRIPE_KEY"]["overdue"] is True
    assert rows["REDIS_URL"]["overdue"] is False
    assert "overdue" not in rows["API_URL"]
    services.set_variable(
        environment=secrets, key="STRIPE_KEY", value="sk-rotated", is_secret=None, actor=actor
    )
    assert _rows(api, env_url, viewer)["STRIPE_KEY"]["overdue"] is False


def test_no_value_or_fingerprint_is_in_the_answer(api, env_url, secrets, boot, actor, role_token):
    boot("web-1")
    services.set_variable(
        environment=secrets, key="STRIPE_KEY", value=CANARY, is_secret=None, actor=actor
    )
    response = api.get(env_url, token=role_token("owner"), params={"reveal": "true"})
    assert CANARY.encode() not in response.content
    assert b"sk-old" not in response.content
    assert b"pw@" not in response.content
    for fingerprint in ConfigEntry.objects.values_list("fingerprint", flat=True):
        if fingerprint:
            assert bytes(fingerprint).hex().encode() not in response.content


@pytest.mark.parametrize(("secrets_count", "instances"), [(5, 2), (200, 50)])
def test_the_query_count_is_fixed_however_many_secrets_and_instances(
    api,
    env_url,
    deployment,
    staging,
    production,
    actor,
    role_token,
    runtime_token,
    django_assert_num_queries,
    secrets_count,
    instances,
):
    Deployment.objects.filter(pk=deployment.pk).update(max_secret_age_days=10)
    version = services.create_version(deployment=deployment, actor=actor)
    for environment in (staging, production):
        services.set_variables(
            environment=environment,
            items=[VariableInput(f"S_{n}", f"v-{n}", True) for n in range(secrets_count)],
            actor=actor,
        )
    services.deploy_version(environment=staging, version=version, actor=actor)
    raw = runtime_token(staging, "fleet")
    for n in range(instances):
        if n % 5 == 0:  # instances spread over releases
            services.set_variable(
                environment=staging, key="S_0", value=f"r{n}", is_secret=None, actor=actor
            )
        api.get(RUNTIME, token=raw, headers={"X-Miosa-Instance": f"i{n}"})
    viewer = role_token("viewer")
    api.get(env_url, token=viewer)  # the first use writes last_used_at
    # token, membership + deployment, environments, variables, bindings, the secrets' value
    # history, the live instances
    with django_assert_num_queries(7):
        response = api.get(env_url, token=viewer)
    rows = response.json()["variables"]
    assert len(rows) == 2 * secrets_count
    assert all("set_at" in row and "overdue" in row for row in rows)
    older = {(row["environment"], row["key"]): row["instances_on_older_value"] for row in rows}
    assert older[("staging", "S_0")] == (instances - 1) // 5 * 5
