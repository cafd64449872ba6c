"""One resolver (SPEC §19): for generated configurations of groups and references, every
consumer agrees with a plain model of what the values resolve to: the runtime's three formats,
the previews, reveal, compare, the API's export, an import's dry run and a promotion's
confirmation. Secrets stay secrets through references."""

from __future__ import annotations

import io
import itertools
import json
import subprocess

import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments import rules, selectors, services
from environments.actors import Actor
from environments.import_parser import ImportItem
from environments.models import Environment

pytestmark = pytest.mark.django_db

_names = itertools.count()

# Literal text: anything a runtime format must carry (quotes, $, backslashes, newlines),
# never an accidental `${{` (a literal one is written `$${{`).
literal = st.text(
    alphabet=st.sampled_from(list("ab Z09'\"$\\\n{}=#`é")), min_size=0, max_size=12
).filter(lambda t: "${{" not in t and not t.endswith("$"))


@st.composite
def configurations(draw):
    """Group keys G0…, then environment keys K0…, each a literal or literals and references to
    keys written before it (so no cycle): ("group"|"env", key, pieces, is_secret)."""
    items: list[tuple[str, str, list, bool]] = []
    for scope, prefix, count in (
        ("group", "G", draw(st.integers(1, 4))),
        ("env", "K", draw(st.integers(1, 5))),
    ):
        for i in range(count):
            earlier = [(s, k) for s, k, _, _ in items]
            pieces = []
            for _ in range(draw(st.integers(1, 3))):
                if earlier and draw(st.booleans()):
                    pieces.append(("ref", draw(st.sampled_from(earlier))))
                elif draw(st.integers(0, 5)) == 0:
                    pieces.append(("escape", None))
                else:
                    pieces.append(("text", draw(literal)))
            items.append((scope, f"{prefix}{i}", pieces, draw(st.integers(0, 3)) == 0))
    return items


def written(scope: str, pieces: list) -> str:
    out = []
    for kind, piece in pieces:
        if kind == "text":
            out.append(piece)
        elif kind == "escape":
            out.append("$${{ X }}")
        else:
            target_scope, key = piece
            out.append(f"${{{{ {key} }}}}" if target_scope == scope else f"${{{{ common.{key} }}}}")
    return "".join(out)


def model(items) -> dict[str, tuple[str, bool]]:
    """What the staging environment's keys resolve to, and which are secrets."""
    values: dict[tuple[str, str], tuple[str, bool]] = {}
    for scope, key, pieces, is_secret in items:
        out, secret = [], is_secret
        for kind, piece in pieces:
            if kind == "text":
                out.append(piece)
            elif kind == "escape":
                out.append("${{ X }}")
            else:
                value, s = values[piece]
                out.append(value)
                secret = secret or s
        values[(scope, key)] = ("".join(out), secret)
    return {key: value for (_, key), value in values.items()}


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=configurations())
def test_every_consumer_agrees(owner, client, items):
    actor = Actor(user=owner, label=owner.get_username())
    deployment = services.create_deployment(name=f"agree-{next(_names)}", actor=actor)
    staging = deployment.environments.get(name="staging")
    production = deployment.environments.get(name="production")
    group = services.create_group(deployment=deployment, name="common", actor=actor)
    services.set_environment_groups(environment=staging, groups=["common"], actor=actor)
    for scope, key, pieces, is_secret in items:
        value = written(scope, pieces)
        if scope == "group":
            services.set_group_variables(
                group=group, items=[services.VariableInput(key, value, is_secret)], actor=actor
            )
        else:
            services.set_variable(
                environment=staging, key=key, value=value, is_secret=is_secret, actor=actor
            )
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    expected = model(items)
    values = {k: v for k, (v, _) in expected.items()}
    secrets = {k for k, (_, s) in expected.items() if s}
    staging = Environment.objects.select_related("deployment", "live_release__version").get(
        pk=staging.pk
    )

    # The runtime, in its three formats.
    _, raw_token = services.create_runtime_token(environment=staging, name="", actor=actor)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"}
    served = client.get("/api/v1/runtime/env", **auth).json()["env"]
    assert {k: v for k, v in served.items() if not k.startswith("MIOSA_")} == values
    dotenv = client.get("/api/v1/runtime/env", {"format": "dotenv"}, **auth).content.decode()
    parsed = dotenv_values(stream=io.StringIO(dotenv), interpolate=False)
    assert {k: v for k, v in parsed.items() if not k.startswith("MIOSA_")} == values
    shell = client.get("/api/v1/runtime/env", {"format": "shell"}, **auth).content.decode()
    dumped = subprocess.run(
        [
            "sh",
            "-c",
            '. /dev/stdin; python3 -c "import json, os; print(json.dumps(dict(os.environ)))"',
        ],
        input=shell,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shell_env = json.loads(dumped)
    assert {k: shell_env[k] for k in values} == values

    # Previews and reveal.
    rows = {r.key: r for r in selectors.variable_rows([staging], include_bindings=False)}
    assert set(rows) == set(values)
    for key, value in values.items():
        assert rows[key].is_secret == (key in secrets), key
        shown = rules.SECRET_PREVIEW if key in secrets else rules.plain_preview(value)
        assert rows[key].preview == shown, key
    revealed = selectors.reveal_plain_values([staging])
    assert {k: v for (_, k), v in revealed.items()} == {
        k: v for k, v in values.items() if k not in secrets
    }

    # The API's export (GET env with reveal) says the same.
    _, pat = services.create_api_token(user=owner, name=f"t{next(_names)}", actor=actor)
    exported = client.get(
        f"/api/v1/deployments/{deployment.pk}/env",
        {"environment": "staging", "reveal": "true"},
        HTTP_AUTHORIZATION=f"Bearer {pat}",
    ).json()["variables"]
    assert {r["key"]: r.get("value") for r in exported} == {
        k: (None if k in secrets else v) for k, v in values.items()
    }

    # Compare: production holding the same values as plain literals is the same key for key
    # (secrets too, for a user who may write both), and promotion's confirmation lists nothing
    # that differs.
    for key, value in values.items():
        literally = value.replace("${{", "$${{")  # what resolves to the value itself
        services.set_variable(
            environment=production, key=key, value=literally, is_secret=None, actor=actor
        )
    production.refresh_from_db()
    comparison = selectors.compare_environments(staging, production)
    assert (comparison.same, comparison.different, comparison.only_left) == (
        sorted(values),
        [],
        [],
    )
    assert selectors.compare_environments(production, staging).changed_keys == []

    # An import's dry run of the written values refuses nothing the import would not, and says
    # every key is added to an empty environment.
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    services.set_environment_groups(environment=qa, groups=["common"], actor=actor)
    qa.refresh_from_db()
    env_items = [
        ImportItem(key=key, value=written(scope, pieces), where=key)
        for scope, key, pieces, _ in items
        if scope == "env"
    ]
    diff = services.preview_import(environment=qa, items=env_items, secret_keys=set(), actor=actor)
    assert sorted(diff.added) == sorted(i.key for i in env_items)
    services.import_variables(environment=qa, items=env_items, secret_keys=set(), actor=actor)
    qa_env = selectors.runtime_config(
        Environment.objects.select_related("deployment").get(pk=qa.pk), just_read=True
    ).env
    assert {k: v for k, v in qa_env.items() if not k.startswith("MIOSA_")} == values
