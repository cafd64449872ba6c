"""Any secret's age and convergence (SPEC §14): selectors.secret_ages — when the current value
was written, overdue past the deployment's max_secret_age_days, and how many live instances
still run an older value of it (fingerprints of the releases they booted on; counts only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from environments import selectors, services
from environments.models import ConfigEntry, Deployment, Environment, RuntimeInstance
from environments.services import VariableInput
from tests.conftest import CANARY

URL = "/api/v1/runtime/env"


@pytest.fixture
def live_staging(deployment, staging, actor):
    """Staging takes config changes live at once, with a secret in its first release."""
    services.set_variable(
        environment=staging, key="STRIPE_KEY", value="sk-old", is_secret=True, actor=actor
    )
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    return staging


@pytest.fixture
def token(live_staging, actor):
    return services.create_runtime_token(environment=live_staging, name="web", actor=actor)[1]


@pytest.fixture
def fetch(client: Client, token):
    def get(instance: str | None = None):
        headers = {"Authorization": f"Bearer {token}"}
        if instance is not None:
            headers["X-Miosa-Instance"] = instance
        response = client.get(URL, headers=headers)
        assert response.status_code == 200
        return response

    return get


def ages(environment: Environment, keys=None) -> dict[str, selectors.SecretAge]:
    environment = Environment.objects.select_related("deployment").get(pk=environment.pk)
    found = selectors.secret_ages(environment.deployment, [environment], keys=keys)
    return {key: age for (name, key), age in found.items()}


def rotate(environment, actor, value="sk-new", key="STRIPE_KEY"):
    services.set_variable(
        environment=environment, key=key, value=value, is_secret=None, actor=actor
    )


def test_an_instance_on_the_old_value_counts_until_it_fetches_the_new_release(
    live_staging, fetch, actor
):
    fetch("web-1")
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0
    rotate(live_staging, actor)  # immediate: a new release at once
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 1
    fetch("web-1")
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0


def test_instances_are_counted_per_instance(live_staging, fetch, actor):
    fetch("web-1")
    fetch("web-2")
    rotate(live_staging, actor)
    fetch("web-3")
    age = ages(live_staging)["STRIPE_KEY"]
    assert age.instances_on_older_value == 2
    assert not age.converged


def test_an_instance_outside_the_window_is_not_counted(live_staging, fetch, actor, settings):
    settings.ROTATION_INSTANCE_WINDOW_SECONDS = 600
    fetch("gone")
    fetch("here")
    rotate(live_staging, actor)
    RuntimeInstance.objects.filter(instance="gone").update(
        last_seen_at=timezone.now() - timedelta(seconds=601)
    )
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 1
    RuntimeInstance.objects.filter(instance="here").update(
        last_seen_at=timezone.now() - timedelta(seconds=599)
    )
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 1


def test_the_window_defaults_to_fifteen_minutes(live_staging, fetch, actor, settings):
    if hasattr(settings, "ROTATION_INSTANCE_WINDOW_SECONDS"):
        del settings.ROTATION_INSTANCE_WINDOW_SECONDS
    fetch("web-1")
    rotate(live_staging, actor)
    RuntimeInstance.objects.update(last_seen_at=timezone.now() - timedelta(seconds=899))
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 1
    RuntimeInstance.objects.update(last_seen_at=timezone.now() - timedelta(seconds=901))
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0


def test_a_fetch_without_an_instance_id_counts_as_its_token(live_staging, fetch, actor):
    fetch()
    fetch()
    rotate(live_staging, actor)
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 1
    fetch()
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0


def test_restoring_an_identical_value_counts_as_the_same(live_staging, fetch, actor):
    fetch("web-1")  # release 1: sk-old
    rotate(live_staging, actor)  # sk-new
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 1
    first = ConfigEntry.objects.filter(key="STRIPE_KEY").order_by("set_revision").first()
    services.restore_variable(
        environment=live_staging, key="STRIPE_KEY", revision=first.set_revision, actor=actor
    )
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0
    # Setting it by hand to the same value is the same value too.
    rotate(live_staging, actor, value="sk-new")
    rotate(live_staging, actor, value="sk-old")
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0


def test_a_change_to_another_key_keeps_instances_on_the_current_value(live_staging, fetch, actor):
    fetch("web-1")
    rotate(live_staging, actor, key="API_URL", value="https://elsewhere")
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0


def test_a_secret_absent_from_the_instances_release_counts_as_older(live_staging, fetch, actor):
    fetch("web-1")
    services.set_variable(
        environment=live_staging, key="NEW_SECRET", value="s", is_secret=True, actor=actor
    )
    assert ages(live_staging)["NEW_SECRET"].instances_on_older_value == 1
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0


def test_an_instance_that_booted_before_any_release_counts_as_older(
    deployment, staging, actor, client
):
    services.set_variable(environment=staging, key="S", value="v", is_secret=True, actor=actor)
    _, raw = services.create_runtime_token(environment=staging, name="t", actor=actor)
    client.get(URL, headers={"Authorization": f"Bearer {raw}", "X-Miosa-Instance": "pre"})
    assert RuntimeInstance.objects.get().config_revision is None
    assert ages(staging)["S"].instances_on_older_value == 1


def test_a_staged_change_is_older_for_every_instance_until_applied(live_staging, fetch, actor):
    Environment.objects.filter(pk=live_staging.pk).update(
        config_changes=Environment.ConfigChanges.STAGED
    )
    fetch("p1")
    rotate(live_staging, actor)  # staged: pending, not live
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 1
    services.apply_changes(environment=live_staging, actor=actor)
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 1  # on its boot release
    fetch("p1")
    assert ages(live_staging)["STRIPE_KEY"].instances_on_older_value == 0


def test_plain_variables_are_not_listed_and_bindings_are(live_staging, fetch, actor):
    rotate(live_staging, actor, key="API_URL", value="https://x")
    services.create_binding(
        environment=live_staging,
        kind="postgres",
        name="db",
        url="postgres://a:pw@h:5432/d",
        actor=actor,
    )
    assert set(ages(live_staging)) == {"STRIPE_KEY", "DATABASE_URL"}
    assert set(ages(live_staging, keys=["DATABASE_URL", "API_URL"])) == {"DATABASE_URL"}


def test_a_variable_made_secret_is_listed(live_staging, actor):
    rotate(live_staging, actor, key="TOKEN", value="t")
    assert "TOKEN" not in ages(live_staging)
    services.mark_variable_secret(environment=live_staging, key="TOKEN", actor=actor)
    assert "TOKEN" in ages(live_staging)


def test_a_deleted_secret_is_not_listed(live_staging, actor):
    services.delete_variable(environment=live_staging, key="STRIPE_KEY", actor=actor)
    assert ages(live_staging) == {}


# Age and overdue ------------------------------------------------------------------------------


def _age_entries(environment, key, days):
    ConfigEntry.objects.filter(environment=environment, key=key).update(
        set_at=timezone.now() - timedelta(days=days)
    )


def test_the_age_is_from_when_the_current_value_was_written(live_staging, actor):
    _age_entries(live_staging, "STRIPE_KEY", 40)
    age = ages(live_staging)["STRIPE_KEY"]
    assert age.age_days == 40
    assert not age.overdue  # no maximum set
    rotate(live_staging, actor)
    age = ages(live_staging)["STRIPE_KEY"]
    assert age.age_days == 0
    assert timezone.now() - age.set_at < timedelta(minutes=1)


def test_writing_the_same_value_again_does_not_make_it_younger(live_staging, actor):
    rotate(live_staging, actor, value="sk-old")
    _age_entries(live_staging, "STRIPE_KEY", 10)
    rotate(live_staging, actor, value="sk-old")
    assert ages(live_staging)["STRIPE_KEY"].age_days == 10


def test_a_restored_value_is_as_old_as_its_restore(live_staging, actor):
    rotate(live_staging, actor)
    _age_entries(live_staging, "STRIPE_KEY", 10)
    rotate(live_staging, actor, value="sk-old")
    assert ages(live_staging)["STRIPE_KEY"].age_days == 0


def test_a_secret_past_the_maximum_is_overdue(deployment, live_staging, actor):
    Deployment.objects.filter(pk=deployment.pk).update(max_secret_age_days=30)
    _age_entries(live_staging, "STRIPE_KEY", 29)
    assert not ages(live_staging)["STRIPE_KEY"].overdue
    _age_entries(live_staging, "STRIPE_KEY", 31)
    assert ages(live_staging)["STRIPE_KEY"].overdue
    rotate(live_staging, actor)
    assert not ages(live_staging)["STRIPE_KEY"].overdue


def test_nothing_in_the_answer_is_a_value_or_a_fingerprint(live_staging, fetch, actor):
    rotate(live_staging, actor, value=CANARY)
    fingerprints = {
        bytes(f) for f in ConfigEntry.objects.values_list("fingerprint", flat=True) if f
    }
    for age in ages(live_staging).values():
        for value in vars(age).values():
            assert CANARY not in str(value)
            assert not isinstance(value, bytes | memoryview)
            assert all(f.hex() not in str(value) for f in fingerprints)


# Query count ----------------------------------------------------------------------------------


def _grow(environment, actor, client, secrets: int, instances: int):
    services.set_variables(
        environment=environment,
        items=[VariableInput(f"S_{n}", f"v-{n}", True) for n in range(secrets)]
        + [VariableInput(f"P_{n}", f"p-{n}", False) for n in range(secrets)],
        actor=actor,
    )
    _, raw = services.create_runtime_token(environment=environment, name="grow", actor=actor)
    for n in range(instances):
        if n % 2:  # instances spread over several revisions
            services.set_variable(
                environment=environment, key=f"S_{n}", value="x", is_secret=None, actor=actor
            )
        client.get(URL, headers={"Authorization": f"Bearer {raw}", "X-Miosa-Instance": f"i{n}"})


@pytest.mark.parametrize(("secrets", "instances"), [(5, 2), (200, 50)])
def test_the_query_count_is_fixed(
    live_staging, actor, client, django_assert_num_queries, secrets, instances
):
    _grow(live_staging, actor, client, secrets, instances)
    environment = Environment.objects.select_related("deployment").get(pk=live_staging.pk)
    keys = [f"S_{n}" for n in range(secrets)]
    with django_assert_num_queries(2):  # the secrets' history, the live instances
        found = selectors.secret_ages(environment.deployment, [environment], keys=keys)
    assert len(found) == secrets
    assert found[("staging", "S_1")].instances_on_older_value == 1  # booted before its change
    total_rows = RuntimeInstance.objects.count()
    assert total_rows == instances


def test_no_key_no_query(live_staging, actor, django_assert_num_queries):
    environment = Environment.objects.select_related("deployment").get(pk=live_staging.pk)
    with django_assert_num_queries(2):
        assert selectors.secret_ages(environment.deployment, [environment], keys=["NOPE"]) == {}
    with django_assert_num_queries(0):
        assert selectors.secret_ages(environment.deployment, [environment], keys=[]) == {}
