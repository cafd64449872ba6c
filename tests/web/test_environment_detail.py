"""The environment page: previews only, badges, undecryptable values, buttons by role, queries."""

import base64

import pytest
from django.urls import reverse

from environments import services
from environments.models import Binding, Role, Variable

from .conftest import HX

SECRET = "sk_live_never_shown_12345"


@pytest.fixture
def url(deployment):
    return reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "production"})


@pytest.fixture
def filled(production, actor):
    services.set_variable(
        environment=production,
        key="API_URL",
        value="https://api.example.com",
        is_secret=False,
        actor=actor,
    )
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=SECRET, is_secret=True, actor=actor
    )
    services.create_binding(
        environment=production,
        kind="postgres",
        name="shop-db",
        url="postgres://app:hunter2pw@db.internal:5432/shop",
        actor=actor,
    )


def test_previews_only(as_role, url, filled):
    html = as_role(Role.VIEWER).get(url).content.decode()
    assert "https://…" in html
    assert "https://api.example.com" not in html
    assert "••••" in html and SECRET not in html
    assert "postgres://app:••••@db.internal:5432/shop" in html and "hunter2pw" not in html
    assert 'class="badge secret"' in html


def test_an_undecryptable_value_says_so(as_role, url, filled, production):
    Variable.objects.filter(environment=production, key="API_URL").update(
        ciphertext=b"\x01\x02xx" + b"\x00" * 40
    )
    html = as_role(Role.VIEWER).get(url).content.decode()
    assert "Cannot be decrypted with the configured keys" in html


def test_viewer_sees_no_write_controls(as_role, url, filled):
    html = as_role(Role.VIEWER).get(url).content.decode()
    for text in (
        "Add variable",
        "Bind service",
        "Add domain",
        "Create token",
        ">Edit<",
        "Delete environment",
    ):
        assert text not in html


def test_developer_cannot_write_production_but_can_write_staging(as_role, deployment, url, filled):
    client = as_role(Role.DEVELOPER)
    assert "Add variable" not in client.get(url).content.decode()
    staging = reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "staging"})
    html = client.get(staging).content.decode()
    assert "Add variable" in html
    assert "Bind service" not in html  # bindings need admin


def test_admin_sees_every_control(as_role, url, filled):
    html = as_role(Role.ADMIN).get(url).content.decode()
    for text in ("Add variable", "Bind service", "Add domain", "Create token", ">Edit<"):
        assert text in html
    assert "Delete environment" not in html  # production is protected


def test_empty_environment_has_empty_states(as_role, url):
    html = as_role(Role.ADMIN).get(url).content.decode()
    assert "No variables in production" in html
    assert "No data services bound" in html
    assert "No domains" in html and "No runtime tokens" in html


def test_environment_names_with_a_slash_work(as_role, deployment, actor):
    services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    url = reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "preview/pr-42"})
    assert url.endswith("/env/preview/pr-42/")
    response = as_role(Role.VIEWER).get(url)
    assert response.status_code == 200
    assert "Promotes to" in response.content.decode()


def test_unknown_environment_is_404(as_role, deployment):
    url = reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "nope"})
    assert as_role(Role.OWNER).get(url).status_code == 404


