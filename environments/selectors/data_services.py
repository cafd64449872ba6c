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
