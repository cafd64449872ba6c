"""`manage.py expire_environments`: deletes environments whose expires_at is past, audited;
idempotent and safe to run from several servers at once."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from environments import services
from environments.errors import NotFound
from environments.models import AuditEvent, Environment, RuntimeToken, Variable
from tests.concurrently import run_concurrently, skip_unless_postgres


def run() -> str:
    out = io.StringIO()
    call_command("expire_environments", stdout=out)
    return out.getvalue().strip()


def _preview(deployment, actor, name: str, *, days: float = 1) -> Environment:
    environment = services.create_environment(
        deployment=deployment,
        name=name,
        expires_at=timezone.now() + timedelta(days=1),
        actor=actor,
    )
    # Move the expiry to where the test wants it (the service refuses a past one).
    Environment.objects.filter(pk=environment.pk).update(
        expires_at=timezone.now() + timedelta(days=days)
    )
    return environment


@pytest.mark.django_db
def test_expired_environments_are_deleted_and_audited(deployment, actor):
    gone = _preview(deployment, actor, "preview/pr-1", days=-1)
    services.set_variable(environment=gone, key="A", value="1", is_secret=None, actor=actor)
    services.create_runtime_token(environment=gone, name="boot", actor=actor)
    _preview(deployment, actor, "preview/pr-2", days=-0.001)
    _preview(deployment, actor, "preview/pr-3", days=1)
    services.create_environment(deployment=deployment, name="qa", actor=actor)
    assert run() == "2"
    assert set(Environment.objects.values_list("name", flat=True)) == {
        "production",
        "staging",
        "preview/pr-3",
        "qa",
    }
    assert not Variable.objects.exists() and not RuntimeToken.objects.exists()
    events = AuditEvent.objects.filter(action="environment.delete").order_by("id")
    assert [(e.target, e.actor_label, e.detail["reason"]) for e in events] == [
        ("preview/pr-1", "manage.py expire_environments", "expired"),
        ("preview/pr-2", "manage.py expire_environments", "expired"),
    ]
    assert events[0].detail["variables"] == 1 and events[0].detail["runtime_tokens"] == 1


@pytest.mark.django_db
def test_a_second_run_deletes_nothing(deployment, actor):
    _preview(deployment, actor, "preview/pr-1", days=-1)
    assert run() == "1"
    assert run() == "0"
    assert AuditEvent.objects.filter(action="environment.delete").count() == 1


@pytest.mark.django_db
def test_nothing_to_expire_prints_zero(deployment, actor):
    _preview(deployment, actor, "preview/pr-1", days=3)
    assert run() == "0"
    assert Environment.objects.filter(name="preview/pr-1").exists()


@pytest.mark.django_db
def test_an_environment_whose_expiry_moved_meanwhile_is_kept(deployment, actor):
    """The expiry is re-checked under the lock, not trusted from the listing."""
    environment = _preview(deployment, actor, "preview/pr-1", days=-1)
    Environment.objects.filter(pk=environment.pk).update(expires_at=None)
    with pytest.raises(NotFound):
        services.delete_environment(environment=environment, actor=actor, expired_at=timezone.now())
    assert Environment.objects.filter(pk=environment.pk).exists()


@pytest.mark.django_db
def test_an_environment_already_gone_is_not_found(deployment, actor):
    environment = _preview(deployment, actor, "preview/pr-1", days=-1)
    services.delete_environment(environment=environment, actor=actor)
    with pytest.raises(NotFound):
        services.delete_environment(environment=environment, actor=actor, expired_at=timezone.now())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_delete_each_environment_once(deployment, actor):
    skip_unless_postgres()
    for n in range(10):
        _preview(deployment, actor, f"preview/pr-{n}", days=-1)
    results = run_concurrently([run for _ in range(4)], timeout=120)
    assert all(isinstance(r, str) for r in results), results
    assert sum(int(r) for r in results) == 10
    assert not Environment.objects.filter(name__startswith="preview/").exists()
    assert AuditEvent.objects.filter(action="environment.delete").count() == 10
