"""How the API writes what it answers: times, references, rows and the live state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse

from .. import resolver, rules, selectors
from ..models import Deployment, Environment, Release, Variable


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def moment_or_none(moment: datetime | None) -> str | None:
    return timestamp(moment) if moment else None


def deployment_ref(deployment: Deployment) -> dict[str, Any]:
    return {"id": deployment.pk, "name": deployment.name}


def live_state(environment: Environment) -> dict[str, Any]:
    """After a write: whether it waits for an Apply (staged), and the live release."""
    state = selectors.live_state(environment)
    return {"pending": state.pending, "live_release": state.live_release}


def deleted(environment: Environment) -> HttpResponse:
    """204 for a removal; no body to say it in, so a header says whether it waits for an
    Apply (a staged environment)."""
    response = HttpResponse(status=204)
    response["X-Miosa-Pending"] = "true" if selectors.live_state(environment).pending else "false"
    return response


def variable_row(
    row: selectors.VariableRow, age: selectors.SecretAge | None = None
) -> dict[str, Any]:
    """A row of GET env; a secret's `age` (SPEC §14) adds when its value was written, how many
    live instances run an older value of it and, when the deployment sets a maximum age,
    whether it is overdue."""
    item: dict[str, Any] = {
        "environment": row.environment,
        "key": row.key,
        "preview": row.preview,
        "is_secret": row.is_secret,
        "source": row.source,
        "updated_at": timestamp(row.updated_at),
    }
    if row.undecryptable:
        item["undecryptable"] = True
    if row.managed:
        item["managed"] = True
    if row.group:
        item["group"] = row.group
    if row.resolved:
        item["resolved"] = True
    if age is not None:
        item["set_at"] = timestamp(age.set_at)
        item["instances_on_older_value"] = age.instances_on_older_value
        if age.overdue is not None:
            item["overdue"] = age.overdue
    return item


def written_row(environment: Environment, variable: Variable, value: str) -> dict[str, Any]:
    if resolver.has_references(value):
        # Shown as the runtime gets it (SPEC §19), resolved: a secret if it reads one.
        environment = selectors.refresh_resolved_count(environment)
        return variable_row(selectors.variable_row(environment, variable.key))
    return {
        "environment": environment.name,
        "key": variable.key,
        "preview": rules.SECRET_PREVIEW if variable.is_secret else rules.plain_preview(value),
        "is_secret": variable.is_secret,
        "source": "env",
        "updated_at": timestamp(variable.updated_at),
    }


def written_variables(
    deployment: Deployment, environment: Environment, written: list, values: list[str]
) -> dict[str, Any]:
    """The answer to a write of several variables: their rows and whether they are live."""
    return {
        "deployment": deployment_ref(deployment),
        "variables": [
            written_row(environment, variable, value)
            for (variable, _), value in zip(written, values, strict=True)
        ],
        **live_state(environment),
    }


def release_row(environment: Environment, release: Release) -> dict[str, Any]:
    item: dict[str, Any] = {
        "environment": environment.name,
        "number": release.number,
        "version": release.version.number,
        "config_revision": release.config_revision,
        "kind": release.kind,
        "actor": release.actor_label,
        "created_at": timestamp(release.created_at),
    }
    if release.rollback_of is not None:
        item["rollback_of"] = release.rollback_of
    return item
