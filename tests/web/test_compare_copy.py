"""The compare page fixes drift: copy keys into the other side, and shows plain values side by
side to who may reveal."""

import pytest
from django.urls import reverse

from environments import selectors, services
from environments.models import AuditEvent, Role
from tests.conftest import CANARY


@pytest.fixture
def drift(staging, production, actor):
    services.set_variable(
        environment=staging, key="API_TIMEOUT_MS", value="2500", is_secret=False, actor=actor
    )
    services.set_variable(
        environment=staging, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    services.set_variable(
        environment=staging, key="LOG_LEVEL", value="debug-lvl", is_secret=False, actor=actor
    )
    services.set_variable(
        environment=production, key="LOG_LEVEL", value="warn-lvl", is_secret=False, actor=actor
    )
    services.create_binding(
        environment=staging,
        kind="postgres",
        name="db",
        url="postgres://app:bound-pw@db.internal:5432/shop",
        actor=actor,
    )


def _copy_url(deployment):
    return reverse("compare_copy", kwargs={"deployment_id": deployment.pk})


def _post(client, deployment, keys, *, confirmed=False, right="production"):
    body = {"left": "staging", "right": right, "keys": keys}
    if confirmed:
        body["confirmed"] = "on"
    return client.post(_copy_url(deployment), body)


def test_compare_offers_checkboxes_for_copyable_keys_only(as_role, deployment, drift):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    html = as_role(Role.ADMIN).get(url, {"left": "staging", "right": "production"}).content
    html = html.decode()
    for key in ("API_TIMEOUT_MS", "STRIPE_KEY", "LOG_LEVEL"):
        assert f'name="keys" value="{key}"' in html
    assert 'value="DATABASE_URL"' not in html  # a binding is never copied
    assert "Copy selected to production" in html


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_who_cannot_write_production_gets_no_checkboxes_and_a_403(as_role, deployment, drift, role):
    client = as_role(role)
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    html = client.get(url, {"left": "staging", "right": "production"}).content.decode()
    assert 'name="keys"' not in html
    response = _post(client, deployment, ["API_TIMEOUT_MS"], confirmed=True)
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="variable.copy").exists()


def test_an_outsider_gets_404(as_role, deployment, drift):
    assert _post(as_role("outsider"), deployment, ["API_TIMEOUT_MS"]).status_code == 404


def test_copy_get_is_405(as_role, deployment):
    assert as_role(Role.ADMIN).get(_copy_url(deployment)).status_code == 405


def test_copy_asks_first_in_place_and_writes_nothing(as_role, deployment, drift, production):
    response = _post(as_role(Role.ADMIN), deployment, ["API_TIMEOUT_MS", "STRIPE_KEY"])
    html = response.content.decode()
    assert response.status_code == 200
    assert "Copy 2 keys from staging into production?" in html
    assert "pending until it is applied" in html  # production is staged
    assert not production.variables.filter(key="API_TIMEOUT_MS").exists()
    assert CANARY not in html


def test_confirmed_copy_lands_as_pending_changes_with_apply(
    as_role, deployment, versions, drift, production
):
    client = as_role(Role.ADMIN)
    response = _post(client, deployment, ["API_TIMEOUT_MS", "STRIPE_KEY"], confirmed=True)
    assert response.status_code == 302
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Copied 2 keys (API_TIMEOUT_MS, STRIPE_KEY) into production" in html
    assert "pending until it is applied" in html
    assert "production has 3 pending changes" in html  # LOG_LEVEL was pending already
    assert reverse("apply_changes", args=[deployment.pk, "production"]) in html
    assert CANARY not in html
    production.refresh_from_db()
    assert {"API_TIMEOUT_MS", "STRIPE_KEY"} <= set(selectors.pending_changes(production).names)
    event = AuditEvent.objects.get(action="variable.copy")
    assert event.detail["source"] == "staging" and event.actor_label.startswith("admin-user")


def test_a_binding_posted_by_hand_is_refused(as_role, deployment, drift, production):
    response = _post(as_role(Role.ADMIN), deployment, ["DATABASE_URL"], confirmed=True)
    assert response.status_code == 400
    assert "can no longer be copied" in response.content.decode()
    assert not production.variables.filter(key="DATABASE_URL").exists()


def test_nothing_picked_is_a_clear_error(as_role, deployment, drift):
    response = _post(as_role(Role.ADMIN), deployment, [])
    assert response.status_code == 400
    assert "Pick at least one key to copy." in response.content.decode()


def test_a_developer_copies_between_environments_they_write(
    as_role, deployment, drift, staging, actor
):
    services.create_environment(deployment=deployment, name="qa", actor=actor)
    response = _post(as_role(Role.DEVELOPER), deployment, ["LOG_LEVEL"], confirmed=True, right="qa")
    assert response.status_code == 302
    qa = deployment.environments.get(name="qa")
    assert qa.variables.filter(key="LOG_LEVEL").exists()


def test_admin_sees_plain_values_side_by_side_audited(as_role, deployment, drift):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    client = as_role(Role.ADMIN)
    html = client.get(url, {"left": "staging", "right": "production"}).content.decode()
    assert "debug-lvl" not in html and "Show plain values side by side" in html
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()
    values = reverse("compare_values", kwargs={"deployment_id": deployment.pk})
    assert client.get(values).status_code == 405
    html = client.post(values + "?left=staging&right=production").content.decode()
    assert "debug-lvl" in html and "warn-lvl" in html and "2500" in html
    assert CANARY not in html and "bound-pw" not in html
    event = AuditEvent.objects.get(action="variable.reveal")
    assert "LOG_LEVEL" in event.target
    assert "debug-lvl" not in str(event.detail) + event.target


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_who_may_not_reveal_never_sees_values(as_role, deployment, drift, role):
    values = reverse("compare_values", kwargs={"deployment_id": deployment.pk})
    response = as_role(role).post(values + "?left=staging&right=production")
    html = response.content.decode()
    assert "debug-lvl" not in html and "Show plain values" not in html
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()


def test_the_promotion_confirmation_links_its_drift_to_the_copy(
    as_role, deployment, versions, drift
):
    url = reverse("promote", args=[deployment.pk, "staging"])
    html = as_role(Role.ADMIN).get(url).content.decode()
    assert 'data-testid="fix-drift"' in html
    assert "compare/?left=staging&amp;right=production#copy-form" in html


def test_the_admin_compare_does_a_fixed_number_of_queries(as_role, deployment, staging, actor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_role(Role.ADMIN)
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    client.get(url, {"left": "staging", "right": "production"})  # a repeat view within the minute
    counts = []  # is counted on the first one's audit event (coalesced): measure repeats only
    for start in (0, 10):
        services.set_variables(
            environment=staging,
            items=[services.VariableInput(f"K{start + i}", "v") for i in range(10 + start * 5)],
            actor=actor,
        )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"left": "staging", "right": "production"})
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
