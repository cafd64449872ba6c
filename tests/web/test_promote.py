"""Promote from the pipeline: the confirmation, the htmx and no-JS paths, stale buttons."""

import pytest
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, Release, Role

from .conftest import HX


@pytest.fixture
def url(deployment):
    return reverse("promote", kwargs={"deployment_id": deployment.pk, "name": "staging"})


@pytest.fixture
def differing(staging, production, actor, versions):
    services.set_variable(
        environment=staging, key="LOG_LEVEL", value="debug", is_secret=False, actor=actor
    )
    services.set_variable(
        environment=production, key="LOG_LEVEL", value="warn", is_secret=False, actor=actor
    )
    services.set_variable(environment=staging, key="SAME", value="x", is_secret=True, actor=actor)
    services.set_variable(
        environment=production, key="SAME", value="x", is_secret=True, actor=actor
    )
    services.set_variable(
        environment=production, key="ONLY_PROD", value="1", is_secret=False, actor=actor
    )


def test_confirmation_shows_versions_and_differing_keys(as_role, url, differing):
    response = as_role(Role.ADMIN).get(url, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="pipeline"' in html
    assert "<html" not in html  # a partial
    assert "Promote v2 from staging to production?" in html
    assert "production now" in html and "v1" in html
    assert "LOG_LEVEL" in html and "ONLY_PROD" in html
    differences = html.split("differ between")[1].split("<form")[0]
    assert "LOG_LEVEL" in differences and "ONLY_PROD" in differences
    assert "SAME" not in differences  # same value: not listed among the differences
    assert 'name="version" value="2"' in html
    assert 'name="target_version" value="1"' in html


def test_confirmation_without_javascript_is_the_whole_page(as_role, url, differing):
    response = as_role(Role.ADMIN).get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "Recent versions" in html
    assert "Promote v2 from staging to production?" in html


def test_confirming_with_htmx_swaps_the_pipeline(as_role, url, production, versions):
    response = as_role(Role.ADMIN).post(url, {"version": 2, "target_version": 1}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "production now runs v2, promoted from staging." in html
    production.refresh_from_db()
    assert production.active_version == versions[2]
    change = Release.objects.filter(environment=production).first()
    assert change.kind == "promote" and change.from_version == versions[1]


def test_confirming_without_javascript_redirects(as_role, url, production, deployment, versions):
    client = as_role(Role.ADMIN)
    response = client.post(url, {"version": 2, "target_version": 1})
    assert response.status_code == 302
    assert response["Location"] == reverse("deployment", kwargs={"deployment_id": deployment.pk})
    page = client.get(response["Location"]).content.decode()
    assert "production now runs v2" in page
    production.refresh_from_db()
    assert production.active_version == versions[2]


def test_a_stale_confirmation_is_refused_with_409_and_the_current_state(
    as_role, url, production, staging, deployment, actor, versions
):
    client = as_role(Role.ADMIN)
    # Someone else promoted v2 and then a v3 reached staging while the confirmation was open.
    services.promote(source=staging, version_number=2, expected_target_version=1, actor=actor)
    v3 = services.create_version(deployment=deployment, label="b3", actor=actor)
    services.deploy_version(environment=staging, version=v3, actor=actor)
    before = Release.objects.filter(environment=production).count()

    response = client.post(url, {"version": 2, "target_version": 1}, **HX)

    assert response.status_code == 409
    html = response.content.decode()
    assert "staging now runs v3, not v2" in html
    assert "Promote v3 to production" in html  # the current state, ready to try again
    assert Release.objects.filter(environment=production).count() == before


def test_a_changed_target_is_refused(as_role, url, production, staging, actor, versions):
    # The target moved (a rollback to v1 elsewhere would look the same): it ran v1, now v2.
    services.promote(source=staging, version_number=2, expected_target_version=1, actor=actor)
    services.rollback(environment=production, release=1, config="restore", actor=actor)
    response = as_role(Role.ADMIN).post(url, {"version": 2, "target_version": 2}, **HX)
    assert response.status_code == 409
    assert "production changed while you were looking" in response.content.decode()


def test_a_stale_post_without_javascript_shows_the_page_with_409(
    as_role, url, staging, actor, versions
):
    services.promote(source=staging, version_number=2, expected_target_version=1, actor=actor)
    response = as_role(Role.ADMIN).post(url, {"version": 2, "target_version": 1})
    assert response.status_code == 409
    assert "<html" in response.content.decode()


def test_staging_first_is_enforced(as_role, deployment, production, actor, versions):
    hotfix = services.create_environment(
        deployment=deployment, name="hotfix", promotes_to=production, actor=actor
    )
    v3 = services.create_version(deployment=deployment, label="b3", actor=actor)
    services.deploy_version(environment=hotfix, version=v3, actor=actor)
    url = reverse("promote", kwargs={"deployment_id": deployment.pk, "name": "hotfix"})
    response = as_role(Role.ADMIN).post(url, {"version": 3, "target_version": 1}, **HX)
    assert response.status_code == 409
    assert "v3 has never been active in staging" in response.content.decode()
    production.refresh_from_db()
    assert production.active_version == versions[1]


def test_an_incomplete_form_is_400(as_role, url, versions):
    response = as_role(Role.ADMIN).post(url, {"version": "x"}, **HX)
    assert response.status_code == 400


@pytest.mark.parametrize("field", ["version", "target_version"])
@pytest.mark.parametrize("number", [str(2**31), "99999999999999999999999"])
def test_a_version_number_beyond_32_bits_is_400(as_role, url, versions, field, number):
    form = {"version": "2", "target_version": "1"} | {field: number}
    response = as_role(Role.ADMIN).post(url, form, **HX)
    assert response.status_code == 400


def test_developer_may_promote_a_preview_to_staging(as_role, deployment, staging, actor, versions):
    preview = services.create_environment(deployment=deployment, name="preview/pr-1", actor=actor)
    v3 = services.create_version(deployment=deployment, label="b3", actor=actor)
    services.deploy_version(environment=preview, version=v3, actor=actor)
    url = reverse("promote", kwargs={"deployment_id": deployment.pk, "name": "preview/pr-1"})
    response = as_role(Role.DEVELOPER).post(url, {"version": 3, "target_version": 2}, **HX)
    assert response.status_code == 200
    staging.refresh_from_db()
    assert staging.active_version == v3


def test_environments_without_a_target_cannot_be_promoted(as_role, deployment, versions):
    url = reverse("promote", kwargs={"deployment_id": deployment.pk, "name": "production"})
    assert as_role(Role.OWNER).get(url).status_code == 404


def test_the_confirmation_is_an_audited_compare(as_role, url, differing):
    as_role(Role.ADMIN).get(url, **HX)
    event = AuditEvent.objects.get(action="environment.compare")
    assert event.detail == {
        "left": "staging",
        "right": "production",
        "secrets_hidden": False,
        "via": "promotion",
    }
