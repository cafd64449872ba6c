"""The runtime token as the fetch reads it (selectors.live_runtime_token): on PostgreSQL one
statement whose row is made into model instances without Model.__init__ (no per-field loop,
no pre_init/post_init signals). They must be what the ORM would load, field for field, and
behave as loaded instances do (deferred fields read when asked for, saved as existing rows)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from environments import selectors, services
from environments.models import Deployment, Environment, Release, RuntimeToken, Version
from tests.concurrently import skip_unless_postgres

MODELS = (RuntimeToken, Environment, Deployment, Release, Version)


def _orm(token_hash: str) -> RuntimeToken:
    return RuntimeToken.objects.select_related(
        "environment__deployment", "environment__live_release__version"
    ).get(token_hash=token_hash, revoked_at__isnull=True)


def _token(environment, actor, *, expires_at=None) -> str:
    _, raw = services.create_runtime_token(environment=environment, name="web", actor=actor)
    if expires_at is not None:
        RuntimeToken.objects.filter(environment=environment).update(expires_at=expires_at)
    return services.hash_token(raw)


def test_no_receiver_listens_to_init_of_the_models_built_without_it():
    for model in MODELS:
        assert not pre_init.has_listeners(model), model
        assert not post_init.has_listeners(model), model


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("released", [True, False])
def test_the_instances_are_the_orms(deployment, production, staging, actor, released):
    skip_unless_postgres()
    if released:
        version = services.create_version(deployment=deployment, actor=actor)
        services.deploy_version(environment=staging, version=version, actor=actor)
        services.deploy_version(environment=production, version=version, actor=actor)
    later = timezone.now() + dt.timedelta(days=3)
    token_hash = _token(production, actor, expires_at=later)
    found, orm = selectors.live_runtime_token(token_hash), _orm(token_hash)
    pairs = [
        (found, orm),
        (found.environment, orm.environment),
        (found.environment.deployment, orm.environment.deployment),
    ]
    if released:
        pairs += [
            (found.environment.live_release, orm.environment.live_release),
            (found.environment.live_release.version, orm.environment.live_release.version),
        ]
    else:
        assert found.environment.live_release is None
    for ours, theirs in pairs:
        assert type(ours) is type(theirs)
        assert ours.pk == theirs.pk and ours == theirs
        assert not ours._state.adding and ours._state.db == theirs._state.db
        loaded = ours.get_deferred_fields()
        for field in type(ours)._meta.concrete_fields:
            if field.attname not in loaded:
                assert getattr(ours, field.attname) == getattr(theirs, field.attname), field
    assert found.expires_at == later and not found.is_expired()
    assert found.environment.deployment.name == deployment.name


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_field_not_read_is_loaded_when_asked_for_and_a_save_updates(production, actor):
    skip_unless_postgres()
    token_hash = _token(production, actor)
    found = selectors.live_runtime_token(token_hash)
    assert "created_at" in found.get_deferred_fields()
    assert found.created_at == _orm(token_hash).created_at  # one query, as the ORM does
    found.name = "renamed"
    found.save(update_fields=["name"])
    assert RuntimeToken.objects.get(pk=found.pk).name == "renamed"
    assert RuntimeToken.objects.count() == 1  # updated, not inserted


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_revoked_or_unknown_token_is_none(production, actor):
    skip_unless_postgres()
    token_hash = _token(production, actor)
    assert selectors.live_runtime_token("0" * 64) is None
    RuntimeToken.objects.update(revoked_at=timezone.now())
    assert selectors.live_runtime_token(token_hash) is None
