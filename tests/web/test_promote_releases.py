"""The pipeline card's live release, and what the promotion confirmation says goes live with
the version (SPEC §9): the target's pending changes, and a refusal for missing required keys
shown before the click (and still enforced on a forced post)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from environments import services
from environments.models import Release, Role

from .conftest import HX


@pytest.fixture
def url(deployment):
    return reverse("promote", kwargs={"deployment_id": deployment.pk, "name": "staging"})


def test_each_card_shows_its_live_release(as_role, deployment, production, staging, versions):
    html = as_role(Role.VIEWER).get(reverse("deployment", args=[deployment.pk])).content.decode()
    production.refresh_from_db()
    staging.refresh_from_db()
    for environment, version in ((production, 1), (staging, 2)):
        release = environment.live_release
        line = (
            f"release <strong>{release.number}</strong> · v{version} ·\n"
            f"            config {release.config_revision}"
        )
        assert line in html, environment.name
    assert html.count('data-testid="live-release"') == 2  # not on qa-less, undeployed envs


def test_the_confirmation_lists_the_targets_pending_changes(
    as_role, url, production, staging, versions, actor
):
    services.set_variable(
        environment=production, key="NEW_KEY", value="n", is_secret=True, actor=actor
    )
    html = as_role(Role.ADMIN).get(url, **HX).content.decode()
    pending = html.split('data-testid="pending-with-promotion"')[1].split("</div>\n      </div>")[0]
    assert "1 pending change in production goes live with\n            v2" in pending
    assert "<h3>Added</h3><ul><li>NEW_KEY</li>" in pending
    assert "disabled" not in html.split("<form")[-1]


def test_without_pending_changes_none_are_listed(as_role, url, versions):
    html = as_role(Role.ADMIN).get(url, **HX).content.decode()
    assert "pending-with-promotion" not in html


def test_missing_required_keys_are_refused_before_the_click(
    as_role, url, deployment, production, versions, actor
):
    services.set_required_keys(deployment=deployment, keys=["STRIPE_KEY", "API_URL"], actor=actor)
    html = as_role(Role.ADMIN).get(url, **HX).content.decode()
    refusal = html.split('data-testid="missing-required-keys">')[1].split("</p>")[0]
    assert "production would go live without API_URL, STRIPE_KEY," in refusal
    assert "which every release must define" in refusal
    assert 'class="primary" disabled>Promote v2 to production' in html


def test_a_forced_post_is_still_refused_with_409(
    as_role, url, deployment, production, versions, actor
):
    services.set_required_keys(deployment=deployment, keys=["STRIPE_KEY"], actor=actor)
    before = Release.objects.filter(environment=production).count()
    response = as_role(Role.ADMIN).post(url, {"version": 2, "target_version": 1}, **HX)
    assert response.status_code == 409
    assert "production would go live without STRIPE_KEY" in response.content.decode()
    assert Release.objects.filter(environment=production).count() == before


def test_a_pending_required_key_lets_the_promotion_through(
    as_role, url, deployment, production, versions, actor
):
    services.set_required_keys(deployment=deployment, keys=["STRIPE_KEY"], actor=actor)
    services.set_variable(
        environment=production, key="STRIPE_KEY", value="s", is_secret=True, actor=actor
    )
    client = as_role(Role.ADMIN)
    html = client.get(url, **HX).content.decode()
    assert "missing-required-keys" not in html
    response = client.post(url, {"version": 2, "target_version": 1}, **HX)
    assert response.status_code == 200
    production.refresh_from_db()
    assert production.active_version.number == 2
    assert production.live_release.config_revision == production.config_revision
