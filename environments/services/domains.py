"""Domains of an environment and the deployment's apex domain."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from .. import audit, rules
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound, validated
from ..models import ConfigEntry, Deployment, Domain, Environment
from .environment_writes import (
    lock_deployment,
    lock_deployment_of,
    lock_environment,
    lock_environments,
)
from .revisions import Revision


def _domain_taken_message(existing: Domain, visible_deployment_ids: set[int] | None) -> str:
    env = existing.environment
    if visible_deployment_ids is None or env.deployment_id in visible_deployment_ids:
        return f"{existing.hostname} is already attached to {env.deployment.name}/{env.name}."
    return f"{existing.hostname} is already attached to another deployment."


@transaction.atomic(durable=True)
def add_domain(
    *,
    environment: Environment,
    hostname: str,
    actor: Actor,
    visible_deployment_ids: set[int] | None = None,
) -> Domain:
    environment = lock_environment(environment)
    host = validated(rules.validate_hostname, hostname, field="hostname")
    apex = environment.deployment.apex_domain
    if apex and host == apex and not environment.is_production:
        raise Invalid(
            f"{apex} is the apex domain of {environment.deployment.name}; it may only be "
            "attached to production.",
            code="apex_production_only",
            field="hostname",
        )
    existing = (
        Domain.objects.select_related("environment__deployment").filter(hostname=host).first()
    )
    if existing is not None:
        raise Conflict(
            _domain_taken_message(existing, visible_deployment_ids),
            code="domain_taken",
            field="hostname",
        )
    try:
        with transaction.atomic():
            domain = Domain.objects.create(
                hostname=host, environment=environment, created_by=actor.user
            )
    except IntegrityError:
        raise Conflict(
            f"{host} is already attached.", code="domain_taken", field="hostname"
        ) from None
    revision = Revision(environment, actor)
    revision.set(ConfigEntry.Kind.DOMAIN, host)
    revision.finish()
    audit.record("domain.add", actor=actor, environment=environment, target=host)
    return domain


@transaction.atomic(durable=True)
def remove_domain(*, domain: Domain, actor: Actor) -> None:
    """Remove a domain. Removing the apex domain's row clears the apex too: a deployment must
    not keep, as its apex, a hostname another deployment may then attach."""
    # The deployment's row before the environment's (the lock order): the apex may be cleared.
    deployment = lock_deployment_of(domain.environment)
    environment = lock_environment(domain.environment)
    if not Domain.objects.filter(pk=domain.pk, environment=environment).exists():
        raise NotFound(f"{domain.hostname} is no longer attached to {environment.name}.")
    audit.record("domain.remove", actor=actor, environment=environment, target=domain.hostname)
    domain.delete()
    if deployment.apex_domain and deployment.apex_domain == domain.hostname:
        deployment.apex_domain = ""
        deployment.save(update_fields=["apex_domain"])
        audit.record(
            "deployment.set_apex",
            actor=actor,
            deployment=deployment,
            target="",
            detail={"reason": f"{domain.hostname} was removed"},
        )
    revision = Revision(environment, actor)
    revision.delete(ConfigEntry.Kind.DOMAIN, domain.hostname)
    revision.finish()


@dataclass
class ApexResult:
    apex: str
    attached: list[str]
    skipped: list[str]


@transaction.atomic
def set_apex_domain(
    *,
    deployment: Deployment,
    apex: str,
    actor: Actor,
    visible_deployment_ids: set[int] | None = None,
) -> ApexResult:
    """Set the apex: attach it to production and staging.<apex> to staging, skipping taken ones."""
    deployment = lock_deployment(deployment)
    apex = validated(rules.validate_hostname, apex, field="apex_domain") if apex.strip() else ""
    if apex:
        attached_elsewhere = (
            Domain.objects.filter(hostname=apex)
            .exclude(environment__deployment=deployment, environment__name=rules.PRODUCTION)
            .select_related("environment__deployment")
            .first()
        )
        if attached_elsewhere is not None:
            raise Conflict(
                _domain_taken_message(attached_elsewhere, visible_deployment_ids),
                code="domain_taken",
                field="apex_domain",
            )
    environments = {
        e.name: e
        for e in Environment.objects.filter(
            deployment=deployment, name__in=rules.PROTECTED_ENVIRONMENTS
        )
    }
    if apex:  # the environments it attaches to, locked before the event (the lock order)
        lock_environments(list(environments.values()))
    deployment.apex_domain = apex
    deployment.save(update_fields=["apex_domain"])
    result = ApexResult(apex=apex, attached=[], skipped=[])
    attached: list[tuple[Environment, str]] = []
    for env_name in (rules.PRODUCTION, rules.STAGING) if apex else ():
        host = rules.suggested_hostname(env_name, apex)
        environment = environments[env_name]
        try:
            host = rules.validate_hostname(host)
        except ValidationError:
            result.skipped.append(host)  # e.g. staging.<apex> would exceed 253 characters
            continue
        existing = Domain.objects.filter(hostname=host).first()
        if existing is not None:
            if existing.environment_id != environment.pk:
                result.skipped.append(host)
            continue
        environment = lock_environment(environment)
        try:
            with transaction.atomic():
                Domain.objects.create(hostname=host, environment=environment, created_by=actor.user)
        except IntegrityError:  # attached elsewhere meanwhile
            result.skipped.append(host)
            continue
        revision = Revision(environment, actor)
        revision.set(ConfigEntry.Kind.DOMAIN, host)
        revision.finish()
        attached.append((environment, host))
        result.attached.append(host)
    # The events last: the chain's head is the last lock (environment_writes), and an insert
    # above may wait for a concurrent request's uncommitted one of the same hostname.
    audit.record("deployment.set_apex", actor=actor, deployment=deployment, target=apex)
    for environment, host in attached:
        audit.record("domain.add", actor=actor, environment=environment, target=host)
    return result
