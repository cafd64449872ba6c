"""Inline add, edit and delete of variables, with htmx and without JavaScript."""

import pytest
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, Role, Variable
from tests.runtime import runtime_env

from .conftest import HX


def _url(deployment, view, name="staging", **kw):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name, **kw})


def _value(environment, key):
    return runtime_env(environment)[key]


@pytest.fixture
def dev(as_role):
    return as_role(Role.DEVELOPER)


def test_add_with_htmx_returns_the_section(dev, deployment, staging):
    response = dev.post(
        _url(deployment, "variables"), {"key": "API_URL", "value": "https://a.example"}, **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="variables"')
    assert "Added API_URL." in html and "API_URL" in html
    assert _value(staging, "API_URL") == "https://a.example"
    assert AuditEvent.objects.filter(action="variable.create", target="API_URL").exists()


def test_add_without_javascript_redirects(dev, deployment, staging):
    response = dev.post(
        _url(deployment, "variables"), {"key": "A", "value": "1", "is_secret": "on"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/env/staging/#variables")
    assert Variable.objects.get(environment=staging, key="A").is_secret


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("1BAD", "A key starts with a letter"),
        ("MIOSA_X", "reserved"),
        ("", "This field is required"),
    ],
)
def test_invalid_keys_are_shown_next_to_the_field(dev, deployment, key, message):
    response = dev.post(_url(deployment, "variables"), {"key": key, "value": "v"}, **HX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="new-key-error"' in html and message in html


def test_a_binding_clash_is_a_409_next_to_the_key(dev, deployment, staging, actor):
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://h/d", actor=actor
    )
    response = dev.post(_url(deployment, "variables"), {"key": "DATABASE_URL", "value": "x"}, **HX)
    assert response.status_code == 409
    assert "data service binding" in response.content.decode()


def test_a_too_large_value_is_refused(dev, deployment):
    response = dev.post(_url(deployment, "variables"), {"key": "BIG", "value": "x" * 40000}, **HX)
    assert response.status_code == 400  # the form's own check, before the service
    assert "32 KiB" in response.content.decode()


def test_edit_form_of_a_secret_has_an_empty_new_value_field(dev, deployment, staging, actor):
    services.set_variable(
        environment=staging, key="S", value="sekrit-value", is_secret=True, actor=actor
    )
    html = dev.get(_url(deployment, "variable_edit", key="S"), **HX).content.decode()
    assert 'name="value"' in html and "sekrit-value" not in html
    assert "Leave blank to keep" in html
    assert "Make secret" not in html  # already a secret


def test_blank_keeps_the_stored_secret(dev, deployment, staging, actor):
    services.set_variable(
        environment=staging, key="S", value="keep-me", is_secret=True, actor=actor
    )
    response = dev.post(_url(deployment, "variable_edit", key="S"), {"value": ""}, **HX)
    assert response.status_code == 200
    assert "S is unchanged." in response.content.decode()
    assert _value(staging, "S") == "keep-me"


def test_a_new_value_replaces_the_secret(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="S", value="old", is_secret=True, actor=actor)
    dev.post(_url(deployment, "variable_edit", key="S"), {"value": "new"}, **HX)
    assert _value(staging, "S") == "new"
    assert Variable.objects.get(environment=staging, key="S").is_secret


def test_make_secret_without_a_new_value_keeps_the_value(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="P", value="plain", is_secret=False, actor=actor)
    dev.post(_url(deployment, "variable_edit", key="P"), {"value": "", "make_secret": "on"})
    variable = Variable.objects.get(environment=staging, key="P")
    assert variable.is_secret and _value(staging, "P") == "plain"


def test_edit_without_javascript_shows_the_page_then_redirects(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="P", value="plain", is_secret=False, actor=actor)
    page = dev.get(_url(deployment, "variable_edit", key="P"))
    assert "<html" in page.content.decode() and 'id="edit-value"' in page.content.decode()
    response = dev.post(_url(deployment, "variable_edit", key="P"), {"value": "changed"})
    assert response.status_code == 302
    assert _value(staging, "P") == "changed"


def test_edit_errors_are_shown_next_to_the_field(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="P", value="plain", is_secret=False, actor=actor)
    response = dev.post(_url(deployment, "variable_edit", key="P"), {"value": "a\x00b"}, **HX)
    assert response.status_code == 400
    assert 'id="edit-value-error"' in response.content.decode()


def test_editing_an_unknown_key_is_404(dev, deployment):
    assert dev.get(_url(deployment, "variable_edit", key="NOPE")).status_code == 404


def test_delete_asks_first_then_deletes(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="GONE", value="x", is_secret=False, actor=actor)
    confirm = dev.get(_url(deployment, "variable_delete", key="GONE"), **HX).content.decode()
    assert "Delete GONE" in confirm and Variable.objects.filter(key="GONE").exists()
    response = dev.post(_url(deployment, "variable_delete", key="GONE"), **HX)
    assert response.status_code == 200
    assert "Deleted GONE." in response.content.decode()
    assert not Variable.objects.filter(key="GONE").exists()


def test_delete_without_javascript_redirects(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="GONE", value="x", is_secret=False, actor=actor)
    response = dev.post(_url(deployment, "variable_delete", key="GONE"))
    assert response.status_code == 302
    assert not Variable.objects.filter(key="GONE").exists()


def test_developer_cannot_write_production(dev, deployment, production):
    response = dev.post(
        _url(deployment, "variables", name="production"), {"key": "A", "value": "1"}, **HX
    )
    assert response.status_code == 403
    assert not Variable.objects.filter(environment=production).exists()


def test_post_without_csrf_token_is_refused(deployment, member):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member(Role.DEVELOPER))
    response = client.post(_url(deployment, "variables"), {"key": "A", "value": "1"}, **HX)
    assert response.status_code == 403
    assert not Variable.objects.filter(key="A").exists()


