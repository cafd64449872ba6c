from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from environments import crypto, selectors, services
from environments.errors import Conflict, Invalid, NotFound, TooLarge
from environments.models import AuditEvent, Environment, Variable
from environments.services import VariableInput
from tests.conftest import CANARY
from tests.refuse_audit import refuse_audit_writes
from tests.runtime import runtime_env


def test_creating_a_deployment_creates_production_and_staging(deployment):
    names = sorted(deployment.environments.values_list("name", flat=True))
    assert names == ["production", "staging"]
    staging = deployment.environments.get(name="staging")
    assert staging.promotes_to.name == "production"
    assert deployment.environments.get(name="production").promotes_to is None


def test_deployment_names_are_validated_and_unique(actor, deployment):
    with pytest.raises(Invalid):
        services.create_deployment(name="Shop!", actor=actor)
    with pytest.raises(Conflict):
        services.create_deployment(name="shop", actor=actor)


def test_set_variable_encrypts_and_audits(production, actor):
    variable, created = services.set_variable(
        environment=production,
        key="API_URL",
        value="https://api.example.com",
        is_secret=None,
        actor=actor,
    )
    assert created and not variable.is_secret
    stored = Variable.objects.get(pk=variable.pk)
    assert b"api.example.com" not in bytes(stored.ciphertext)
    assert crypto.decrypt(stored.ciphertext, context=stored.context()) == "https://api.example.com"
    event = AuditEvent.objects.filter(action="variable.create").get()
    assert event.target == "API_URL" and event.environment_name == "production"
    assert "api.example.com" not in str(event.detail)


def test_upsert_replaces_and_keeps_the_kind(production, actor):
    services.set_variable(environment=production, key="K", value="one", is_secret=True, actor=actor)
    variable, created = services.set_variable(
        environment=production, key="K", value="two", is_secret=None, actor=actor
    )
    assert not created and variable.is_secret
    assert runtime_env(production)["K"] == "two"


def test_a_secret_cannot_become_plain(production, actor):
    services.set_variable(environment=production, key="K", value="v", is_secret=True, actor=actor)
    with pytest.raises(Conflict) as excinfo:
        services.set_variable(
            environment=production, key="K", value="v", is_secret=False, actor=actor
        )
    assert excinfo.value.code == "secret_cannot_become_plain"


@pytest.mark.parametrize("key", ["1ABC", "A-B", "", "A B", "X" * 257, "ÄPI"])
def test_bad_keys_are_refused(production, actor, key):
    with pytest.raises(Invalid) as excinfo:
        services.set_variable(
            environment=production, key=key, value="v", is_secret=None, actor=actor
        )
    assert excinfo.value.field == "key"


@pytest.mark.parametrize("key", ["MIOSA_VERSION", "miosa_anything"])
def test_reserved_prefix_is_refused(production, actor, key):
    with pytest.raises(Invalid) as excinfo:
        services.set_variable(
            environment=production, key=key, value="v", is_secret=None, actor=actor
        )
    assert excinfo.value.code == "reserved_key"


@pytest.mark.parametrize("key", ["_X", "a", "API_URL", "X" * 256])
def test_good_keys_are_accepted(production, actor, key):
    services.set_variable(environment=production, key=key, value="v", is_secret=None, actor=actor)


def test_value_limits(production, actor):
    with pytest.raises(Invalid):
        services.set_variable(
            environment=production, key="K", value="a\x00b", is_secret=None, actor=actor
        )
    with pytest.raises(TooLarge):
        services.set_variable(
            environment=production,
            key="K",
            value="x" * (32 * 1024 + 1),
            is_secret=None,
            actor=actor,
        )
    services.set_variable(
        environment=production, key="K", value="x" * 32 * 1024, is_secret=None, actor=actor
    )
    services.set_variable(
        environment=production, key="L", value="x" * 32 * 1024, is_secret=None, actor=actor
    )
    with pytest.raises(TooLarge) as excinfo:
        services.set_variable(
            environment=production, key="M", value="x", is_secret=None, actor=actor
        )
    assert excinfo.value.code == "environment_too_large"
    # Replacing a value counts its new size, not old + new.
    services.set_variable(
        environment=production, key="L", value="y" * 32 * 1024, is_secret=None, actor=actor
    )


