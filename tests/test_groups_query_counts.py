"""Shared groups and references cost no query per group or reference (SPEC §19): the runtime
fetch and the environment page make as many queries with 1 group and 1 reference as with 10
groups and 100 references (what a key resolves to was kept when it was written)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import services
from environments.services import VariableInput

pytestmark = pytest.mark.django_db


def _configure(deployment, staging, actor, *, groups: int, references: int) -> None:
    names = []
    for i in range(groups):
        group = services.create_group(deployment=deployment, name=f"g{i}", actor=actor)
        services.set_group_variables(
            group=group,
            items=[VariableInput(f"G{i}_KEY", f"value-{i}"), VariableInput("SHARED", f"s{i}")],
            actor=actor,
        )
        names.append(group.name)
    services.set_environment_groups(environment=staging, groups=names, actor=actor)
    services.set_variable(
        environment=staging, key="BASE", value="base", is_secret=True, actor=actor
    )
    services.set_variables(
        environment=staging,
        items=[
            VariableInput(f"REF_{n}", f"${{{{ g0.G0_KEY }}}}/${{{{ BASE }}}}/{n}")
            for n in range(references)
        ],
        actor=actor,
    )
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)


def _count(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries.captured_queries)


def test_the_runtime_fetch_and_the_page_make_a_fixed_number_of_queries(
    deployment, staging, actor, client, owner
):
    """1 group and 1 reference, then (in another deployment) 10 groups and 100 references:
    the same counts, the fetch cold (its process reads the release's entries once) and warm,
    and the environment page."""
    other = services.create_deployment(name="big", actor=actor)
    small = _measure(deployment, staging, actor, client, owner, groups=1, references=1)
    large = _measure(
        other,
        other.environments.get(name="staging"),
        actor,
        client,
        owner,
        groups=10,
        references=100,
    )
    assert small == large


def _measure(deployment, staging, actor, client, owner, *, groups, references):
    _configure(deployment, staging, actor, groups=groups, references=references)
    _, raw = services.create_runtime_token(environment=staging, name="", actor=actor)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    def fetch():
        response = client.get("/api/v1/runtime/env", **auth)
        assert response.status_code == 200
        env = response.json()["env"]
        assert env["REF_0"] == "value-0/base/0"
        assert env["SHARED"] == f"s{groups - 1}"  # the last linked group's

    cold = _count(fetch)
    warm = _count(fetch)
    client.force_login(owner)
    page_url = reverse("environment", args=[deployment.pk, "staging"])

    def page():
        response = client.get(page_url)
        assert response.status_code == 200
        assert b"G0_KEY" in response.content

    return cold, warm, _count(page)
