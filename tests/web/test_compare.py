"""Compare two environments by keyed fingerprints: names and same/different, never values."""

from django.urls import reverse

from environments import services
from environments.models import Role


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
    response = as_role(Role.VIEWER).get(url, {"left": "staging", "right": "production"})
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
    # session, user, membership, environments, 2 x (variables, bindings)
    with django_assert_num_queries(8):
        client.get(url, {"left": "staging", "right": "production"})
