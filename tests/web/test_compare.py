"""Compare two environments by keyed fingerprints: names and same/different, never values."""

import pytest
from django.db import connection
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, Role


def test_compare_lists_only_in_each_and_same_or_different(
    as_role, deployment, staging, production, actor
):
    services.set_variable(
        environment=staging, key="SAME", value="s3cret-same", is_secret=True, actor=actor
    )
    services.set_variable(
        environment=production, key="SAME", value="s3cret-same", is_secret=True, actor=actor
    )
    services.set_variable(
        environment=staging, key="DIFF", value="aaaa-value", is_secret=False, actor=actor
    )
    services.set_variable(
        environment=production, key="DIFF", value="bbbb-value", is_secret=False, actor=actor
    )
    services.set_variable(
        environment=staging, key="ONLY_STAGING", value="1", is_secret=False, actor=actor
    )
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    # An admin may write both sides, so same/different is shown for the secret too (SPEC §3).
    response = as_role(Role.ADMIN).get(url, {"left": "staging", "right": "production"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Only in staging" in html and "ONLY_STAGING" in html
    assert 'DIFF</th><td>set</td><td>set</td><td class="state-different">' in html
    assert 'SAME</th><td>set</td><td>set</td><td class="state-same">' in html
    for value in ("s3cret-same", "aaaa-value", "bbbb-value"):
        assert value not in html


def test_compare_defaults_to_staging_and_production(as_role, deployment):
    html = (
        as_role(Role.VIEWER)
        .get(reverse("compare", kwargs={"deployment_id": deployment.pk}))
        .content.decode()
    )
    assert "Both are empty" in html


def test_comparing_an_environment_with_itself_is_refused(as_role, deployment):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    response = as_role(Role.VIEWER).get(url, {"left": "staging", "right": "staging"})
    assert response.status_code == 400
    assert "Pick two different environments." in response.content.decode()


def test_compare_query_count_is_fixed(
    as_role, deployment, staging, actor, django_assert_num_queries
):
    services.set_variables(
        environment=staging,
        items=[services.VariableInput(f"K{i}", "v") for i in range(50)],
        actor=actor,
    )
    client = as_role(Role.VIEWER)
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    # session, user, membership, environments, the audit event (savepoint, count it into an
    # open one like it (issue 18), else lock the chain's head, insert, move the head, release;
    # on PostgreSQL one statement for those three), 2 x (variables, bindings)
    with django_assert_num_queries(12 if connection.vendor == "postgresql" else 14):
        client.get(url, {"left": "staging", "right": "production"})
    # The same compare within the minute is counted into that event: one statement.
    with django_assert_num_queries(11):
        client.get(url, {"left": "staging", "right": "production"})


@pytest.fixture
def guessable(staging, production, actor):
    """Production's secret and binding password, and a developer's guesses of them in staging."""
    for environment in (staging, production):
        services.set_variable(
            environment=environment, key="STRIPE_KEY", value="sk_guess", is_secret=True, actor=actor
        )
        services.set_variable(
            environment=environment, key="PLAIN", value="same", is_secret=False, actor=actor
        )
        services.create_binding(
            environment=environment,
            kind="postgres",
            name="db",
            url="postgres://app:guess@db.internal:5432/shop",
            actor=actor,
        )


def _state(html: str, key: str) -> str:
    row = html[html.index(f'<th scope="row" class="key">{key}</th>') :]
    return row[: row.index("</tr>")]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_secrets_and_bindings_are_hidden_from_who_cannot_write_both(
    as_role, deployment, guessable, role
):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    html = as_role(role).get(url, {"left": "staging", "right": "production"}).content.decode()
    for key in ("STRIPE_KEY", "DATABASE_URL"):
        assert "state-hidden" in _state(html, key)
        assert "state-same" not in _state(html, key) and "Different" not in _state(html, key)
    assert "state-same" in _state(html, "PLAIN")  # plain values stay comparable
    assert "2</strong> are hidden" in html


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_secrets_and_bindings_are_compared_for_who_may_write_both(
    as_role, deployment, guessable, role
):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    html = as_role(role).get(url, {"left": "staging", "right": "production"}).content.decode()
    for key in ("STRIPE_KEY", "DATABASE_URL", "PLAIN"):
        assert "state-same" in _state(html, key)
    assert "state-hidden" not in html


def test_a_developer_compares_secrets_between_environments_they_write(
    as_role, deployment, staging, actor, guessable
):
    services.create_environment(deployment=deployment, name="qa", copy_from=staging, actor=actor)
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    html = as_role(Role.DEVELOPER).get(url, {"left": "qa", "right": "staging"}).content.decode()
    assert "state-same" in _state(html, "STRIPE_KEY") and "state-hidden" not in html


def test_every_compare_is_audited_with_names_never_values(as_role, deployment, guessable):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    as_role(Role.DEVELOPER).get(url, {"left": "staging", "right": "production"})
    event = AuditEvent.objects.get(action="environment.compare")
    assert event.actor_label.startswith("developer-user")
    assert event.deployment_id == deployment.pk
    assert event.detail == {"left": "staging", "right": "production", "secrets_hidden": True}
    assert "guess" not in str(event.detail) + event.target


def test_a_refused_compare_is_not_audited(as_role, deployment):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    as_role(Role.VIEWER).get(url, {"left": "staging", "right": "staging"})
    assert not AuditEvent.objects.filter(action="environment.compare").exists()