# An Add never overwrites; a refused plain value is given back, a secret one never is. ------


def test_add_refuses_an_existing_key(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="A", value="first", is_secret=True, actor=actor)
    response = dev.post(_url(deployment, "variables"), {"key": "A", "value": "second"}, **HX)
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="new-key-error"' in html and "already has A. Use Edit" in html
    assert _value(staging, "A") == "first"


def test_add_without_javascript_refuses_an_existing_key_on_the_page(
    dev, deployment, staging, actor
):
    services.set_variable(environment=staging, key="A", value="first", is_secret=False, actor=actor)
    response = dev.post(_url(deployment, "variables"), {"key": "A", "value": "second"})
    assert response.status_code == 409
    assert "<html" in response.content.decode()
    assert _value(staging, "A") == "first"


def test_a_refused_add_without_javascript_still_lists_the_bindings(dev, deployment, staging, actor):
    """The whole page after a refusal shows every section's rows, not the variables' alone."""
    services.create_binding(
        environment=staging,
        kind="postgres",
        name="shop-db",
        url="postgres://app:pw@db.internal:5432/shop",
        actor=actor,
    )
    response = dev.post(_url(deployment, "variables"), {"key": "1BAD", "value": "x"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "shop-db" in html and "No data services bound" not in html


def test_edit_still_replaces(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="A", value="first", is_secret=False, actor=actor)
    response = dev.post(_url(deployment, "variable_edit", key="A"), {"value": "second"}, **HX)
    assert response.status_code == 200
    assert _value(staging, "A") == "second"


def _fill_to_the_limit(staging, actor):
    services.set_variables(
        environment=staging,
        items=[services.VariableInput(f"BIG{i}", "x" * 30000) for i in range(2)],
        actor=actor,
    )


@pytest.mark.parametrize(
    ("key", "status"), [("1BAD", 400), ("A", 409), ("DATABASE_URL", 409), ("NEW", 413)]
)
def test_a_refused_plain_value_is_given_back(dev, deployment, staging, actor, key, status):
    services.set_variable(environment=staging, key="A", value="old", is_secret=False, actor=actor)
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://h/d", actor=actor
    )
    _fill_to_the_limit(staging, actor)
    typed = "typed-plain-<value>-" + "y" * 6000
    response = dev.post(_url(deployment, "variables"), {"key": key, "value": typed}, **HX)
    assert response.status_code == status
    html = response.content.decode()
    assert "typed-plain-&lt;value&gt;-" + "y" * 6000 + "</textarea>" in html


@pytest.mark.parametrize(
    ("key", "status"), [("1BAD", 400), ("A", 409), ("DATABASE_URL", 409), ("NEW", 413)]
)
def test_a_refused_secret_value_is_not_given_back(dev, deployment, staging, actor, key, status):
    services.set_variable(environment=staging, key="A", value="old", is_secret=False, actor=actor)
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://h/d", actor=actor
    )
    _fill_to_the_limit(staging, actor)
    typed = "typed-secret-" + "z" * 6000
    response = dev.post(
        _url(deployment, "variables"), {"key": key, "value": typed, "is_secret": "on"}, **HX
    )
    assert response.status_code == status
    assert "typed-secret-" not in response.content.decode()


