"""A write that races its environment's delete: the request looked the environment (or binding)
up, then the environment was deleted before the service took its lock. The answer is a 404,
never a 500 (an Environment.DoesNotExist escaping `lock_environment`). The deletion is a real
one, through the service, made at the instant between the lookup and the write."""

from __future__ import annotations

import pytest

from environments import selectors, services
from environments.api import lookups
from environments.errors import NotFound
from environments.models import Binding, Environment
from tests.concurrently import delete_after_lookup

URL = "postgres://app:pw@db.internal:5432/app"

pytestmark = pytest.mark.django_db


@pytest.fixture
def preview(deployment, actor) -> Environment:
    return services.create_environment(deployment=deployment, name="preview/pr-7", actor=actor)


def test_the_service_refuses_a_binding_for_a_deleted_environment_as_not_found(preview, actor):
    services.delete_environment(environment=preview, actor=actor)
    with pytest.raises(NotFound) as refused:
        services.create_binding(environment=preview, kind="postgres", name="", url=URL, actor=actor)
    assert isinstance(refused.value, Environment.DoesNotExist)  # what older callers catch
    assert URL not in str(refused.value)


def test_a_binding_posted_while_its_environment_is_deleted_is_a_404(
    api, deployment, preview, owner, token_for, actor, monkeypatch
):
    delete_after_lookup(monkeypatch, actor, lookups, "environment")
    response = api.post(
        f"/api/v1/deployments/{deployment.pk}/bindings",
        token=token_for(owner),
        json={"environment": "preview/pr-7", "kind": "postgres", "url": URL},
    )
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert not Binding.objects.exists()


def test_a_binding_deleted_while_its_environment_is_deleted_is_a_404(
    api, deployment, preview, owner, token_for, actor, monkeypatch
):
    binding = services.create_binding(
        environment=preview, kind="postgres", name="", url=URL, actor=actor
    )
    delete_after_lookup(monkeypatch, actor, selectors, "deployment_binding")
    response = api.delete(
        f"/api/v1/deployments/{deployment.pk}/bindings/{binding.pk}", token=token_for(owner)
    )
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"


def test_a_variable_written_while_its_environment_is_deleted_is_a_404(
    api, deployment, preview, owner, token_for, actor, monkeypatch
):
    delete_after_lookup(monkeypatch, actor, lookups, "environment")
    response = api.post(
        f"/api/v1/deployments/{deployment.pk}/env",
        token=token_for(owner),
        json={"environment": "preview/pr-7", "key": "API_URL", "value": "v"},
    )
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"


def test_an_environment_deleted_twice_at_once_is_a_404_the_second_time(
    api, deployment, preview, owner, token_for, actor, monkeypatch
):
    delete_after_lookup(monkeypatch, actor, lookups, "environment")
    response = api.delete(
        f"/api/v1/deployments/{deployment.pk}/environments/preview/pr-7", token=token_for(owner)
    )
    assert response.status_code == 404, response.content


def test_a_promotion_from_an_environment_being_deleted_is_a_404(
    api, deployment, preview, owner, token_for, actor, monkeypatch
):
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=preview, version=version, actor=actor)
    delete_after_lookup(monkeypatch, actor, lookups, "environment")
    response = api.post(
        f"/api/v1/deployments/{deployment.pk}/promote",
        token=token_for(owner),
        json={"from": "preview/pr-7"},
    )
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"


def test_a_runtime_token_for_a_deleted_environment_is_not_found(preview, actor):
    """Without the environment's lock the token row was inserted and the deferred foreign key
    failed at COMMIT: an IntegrityError (500) on PostgreSQL, a dangling row on SQLite."""
    from environments.models import RuntimeToken

    services.delete_environment(environment=Environment(pk=preview.pk), actor=actor)
    with pytest.raises(NotFound):
        services.create_runtime_token(environment=preview, name="ci", actor=actor)
    assert not RuntimeToken.objects.filter(environment_id=preview.pk).exists()
