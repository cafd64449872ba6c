"""The CI commands with a personal API token: versions create, deploy, promote (and refused as
stale), apply, rollback; `--deployment` by id or by name."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import Environment, Release


@pytest.fixture
def token_file(tmp_path, personal_token):
    path = tmp_path / "token"
    path.write_text(personal_token + "\n  second line ignored\n")
    path.chmod(0o600)  # readable by others, it would be warned about (SPEC §18)
    return path


def live(environment: Environment) -> Release:
    return Environment.objects.get(pk=environment.pk).live_release


def test_registration_to_production_and_back(
    miosa, shipped, deployment, staging, production, personal_token
):
    result = miosa(
        "versions",
        "create",
        "--deployment",
        "shop",
        "--label",
        "sha2",
        "--notes",
        "PR 42",
        token=personal_token,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "2\n", "")
    version = deployment.versions.get(number=2)
    assert (version.label, version.notes) == ("sha2", "PR 42")

    result = miosa(
        "deploy",
        "--deployment",
        str(deployment.pk),
        "--environment",
        "staging",
        "--version",
        "2",
        token=personal_token,
    )
    assert result.returncode == 0, result.stderr
    release = live(staging)
    assert (release.number, release.version.number, release.kind) == (2, 2, "deploy")
    assert result.stdout == (
        f"staging: release 2 is live (version 2, config revision "
        f"{release.config_revision}, deploy)\n"
    )

    # Production ran v1 when the job started; a stale expectation is refused, nothing moves.
    result = miosa(
        "promote",
        "--deployment",
        "shop",
        "--from",
        "staging",
        "--to",
        "production",
        "--expected-version",
        "7",
        token=personal_token,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "miosa: production changed while you were looking: it ran v7 and now runs v1. "
        "(stale, HTTP 409)\n"
    )
    assert live(production).number == 1

    result = miosa(
        "promote",
        "--deployment",
        "shop",
        "--from",
        "staging",
        "--expected-version",
        "1",
        "--json",
        token=personal_token,
    )
    assert result.returncode == 0, result.stderr
    answer = __import__("json").loads(result.stdout)
    assert (answer["environment"], answer["number"], answer["version"], answer["kind"]) == (
        "production",
        2,
        2,
        "promote",
    )

    result = miosa(
        "rollback",
        "--deployment",
        "shop",
        "--environment",
        "production",
        "--release",
        "1",
        token=personal_token,
    )
    assert result.returncode == 0, result.stderr
    release = live(production)
    assert (release.number, release.version.number, release.kind) == (3, 1, "rollback")
    assert release.rollback_of == 1


def test_promote_to_the_wrong_target_is_refused(miosa, shipped, personal_token):
    result = miosa(
        "promote",
        "--deployment",
        "shop",
        "--from",
        "staging",
        "--to",
        "preview",
        token=personal_token,
    )
    assert result.returncode == 1
    assert "(wrong_target, HTTP 409)" in result.stderr


def test_promote_expecting_nothing_deployed(miosa, deployment, staging, actor, personal_token):
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    result = miosa(
        "promote",
        "--deployment",
        "shop",
        "--from",
        "staging",
        "--expected-version",
        "none",
        token=personal_token,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("production: release 1 is live (version 1,")


def test_apply_with_a_token_file_and_a_stale_revision(
    miosa, shipped, production, actor, token_file
):
    services.set_variable(
        environment=production, key="FEATURE", value="on", is_secret=False, actor=actor
    )
    revision = Environment.objects.get(pk=production.pk).config_revision
    args = [
        "apply",
        "--token-file",
        str(token_file),
        "--deployment",
        "shop",
        "--environment",
        "production",
    ]
    result = miosa(*args, "--expected-revision", str(revision - 1))
    assert result.returncode == 1
    assert "(stale, HTTP 409)" in result.stderr
    assert live(production).number == 1

    result = miosa(*args, "--expected-revision", str(revision))
    assert result.returncode == 0, result.stderr
    release = live(production)
    assert (release.number, release.config_revision, release.kind) == (2, revision, "apply")

    result = miosa(*args)
    assert result.returncode == 1
    assert result.stderr == (
        "miosa: production has no pending changes to apply. (nothing_to_apply, HTTP 409)\n"
    )


def test_rollback_version_only_keeps_the_current_configuration(
    miosa, shipped, deployment, staging, actor, personal_token
):
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    current = live(staging).config_revision
    result = miosa(
        "rollback",
        "--deployment",
        "shop",
        "--environment",
        "staging",
        "--release",
        "1",
        "--version-only",
        token=personal_token,
    )
    assert result.returncode == 0, result.stderr
    release = live(staging)
    assert (release.version.number, release.config_revision, release.rollback_of) == (
        1,
        current,
        1,
    )


def test_deployment_names_that_do_not_resolve_and_roles_too_low(
    miosa, shipped, member, token_for_user
):
    viewer = token_for_user(member("viewer"))
    result = miosa("versions", "create", "--deployment", "nope", token=viewer)
    assert (result.returncode, result.stderr) == (
        1,
        "miosa: no deployment named nope is visible to this token\n",
    )
    result = miosa("versions", "create", "--deployment", "shop", token=viewer)
    assert result.returncode == 1
    assert "(forbidden, HTTP 403)" in result.stderr
    result = miosa("versions", "create", "--deployment", "999999", token=viewer)
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr
    # A runtime token is not a personal one.
    result = miosa("versions", "create", "--deployment", "1", token="mio_rt_not-personal")
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr


def test_deploy_of_a_version_that_does_not_exist(miosa, shipped, personal_token):
    result = miosa(
        "deploy",
        "--deployment",
        "shop",
        "--environment",
        "staging",
        "--version",
        "99",
        token=personal_token,
    )
    assert (result.returncode, result.stderr) == (
        1,
        "miosa: shop has no v99. (not_found, HTTP 404)\n",
    )
