"""The access matrix of every web view (SPEC §5): outsiders 404, roles too low 403, allowed
roles through, anonymous users to the login page, wrong methods 405."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from environments import services
from environments.actors import Actor
from environments.models import Binding, Deployment, Domain, Environment, Role, RuntimeToken
from tests.conftest import create_user
from tests.web.conftest import make_versions

ROLES = ["outsider", Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER]
RANK = {"viewer": 1, "developer": 2, "admin": 3, "owner": 4}


@pytest.fixture(scope="module")
def _world_rows(module_rows):
    """Something of everything in `shop`, so every URL has an object to act on: made once for
    the module (tests.conftest.module_rows); each test sees it as made. (owner_pk, world)."""
    with module_rows():
        owner = create_user("olivia")
        actor = Actor(user=owner, label=owner.get_username())
        deployment = services.create_deployment(name="shop", actor=actor)
        production = deployment.environments.get(name="production")
        staging = deployment.environments.get(name="staging")
        make_versions(deployment, actor)
        qa = services.create_environment(
            deployment=deployment, name="qa", promotes_to=staging, actor=actor
        )
        for env in (production, staging, qa):
            services.set_variable(
                environment=env, key="API_URL", value="https://x", is_secret=False, actor=actor
            )
        binding = services.create_binding(
            environment=production,
            kind="postgres",
            name="db",
            url="postgres://a:b@h/d",
            actor=actor,
        )
        domain = services.add_domain(environment=production, hostname="shop.test", actor=actor)
        token, _ = services.create_runtime_token(environment=production, name="rt", actor=actor)
    return owner.pk, {
        "d": deployment.pk,
        "binding": binding.pk,
        "domain": domain.pk,
        "token": token.pk,
        "owner_id": owner.pk,
    }


@pytest.fixture
def owner(db, _world_rows):
    return get_user_model().objects.get(pk=_world_rows[0])


@pytest.fixture
def deployment(db, _world_rows):
    return Deployment.objects.get(pk=_world_rows[1]["d"])


@pytest.fixture
def world(db, _world_rows):
    return dict(_world_rows[1])


def _url(view: str, w: dict, **extra) -> str:
    return reverse(view, kwargs={"deployment_id": w["d"], **extra})


# (url name, extra kwargs (from world), method, role needed)
CASES = [
    ("deployment", {}, "get", "viewer"),
    ("compare", {}, "get", "viewer"),
    ("audit_log", {}, "get", "admin"),
    ("members", {}, "get", "owner"),
    ("members", {}, "post", "owner"),
    ("member_role", {"user_id": "owner_id"}, "post", "owner"),
    ("member_remove", {"user_id": "owner_id"}, "post", "owner"),
    ("deployment_settings", {}, "get", "viewer"),  # every member sees the required keys
    ("deployment_settings", {}, "post", "admin"),
    ("deployment_delete", {}, "post", "owner"),
    ("version_create", {}, "get", "developer"),
    ("version_create", {}, "post", "developer"),
    ("environment_create", {}, "get", "developer"),
    ("environment_create", {}, "post", "developer"),
    ("environment", {"name": "production"}, "get", "viewer"),
    ("environment_history", {"name": "production"}, "get", "viewer"),
    ("environment_delete", {"name": "qa"}, "get", "developer"),
    ("environment_delete", {"name": "qa"}, "post", "developer"),
    ("promote", {"name": "staging"}, "get", "admin"),
    ("promote", {"name": "staging"}, "post", "admin"),
    ("promote", {"name": "qa"}, "get", "developer"),
    ("rollback", {"name": "production"}, "post", "admin"),
    ("rollback", {"name": "staging"}, "post", "developer"),
    ("variables", {"name": "production"}, "get", "viewer"),
    ("variables", {"name": "production"}, "post", "admin"),
    ("variables", {"name": "staging"}, "post", "developer"),
    ("variable_edit", {"name": "production", "key": "API_URL"}, "get", "admin"),
    ("variable_edit", {"name": "staging", "key": "API_URL"}, "get", "developer"),
    ("variable_edit", {"name": "staging", "key": "API_URL"}, "post", "developer"),
    ("variable_delete", {"name": "production", "key": "API_URL"}, "get", "admin"),
    ("variable_delete", {"name": "staging", "key": "API_URL"}, "post", "developer"),
    ("variable_reveal", {"name": "production", "key": "API_URL"}, "post", "admin"),
    ("variable_reveal", {"name": "staging", "key": "API_URL"}, "post", "admin"),
    ("promotion_target", {"name": "staging"}, "post", "developer"),
    ("promotion_target", {"name": "production"}, "post", "admin"),
    ("bindings", {"name": "production"}, "get", "viewer"),
    ("bindings", {"name": "production"}, "post", "admin"),
    ("binding_edit", {"name": "production", "pk": "binding"}, "get", "admin"),
    ("binding_edit", {"name": "production", "pk": "binding"}, "post", "admin"),
    ("binding_delete", {"name": "production", "pk": "binding"}, "get", "admin"),
    ("binding_delete", {"name": "production", "pk": "binding"}, "post", "admin"),
    ("domains", {"name": "production"}, "get", "viewer"),
    ("domains", {"name": "production"}, "post", "admin"),
    ("domain_delete", {"name": "production", "pk": "domain"}, "get", "admin"),
    ("domain_delete", {"name": "production", "pk": "domain"}, "post", "admin"),
    ("runtime_tokens", {"name": "production"}, "get", "viewer"),
    ("runtime_tokens", {"name": "production"}, "post", "admin"),
    ("runtime_token_revoke", {"name": "production", "pk": "token"}, "post", "admin"),
    # Pending changes, Apply, how config changes go live (SPEC §9)
    ("pending_changes", {"name": "production"}, "get", "viewer"),
    ("apply_changes", {"name": "production"}, "get", "admin"),
    ("apply_changes", {"name": "production"}, "post", "admin"),
    ("apply_changes", {"name": "staging"}, "get", "developer"),
    ("apply_changes", {"name": "staging"}, "post", "developer"),
    ("config_changes", {"name": "production"}, "post", "admin"),
    ("config_changes", {"name": "staging"}, "post", "developer"),
    # Import .env
    ("variable_import", {"name": "production"}, "get", "admin"),
    ("variable_import", {"name": "production"}, "post", "admin"),
    ("variable_import", {"name": "staging"}, "get", "developer"),
    ("variable_import", {"name": "staging"}, "post", "developer"),
    # Key history, restore, required keys
    ("variable_history", {"name": "production", "key": "API_URL"}, "get", "viewer"),
    ("variable_history", {"name": "production", "key": "DATABASE_URL"}, "get", "viewer"),
    ("variable_restore", {"name": "production", "key": "API_URL"}, "post", "admin"),
    ("variable_restore", {"name": "staging", "key": "API_URL"}, "post", "developer"),
    ("required_keys", {}, "post", "admin"),
]


def _resolve(world: dict, extra: dict) -> dict:
    return {k: world.get(v, v) for k, v in extra.items()}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "extra", "method", "need"), CASES)
def test_access_matrix(as_role, world, role, name, extra, method, need):
    client = as_role(role)
    url = _url(name, world, **_resolve(world, extra))
    response = getattr(client, method)(url)
    if role == "outsider":
        assert response.status_code == 404
    elif RANK[role] < RANK[need]:
        assert response.status_code == 403
    else:
        assert response.status_code not in (403, 404, 405), response.content[:500]


@pytest.mark.parametrize(("name", "extra", "method", "need"), CASES)
def test_anonymous_users_are_sent_to_log_in(as_role, world, name, extra, method, need):
    client = as_role("anonymous")
    url = _url(name, world, **_resolve(world, extra))
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


GET_ONLY = ["deployment", "compare", "audit_log", "environment", "environment_history"]
GET_ONLY_WITH_ARGS = {"variable_history": {"name": "production", "key": "API_URL"}}
POST_ONLY = [
    "rollback",
    "member_role",
    "member_remove",
    "deployment_delete",
    "runtime_token_revoke",
    "variable_reveal",
    "promotion_target",
    "variable_restore",
    "required_keys",
]


@pytest.mark.parametrize("name", GET_ONLY)
def test_pages_refuse_post(as_role, world, name):
    extra = {"name": "production"} if name.startswith("environment") else {}
    response = as_role(Role.OWNER).post(_url(name, world, **extra))
    assert response.status_code == 405


@pytest.mark.parametrize("name", GET_ONLY_WITH_ARGS)
def test_key_history_refuses_post(as_role, world, name):
    response = as_role(Role.OWNER).post(_url(name, world, **GET_ONLY_WITH_ARGS[name]))
    assert response.status_code == 405


@pytest.mark.parametrize("name", POST_ONLY)
def test_actions_refuse_get(as_role, world, name):
    extra = {
        "rollback": {"name": "production"},
        "member_role": {"user_id": world["owner_id"]},
        "member_remove": {"user_id": world["owner_id"]},
        "deployment_delete": {},
        "runtime_token_revoke": {"name": "production", "pk": world["token"]},
        "variable_reveal": {"name": "production", "key": "API_URL"},
        "promotion_target": {"name": "staging"},
        "variable_restore": {"name": "production", "key": "API_URL"},
        "required_keys": {},
    }[name]
    response = as_role(Role.OWNER).get(_url(name, world, **extra))
    assert response.status_code == 405


def test_deployment_list_needs_login(client):
    response = client.get(reverse("deployment_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", ["production", "staging"])
def test_protected_environments_cannot_be_deleted_and_say_so(as_role, world, method, name):
    url = _url("environment_delete", world, name=name)
    response = getattr(as_role(Role.OWNER), method)(url, {"confirm_name": name})
    assert response.status_code == 409
    assert "production and staging environments" in response.content.decode()
    assert Environment.objects.filter(deployment_id=world["d"], name=name).exists()


def test_objects_of_another_environment_are_404(as_role, world, deployment, actor):
    staging_url = _url("binding_edit", world, name="staging", pk=world["binding"])
    assert as_role(Role.OWNER).get(staging_url).status_code == 404
    assert Binding.objects.filter(pk=world["binding"]).exists()
    assert Domain.objects.filter(pk=world["domain"]).exists()
    assert RuntimeToken.objects.filter(pk=world["token"]).exists()


# Pending changes, Apply, how config changes go live (SPEC §9)
@pytest.mark.parametrize(
    ("name", "method"),
    [("pending_changes", "post"), ("apply_changes", "put"), ("config_changes", "get")],
)
def test_pending_change_routes_refuse_other_methods(as_role, world, name, method):
    url = _url(name, world, name="production")
    assert getattr(as_role(Role.OWNER), method)(url).status_code == 405


# Import .env
@pytest.mark.parametrize("method", ["put", "delete"])
def test_the_import_refuses_other_methods(as_role, world, method):
    url = _url("variable_import", world, name="staging")
    assert getattr(as_role(Role.OWNER), method)(url).status_code == 405
