"""A tab or button is shown exactly to the roles whose request for its page succeeds: one
permission name per gated page, asked by both the tab and the view."""

import pytest
from django.urls import reverse

from environments.models import Role

GATED = ["audit_log", "members", "deployment_settings", "environment_create", "version_create"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER])
@pytest.mark.parametrize("view", GATED)
def test_the_link_is_shown_to_whom_the_page_opens(as_role, deployment, role, view):
    client = as_role(role)
    page = client.get(reverse("deployment", kwargs={"deployment_id": deployment.pk}))
    url = reverse(view, kwargs={"deployment_id": deployment.pk})
    shown = f'href="{url}"' in page.content.decode()
    status = client.get(url).status_code
    assert status in (200, 403)
    assert shown == (status == 200), (role, view, status)


def test_the_audit_log_opens_for_admins_only(as_role, deployment):
    url = reverse("audit_log", kwargs={"deployment_id": deployment.pk})
    assert as_role(Role.DEVELOPER).get(url).status_code == 403
    assert as_role(Role.ADMIN).get(url).status_code == 200