def test_the_size_limit_message_does_not_tell_the_size_of_the_other_values(production, actor):
    services.set_variable(
        environment=production, key="K", value="x" * 30000, is_secret=True, actor=actor
    )
    services.set_variable(
        environment=production, key="L", value="y" * 30001, is_secret=None, actor=actor
    )
    with pytest.raises(TooLarge) as excinfo:
        services.set_variable(
            environment=production, key="M", value="z" * 6000, is_secret=None, actor=actor
        )
    message = excinfo.value.message
    assert "60001" not in message and "66001" not in message  # the totals before and after
    assert message == (
        "The values of production would exceed the limit of 65536 bytes (64 KiB) in total."
    )


def test_at_most_500_keys(production, actor):
    services.set_variables(
        environment=production,
        items=[VariableInput(f"K{i}", "v") for i in range(500)],
        actor=actor,
    )
    with pytest.raises(TooLarge) as excinfo:
        services.set_variable(
            environment=production, key="ONE_MORE", value="v", is_secret=None, actor=actor
        )
    assert excinfo.value.code == "too_many_variables"


def test_batch_is_all_or_nothing(production, actor):
    with pytest.raises(Invalid) as excinfo:
        services.set_variables(
            environment=production,
            items=[VariableInput("GOOD", "v"), VariableInput("bad key", "v")],
            actor=actor,
        )
    assert excinfo.value.field == "variables[1].key"
    assert not Variable.objects.filter(environment=production).exists()
    assert not AuditEvent.objects.filter(action__startswith="variable.").exists()


def test_delete_variable(production, actor):
    services.set_variable(environment=production, key="K", value="v", is_secret=None, actor=actor)
    services.delete_variable(environment=production, key="K", actor=actor)
    assert not Variable.objects.exists()
    with pytest.raises(NotFound):
        services.delete_variable(environment=production, key="K", actor=actor)


def test_audit_failure_rolls_the_write_back(production, actor, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("audit store unavailable")

    refuse_audit_writes(monkeypatch, broken)
    with pytest.raises(RuntimeError):
        services.set_variable(
            environment=production, key="K", value=CANARY, is_secret=True, actor=actor
        )
    assert not Variable.objects.exists()


def test_custom_environment_copy(deployment, production, actor):
    services.set_variable(
        environment=production, key="A", value="plain", is_secret=None, actor=actor
    )
    services.set_variable(
        environment=production, key="S", value=CANARY, is_secret=True, actor=actor
    )
    qa = services.create_environment(
        deployment=deployment, name="qa", copy_from=production, actor=actor
    )
    env = runtime_env(qa)
    assert env["A"] == "plain" and env["S"] == CANARY
    assert Variable.objects.get(environment=qa, key="S").is_secret
    comparison = selectors.compare_environments(production, qa)
    assert comparison.same == ["A", "S"] and not comparison.different


def test_preview_environments_promote_to_staging(deployment, actor):
    preview = services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    assert preview.promotes_to.name == "staging"
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    assert qa.promotes_to is None


@pytest.mark.parametrize("name", ["QA", "-qa", "preview/", "a/b/c", "preview/-x", "x" * 64, ""])
def test_bad_environment_names(deployment, actor, name):
    with pytest.raises(Invalid):
        services.create_environment(deployment=deployment, name=name, actor=actor)


@pytest.mark.parametrize(
    "name", ["qa", "canary", "preview/pr-42", "preview/feature-abc", "preview/v1.2_x"]
)
def test_good_environment_names(deployment, actor, name):
    services.create_environment(deployment=deployment, name=name, actor=actor)


def test_production_and_staging_cannot_be_deleted(production, staging, actor):
    for env in (production, staging):
        with pytest.raises(Conflict):
            services.delete_environment(environment=env, actor=actor)


def test_deleting_a_custom_environment_deletes_its_rows_and_is_audited(deployment, actor):
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    services.set_variable(environment=qa, key="K", value="v", is_secret=None, actor=actor)
    services.create_binding(
        environment=qa, kind="redis", name="c", url="redis://h:6379", actor=actor
    )
    services.add_domain(environment=qa, hostname="qa.example.com", actor=actor)
    services.create_runtime_token(environment=qa, name="t", actor=actor)
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=qa, version=version, actor=actor)
    services.delete_environment(environment=qa, actor=actor)
    assert not Environment.objects.filter(name="qa").exists()
    assert not Variable.objects.exists()
    event = AuditEvent.objects.get(action="environment.delete")
    assert event.detail == {"variables": 1, "bindings": 1, "domains": 1, "runtime_tokens": 1}


