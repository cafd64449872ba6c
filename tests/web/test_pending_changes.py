"""Pending changes (SPEC §9): the environment page's section, Apply with its confirmation (htmx
and without JavaScript), stale and refused applies, the notices of writes to staged and
immediate environments, the config-changes setting, the pipeline card."""

import pytest
from django.urls import reverse

from environments import selectors, services
from environments.models import AuditEvent, Environment, Release, Role

from .conftest import HX, expected_status

SECRET = "sk_live_pending_never_shown_777"
NEW_SECRET = "sk_live_rotated_never_shown_888"


def _url(view, deployment, name="production"):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name})


@pytest.fixture
def live(production, actor, versions):
    """production runs v1 (release with API_URL, STRIPE_KEY and OLD); staged, it has pending:
    NEW added, STRIPE_KEY changed (a secret), OLD removed."""
    services.set_variables(
        environment=production,
        items=[
            services.VariableInput("API_URL", "https://api.example.com", False),
            services.VariableInput("STRIPE_KEY", SECRET, True),
            services.VariableInput("OLD", "1", False),
        ],
        actor=actor,
    )
    _apply(production, actor)
    services.set_variable(
        environment=production, key="NEW", value="n", is_secret=False, actor=actor
    )
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=NEW_SECRET, is_secret=None, actor=actor
    )
    services.delete_variable(environment=production, key="OLD", actor=actor)
    return _fresh(production)


def _fresh(environment):
    return Environment.objects.select_related("deployment", "live_release__version").get(
        pk=environment.pk
    )


def _apply(environment, actor):
    return services.apply_changes(environment=_fresh(environment), actor=actor)


def _runtime(environment):
    return selectors.runtime_config(_fresh(environment)).env


# The section on the environment page ---------------------------------------------------


def test_production_is_staged_and_lists_its_pending_changes_by_name(as_role, deployment, live):
    html = as_role(Role.VIEWER).get(_url("environment", deployment)).content.decode()
    section = html.split('<section id="pending"', 1)[1].split("</section>", 1)[0]
    assert "3 pending changes" in " ".join(section.split())
    added = section.split('class="diff-group added"', 1)[1].split("</div>", 1)[0]
    changed = section.split('class="diff-group changed"', 1)[1].split("</div>", 1)[0]
    removed = section.split('class="diff-group removed"', 1)[1].split("</div>", 1)[0]
    assert (
        "<li>NEW</li>" in added and "<li>STRIPE_KEY</li>" in changed and "<li>OLD</li>" in removed
    )
    assert "API_URL" not in section  # unchanged since the live release
    release = live.live_release
    text = " ".join(section.split())
    assert f"release {release.number} · v1 · config {release.config_revision}" in text, (
        "the live release"
    )
    assert f"config {live.config_revision}, until an apply" in text
    assert SECRET not in html and NEW_SECRET not in html


def test_no_section_without_pending_changes(as_role, deployment, staging, actor, versions):
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    html = as_role(Role.OWNER).get(_url("environment", deployment, "staging")).content.decode()
    assert '<div id="pending" hidden></div>' in html
    assert "pending change" not in html


def test_the_apply_button_is_shown_to_who_may_apply(as_role, deployment, live):
    apply_url = _url("apply_changes", deployment)
    for role, shown in [(Role.VIEWER, False), (Role.DEVELOPER, False), (Role.ADMIN, True)]:
        html = as_role(role).get(_url("environment", deployment)).content.decode()
        assert (f'hx-get="{apply_url}"' in html) is shown, role
        assert "3 pending" in html


def test_changes_that_cancel_out_still_wait_for_an_apply(as_role, deployment, live, actor):
    services.set_variable(environment=live, key="X", value="1", is_secret=False, actor=actor)
    _apply(live, actor)
    services.set_variable(environment=live, key="X", value="2", is_secret=False, actor=actor)
    services.set_variable(environment=live, key="X", value="1", is_secret=False, actor=actor)
    html = as_role(Role.ADMIN).get(_url("environment", deployment)).content.decode()
    assert "0 pending" in html and "cancel out" in html
    assert f'hx-get="{_url("apply_changes", deployment)}"' in html


# Apply: confirmation, htmx and no-JS ------------------------------------------------------


