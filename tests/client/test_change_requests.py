"""`miosa promote/deploy/apply/rollback` into a protected environment: the change request's
number and URL are printed; `--wait` waits until it is applied (0) or closed otherwise (1)."""

from __future__ import annotations

import subprocess

import pytest

from environments import services
from environments.actors import Actor
from environments.models import ChangeRequest
from tests.client.conftest import client_command, client_environment, wait_for


@pytest.fixture
def protected(deployment, staging, production, shipped, actor):
    """staging runs v2, production v1 and needs one approval."""
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    services.set_protection(environment=production, required_approvals=1, actor=actor)
    return v2


def test_a_promotion_prints_the_request_and_its_url(
    miosa, server, deployment, production, protected, personal_token
):
    result = miosa(
        "promote", "--deployment", "shop", "--from", "staging", "--reason", "ship it",
        token=personal_token,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    request = ChangeRequest.objects.get()
    assert request.reason == "ship it" and request.state == "open"
    assert result.stdout == (
        f"production is protected: change request {request.pk} is open (promote of version 2, "
        f"0 of 1 approvals): {server}/deployments/{deployment.pk}/change-requests/{request.pk}/\n"
    )
    production.refresh_from_db()
    assert production.active_version.number == 1


def _waiting(server, token, *args):
    return subprocess.Popen(
        client_command(*args, "--wait"),
        env=client_environment(server, token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("outcome", ["applied", "rejected"])
def test_wait_exits_0_once_applied_and_1_once_rejected(
    server, deployment, production, protected, personal_token, member, outcome
):
    process = _waiting(
        server, personal_token, "promote", "--deployment", "shop", "--from", "staging"
    )
    try:
        wait_for(lambda: ChangeRequest.objects.exists(), what="the request")
        request = ChangeRequest.objects.get()
        admin = member("admin", "ann")
        reviewer = Actor(user=admin, label="ann")
        if outcome == "applied":
            services.approve_change_request(change_request=request, actor=reviewer)
            services.apply_change_request(change_request=request, actor=reviewer)
        else:
            services.reject_change_request(change_request=request, actor=reviewer)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    if outcome == "applied":
        assert process.returncode == 0, stderr
        assert f"change request {request.pk} is applied" in stdout
        production.refresh_from_db()
        assert production.active_version.number == 2
    else:
        assert process.returncode == 1
        assert f"change request {request.pk} is rejected" in stderr