def test_database_constraints_back_the_rules(production):
    with pytest.raises(IntegrityError), transaction.atomic():
        Variable.objects.create(
            environment=production, key="bad key", ciphertext=b"", fingerprint=b""
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Variable.objects.create(
            environment=production, key="MIOSA_X", ciphertext=b"", fingerprint=b""
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Environment.objects.create(deployment=production.deployment, name="Bad Name")
    with pytest.raises(IntegrityError), transaction.atomic():
        Environment.objects.create(deployment=production.deployment, name="production")


def test_batch_errors_name_the_failing_item(production, actor):
    services.create_binding(
        environment=production, kind="redis", name="c", url="redis://h:6379", actor=actor
    )
    with pytest.raises(Conflict) as excinfo:
        services.set_variables(
            environment=production,
            items=[VariableInput("OK", "v"), VariableInput("REDIS_URL", "v")],
            actor=actor,
        )
    assert excinfo.value.field == "variables[1].key"


def test_a_key_that_is_not_a_string_is_a_clear_error(production, actor):
    with pytest.raises(Invalid) as excinfo:
        services.set_variable(
            environment=production, key=42, value="v", is_secret=None, actor=actor
        )
    assert excinfo.value.message == "The key must be a string."


def test_adding_refuses_to_overwrite(production, actor):
    services.set_variable(
        environment=production, key="K", value=CANARY, is_secret=True, actor=actor
    )
    with pytest.raises(Conflict) as excinfo:
        services.add_variable(
            environment=production, key="K", value="x", is_secret=False, actor=actor
        )
    assert excinfo.value.code == "variable_exists"
    assert runtime_env(production)["K"] == CANARY


def test_adding_creates_a_variable_of_the_kind_asked_for(production, actor):
    variable = services.add_variable(
        environment=production, key="K", value=CANARY, is_secret=True, actor=actor
    )
    assert Variable.objects.get(pk=variable.pk).is_secret
    assert AuditEvent.objects.filter(action="variable.create", target="K").count() == 1


def test_marking_a_variable_secret_keeps_its_value_and_is_audited_once(production, actor):
    services.set_variable(
        environment=production, key="K", value=CANARY, is_secret=None, actor=actor
    )
    services.mark_variable_secret(environment=production, key="K", actor=actor)
    services.mark_variable_secret(environment=production, key="K", actor=actor)  # already one
    assert Variable.objects.get(environment=production, key="K").is_secret
    assert runtime_env(production)["K"] == CANARY
    assert AuditEvent.objects.filter(action="variable.make_secret", target="K").count() == 1
    with pytest.raises(NotFound):
        services.mark_variable_secret(environment=production, key="MISSING", actor=actor)


def test_deleting_a_promotion_target_is_on_record_for_its_sources(deployment, actor):
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    canary = services.create_environment(
        deployment=deployment, name="canary", promotes_to=qa, actor=actor
    )
    services.delete_environment(environment=qa, actor=actor)
    canary.refresh_from_db()
    assert canary.promotes_to is None
    event = AuditEvent.objects.get(action="environment.set_promotion_target")
    assert event.environment_name == "canary" and event.detail == {"reason": "qa was deleted"}
