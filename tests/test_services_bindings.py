from __future__ import annotations

import pytest

from environments import crypto, selectors, services
from environments.errors import Conflict, Invalid, TooLarge
from environments.models import AuditEvent, Binding, ConfigEntry
from environments.services import VariableInput
from tests.runtime import runtime_env

PROD_URL = "postgres://app:prod-pw-canary@db.internal:5432/shop"
STAGING_URL = "postgres://app:staging-pw-canary@db-staging.internal:5432/shop"


def test_each_environment_gets_its_own_url_under_one_name(production, staging, actor):
    services.create_binding(
        environment=production, kind="postgres", name="db", url=PROD_URL, actor=actor
    )
    services.create_binding(
        environment=staging, kind="postgres", name="db", url=STAGING_URL, actor=actor
    )
    assert runtime_env(production)["DATABASE_URL"] == PROD_URL
    assert runtime_env(staging)["DATABASE_URL"] == STAGING_URL


def test_bindings_are_listed_masked_as_secrets(production, actor):
    services.create_binding(
        environment=production, kind="postgres", name="db", url=PROD_URL, actor=actor
    )
    services.create_binding(
        environment=production, kind="redis", name="cache", url="redis://cache:6379", actor=actor
    )
    rows = {r.key: r for r in selectors.variable_rows([production])}
    assert rows["DATABASE_URL"].preview == "postgres://app:••••@db.internal:5432/shop"
    assert rows["DATABASE_URL"].is_secret and rows["DATABASE_URL"].source == "binding"
    assert rows["REDIS_URL"].preview == "redis://cache:6379"
    assert "prod-pw-canary" not in repr(rows)


def test_credentials_are_encrypted_and_bound_to_their_row(production, staging, actor):
    one = services.create_binding(
        environment=production, kind="postgres", name="a", url=PROD_URL, actor=actor
    )
    two = services.create_binding(
        environment=staging, kind="postgres", name="b", url=STAGING_URL, actor=actor
    )
    assert b"prod-pw-canary" not in bytes(Binding.objects.get(pk=one.pk).ciphertext)
    Binding.objects.filter(pk=two.pk).update(ciphertext=Binding.objects.get(pk=one.pk).ciphertext)
    # The runtime reads the release's copy (SPEC §9): moved there too, it fails the same way.
    live = ConfigEntry.objects.filter(key="DATABASE_URL", end_revision=None)
    live.filter(environment=staging).update(ciphertext=live.get(environment=production).ciphertext)
    with pytest.raises(crypto.DecryptionError):
        runtime_env(staging)
    row = {r.key: r for r in selectors.variable_rows([staging])}["DATABASE_URL"]
    assert row.undecryptable and row.preview is None


def test_binding_and_variable_names_cannot_clash_either_way(production, actor):
    services.set_variable(
        environment=production, key="DATABASE_URL", value="x", is_secret=None, actor=actor
    )
    with pytest.raises(Conflict) as excinfo:
        services.create_binding(
            environment=production, kind="postgres", name="db", url=PROD_URL, actor=actor
        )
    assert excinfo.value.field == "variable_name"
    services.create_binding(
        environment=production, kind="redis", name="c", url="redis://h:6379", actor=actor
    )
    with pytest.raises(Conflict) as excinfo:
        services.set_variable(
            environment=production, key="REDIS_URL", value="x", is_secret=None, actor=actor
        )
    assert excinfo.value.code == "binding_clash"


def test_variable_name_is_editable_and_validated(production, actor):
    binding = services.create_binding(
        environment=production,
        kind="postgres",
        name="db",
        url=PROD_URL,
        actor=actor,
        variable_name="PRIMARY_DATABASE_URL",
    )
    assert binding.variable_name == "PRIMARY_DATABASE_URL"
    with pytest.raises(Invalid):
        services.update_binding(binding=binding, variable_name="MIOSA_DB", actor=actor)
    with pytest.raises(Invalid):
        services.create_binding(
            environment=production, kind="postgres", name="db", url="mysql://x", actor=actor
        )