def test_a_refused_edit_gives_back_a_plain_value_only(dev, deployment, staging, actor):
    services.set_variable(environment=staging, key="P", value="p", is_secret=False, actor=actor)
    services.set_variable(environment=staging, key="S", value="s", is_secret=True, actor=actor)
    _fill_to_the_limit(staging, actor)
    typed = "typed-edit-" + "q" * 6000
    plain = dev.post(_url(deployment, "variable_edit", key="P"), {"value": typed}, **HX)
    assert plain.status_code == 413 and typed + "</textarea>" in plain.content.decode()
    secret = dev.post(_url(deployment, "variable_edit", key="S"), {"value": typed}, **HX)
    assert secret.status_code == 413 and "typed-edit-" not in secret.content.decode()
    made_secret = dev.post(
        _url(deployment, "variable_edit", key="P"), {"value": typed, "make_secret": "on"}, **HX
    )
    assert made_secret.status_code == 413 and "typed-edit-" not in made_secret.content.decode()


def test_line_breaks_typed_in_the_form_are_stored_as_lf(as_role, deployment, staging):

    client = as_role(Role.DEVELOPER)
    url = reverse("variables", kwargs={"deployment_id": deployment.pk, "name": "staging"})
    client.post(url, {"key": "PEM", "value": "-----BEGIN-----\r\nabc\r\n-----END-----"})
    staging.refresh_from_db()
    assert runtime_env(staging)["PEM"] == "-----BEGIN-----\nabc\n-----END-----"


def test_a_key_a_process_needs_stored_before_the_rule_is_flagged(
    as_role, deployment, staging, actor, monkeypatch
):
    """PATH stored before keys a process needs were refused: listed with a flag, deletable."""
    from environments import rules

    with monkeypatch.context() as before_the_rule:
        before_the_rule.setattr(rules, "is_process_key", lambda key: False)
        services.set_variable(
            environment=staging, key="PATH", value="/x", is_secret=False, actor=actor
        )
    services.set_variable(
        environment=staging, key="PATHS", value="/y", is_secret=False, actor=actor
    )
    page = as_role(Role.DEVELOPER).get(
        reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "staging"})
    )
    body = page.content.decode()
    assert body.count("machine's own: delete") == 1
    assert 'id="var-PATH"' in body and 'id="var-PATHS"' in body


# Issue 21 item 6: a plain value is edited in place by those who may reveal it.


def test_an_admin_edits_a_plain_value_pre_filled_through_an_audited_reveal(
    as_role, deployment, staging, actor
):
    admin = as_role(Role.ADMIN)
    long_url = "https://api.example.com/v2/some/long/path?with=query&and=more"
    services.set_variable(
        environment=staging, key="API_URL", value=long_url, is_secret=False, actor=actor
    )
    html = admin.get(_url(deployment, "variable_edit", key="API_URL"), **HX).content.decode()
    assert long_url.replace("&", "&amp;") in html
    assert '<label for="edit-value">Value</label>' in html
    assert "Saved unchanged, nothing is written." in html
    reveal = AuditEvent.objects.filter(action="variable.reveal").latest("pk")
    assert (reveal.target, reveal.environment_name) == ("API_URL", "staging")


def test_a_pre_filled_value_saved_unchanged_writes_nothing(as_role, deployment, staging, actor):
    admin = as_role(Role.ADMIN)
    services.set_variable(
        environment=staging, key="LOG_LEVEL", value="info", is_secret=False, actor=actor
    )
    revision = type(staging).objects.get(pk=staging.pk).config_revision
    response = admin.post(
        _url(deployment, "variable_edit", key="LOG_LEVEL"), {"value": "info"}, **HX
    )
    assert "LOG_LEVEL is unchanged." in response.content.decode()
    assert type(staging).objects.get(pk=staging.pk).config_revision == revision
    admin.post(_url(deployment, "variable_edit", key="LOG_LEVEL"), {"value": "debug"}, **HX)
    assert _value(staging, "LOG_LEVEL") == "debug"
    assert type(staging).objects.get(pk=staging.pk).config_revision == revision + 1


def test_who_may_not_reveal_gets_an_empty_field_and_no_reveal(dev, deployment, staging, actor):
    services.set_variable(
        environment=staging, key="LOG_LEVEL", value="info-level-x", is_secret=False, actor=actor
    )
    html = dev.get(_url(deployment, "variable_edit", key="LOG_LEVEL"), **HX).content.decode()
    assert "info-level-x" not in html and "Leave blank to keep" in html
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()


def test_a_secret_is_never_pre_filled_even_for_an_admin(as_role, deployment, staging, actor):
    admin = as_role(Role.ADMIN)
    services.set_variable(
        environment=staging, key="S", value="sekrit-value", is_secret=True, actor=actor
    )
    html = admin.get(_url(deployment, "variable_edit", key="S"), **HX).content.decode()
    assert "sekrit-value" not in html and "Leave blank to keep" in html
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()
