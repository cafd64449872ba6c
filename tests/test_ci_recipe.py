"""The README's CI recipe, run as it is with `sh` against a live server: a build goes
through a preview environment and staging to production, a second build follows it, and the
rollback block takes production back to the first."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from environments import selectors, services
from environments.actors import Actor
from environments.models import Environment

README = Path(__file__).resolve().parent.parent / "README.md"

pytestmark = pytest.mark.django_db(transaction=True)


def recipe_blocks() -> list[str]:
    section = README.read_text().split("## CI recipe", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    shell = shutil.which("dash") or "/bin/sh"
    return subprocess.run(
        [shell, "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_readme_has_the_recipe_and_its_rollback():
    blocks = recipe_blocks()
    assert len(blocks) == 2
    assert "/promote" in blocks[0] and "/rollback" in blocks[1]


def test_the_recipe_takes_a_build_to_production_and_back(live_server, make_user):
    owner = make_user("ci-owner")
    actor = Actor(user=owner, label=owner.get_username())
    deployment = services.create_deployment(name="shop", actor=actor)
    staging = Environment.objects.get(deployment=deployment, name="staging")
    services.set_variable(
        environment=staging, key="API_URL", value="https://staging", is_secret=None, actor=actor
    )
    _, token = services.create_api_token(user=owner, name="ci", actor=actor)
    recipe, rollback = recipe_blocks()
    env = {
        "MIOSA_URL": live_server.url,
        "MIOSA_TOKEN": token,
        "DEPLOYMENT": str(deployment.pk),
        "PR": "42",
    }

    first = run(recipe, env | {"GIT_SHA": "a1b2c3d"})
    assert first.returncode == 0, first.stderr
    assert "production runs release 1: v1" in first.stdout
    preview = Environment.objects.get(deployment=deployment, name="preview/pr-42")
    assert preview.active_version.number == 1 and preview.expires_at is not None
    assert preview.variables.filter(key="API_URL").exists()  # a copy of staging

    second = run(recipe, env | {"GIT_SHA": "e4f5a6b"})  # the preview exists now: reused
    assert second.returncode == 0, second.stderr
    assert "production runs release 2: v2" in second.stdout

    back = run(recipe.split("D=/$DEPLOYMENT")[0] + "D=/$DEPLOYMENT\n" + rollback, env)
    assert back.returncode == 0, back.stderr
    production = Environment.objects.select_related("deployment", "live_release__version").get(
        deployment=deployment, name="production"
    )
    assert production.live_release.kind == "rollback" and production.live_release.rollback_of == 1
    assert selectors.runtime_config(production).env["MIOSA_VERSION"] == "1"


def test_a_refusal_stops_the_recipe_with_its_message(live_server, make_user):
    owner = make_user("ci-owner")
    actor = Actor(user=owner, label=owner.get_username())
    deployment = services.create_deployment(name="shop", actor=actor)
    _, token = services.create_api_token(user=owner, name="ci", actor=actor)
    env = {
        "MIOSA_URL": live_server.url,
        "MIOSA_TOKEN": token + "x",  # a wrong token: the first call is refused
        "DEPLOYMENT": str(deployment.pk),
        "PR": "7",
        "GIT_SHA": "a1b2c3d",
    }
    result = run(recipe_blocks()[0], env)
    assert result.returncode != 0
    assert "answered 401" in result.stderr and "invalid_token" in result.stderr
    assert "Traceback" not in result.stderr
    assert not deployment.versions.exists()
