"""Domains, and the hostnames the pages suggest under the deployment's apex."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.shortcuts import get_object_or_404

from .. import rules
from ..models import (
    Deployment,
    Domain,
    Environment,
)
from .access import valid_id


def get_domain(environment: Environment, pk: int) -> Domain:
    domain = get_object_or_404(Domain, environment=environment, pk=valid_id(pk))
    domain.environment = environment
    return domain


def domains(environment: Environment) -> list[Domain]:
    return list(Domain.objects.filter(environment=environment).order_by("hostname"))


def deployment_domains(environments: list[Environment]) -> list[Domain]:
    """The domains of the given environments, by hostname. One query."""
    by_id = {e.pk: e for e in environments}
    rows = list(Domain.objects.filter(environment__in=by_id).order_by("hostname"))
    for row in rows:
        row.environment = by_id[row.environment_id]
    return rows


def deployment_domain(deployment: Deployment, hostname: str) -> Domain:
    """A domain attached to any environment of the deployment (Http404 otherwise)."""
    domain = get_object_or_404(
        Domain.objects.select_related("environment"),
        environment__deployment=deployment,
        hostname=hostname,
    )
    domain.environment.deployment = deployment
    return domain


# Hostname suggestions: rules.suggested_hostname is asked only here on the page side.


def _suggested_hostname(environment: Environment, apex: str) -> str:
    return rules.suggested_hostname(environment.name, apex) if apex else ""


def primary_domain(environment: Environment, apex: str) -> str:
    """The suggested hostname if attached (apex for production), else the first one."""
    hosts = [d.hostname for d in environment.domains.all()]
    suggested = _suggested_hostname(environment, apex)
    if suggested and suggested in hosts:
        return suggested
    return hosts[0] if hosts else ""


def domain_suggestion(environment: Environment, domains: Iterable[Domain]) -> str:
    """The hostname the environment page offers to add, or "" when none is due: no apex,
    already attached, or the apex itself outside production."""
    apex = environment.deployment.apex_domain
    suggested = _suggested_hostname(environment, apex)
    if suggested in {d.hostname for d in domains} or (
        suggested == apex and not environment.is_production
    ):
        return ""
    return suggested


@dataclass(frozen=True)
class ApexSuggestion:
    environment: Environment
    host: str
    attached: bool


def apex_suggestions(
    deployment: Deployment, environments: list[Environment]
) -> list[ApexSuggestion]:
    """Per environment (from pipeline_environments), its hostname under the apex."""
    suggestions = []
    for environment in environments:
        host = _suggested_hostname(environment, deployment.apex_domain)
        if host:
            attached = host in {d.hostname for d in environment.domains.all()}
            suggestions.append(ApexSuggestion(environment, host, attached))
    return suggestions
