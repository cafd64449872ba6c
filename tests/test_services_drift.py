"""copy_keys: drift fixed server-side, values never shown."""

from __future__ import annotations

import json

import pytest

from environments import selectors, services
from environments.errors import Conflict, Invalid, NotFound
from environments.models import AuditEvent
from tests.conftest import CANARY
from tests.runtime import runtime_env

DB_URL = "postgres://app:bound-pw@db.internal:5432/shop"


@pytest.fixture
def live_production(deployment, staging, production, actor):
    """v1 runs in staging and production (so production, staged, has a live release)."""
    v1 = services.create_version(deployment=deployment, label="b1", actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.promote(source=staging, version_number=1, expected_target_version=None, actor=actor)
    production.refresh_from_db()
    return production


def _set(env, key, value, actor, secret=False):
    services.set_variable(environment=env, key=key, value=value, is_secret=secret, actor=actor)


def test_copied_values_equal_the_source_and_secrets_stay_secret(staging, live_production, actor):
    _set(staging, "API_TIMEOUT_MS", "2500", actor)
    _set(staging, "STRIPE_KEY", CANARY, actor, secret=True)
    _set(live_production, "API_TIMEOUT_MS", "1000", actor)
    services.apply_changes(environment=live_production, actor=actor)
    live_production.refresh_from_db()
    before = live_production.config_revision

    result = services.copy_keys(
        source=staging, target=live_production, keys=["STRIPE_KEY", "API_TIMEOUT_MS"], actor=actor
    )

    assert result.keys == ["API_TIMEOUT_MS", "STRIPE_KEY"]
    assert result.created == ["STRIPE_KEY"] and result.replaced == ["API_TIMEOUT_MS"]
    assert result.revision == before + 1  # one revision for the whole copy
    assert CANARY not in repr(result)
    rows = {r.key: r for r in selectors.variable_rows([live_production])}
    assert rows["STRIPE_KEY"].is_secret and rows["API_TIMEOUT_MS"].is_secret is False
    # Production is staged: the copy waits as pending changes, the runtime still gets the old.
    assert result.pending
    live_production.refresh_from_db()
    assert set(selectors.pending_changes(live_production).names) == {"API_TIMEOUT_MS", "STRIPE_KEY"}
    assert runtime_env(live_production).get("API_TIMEOUT_MS") == "1000"
    services.apply_changes(environment=live_production, actor=actor)
    live_production.refresh_from_db()
    env = runtime_env(live_production)
    assert env["API_TIMEOUT_MS"] == "2500" and env["STRIPE_KEY"] == CANARY


def test_an_immediate_target_goes_live_at_once(staging, production, actor, deployment):
    v1 = services.create_version(deployment=deployment, label="b1", actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    _set(production, "LOG_LEVEL", "info", actor)
    result = services.copy_keys(source=production, target=staging, keys=["LOG_LEVEL"], actor=actor)
    assert not result.pending
    assert runtime_env(staging)["LOG_LEVEL"] == "info"


def test_the_copy_is_audited_by_name_never_by_value(staging, live_production, actor):
    _set(staging, "STRIPE_KEY", CANARY, actor, secret=True)
    services.copy_keys(source=staging, target=live_production, keys=["STRIPE_KEY"], actor=actor)
    event = AuditEvent.objects.get(action="variable.copy")
    assert event.environment_name == "production"
    assert event.target == "STRIPE_KEY"
    assert event.detail["source"] == "staging" and event.detail["keys"] == ["STRIPE_KEY"]
    every = json.dumps(list(AuditEvent.objects.values("target", "detail")), default=str)
    assert CANARY not in every


def test_a_plain_value_keeps_a_secret_target_secret(staging, production, actor):
    _set(staging, "TOKEN", "plain-here", actor)
    _set(production, "TOKEN", "secret-there", actor, secret=True)
    services.copy_keys(source=staging, target=production, keys=["TOKEN"], actor=actor)
    row = {r.key: r for r in selectors.variable_rows([production])}["TOKEN"]
    assert row.is_secret


def test_bindings_are_refused_and_nothing_is_copied(staging, production, actor):
    _set(staging, "LOG_LEVEL", "debug", actor)
    services.create_binding(
        environment=staging, kind="postgres", name="db", url=DB_URL, actor=actor
    )
    production.refresh_from_db()
    before = production.config_revision
    with pytest.raises(Conflict) as refused:
        services.copy_keys(
            source=staging, target=production, keys=["LOG_LEVEL", "DATABASE_URL"], actor=actor
        )
    assert refused.value.code == "binding_not_copied"
    assert "bound-pw" not in refused.value.message
    production.refresh_from_db()
    assert production.config_revision == before
    assert not production.variables.filter(key="LOG_LEVEL").exists()
    assert not AuditEvent.objects.filter(action="variable.copy").exists()


def test_a_target_binding_of_that_name_is_refused(staging, production, actor):
    _set(staging, "DATABASE_URL", "sqlite:///x", actor)
    services.create_binding(
        environment=production, kind="postgres", name="db", url=DB_URL, actor=actor
    )
    with pytest.raises(Conflict) as refused:
        services.copy_keys(source=staging, target=production, keys=["DATABASE_URL"], actor=actor)
    assert refused.value.code == "binding_clash"


@pytest.mark.parametrize(
    ("keys", "error"),
    [([], Invalid), (["1BAD"], Invalid), (["NOT_THERE"], NotFound), ("LOG_LEVEL", Invalid)],
)
def test_bad_keys_are_refused(staging, production, actor, keys, error):
    _set(staging, "LOG_LEVEL", "debug", actor)
    with pytest.raises(error):
        services.copy_keys(source=staging, target=production, keys=keys, actor=actor)


def test_one_environment_into_itself_is_refused(staging, actor):
    _set(staging, "LOG_LEVEL", "debug", actor)
    with pytest.raises(Invalid):
        services.copy_keys(source=staging, target=staging, keys=["LOG_LEVEL"], actor=actor)
