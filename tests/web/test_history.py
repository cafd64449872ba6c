"""History newest first, with rollback buttons for versions the environment ran before."""

from django.urls import reverse

from environments.models import Release, Role

from .conftest import HX


def _url(deployment, view, name="production"):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name})


def test_history_is_newest_first_with_rollback_buttons(as_role, deployment, staging, versions):
    html = (
        as_role(Role.ADMIN).get(_url(deployment, "environment_history", "staging")).content.decode()
    )
    assert html.index("→ <strong>v2</strong>") < html.index("→ <strong>v1</strong>")
    assert "Roll back to v1" in html and "Roll back to v2" not in html


def test_developer_sees_no_rollback_on_production(as_role, deployment, versions):
    html = as_role(Role.DEVELOPER).get(_url(deployment, "environment_history")).content.decode()
    assert "Roll back" not in html


def test_rollback_with_htmx(as_role, deployment, staging, versions):
    response = as_role(Role.DEVELOPER).post(
        _url(deployment, "rollback", "staging"), {"version": 1}, **HX
    )
    assert response.status_code == 200
    assert "staging rolled back to v1." in response.content.decode()
    staging.refresh_from_db()
    assert staging.active_version == versions[1]
    assert Release.objects.filter(environment=staging).first().kind == "rollback"


def test_rollback_without_javascript_asks_first_then_redirects(
    as_role, deployment, staging, versions
):
    client = as_role(Role.DEVELOPER)
    url = _url(deployment, "rollback", "staging")
    asked = client.post(url, {"version": 1})
    assert asked.status_code == 200
    assert "Roll staging back to v1?" in asked.content.decode()
    assert 'name="confirmed" value="yes"' in asked.content.decode()
    staging.refresh_from_db()
    assert staging.active_version == versions[2]  # nothing happened yet
    response = client.post(url, {"version": 1, "confirmed": "yes"})
    assert response.status_code == 302
    staging.refresh_from_db()
    assert staging.active_version == versions[1]


def test_rollback_to_a_version_never_ran_is_refused(as_role, deployment, versions):
    response = as_role(Role.ADMIN).post(_url(deployment, "rollback"), {"version": 2}, **HX)
    assert response.status_code == 409
    assert "has never run v2" in response.content.decode()


def test_rollback_to_an_unknown_version_is_400(as_role, deployment, versions):
    response = as_role(Role.ADMIN).post(_url(deployment, "rollback"), {"version": 99}, **HX)
    assert response.status_code == 400


def test_empty_history(as_role, deployment):
    html = as_role(Role.VIEWER).get(_url(deployment, "environment_history")).content.decode()
    assert "Nothing has been deployed to production" in html