def test_the_htmx_confirmation_lists_what_goes_live(as_role, deployment, live):
    response = as_role(Role.ADMIN).get(_url("apply_changes", deployment), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="pending"') and "<html" not in html
    assert "Apply 3 pending changes to production?" in html
    assert "<li>NEW</li>" in html and "<li>STRIPE_KEY</li>" in html and "<li>OLD</li>" in html
    assert f'name="expected_revision" value="{live.config_revision}"' in html
    assert f"Applying makes release {live.release_count + 1} live" in " ".join(html.split())
    assert f'hx-get="{_url("pending_changes", deployment)}"' in html  # Cancel
    assert SECRET not in html and NEW_SECRET not in html
    assert "no-store" in response["Cache-Control"]


def test_without_javascript_the_confirmation_is_the_page(as_role, deployment, live):
    response = as_role(Role.ADMIN).get(_url("apply_changes", deployment))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Apply 3 pending changes to production?" in html
    assert f'action="{_url("apply_changes", deployment)}"' in html
    assert 'id="variables"' in html  # the rest of the page is there


def test_apply_with_htmx_makes_the_changes_live(as_role, deployment, live):
    before = _runtime(live)
    assert before["STRIPE_KEY"] == SECRET and "NEW" not in before and "OLD" in before
    response = as_role(Role.ADMIN).post(
        _url("apply_changes", deployment), {"expected_revision": live.config_revision}, **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    release = Release.objects.get(environment=live, number=live.release_count + 1)
    assert release.kind == Release.Kind.APPLY and release.config_revision == live.config_revision
    assert release.version.number == 1
    assert f"Applied: production runs release {release.number} · v1" in html
    assert "pending change" not in html  # nothing waits any more
    after = _runtime(live)
    assert after["STRIPE_KEY"] == NEW_SECRET and after["NEW"] == "n" and "OLD" not in after
    event = AuditEvent.objects.filter(action="release.apply").latest("id")
    assert event.environment_name == "production" and event.target == f"release {release.number}"
    assert event.actor_label.startswith("admin")
    assert "no-store" in response["Cache-Control"]


def test_apply_without_javascript_redirects_with_the_notice(as_role, deployment, live):
    client = as_role(Role.ADMIN)
    url = _url("apply_changes", deployment)
    response = client.post(url, {"expected_revision": live.config_revision})
    assert response.status_code == 302
    assert response["Location"].endswith("/env/production/#pending")
    html = client.get(response["Location"]).content.decode()
    assert f"Applied: production runs release {live.release_count + 1}" in html
    assert _runtime(live)["NEW"] == "n"


def test_a_change_made_meanwhile_is_refused_as_stale(as_role, deployment, live, actor):
    seen = live.config_revision
    services.set_variable(environment=live, key="LATE", value="x", is_secret=False, actor=actor)
    client = as_role(Role.ADMIN)
    for headers in (HX, {}):
        response = client.post(
            _url("apply_changes", deployment), {"expected_revision": seen}, **headers
        )
        assert response.status_code == 409
        html = response.content.decode()
        assert "changed while you were looking" in html
        assert "<li>LATE</li>" in html and "4 pending" in html  # the current state
    assert not Release.objects.filter(environment=live, number__gt=live.release_count).exists()
    assert "LATE" not in _runtime(live)


def test_missing_required_keys_are_refused_with_their_names(as_role, deployment, live, actor):
    services.set_required_keys(deployment=deployment, keys=["OLD", "API_URL"], actor=actor)
    response = as_role(Role.ADMIN).post(
        _url("apply_changes", deployment), {"expected_revision": live.config_revision}, **HX
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "production would go live without OLD, which every release must define" in html
    assert "<li>OLD</li>" in html  # still pending
    assert "OLD" in _runtime(live)


def test_nothing_to_apply_is_a_conflict(as_role, deployment, live, actor):
    _apply(live, actor)
    live = _fresh(live)
    response = as_role(Role.ADMIN).post(
        _url("apply_changes", deployment), {"expected_revision": live.config_revision}, **HX
    )
    assert response.status_code == 409
    assert "production has no pending changes to apply." in response.content.decode()


def test_an_incomplete_form_is_refused(as_role, deployment, live):
    client = as_role(Role.ADMIN)
    for data in ({}, {"expected_revision": "x"}, {"expected_revision": str(2**40)}):
        response = client.post(_url("apply_changes", deployment), data, **HX)
        assert response.status_code == 400
        assert "The apply form was incomplete" in response.content.decode()
    assert not Release.objects.filter(environment=live, number__gt=live.release_count).exists()


@pytest.mark.parametrize("role", ["outsider", Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER])
def test_only_admins_apply_production(as_role, deployment, live, role):
    response = as_role(role).post(
        _url("apply_changes", deployment), {"expected_revision": live.config_revision}, **HX
    )
    assert response.status_code == expected_status(role, Role.ADMIN)
    applied = Release.objects.filter(environment=live, number__gt=live.release_count).exists()
    assert applied == (response.status_code == 200)


def test_developers_apply_a_staged_staging(as_role, deployment, staging, actor, versions):
    services.set_config_changes(environment=staging, mode="staged", actor=actor)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    staging = _fresh(staging)
    response = as_role(Role.DEVELOPER).post(
        _url("apply_changes", deployment, "staging"),
        {"expected_revision": staging.config_revision},
        **HX,
    )
    assert response.status_code == 200
    assert _runtime(staging)["A"] == "1"


def test_the_pending_section_alone_for_the_cancel(as_role, deployment, live):
    response = as_role(Role.VIEWER).get(_url("pending_changes", deployment), **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="pending"') and "<html" not in html
    assert "expected_revision" not in html and "3 pending" in html
    assert "no-store" in response["Cache-Control"]


# Writes to a staged environment say they are pending ---------------------------------------


def test_a_staged_write_says_it_is_pending_with_htmx(as_role, deployment, live):
    response = as_role(Role.ADMIN).post(
        _url("variables", deployment), {"key": "API_KEY2", "value": "v"}, **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "Added API_KEY2. production stages its config changes: this goes live when you apply "
        "them (4 pending changes)." in html
    )
    # The pending section comes along, out of band, with the new key.
    oob = html.split('<section id="pending"', 1)[1].split(">", 1)[0]
    assert 'hx-swap-oob="true"' in oob
    assert "<li>API_KEY2</li>" in html
    assert "API_KEY2" not in _runtime(live)


def test_a_staged_write_says_it_is_pending_without_javascript(as_role, deployment, live):
    client = as_role(Role.ADMIN)
    url = reverse(
        "variable_edit",
        kwargs={"deployment_id": deployment.pk, "name": "production", "key": "API_URL"},
    )
    response = client.post(url, {"value": "https://v2.example.com"})
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert (
        "Updated API_URL. production stages its config changes: this goes live when you apply "
        "them (4 pending changes)." in html
    )
    assert _runtime(live)["API_URL"] == "https://api.example.com"


def test_bindings_and_domains_in_a_staged_environment_are_pending(as_role, deployment, live):
    client = as_role(Role.ADMIN)
    response = client.post(
        _url("bindings", deployment),
        {"kind": "redis", "name": "cache", "url": "redis://:pw@cache:6379", "variable_name": ""},
        **HX,
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "this goes live when you apply them (4 pending changes)" in response.content.decode()
    response = client.post(_url("domains", deployment), {"hostname": "shop.example.org"}, **HX)
    assert "this goes live when you apply them (5 pending changes)" in response.content.decode()
    assert "<li>domain shop.example.org</li>" in response.content.decode()
    assert "REDIS_URL" not in _runtime(live)


def test_an_immediate_write_says_which_release_it_is_live_in(as_role, deployment, versions):
    client = as_role(Role.DEVELOPER)
    response = client.post(
        _url("variables", deployment, "staging"), {"key": "A", "value": "1"}, **HX
    )
    staging = _fresh(Environment.objects.get(deployment=deployment, name="staging"))
    release = staging.live_release
    assert release.kind == Release.Kind.CONFIG
    html = response.content.decode()
    assert (
        f"Added A. Live in release {release.number} (v2 · config {release.config_revision})."
        in html
    )
    assert '<section id="pending"' not in html  # nothing is pending in an immediate environment


def test_an_unchanged_edit_claims_nothing(as_role, deployment, live):
    url = reverse(
        "variable_edit",
        kwargs={"deployment_id": deployment.pk, "name": "production", "key": "API_URL"},
    )
    html = as_role(Role.ADMIN).post(url, {"value": ""}, **HX).content.decode()
    assert "API_URL is unchanged." in html and "stages its config changes" not in html


def test_before_anything_is_deployed_a_write_says_nothing_more(as_role, deployment):
    html = (
        as_role(Role.DEVELOPER)
        .post(_url("variables", deployment, "staging"), {"key": "A", "value": "1"}, **HX)
        .content.decode()
    )
    assert "Added A." in html and "Live in release" not in html and "stages" not in html


# How config changes go live ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["outsider", Role.VIEWER, Role.DEVELOPER, Role.ADMIN])
def test_developers_may_stage_staging(as_role, deployment, staging, role):
    response = as_role(role).post(
        _url("config_changes", deployment, "staging"), {"config_changes": "staged"}, **HX
    )
    assert response.status_code == expected_status(role, Role.DEVELOPER)
    staging.refresh_from_db()
    assert staging.is_staged == (response.status_code == 200)


def test_the_setting_is_swapped_in_the_settings_and_audited(as_role, deployment, staging):
    response = as_role(Role.DEVELOPER).post(
        _url("config_changes", deployment, "staging"), {"config_changes": "staged"}, **HX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="settings"')
    summary = html[html.index('<div id="summary"') :]
    assert "Config changes go live when applied" in summary
    assert "Config changes to staging now go live when you apply them." in html
    assert '<option value="staged" selected>' in html
    event = AuditEvent.objects.get(action="environment.config_changes")
    assert event.environment_name == "staging" and event.target == "staged"
    assert "no-store" in response["Cache-Control"]


def test_without_javascript_the_setting_redirects(as_role, deployment, staging):
    client = as_role(Role.DEVELOPER)
    response = client.post(
        _url("config_changes", deployment, "staging"), {"config_changes": "staged"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/env/staging/#settings")
    html = client.get(response["Location"]).content.decode()
    assert "Config changes to staging now go live when you apply them." in html


def test_production_is_admin_only(as_role, deployment, production):
    response = as_role(Role.DEVELOPER).post(
        _url("config_changes", deployment), {"config_changes": "immediate"}, **HX
    )
    assert response.status_code == 403
    production.refresh_from_db()
    assert production.is_staged


def test_switching_to_immediate_with_pending_changes_is_refused(as_role, deployment, live):
    response = as_role(Role.ADMIN).post(
        _url("config_changes", deployment), {"config_changes": "immediate"}, **HX
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "production has pending changes; apply them before switching to immediate." in html
    assert 'id="config-changes_error"' in html or "field-error" in html
    live.refresh_from_db()
    assert live.is_staged
    assert not AuditEvent.objects.filter(action="environment.config_changes").exists()


def test_an_unknown_mode_is_a_field_error(as_role, deployment, staging):
    response = as_role(Role.DEVELOPER).post(
        _url("config_changes", deployment, "staging"), {"config_changes": "later"}, **HX
    )
    assert response.status_code == 400
    assert "field-error" in response.content.decode()


def test_the_setting_is_shown_by_role(as_role, deployment, production):
    page = _url("environment", deployment)
    viewer = as_role(Role.VIEWER).get(page).content.decode()
    assert 'name="config_changes"' not in viewer
    assert "Config changes go live when applied" in viewer
    developer = as_role(Role.DEVELOPER)
    assert 'name="config_changes"' not in developer.get(page).content.decode()
    assert (
        'name="config_changes"'
        in developer.get(_url("environment", deployment, "staging")).content.decode()
    )
    admin = as_role(Role.ADMIN).get(page).content.decode()
    assert '<option value="staged" selected>when applied (staged)</option>' in admin


# The pipeline card -----------------------------------------------------------------------


def test_the_card_lists_pending_changes_and_offers_apply(as_role, deployment, live, actor):
    url = reverse("deployment", kwargs={"deployment_id": deployment.pk})
    html = as_role(Role.ADMIN).get(url).content.decode()
    card = html.split(f'id="env-{live.pk}"', 1)[1].split("</article>", 1)[0]
    text = " ".join(card.split())
    assert "3 pending changes" in text
    assert '<span class="key">NEW</span>' in card and '<span class="key">OLD</span>' in card
    assert '<span class="key">STRIPE_<wbr>KEY</span>' in card  # breaks at the underscore
    assert f'href="{_url("apply_changes", deployment)}"' in card
    assert SECRET not in html and NEW_SECRET not in html
    # A developer sees the changes but may not apply production.
    developer = as_role(Role.DEVELOPER).get(url).content.decode()
    card = developer.split(f'id="env-{live.pk}"', 1)[1].split("</article>", 1)[0]
    assert "3 pending changes" in " ".join(card.split())
    assert _url("apply_changes", deployment) not in card


def test_the_card_shows_the_first_five_names_and_how_many_more(as_role, deployment, live, actor):
    services.set_variables(
        environment=live,
        items=[services.VariableInput(f"K{i}", "v", False) for i in range(6)],
        actor=actor,
    )
    url = reverse("deployment", kwargs={"deployment_id": deployment.pk})
    html = as_role(Role.VIEWER).get(url).content.decode()
    card = " ".join(html.split(f'id="env-{live.pk}"', 1)[1].split("</article>", 1)[0].split())
    assert "9 pending changes" in card and "and 4 more" in card
    assert card.count('<span class="key">') == 5


def test_cards_without_pending_changes_say_nothing(as_role, deployment, versions):
    url = reverse("deployment", kwargs={"deployment_id": deployment.pk})
    assert 'data-testid="pending"' not in as_role(Role.OWNER).get(url).content.decode()


def test_pipeline_pending_matches_each_environments_own(deployment, live, staging, actor):
    services.set_config_changes(environment=staging, mode="staged", actor=actor)
    services.set_variable(environment=staging, key="S", value="1", is_secret=False, actor=actor)
    environments = selectors.pipeline_environments(deployment)
    batched = selectors.pending_by_environment(environments)
    for environment in environments:
        own = selectors.pending_changes(_fresh(environment))
        assert batched.get(environment.pk) == (own if own.revision != own.live_revision else None)
    assert set(batched) == {live.pk, staging.pk}


# Query counts ------------------------------------------------------------------------------


def _fill(environment, actor, n: int):
    services.set_variables(
        environment=environment,
        items=[services.VariableInput(f"K{i}", f"value-{i}", i % 2 == 0) for i in range(n)],
        actor=actor,
    )
    _apply(environment, actor)
    services.set_variables(
        environment=environment,
        items=[services.VariableInput(f"K{i}", f"new-{i}", None) for i in range(n)]
        + [services.VariableInput(f"N{i}", "n", False) for i in range(n)],
        actor=actor,
    )


# session, user, membership+deployment, environment (with its live release), variables, the
# secrets' value history and live instances, bindings, domains, tokens, pending changes,
# instances, data services, data servers available, rotations, protection and open change
# requests
PAGE_QUERIES = 17


@pytest.mark.parametrize("n", [1, 60])
def test_the_page_with_pending_changes_does_a_fixed_number_of_queries(
    as_role, deployment, production, actor, versions, django_assert_num_queries, n
):
    _fill(production, actor, n)
    client = as_role(Role.OWNER)
    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(_url("environment", deployment))
    assert f"{2 * n} pending change" in response.content.decode()


@pytest.mark.parametrize("n", [1, 60])
def test_the_confirmation_and_the_section_do_a_fixed_number_of_queries(
    as_role, deployment, production, actor, versions, django_assert_num_queries, n
):
    _fill(production, actor, n)
    client = as_role(Role.OWNER)
    # session, user, membership+deployment, environment, its protection (who may apply or
    # ask, SPEC §15), pending changes
    with django_assert_num_queries(6):
        response = client.get(_url("apply_changes", deployment), **HX)
    assert f"Apply {2 * n} pending change" in response.content.decode()
    with django_assert_num_queries(5):
        client.get(_url("pending_changes", deployment), **HX)


def test_deletes_in_a_staged_environment_say_they_are_pending(as_role, deployment, live, actor):
    binding = services.create_binding(
        environment=live, kind="redis", name="cache", url="redis://:pw@c:6379", actor=actor
    )
    domain = services.add_domain(environment=live, hostname="shop.example.org", actor=actor)
    _apply(live, actor)  # nothing pending; each delete below adds one
    kw = {"deployment_id": deployment.pk, "name": "production"}
    client = as_role(Role.ADMIN)
    deletes = [
        (reverse("variable_delete", kwargs={**kw, "key": "API_URL"}), "Deleted API_URL.", 1),
        (reverse("binding_delete", kwargs={**kw, "pk": binding.pk}), "Removed cache", 2),
        (reverse("domain_delete", kwargs={**kw, "pk": domain.pk}), "Removed shop.example.org.", 3),
    ]
    for url, said, count in deletes:
        response = client.post(url)
        assert response.status_code == 302
        html = " ".join(client.get(response["Location"]).content.decode().split())
        assert said in html
        assert f"this goes live when you apply them ({count} pending change" in html
    runtime = _runtime(live)
    assert "API_URL" in runtime and "REDIS_URL" in runtime
    assert runtime["MIOSA_DOMAINS"] == "shop.example.org"
