"""One disclosure path: the web Reveal, the API's ?reveal=true and the runtime fetch (each format)
all go through services.disclosure, and each writes a success or a failure event, including on a
value that cannot be decrypted."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from environments import services
from environments.errors import NotFound, Undecryptable
from environments.models import AuditEvent, Binding, Variable
from tests.conftest import CANARY
from tests.stored import replace_stored

PLAIN = "https://api.example.com"


@pytest.fixture
def filled(production, actor):
    services.set_variable(
        environment=production, key="API_URL", value=PLAIN, is_secret=None, actor=actor
    )
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    services.create_binding(
        environment=production,
        kind="postgres",
        name="shop-db",
        url=f"postgres://app:{CANARY}@db.internal/shop",
        actor=actor,
    )
    return production


def _tamper(key: str) -> None:
    variable = Variable.objects.get(key=key)
    blob = bytearray(bytes(variable.ciphertext))
    blob[-1] ^= 0x01
    replace_stored(variable, bytes(blob))


def _disclose(path: str, client, deployment, production, owner, actor):
    """Take one disclosure path as its caller does; returns (response, audit action)."""
    if path == "web reveal":
        client.force_login(owner)
        url = reverse(
            "variable_reveal",
            kwargs={"deployment_id": deployment.pk, "name": "production", "key": "API_URL"},
        )
        return client.post(url), "variable.reveal"
    if path == "api reveal":
        _, raw = services.create_api_token(user=owner, name="ci", actor=actor)
        response = client.get(
            f"/api/v1/deployments/{deployment.pk}/env",
            {"reveal": "true"},
            headers={"Authorization": f"Bearer {raw}"},
        )
        return response, "variable.reveal"
    _, raw = services.create_runtime_token(environment=production, name="web", actor=actor)
    fmt = path.removeprefix("runtime ")
    response = client.get(
        "/api/v1/runtime/env", {"format": fmt}, headers={"Authorization": f"Bearer {raw}"}
    )
    return response, "runtime.fetch"


PATHS = ["web reveal", "api reveal", "runtime json", "runtime dotenv"]


@pytest.mark.parametrize("path", PATHS)
def test_every_disclosure_is_on_record(path, client, deployment, filled, owner, actor):
    response, action = _disclose(path, client, deployment, filled, owner, actor)
    assert response.status_code == 200
    assert PLAIN in response.content.decode()
    event = AuditEvent.objects.get(action=action)
    assert event.outcome == "success"


@pytest.mark.parametrize("path", PATHS)
def test_every_undecryptable_disclosure_is_on_record_as_a_failure(
    path, client, deployment, filled, owner, actor
):
    _tamper("API_URL")
    response, action = _disclose(path, client, deployment, filled, owner, actor)
    body = response.content.decode()
    if path == "web reveal":
        assert response.status_code == 200
        assert "Cannot be decrypted with the configured keys" in body
    else:
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "undecryptable"
        assert "API_URL" in error["message"]  # names the affected key
    assert CANARY not in body and PLAIN not in body
    # The read rolled back with its success event; the failure stays on record, alone.
    events = AuditEvent.objects.filter(action=action)
    assert [e.outcome for e in events] == ["failure"]


def _fetch_at_boot(environment, actor):
    """The runtime endpoint's service call, with a fresh token of `environment`."""
    _, raw = services.create_runtime_token(environment=environment, name="web", actor=actor)
    return services.fetch_runtime_env_for_token(
        token_hash=services.hash_token(raw),
        fmt="json",
        instance="",
        actor_for=lambda token: actor,
        check=lambda token: None,
        not_modified=lambda environment, revision: False,
    )


def test_the_runtime_failure_names_every_affected_key_and_no_value(filled, actor):
    binding = Binding.objects.get(environment=filled)
    blob = bytes(binding.ciphertext)
    replace_stored(binding, blob[:2] + b"zz" + blob[4:])
    _tamper("API_URL")
    with pytest.raises(Undecryptable) as excinfo:
        _fetch_at_boot(filled, actor)
    assert excinfo.value.keys == ["API_URL", "DATABASE_URL"]
    assert "API_URL, DATABASE_URL cannot be decrypted" in excinfo.value.message
    assert CANARY not in excinfo.value.message and PLAIN not in excinfo.value.message
    event = AuditEvent.objects.get(action="runtime.fetch")
    assert (event.outcome, event.detail) == (
        "failure",
        {"format": "json", "reason": "undecryptable"},
    )


def test_an_api_reveal_of_every_environment_names_keys_with_their_environment(
    deployment, filled, actor
):
    _tamper("API_URL")
    environments = list(deployment.environments.all())
    with pytest.raises(Undecryptable) as excinfo:
        services.reveal_plain_values(
            deployment=deployment,
            environments=environments,
            keys=["production/API_URL"],
            actor=actor,
        )
    assert excinfo.value.keys == ["production/API_URL"]
    event = AuditEvent.objects.get(action="variable.reveal")
    assert (event.outcome, event.target) == ("failure", "production/API_URL")


def test_revealing_a_variable_deleted_meanwhile_reveals_nothing_and_records_nothing(filled, actor):
    with pytest.raises(NotFound):
        services.reveal_variable(environment=filled, key="GONE", actor=actor)
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()


def test_a_disclosure_refuses_to_run_inside_another_transaction(filled, actor):
    """Inside a caller's transaction, the failure event would roll back with the caller."""
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.reveal_variable(environment=filled, key="API_URL", actor=actor)
