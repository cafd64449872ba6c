"""Logged in as an owner, fetch every page and partial of the demo: no secret value, no binding
password and no ciphertext may appear anywhere; every page carries a CSP with a nonce and no
inline script without it."""

import base64
import os
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from environments import services
from environments.actors import Actor
from environments.management.commands.seed_demo import DEMO_SECRET_VALUES
from environments.models import Binding, ConfigEntry, Deployment, Domain, GroupEntry, Variable

from .conftest import HX

# A shared group's secret, and a plain variable that references it (SPEC §19): a secret too.
GROUP_SECRET = "group-secret-4c1d-never-shown"


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    deployment = Deployment.objects.get(name="shop")
    actor = Actor.system("crawl")
    group = services.create_group(deployment=deployment, name="common", actor=actor)
    services.set_group_variables(
        group=group,
        items=[
            services.VariableInput("SENTRY_DSN", "https://sentry.example/1"),
            services.VariableInput("VAULT_TOKEN", GROUP_SECRET, True),
        ],
        actor=actor,
    )
    for name in ("staging", "production"):
        environment = deployment.environments.get(name=name)
        services.set_environment_groups(environment=environment, groups=["common"], actor=actor)
    services.set_variable(
        environment=deployment.environments.get(name="staging"),
        key="VAULT_URL",
        value="https://t:${{ common.VAULT_TOKEN }}@vault.internal",
        is_secret=False,
        actor=actor,
    )
    return deployment


def _forbidden_strings() -> list[str]:
    """Secret values, and each stored ciphertext as base64, hex and latin-1 (long enough runs)."""
    found = [*DEMO_SECRET_VALUES, GROUP_SECRET]
    history = ConfigEntry.objects.exclude(ciphertext=b"")  # old values too
    groups = GroupEntry.objects.all()
    for row in [*Variable.objects.all(), *Binding.objects.all(), *history, *groups]:
        blob = bytes(row.ciphertext)
        body = blob[-32:]  # the tag and the end of the body: present in any encoding of it
        found += [
            base64.b64encode(blob).decode()[:24],
            base64.urlsafe_b64encode(blob).decode()[:24],
            blob.hex()[:24],
            body.hex(),
        ]
        text = body.decode("latin-1")
        if text.isprintable():
            found.append(text)
    return found


def _urls(demo) -> list[str]:
    d = demo.pk
    urls = [
        reverse("deployment_list"),
        reverse("api_tokens"),
        reverse("deployment", args=[d]),
        reverse("version_create", args=[d]),
        reverse("environment_create", args=[d]),
        reverse("compare", args=[d]),
        reverse("audit_log", args=[d]),
        reverse("members", args=[d]),
        reverse("deployment_settings", args=[d]),
        reverse("groups", args=[d]),
        reverse("group", args=[d, "common"]),
    ]
    for environment in demo.environments.all():
        kw = {"deployment_id": d, "name": environment.name}
        urls += [
            reverse(view, kwargs=kw)
            for view in (
                "environment",
                "environment_history",
                "variables",
                "bindings",
                "domains",
                "runtime_tokens",
                "variable_import",  # G
            )
        ]
        if environment.promotes_to_id:
            urls.append(reverse("promote", kwargs=kw))
        if not environment.is_protected:
            urls.append(reverse("environment_delete", kwargs=kw))
        for variable in environment.variables.all():
            for view in ("variable_edit", "variable_delete"):
                urls.append(reverse(view, kwargs={**kw, "key": variable.key}))
        # Key history: variables and bindings; names and revisions, never a value.
        keys = (
            ConfigEntry.objects.filter(
                environment=environment,
                kind__in=(ConfigEntry.Kind.VARIABLE, ConfigEntry.Kind.BINDING),
            )
            .values_list("key", flat=True)
            .distinct()
        )
        urls += [reverse("variable_history", kwargs={**kw, "key": key}) for key in keys]
        for binding in environment.bindings.all():
            for view in ("binding_edit", "binding_delete"):
                urls.append(reverse(view, kwargs={**kw, "pk": binding.pk}))
        for domain in Domain.objects.filter(environment=environment):
            urls.append(reverse("domain_delete", kwargs={**kw, "pk": domain.pk}))
        # Pending changes and the Apply confirmation (production has one pending in the demo).
        urls += [reverse(view, kwargs=kw) for view in ("pending_changes", "apply_changes")]
    # Webhooks (SPEC §17): the page and each webhook's delivery log, payloads included.
    urls.append(reverse("webhooks", args=[d]))
    urls += [reverse("webhook", args=[d, pk]) for pk in demo.webhooks.values_list("pk", flat=True)]
    names = [e.name for e in demo.environments.all()]
    urls += [
        f"{reverse('compare', args=[d])}?left={a}&right={b}" for a in names for b in names if a != b
    ]
    # The audit log's exports (SPEC §12), whole and filtered: streamed CSV and JSON Lines.
    urls += [
        f"{reverse(view, args=[d])}{query}"
        for view in ("audit_export_csv", "audit_export_jsonl")
        for query in ("", "?environment=production")
    ]
    return urls