def _fill(environment, actor, n: int):
    services.set_variables(
        environment=environment,
        items=[services.VariableInput(f"K{i}", f"value-{i}", i % 2 == 0) for i in range(n)],
        actor=actor,
    )
    for i in range(max(1, n // 10)):
        services.create_binding(
            environment=environment,
            kind="redis",
            name=f"c{i}",
            url="redis://:p@h:6379",
            variable_name=f"R{i}",
            actor=actor,
        )
        services.add_domain(environment=environment, hostname=f"h{i}.shop.test", actor=actor)
        services.create_runtime_token(environment=environment, name=f"t{i}", actor=actor)


# session, user, membership+deployment, environment, variables, the secrets' value history and
# live instances (their age and convergence), bindings, domains, tokens, instances, data
# services and the data servers available, rotations, protection and open change requests
QUERIES = 16


@pytest.mark.parametrize("n", [1, 60])
def test_query_count_is_fixed(as_role, url, production, actor, django_assert_num_queries, n):
    _fill(production, actor, n)
    client = as_role(Role.OWNER)
    with django_assert_num_queries(QUERIES):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("section", "queries"), [("variables", 7), ("bindings", 7), ("domains", 5), ("tokens", 5)]
)
@pytest.mark.parametrize("n", [1, 60])
def test_section_query_counts_are_fixed(
    as_role, deployment, production, actor, django_assert_num_queries, section, queries, n
):
    _fill(production, actor, n)
    client = as_role(Role.OWNER)
    url = reverse(
        section if section != "tokens" else "runtime_tokens",
        kwargs={"deployment_id": deployment.pk, "name": "production"},
    )
    with django_assert_num_queries(queries):
        response = client.get(url, **HX)
    assert response.content.decode().lstrip().startswith(f'<section id="{section}"')


def test_row_urls_built_from_the_reversed_base_match_the_url_patterns(
    deployment, production, actor
):
    from django.urls import reverse

    base = reverse("variables", kwargs={"deployment_id": deployment.pk, "name": "production"})
    for view, suffix in (
        ("variable_edit", "edit/"),
        ("variable_delete", "delete/"),
        ("variable_reveal", "reveal/"),
    ):
        kwargs = {"deployment_id": deployment.pk, "name": "production", "key": "API_URL"}
        assert reverse(view, kwargs=kwargs) == f"{base}API_URL/{suffix}"


def _tamper(blob: bytes) -> bytes:
    """The same stored value with its last byte (inside the authentication tag) flipped."""
    return blob[:-1] + bytes([blob[-1] ^ 1])


def test_a_tampered_secret_lists_as_undecryptable_and_is_named(as_role, url, filled, production):
    variable = Variable.objects.get(environment=production, key="STRIPE_KEY")
    Variable.objects.filter(pk=variable.pk).update(ciphertext=_tamper(bytes(variable.ciphertext)))
    html = as_role(Role.VIEWER).get(url).content.decode()
    row = html[html.index('id="var-STRIPE_KEY"') :]
    row = row[: row.index("</tr>")]
    assert "Cannot be decrypted with the configured keys" in row and "••••" not in row
    notice = html[html.index('data-testid="undecryptable-keys"') :]
    assert "STRIPE_KEY" in notice[: notice.index("</p>")]
    assert SECRET not in html


def test_a_secret_under_a_replaced_key_lists_as_undecryptable(
    as_role, url, filled, production, settings
):
    # The same key ids, other key bytes: the ids are known, but nothing decrypts.
    settings.ENCRYPTION_KEYS = ",".join(
        f"{key_id}:{base64.b64encode(bytes([n]) * 32).decode()}"
        for n, key_id in enumerate(("t2", "t1"))
    )
    html = as_role(Role.VIEWER).get(url).content.decode()
    assert "••••" not in html
    notice = html[html.index('data-testid="undecryptable-keys"') :]
    assert "STRIPE_KEY" in notice[: notice.index("</p>")]
    assert "API_URL" in notice[: notice.index("</p>")]
    assert SECRET not in html and "hunter2pw" not in html


def test_a_tampered_binding_is_named(as_role, url, filled, production):
    binding = Binding.objects.get(environment=production)
    Binding.objects.filter(pk=binding.pk).update(ciphertext=_tamper(bytes(binding.ciphertext)))
    html = as_role(Role.VIEWER).get(url).content.decode()
    notices = html.split('data-testid="undecryptable-keys"')[1:]
    assert [n[: n.index("</p>")] for n in notices if "DATABASE_URL" in n[: n.index("</p>")]]
    assert "hunter2pw" not in html


def test_a_healthy_page_names_no_undecryptable_key(as_role, url, filled):
    assert "undecryptable-keys" not in as_role(Role.VIEWER).get(url).content.decode()
