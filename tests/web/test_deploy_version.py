"""Deploy a version here: run an existing version in an environment from the UI, confirmed in
place with what goes live, refused as a promotion is (staging first, required keys)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, Release, Role


def _url(deployment, name: str) -> str:
    return reverse("deploy_version", args=[deployment.pk, name])


@pytest.fixture
def preview(deployment, staging, actor, versions):
    return services.create_environment(
        deployment=deployment, name="preview/x", copy_from=staging, actor=actor
    )


def test_a_copy_of_staging_offers_the_recent_versions(as_role, deployment, preview):
    client = as_role(Role.DEVELOPER)
    env_page = client.get(reverse("environment", args=[deployment.pk, "preview/x"]))
    assert 'data-testid="deploy-version"' in env_page.content.decode()
    html = client.get(_url(deployment, "preview/x")).content.decode()
    assert "v2 (b2) · runs in staging" in html and "v1 (b1)" in html
    assert "nothing yet" in html


def test_deploy_asks_first_then_runs_the_version(as_role, deployment, preview, actor):
    services.set_variable(environment=preview, key="EXTRA", value="1", is_secret=False, actor=actor)
    client = as_role(Role.DEVELOPER)
    asked = client.get(_url(deployment, "preview/x"), {"version": 2})
    html = asked.content.decode()
    assert asked.status_code == 200
    assert "Deploy v2 to preview/x?" in html
    assert not Release.objects.filter(environment=preview).exists()
    done = client.post(_url(deployment, "preview/x"), {"version": 2, "confirmed": "on"})
    assert done.status_code == 302
    page = client.get(done["Location"]).content.decode()
    assert "preview/x now runs v2" in page
    preview.refresh_from_db()
    assert preview.active_version.number == 2
    assert AuditEvent.objects.filter(action="version.deploy", target="v2").exists()


def test_without_confirmation_nothing_is_deployed(as_role, deployment, preview):
    response = as_role(Role.DEVELOPER).post(_url(deployment, "preview/x"), {"version": 2})
    assert response.status_code == 200 and "Deploy v2 to preview/x?" in response.content.decode()
    preview.refresh_from_db()
    assert preview.active_version is None


def test_production_refuses_a_version_staging_never_ran(as_role, deployment, actor, versions):
    services.create_version(deployment=deployment, label="b3", actor=actor)
    response = as_role(Role.ADMIN).post(
        _url(deployment, "production"), {"version": 3, "confirmed": "on"}
    )
    assert response.status_code == 409
    assert "v3 has never been active in staging" in response.content.decode()


def test_missing_required_keys_are_named_and_refused(as_role, deployment, preview, actor):
    services.set_required_keys(deployment=deployment, keys=["MUST_HAVE"], actor=actor)
    client = as_role(Role.DEVELOPER)
    html = client.get(_url(deployment, "preview/x"), {"version": 2}).content.decode()
    assert 'data-testid="missing-required-keys"' in html and "MUST_HAVE" in html
    response = client.post(_url(deployment, "preview/x"), {"version": 2, "confirmed": "on"})
    assert response.status_code == 409
    assert "MUST_HAVE" in response.content.decode()


def test_an_unknown_version_is_a_clear_error(as_role, deployment, preview):
    response = as_role(Role.DEVELOPER).get(_url(deployment, "preview/x"), {"version": 99})
    assert response.status_code == 400
    assert "Pick one of the recent versions listed." in response.content.decode()


@pytest.mark.parametrize(
    ("role", "env", "status"),
    [
        (Role.VIEWER, "preview/x", 403),
        (Role.DEVELOPER, "production", 403),
        ("outsider", "preview/x", 404),
        (Role.ADMIN, "production", 200),
    ],
)
def test_access(as_role, deployment, preview, role, env, status):
    assert as_role(role).get(_url(deployment, env)).status_code == status


def test_a_viewer_is_not_offered_the_link(as_role, deployment, preview):
    page = as_role(Role.VIEWER).get(reverse("environment", args=[deployment.pk, "preview/x"]))
    assert 'data-testid="deploy-version"' not in page.content.decode()


def test_delete_is_405(as_role, deployment, preview):
    assert as_role(Role.ADMIN).delete(_url(deployment, "preview/x")).status_code == 405


def test_the_pipeline_card_of_an_empty_preview_links_to_the_deploy(as_role, deployment, preview):
    html = as_role(Role.DEVELOPER).get(reverse("deployment", args=[deployment.pk])).content
    assert _url(deployment, "preview/x") in html.decode()