def test_no_secret_or_ciphertext_in_any_page_or_partial(client, make_user, demo, settings):
    client.force_login(make_user("root", superuser=True))
    _webhook_with_deliveries(demo, settings)
    forbidden = _forbidden_strings()
    urls = _urls(demo)
    assert len(urls) > 40
    exported: dict[str, int] = {}
    for url in urls:
        for headers in ({}, HX):
            response = client.get(url, **headers)
            assert response.status_code == 200, (url, response.status_code)
            if response.streaming:
                body = b"".join(response.streaming_content).decode()
                exported[url] = len(body.splitlines())
            else:
                body = response.content.decode()
            for text in forbidden:
                assert text not in body, (url, "leaks a secret or ciphertext")
    # The exports held the demo's events (more than a CSV header), and the crawl saw the
    # masked forms.
    assert len(exported) == 4 and min(exported.values()) > 5, exported
    page = client.get(
        reverse("environment", kwargs={"deployment_id": demo.pk, "name": "production"})
    )
    assert "postgres://app:••••@db.internal:5432/shop" in page.content.decode()


def _webhook_with_deliveries(demo, settings) -> None:
    """A webhook that heard of every kind of event a secret change makes: a release at once in
    staging, pending changes and their Apply in production."""
    from environments import services
    from environments.actors import Actor
    from environments.models.webhooks import EVENTS
    from environments.services import webhooks as webhook_services

    settings.WEBHOOK_ALLOW_PRIVATE = True
    actor = Actor.system("crawl")
    webhook_services.create_webhook(
        deployment=demo, url="http://127.0.0.1:9/h", events=list(EVENTS), actor=actor
    )
    secret = DEMO_SECRET_VALUES[0]
    for name in ("staging", "production"):
        environment = demo.environments.get(name=name)
        services.set_variable(
            environment=environment, key="CRAWL_SECRET", value=secret, is_secret=True, actor=actor
        )
    services.apply_changes(environment=demo.environments.get(name="production"), actor=actor)
    assert demo.webhooks.get().deliveries.count() >= 3


def test_pages_carry_a_strict_csp_and_no_inline_script(client, make_user, demo):
    anonymous = client.get(reverse("login"))
    client.force_login(make_user("root", superuser=True))
    for url in [*_urls(demo)[:12], None]:
        response = client.get(url) if url else anonymous
        assert response.status_code == 200
        csp = response["Content-Security-Policy"]
        # Django adds a nonce to the header only when a template used one; no page needs it
        # (htmx gets no nonce either, so it cannot bless scripts in swapped HTML).
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        found = re.search(r"'nonce-([^']+)'", csp)
        nonce = found.group(1) if found else None
        body = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", body):
            assert "src=" in tag or (nonce and f'nonce="{nonce}"' in tag), (url, tag)
        assert '"allowScriptTags": false' in body
        assert not re.search(r"\son[a-z]+=", body), (url, "inline event handler")
        assert not re.search(r"\sstyle=", body), (url, "inline style attribute")
        assert "hx-on" not in body
