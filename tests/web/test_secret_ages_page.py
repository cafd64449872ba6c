"""The environment page's secret rows (SPEC §14): each secret's age ("value set 3 days ago"),
flagged overdue past the deployment's max_secret_age_days, and how many live instances still run
an older value of it, with the hint to restart them. Never a value."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from environments import services
from environments.models import ConfigEntry, Role
from tests.conftest import CANARY

from .conftest import HX


@pytest.fixture
def live_staging(deployment, staging, actor):
    services.set_variable(
        environment=staging, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    services.set_variable(
        environment=staging, key="API_URL", value="https://x", is_secret=False, actor=actor
    )
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    return staging


@pytest.fixture
def boot(live_staging, actor):
    _, raw = services.create_runtime_token(environment=live_staging, name="fleet", actor=actor)

    def fetch(instance: str) -> None:
        headers = {"Authorization": f"Bearer {raw}", "X-Miosa-Instance": instance}
        assert Client().get(reverse("api_runtime_env"), headers=headers).status_code == 200

    return fetch


def _url(deployment, view="environment") -> str:
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": "staging"})


def _row(html: str, key: str) -> str:
    return html.split(f'<tr id="var-{key}">')[1].split("</tr>")[0]


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def test_a_secret_row_says_when_its_value_was_set(as_role, deployment, live_staging):
    ConfigEntry.objects.filter(key="STRIPE_KEY").update(
        set_at=timezone.now() - timedelta(days=3, hours=1)
    )
    html = as_role(Role.VIEWER).get(_url(deployment)).content.decode()
    row = _row(html, "STRIPE_KEY")
    assert "value set 3 days, 1 hour ago" in _text(row)
    assert 'data-testid="secret-overdue"' not in row  # no maximum is set
    assert 'data-testid="secret-age"' not in _row(html, "API_URL")


def test_a_secret_past_the_maximum_age_is_flagged_overdue(as_role, deployment, live_staging, actor):
    services.set_max_secret_age(deployment=deployment, days=30, actor=actor)
    ConfigEntry.objects.filter(key="STRIPE_KEY").update(set_at=timezone.now() - timedelta(days=29))
    client = as_role(Role.VIEWER)
    assert 'data-testid="secret-overdue"' not in _row(
        client.get(_url(deployment)).content.decode(), "STRIPE_KEY"
    )
    ConfigEntry.objects.filter(key="STRIPE_KEY").update(set_at=timezone.now() - timedelta(days=31))
    row = _row(client.get(_url(deployment)).content.decode(), "STRIPE_KEY")
    assert 'data-testid="secret-overdue"' in row
    # Said in words, not by colour alone: to a screen reader too.
    assert "overdue : older than 30 days; rotate it by setting a new value" in _text(row)


def test_instances_on_an_older_value_are_counted_until_they_restart(
    as_role, deployment, live_staging, boot, actor
):
    boot("web-1")
    boot("web-2")
    client = as_role(Role.VIEWER)
    assert 'data-testid="secret-convergence"' not in client.get(_url(deployment)).content.decode()
    services.set_variable(
        environment=live_staging, key="STRIPE_KEY", value="rotated", is_secret=None, actor=actor
    )
    row = _text(_row(client.get(_url(deployment)).content.decode(), "STRIPE_KEY"))
    assert "2 instances on an older value restart them to pick up the current one" in row
    boot("web-1")
    row = _text(_row(client.get(_url(deployment)).content.decode(), "STRIPE_KEY"))
    assert "1 instance on an older value restart it to pick up the current one" in row
    boot("web-2")
    html = client.get(_url(deployment)).content.decode()
    assert "on an older value" not in _row(html, "STRIPE_KEY")


def test_the_variables_section_alone_shows_them_too(as_role, deployment, live_staging, boot, actor):
    boot("web-1")
    services.set_variable(
        environment=live_staging, key="STRIPE_KEY", value="rotated", is_secret=None, actor=actor
    )
    html = as_role(Role.VIEWER).get(_url(deployment, "variables"), **HX).content.decode()
    assert "1 instance on an older value" in _text(_row(html, "STRIPE_KEY"))
    assert "value set just now" in _text(_row(html, "STRIPE_KEY"))


def test_the_page_never_shows_the_value(as_role, deployment, live_staging, boot, actor):
    boot("web-1")
    services.set_variable(
        environment=live_staging, key="STRIPE_KEY", value="rotated", is_secret=None, actor=actor
    )
    html = as_role(Role.OWNER).get(_url(deployment)).content.decode()
    assert CANARY not in html
    for fingerprint in ConfigEntry.objects.values_list("fingerprint", flat=True):
        if fingerprint:
            assert bytes(fingerprint).hex() not in html


@pytest.mark.parametrize(("secrets", "instances"), [(5, 2), (200, 50)])
def test_the_page_query_count_is_fixed(
    as_role, deployment, live_staging, boot, actor, django_assert_num_queries, secrets, instances
):
    services.set_variables(
        environment=live_staging,
        items=[services.VariableInput(f"S_{n}", f"v{n}", True) for n in range(secrets)],
        actor=actor,
    )
    for n in range(instances):
        if n % 10 == 0:
            services.set_variable(
                environment=live_staging, key="S_0", value=f"r{n}", is_secret=None, actor=actor
            )
        boot(f"i{n}")
    client = as_role(Role.OWNER)
    # session, user, membership+deployment, environment, variables, the page's secrets' value
    # history and live instances
    with django_assert_num_queries(7):
        response = client.get(_url(deployment, "variables"), **HX)
    # A page of 100 rows: API_URL (plain), then the secrets.
    shown = min(secrets + 2, 100) - 1
    assert response.content.decode().count('data-testid="secret-age"') == shown
