"""Data service bindings on the environment page: add, replace the credential, remove."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from environments import rules, services
from environments.models import Binding, Role
from tests.runtime import runtime_env

from .conftest import HX

URL = "postgres://app:s3cr3t-pw@db.internal:5432/shop"


def _url(deployment, view, name="production", **kw):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name, **kw})


@pytest.fixture
def admin(as_role):
    return as_role(Role.ADMIN)


def test_add_shows_the_masked_url(admin, deployment, production):
    data = {"kind": "postgres", "name": "shop-db", "url": URL, "variable_name": ""}
    response = admin.post(_url(deployment, "bindings"), data, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "postgres://app:••••@db.internal:5432/shop" in html
    assert "s3cr3t-pw" not in html
    assert "DATABASE_URL" in html
    assert runtime_env(production)["DATABASE_URL"] == URL


def test_add_without_javascript_redirects(admin, deployment):
    data = {
        "kind": "redis",
        "name": "cache",
        "url": "redis://:pw@h:6379/0",
        "variable_name": "CACHE_URL",
    }
    response = admin.post(_url(deployment, "bindings"), data)
    assert response.status_code == 302
    assert Binding.objects.get().variable_name == "CACHE_URL"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "postgres", "url": "mysql://a:b@h/d"}, "starts with postgres://"),
        ({"kind": "redis", "url": "postgres://a:b@h/d"}, "starts with redis://"),
        ({"kind": "postgres", "url": URL, "variable_name": "MIOSA_DB"}, "reserved"),
    ],
)
def test_invalid_input_is_shown_and_the_url_is_not_echoed(admin, deployment, data, message):
    response = admin.post(_url(deployment, "bindings"), {"name": "x", **data}, **HX)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "s3cr3t-pw" not in html and 'value="mysql' not in html


def test_a_password_parsers_read_differently_is_refused_with_the_api_message(
    admin, deployment, production
):
    """Issue 18: the page refuses postgres://u:p@ss@127.0.0.1:5432/db as the API does."""
    url = "postgres://u:p@ss@127.0.0.1:5432/db"
    data = {"kind": "postgres", "name": "x", "url": url, "variable_name": ""}
    response = admin.post(_url(deployment, "bindings"), data, **HX)
    assert response.status_code == 400
    html = response.content.decode()
    with pytest.raises(ValidationError) as excinfo:
        rules.validate_binding_url("postgres", url)
    assert "percent-encode" in excinfo.value.messages[0]
    assert escape(excinfo.value.messages[0]) in html
    assert "p@ss" not in html and not Binding.objects.exists()
    data["url"] = "postgres://u:p%40ss@127.0.0.1:5432/db"
    assert admin.post(_url(deployment, "bindings"), data, **HX).status_code == 200
    assert runtime_env(production)["DATABASE_URL"] == data["url"]


def test_a_variable_clash_is_a_409_form_error(admin, deployment, production, actor):
    services.set_variable(
        environment=production, key="DATABASE_URL", value="x", is_secret=False, actor=actor
    )
    response = admin.post(_url(deployment, "bindings"), {"kind": "postgres", "url": URL}, **HX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "already has a variable DATABASE_URL" in html
    # The way on: open the variable; the typed URL stays in the browser, never sent back.
    hint = _clash_hint(html)
    assert "?q=DATABASE_URL#var-DATABASE_URL" in hint
    assert "s3cr3t-pw" not in html
    assert _url_input(html).count("hx-preserve") == 1


def _clash_hint(html: str) -> str:
    found = re.search(r'<p class="help" data-testid="binding-clash">(.*?)</p>', html, re.S)
    assert found, "no hint after the refusal"
    return found.group(1)


def _url_input(html: str) -> str:
    return re.search(r'<input[^>]*id="bind-url"[^>]*>', html).group(0)


def test_a_taken_binding_name_links_to_the_binding_and_keeps_the_url(
    admin, deployment, production, binding
):
    other = "postgres://app:other-pw@db2.internal:5432/shop"
    data = {"kind": "postgres", "name": "db2", "url": other, "variable_name": ""}
    response = admin.post(_url(deployment, "bindings"), data, **HX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "already has a binding injected as DATABASE_URL" in html
    hint = _clash_hint(html)
    assert _url(deployment, "binding_edit", pk=binding.pk) in hint
    assert "edit the binding db" in hint
    assert "other-pw" not in html and "s3cr3t-pw" not in html
    assert 'hx-preserve="true"' in _url_input(html)


def test_a_fresh_or_written_add_form_preserves_nothing(admin, deployment, production):
    page = admin.get(_url(deployment, "environment")).content.decode()
    assert "hx-preserve" not in _url_input(page)
    data = {"kind": "postgres", "name": "db", "url": URL, "variable_name": ""}
    written = admin.post(_url(deployment, "bindings"), data, **HX).content.decode()
    assert "hx-preserve" not in _url_input(written)
    assert 'data-testid="binding-clash"' not in written


@pytest.fixture
def binding(production, actor):
    return services.create_binding(
        environment=production, kind="postgres", name="db", url=URL, actor=actor
    )


def test_edit_with_a_blank_url_keeps_the_credential(admin, deployment, production, binding):
    data = {"name": "renamed", "variable_name": "DATABASE_URL", "url": ""}
    response = admin.post(_url(deployment, "binding_edit", pk=binding.pk), data, **HX)
    assert response.status_code == 200
    assert runtime_env(production)["DATABASE_URL"] == URL
    assert Binding.objects.get().name == "renamed"


def test_edit_replaces_the_credential(admin, deployment, production, binding):
    new = "postgres://app:other@db2.internal/shop"
    data = {"name": "db", "variable_name": "DATABASE_URL", "url": new}
    admin.post(_url(deployment, "binding_edit", pk=binding.pk), data, **HX)
    assert runtime_env(production)["DATABASE_URL"] == new


def test_edit_form_never_contains_the_password(admin, deployment, binding):
    html = admin.get(_url(deployment, "binding_edit", pk=binding.pk), **HX).content.decode()
    assert "Leave blank to keep the stored credential" in html
    assert "s3cr3t-pw" not in html


def test_remove_asks_then_removes(admin, deployment, binding):
    confirm = admin.get(_url(deployment, "binding_delete", pk=binding.pk), **HX).content.decode()
    assert "Remove binding" in confirm
    response = admin.post(_url(deployment, "binding_delete", pk=binding.pk), **HX)
    assert response.status_code == 200 and not Binding.objects.exists()


def test_developer_cannot_bind(as_role, deployment):
    response = as_role(Role.DEVELOPER).post(
        _url(deployment, "bindings", name="staging"), {"kind": "postgres", "url": URL}
    )
    assert response.status_code == 403
    assert not Binding.objects.exists()


def test_the_kind_options_carry_their_default_names_from_the_one_list(admin, deployment):
    url = reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "staging"})
    html = admin.get(url).content.decode()
    for kind, spec in rules.BINDING_KINDS.items():
        default = spec.variable_name
        assert re.search(rf'<option value="{kind}"[^>]*data-variable-name="{default}"', html)
    script = (Path(settings.BASE_DIR) / "static" / "js" / "app.js").read_text()
    for spec in rules.BINDING_KINDS.values():
        assert spec.variable_name not in script  # the script holds no copy of the list
