"""A binding written on its page while its environment is deleted (between the view's lookup
and the service's lock, by a real delete through the service): never a server error."""

from __future__ import annotations

import pytest

from environments import selectors, services
from environments.models import Binding, Environment
from tests.concurrently import delete_after_lookup

URL = "postgres://app:pw@db.internal:5432/app"

pytestmark = pytest.mark.django_db


@pytest.fixture
def preview(deployment, actor) -> Environment:
    return services.create_environment(deployment=deployment, name="preview/pr-7", actor=actor)


def test_a_binding_removed_on_its_page_while_the_environment_is_deleted_is_a_404(
    client, deployment, preview, owner, actor, monkeypatch
):
    binding = services.create_binding(
        environment=preview, kind="postgres", name="", url=URL, actor=actor
    )
    delete_after_lookup(monkeypatch, actor, selectors, "get_binding")
    client.force_login(owner)
    response = client.post(
        f"/deployments/{deployment.pk}/env/preview/pr-7/-/bindings/{binding.pk}/delete/"
    )
    assert response.status_code == 404


def test_a_binding_added_on_its_page_while_the_environment_is_deleted_is_refused(
    client, deployment, preview, owner, actor, monkeypatch
):
    delete_after_lookup(monkeypatch, actor, selectors, "get_environment_for_user")
    client.force_login(owner)
    response = client.post(
        f"/deployments/{deployment.pk}/env/preview/pr-7/-/bindings/",
        {"kind": "postgres", "url": URL, "name": "", "variable_name": ""},
    )
    # The form's refusal (web/forms/submission.py answers a service's 404 as a 400 on the
    # form), saying why; never a server error, and nothing was bound.
    assert response.status_code == 400
    assert "preview/pr-7 no longer exists" in response.content.decode()
    assert URL not in response.content.decode()
    assert not Binding.objects.exists()