def test_replacing_a_credential_blank_keeps_it(production, actor):
    binding = services.create_binding(
        environment=production, kind="postgres", name="db", url=PROD_URL, actor=actor
    )
    services.update_binding(binding=binding, url="", name="renamed", actor=actor)
    assert runtime_env(production)["DATABASE_URL"] == PROD_URL
    new_url = "postgres://app:rotated@db.internal:5432/shop"
    services.update_binding(binding=binding, url=new_url, actor=actor)
    assert runtime_env(production)["DATABASE_URL"] == new_url
    actions = list(
        AuditEvent.objects.filter(action__startswith="binding.").values_list("action", flat=True)
    )
    assert actions.count("binding.update") == 2
    services.delete_binding(binding=binding, actor=actor)
    assert "DATABASE_URL" not in runtime_env(production)
    assert not any("rotated" in str(e.detail) + e.target for e in AuditEvent.objects.all())


def test_compare_sees_different_bindings_without_values(production, staging, actor):
    services.create_binding(
        environment=production, kind="postgres", name="db", url=PROD_URL, actor=actor
    )
    services.create_binding(
        environment=staging, kind="postgres", name="db", url=STAGING_URL, actor=actor
    )
    assert selectors.compare_environments(production, staging).different == ["DATABASE_URL"]


def _url_of(size: int) -> str:
    """A Postgres URL of exactly `size` bytes."""
    base = "postgres://app:@db.internal:5432/shop"
    return base.replace("app:@", "app:" + "p" * (size - len(base)) + "@")


def _fill(environment, actor, size: int) -> None:
    """Plain variables holding `size` bytes of values in all."""
    items, left = [], size
    while left:
        items.append(VariableInput(f"FILL_{len(items)}", "x" * min(left, 32 * 1024)))
        left -= len(items[-1].value)
    services.set_variables(environment=environment, items=items, actor=actor)


def test_a_binding_counts_toward_the_64_kib_of_an_environment(production, actor):
    _fill(production, actor, 64 * 1024 - 100)
    services.create_binding(
        environment=production, kind="postgres", name="db", url=_url_of(100), actor=actor
    )
    with pytest.raises(TooLarge) as excinfo:
        services.set_variable(
            environment=production, key="ONE_MORE", value="x", is_secret=None, actor=actor
        )
    assert excinfo.value.code == "environment_too_large"


def test_a_binding_is_refused_beyond_the_64_kib_without_telling_the_total(production, actor):
    _fill(production, actor, 64 * 1024 - 100)
    with pytest.raises(TooLarge) as excinfo:
        services.create_binding(
            environment=production, kind="postgres", name="db", url=_url_of(101), actor=actor
        )
    assert excinfo.value.code == "environment_too_large"
    assert excinfo.value.message == (
        "The values of production would exceed the limit of 65536 bytes (64 KiB) in total."
    )
    assert not Binding.objects.filter(environment=production).exists()


def test_a_new_url_counts_its_own_size_not_the_old_one_too(production, actor):
    _fill(production, actor, 64 * 1024 - 100)
    binding = services.create_binding(
        environment=production, kind="postgres", name="db", url=_url_of(90), actor=actor
    )
    services.update_binding(binding=binding, url=_url_of(100), actor=actor)
    with pytest.raises(TooLarge) as excinfo:
        services.update_binding(binding=binding, url=_url_of(101), actor=actor)
    assert excinfo.value.code == "environment_too_large"
    assert runtime_env(production)["DATABASE_URL"] == _url_of(100)


def test_a_binding_counts_toward_the_500_keys_of_an_environment(production, actor):
    services.set_variables(
        environment=production,
        items=[VariableInput(f"K{i}", "v") for i in range(499)],
        actor=actor,
    )
    services.create_binding(
        environment=production, kind="postgres", name="db", url=PROD_URL, actor=actor
    )
    with pytest.raises(TooLarge) as excinfo:
        services.set_variable(
            environment=production, key="ONE_MORE", value="v", is_secret=None, actor=actor
        )
    assert excinfo.value.code == "too_many_variables"
    assert "500" in excinfo.value.message and "499" not in excinfo.value.message
    with pytest.raises(TooLarge) as excinfo:
        services.create_binding(
            environment=production, kind="redis", name="cache", url="redis://c:6379", actor=actor
        )
    assert excinfo.value.code == "too_many_variables"
    assert not Binding.objects.filter(environment=production, kind="redis").exists()
