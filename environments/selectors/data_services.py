"""Reads of data servers and data services (SPEC §13). Permission checks are the callers'
(`permissions`), as for every selector."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from ..models import DataServer, DataService, Deployment, Environment


def available_servers(deployment: Deployment, kind: str) -> QuerySet[DataServer]:
    """Servers of `kind` this deployment may create services on: those open to every
    deployment and those listing it, by name."""
    return (
        DataServer.objects.filter(kind=kind)
        .filter(Q(for_all_deployments=True) | Q(deployments=deployment))
        .distinct()
        .order_by("name")
    )


def data_servers() -> list[DataServer]:
    return list(DataServer.objects.defer("admin_url_ciphertext").prefetch_related("deployments"))


def data_services(
    deployment: Deployment, *, environment: Environment | None = None
) -> list[DataService]:
    """A deployment's data services (of one environment), with their server and binding: one
    query whatever their number."""
    services = DataService.objects.filter(deployment=deployment).select_related(
        "server", "environment", "binding"
    )
    if environment is not None:
        services = services.filter(environment=environment)
    return list(services.defer("credential_ciphertext", "server__admin_url_ciphertext"))


def get_data_service(deployment: Deployment, pk: int) -> DataService:
    """404 once destroyed (its row is deleted then) or when it belongs to another deployment."""
    return get_object_or_404(
        DataService.objects.select_related("server", "environment", "binding"),
        deployment=deployment,
        pk=pk,
    )


def services_on_server(server: DataServer) -> list[DataService]:
    """What lives on a server, detached services included."""
    return list(DataService.objects.filter(server=server).defer("credential_ciphertext"))


def server_names_by_kind(deployment: Deployment) -> dict[str, list[str]]:
    """The servers each kind can be created on for this deployment (kinds without one are left
    out): one query."""
    servers = (
        DataServer.objects.filter(Q(for_all_deployments=True) | Q(deployments=deployment))
        .distinct()
        .order_by("kind", "name")
        .values_list("kind", "name")
    )
    found: dict[str, list[str]] = {}
    for kind, name in servers:
        found.setdefault(kind, []).append(name)
    return found


def managed_binding_ids(environment: Environment) -> set[int]:
    """The environment's bindings a data service wrote (their URL is not editable)."""
    return set(
        DataService.objects.filter(environment=environment, binding__isnull=False).values_list(
            "binding__pk", flat=True
        )
    )


def data_servers_with_services() -> list[tuple[DataServer, list[DataService]]]:
    """Every server with what lives on it, detached services included: three queries (the
    servers, their deployments, their services) whatever their number."""
    servers = data_servers()
    on_server: dict[int, list[DataService]] = {s.pk: [] for s in servers}
    for service in DataService.objects.defer("credential_ciphertext").order_by(
        "deployment_name", "environment_name", "kind", "created_at"
    ):
        on_server.setdefault(service.server_id, []).append(service)
    return [(server, on_server[server.pk]) for server in servers]


def get_data_server(pk: int) -> DataServer:
    return get_object_or_404(DataServer, pk=pk)
