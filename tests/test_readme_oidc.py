"""The README's GitHub Actions workflow for CI without long-lived tokens (SPEC §16), its steps
run as they are with `sh` against a live server: `miosa` asks a stand-in for GitHub's ID token
endpoint (on 127.0.0.1) for a token signed by the test's issuer, exchanges it, and ships a build
through staging to production."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from environments import services
from environments.actors import Actor
from environments.models import AuditEvent, Environment
from tests.client.test_oidc import REQUEST_TOKEN, github  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
SECTION = (ROOT / "README.md").read_text().split("## CI without long-lived tokens (OIDC)", 1)[1]
SECTION = SECTION.split("\n## ", 1)[0]


def workflow() -> str:
    return re.search(r"```yaml\n(.*?)```", SECTION, flags=re.S).group(1)


def run_steps(text: str) -> list[str]:
    """The shell of each `run: |` step, dedented as YAML reads it."""
    steps = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.strip() == "run: |":
            indent = len(line) - len(line.lstrip()) + 2
            body = []
            for following in lines[number + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) < indent:
                    break
                body.append(following[indent:])
            steps.append("\n".join(body))
    return steps


def value(name: str) -> str:
    return re.search(rf"^\s+{name}: (\S+)", workflow(), flags=re.M).group(1)


def test_the_workflow_asks_for_an_id_token_and_sets_the_audience():
    text = workflow()
    assert "id-token: write" in text and "MIOSA_OIDC_AUDIENCE" in text
    assert "MIOSA_TOKEN" not in text
    assert len(run_steps(text)) == 1


def test_the_workflow_ships_a_build_to_production(live_server, issuer, github, tmp_path):  # noqa: F811
    owner_actor = Actor.system("setup")
    deployment = services.create_deployment(name="shop", actor=owner_actor)
    services.create_oidc_policy(
        deployment=deployment,
        issuer="https://token.actions.githubusercontent.com",
        audience=value("MIOSA_OIDC_AUDIENCE"),
        subject="repo:acme/shop:environment:production",
        claims={"repository_id": "123456789"},
        environments=["staging", "production"],
        role="admin",
        jwks_url=issuer.url,
        actor=owner_actor,
    )
    shutil.copy(ROOT / "miosa.py", tmp_path / "miosa.py")
    env = {
        "PATH": os.environ["PATH"],
        "MIOSA_URL": live_server.url,
        "MIOSA_OIDC_AUDIENCE": value("MIOSA_OIDC_AUDIENCE"),
        "MIOSA_CACHE_DIR": str(tmp_path / "cache"),
        "ACTIONS_ID_TOKEN_REQUEST_URL": github["url"],
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        "GITHUB_SHA": "a1b2c3d",
    }
    (step,) = run_steps(workflow())
    shell = shutil.which("dash") or "/bin/sh"
    done = subprocess.run(
        [shell, "-c", step], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    production = Environment.objects.select_related("live_release__version").get(
        deployment=deployment, name="production"
    )
    assert production.live_release.version.label == "a1b2c3d"
    assert len(github["requests"]) == 3
    assert AuditEvent.objects.filter(action="oidc.exchange").count() == 3
