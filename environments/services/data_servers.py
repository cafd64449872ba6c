"""Data servers: where data services are created (SPEC §13). A superuser registers one after
a health check; its admin URL is encrypted like a secret and never shown again."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .. import audit, crypto, rules
from ..actors import Actor
from ..dataservers import DataServerError, bucket, postgres, redis
from ..errors import Conflict, Invalid, validated
from ..models import DataServer, DataService, Deployment

KINDS = tuple(DataServer.Kind.values)


def _check(kind: str, admin_url: str):
    return {"postgres": postgres, "redis": redis, "bucket": bucket}[kind].check(admin_url)


def add_data_server(
    *,
    kind: str,
    name: str,
    admin_url: str,
    actor: Actor,
    deployments: list[Deployment] | None = None,
) -> DataServer:
    """Register a server after a health check: it must answer and its admin must hold the
    privileges the drivers need (a clear 400 `data_server_unhealthy` naming what is missing).
    `deployments`: only those may use it; None: every deployment."""
    if kind not in KINDS:
        raise Invalid(f"The kind must be {', '.join(KINDS)}.", field="kind")
    name = validated(rules.validate_deployment_name, (name or "").strip(), field="name")
    if DataServer.objects.filter(name=name).exists():
        raise Conflict(f"A data server named {name} exists.", code="name_taken", field="name")
    try:  # before the transaction: a network call
        health = _check(kind, (admin_url or "").strip())
    except DataServerError as exc:
        raise Invalid(
            f"The server did not pass its health check: {exc}.",
            code="data_server_unhealthy",
            field="admin_url",
        ) from None
    with transaction.atomic(durable=True):
        server = DataServer(
            kind=kind,
            name=name,
            for_all_deployments=deployments is None,
            checked_at=timezone.now(),
            version=health.version[:200],
        )
        server.admin_url_ciphertext = crypto.encrypt(
            admin_url.strip(), context=DataServer.context_for(server.uid)
        )
        server.save()
        if deployments:
            server.deployments.set(deployments)
        audit.record(
            "data_server.add",
            actor=actor,
            target=name,
            detail={
                "kind": kind,
                "version": server.version,
                "deployments": sorted(d.name for d in deployments) if deployments else "all",
            },
        )
    return server


@transaction.atomic(durable=True)
def remove_data_server(*, server: DataServer, actor: Actor) -> None:
    """Forget a server. Refused while a service (even a detached one) lives on it."""
    # NO KEY UPDATE: a data service committing on this server checks its foreign key (FOR KEY
    # SHARE) at COMMIT, holding the chain's head that this removal waits for next.
    server = DataServer.objects.select_for_update(no_key=True).get(pk=server.pk)
    in_use = DataService.objects.filter(server=server).count()
    if in_use:
        raise Conflict(
            f"{server.name} still holds {in_use} data service{'s' if in_use > 1 else ''}; "
            "destroy them first.",
            code="data_server_in_use",
        )
    audit.record(
        "data_server.remove", actor=actor, target=server.name, detail={"kind": server.kind}
    )
    server.delete()


def check_data_server(*, server: DataServer) -> DataServer:
    """Run the health check now and keep its result (version, or the error's step and class)."""
    try:
        health = _check(server.kind, server.admin_url())
        server.version, server.error = health.version[:200], ""
    except DataServerError as exc:
        server.error = str(exc)[:300]
    except crypto.DecryptionError:
        server.error = "decrypt failed: the admin URL cannot be decrypted with the configured keys"
    server.checked_at = timezone.now()
    server.save(update_fields=["version", "error", "checked_at"])
    return server
