"""A key's history shows old → new for plain values to who may reveal (an audited reveal);
secrets keep "same value as revision N"; Restore on a staged environment links to Apply."""

from __future__ import annotations

import pytest
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, Role
from tests.conftest import CANARY

from .conftest import HX


def _url(deployment, name: str, key: str, view: str = "variable_history") -> str:
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name, "key": key})


@pytest.fixture
def log_level(staging, actor, versions):
    """LOG_LEVEL in staging: info, debug, deleted, then warn."""
    for value in ("info-lvl", "debug-lvl"):
        services.set_variable(
            environment=staging, key="LOG_LEVEL", value=value, is_secret=False, actor=actor
        )
    services.delete_variable(environment=staging, key="LOG_LEVEL", actor=actor)
    services.set_variable(
        environment=staging, key="LOG_LEVEL", value="warn-lvl", is_secret=False, actor=actor
    )


def test_the_history_shows_no_value_until_asked(as_role, deployment, log_level):
    body = as_role(Role.ADMIN).get(_url(deployment, "staging", "LOG_LEVEL")).content.decode()
    assert "info-lvl" not in body and "debug-lvl" not in body
    assert 'data-testid="show-values"' in body
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()


def test_show_values_gives_old_and_new_per_revision_audited(as_role, deployment, log_level):
    response = as_role(Role.ADMIN).post(
        _url(deployment, "staging", "LOG_LEVEL", "variable_history_values"), **HX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="key-history"')
    changes = body.split('data-testid="value-change"')[1:]
    assert len(changes) == 3
    newest, middle, oldest = changes
    assert "not set" in newest and "warn-lvl" in newest  # after the deletion
    assert "info-lvl" in middle and "debug-lvl" in middle
    assert middle.index("info-lvl") < middle.index("debug-lvl")  # old → new
    assert "not set" in oldest and "info-lvl" in oldest
    event = AuditEvent.objects.get(action="variable.reveal")
    assert event.target == "LOG_LEVEL" and event.environment_name == "staging"
    assert "lvl" not in str(event.detail)


@pytest.mark.parametrize(
    ("role", "status"), [(Role.VIEWER, 403), (Role.DEVELOPER, 403), ("outsider", 404)]
)
def test_who_may_not_reveal_cannot_show_values(as_role, deployment, log_level, role, status):
    client = as_role(role)
    if role != "outsider":
        page = client.get(_url(deployment, "staging", "LOG_LEVEL")).content.decode()
        assert 'data-testid="show-values"' not in page
    response = client.post(_url(deployment, "staging", "LOG_LEVEL", "variable_history_values"))
    assert response.status_code == status
    assert "debug-lvl" not in response.content.decode()
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()


def test_show_values_is_post_only(as_role, deployment, log_level):
    url = _url(deployment, "staging", "LOG_LEVEL", "variable_history_values")
    assert as_role(Role.ADMIN).get(url).status_code == 405


def test_a_secret_never_shows_values(as_role, deployment, staging, actor):
    for value in ("plain-before-canary", CANARY):
        services.set_variable(
            environment=staging, key="TOKEN", value=value, is_secret=None, actor=actor
        )
    services.mark_variable_secret(environment=staging, key="TOKEN", actor=actor)
    client = as_role(Role.OWNER)
    page = client.get(_url(deployment, "staging", "TOKEN")).content.decode()
    assert 'data-testid="show-values"' not in page
    response = client.post(_url(deployment, "staging", "TOKEN", "variable_history_values"))
    body = response.content.decode()
    assert response.status_code == 409
    assert CANARY not in body and "plain-before-canary" not in body
    assert "is or was a secret" in body


def test_restore_in_a_staged_environment_links_to_apply(
    as_role, deployment, production, actor, versions
):
    services.set_variable(
        environment=production, key="A", value="one", is_secret=False, actor=actor
    )
    services.apply_changes(environment=production, actor=actor)
    services.set_variable(
        environment=production, key="A", value="two", is_secret=False, actor=actor
    )
    production.refresh_from_db()
    client = as_role(Role.ADMIN)
    asked = client.get(
        _url(deployment, "production", "A"), {"revision": production.config_revision - 1}, **HX
    ).content.decode()
    assert "production is staged: the restore waits for an Apply." in asked
    response = client.post(
        _url(deployment, "production", "A", "variable_restore"),
        {"revision": production.config_revision - 1, "confirmed": "yes"},
        **HX,
    )
    body = response.content.decode()
    assert "the restore is pending until the changes are applied" in body
    assert reverse("apply_changes", args=[deployment.pk, "production"]) in body
