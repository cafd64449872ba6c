"""Register a version and deploy it, maybe into a new environment."""

import pytest
from django.urls import reverse

from environments.models import Environment, Role, Version


@pytest.fixture
def url(deployment):
    return reverse("version_create", kwargs={"deployment_id": deployment.pk})


def test_register_and_deploy_to_staging(as_role, url, staging):
    response = as_role(Role.DEVELOPER).post(
        url, {"label": "abc123", "notes": "n", "deploy_to": "staging"}
    )
    assert response.status_code == 302
    staging.refresh_from_db()
    assert staging.active_version.label == "abc123"


def test_register_into_a_new_preview(as_role, url, deployment):
    data = {"label": "x", "deploy_to": "__new__", "new_environment": "preview/pr-43"}
    assert as_role(Role.DEVELOPER).post(url, data).status_code == 302
    preview = Environment.objects.get(name="preview/pr-43")
    assert preview.active_version.number == 1 and preview.promotes_to.name == "staging"


def test_a_bad_new_name_registers_nothing(as_role, url):
    data = {"label": "x", "deploy_to": "__new__", "new_environment": "Bad Name"}
    response = as_role(Role.DEVELOPER).post(url, data)
    assert response.status_code == 400
    assert not Version.objects.exists()


def test_production_refuses_a_version_that_skipped_staging(as_role, url, production):
    response = as_role(Role.ADMIN).post(url, {"label": "x", "deploy_to": "production"})
    assert response.status_code == 409
    assert "never been active in staging" in response.content.decode()
    assert not Version.objects.exists()  # all or nothing


def test_developer_cannot_choose_production(as_role, url):
    client = as_role(Role.DEVELOPER)
    html = client.get(url).content.decode()
    assert '<option value="production"' not in html
    assert client.post(url, {"deploy_to": "production"}).status_code == 400
